//! The memory store: everything in ordered maps behind one lock, gone when
//! the process ends. The default of the in-process server (tests, examples,
//! benchmarks), and the reference semantics of [`Store`].

use crate::ids::now;
use crate::prelude::*;
use crate::{
    Page, PageQuery, RunBatch, RunRecord, StoreError, StoreResult, StoredEvent, ThreadRecord,
    Wakeup,
};
use assistant_stream_core::types::{Assistant, Message, Order, Run, RunStep, Thread};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};
use tokio::sync::broadcast;

/// Objects in insertion order, found by id.
#[derive(Debug)]
pub(crate) struct Collection<T> {
    items: BTreeMap<u64, (String, T)>,
    index: HashMap<String, u64>,
    next: u64,
}

impl<T> Default for Collection<T> {
    fn default() -> Self {
        Collection {
            items: BTreeMap::new(),
            index: HashMap::new(),
            next: 0,
        }
    }
}

impl<T> Collection<T> {
    pub(crate) fn insert(&mut self, id: String, item: T) {
        let seq = self.next;
        self.next += 1;
        self.index.insert(id.clone(), seq);
        self.items.insert(seq, (id, item));
    }

    pub(crate) fn get(&self, id: &str) -> Option<&T> {
        self.index
            .get(id)
            .and_then(|seq| self.items.get(seq))
            .map(|(_, item)| item)
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        self.index
            .get(id)
            .and_then(|seq| self.items.get_mut(seq))
            .map(|(_, item)| item)
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<T> {
        let seq = self.index.remove(id)?;
        self.items.remove(&seq).map(|(_, item)| item)
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.items.values_mut().map(|(_, item)| item)
    }

    /// All items, oldest first.
    pub(crate) fn values(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.items.values().map(|(_, item)| item)
    }

    /// One page, as the list endpoints answer it. `after` and `before` are
    /// ids of this collection ([`StoreError::BadCursor`] otherwise); `keep`
    /// filters items (the cursors need not pass it); `view` turns an item
    /// into what is listed.
    pub(crate) fn page<V>(
        &self,
        params: &PageQuery,
        keep: impl Fn(&T) -> bool,
        view: impl Fn(&T) -> V,
    ) -> StoreResult<Page<V>> {
        let cursor = |param: &'static str, id: &Option<String>| -> StoreResult<Option<u64>> {
            match id {
                None => Ok(None),
                Some(id) => {
                    self.index
                        .get(id)
                        .copied()
                        .map(Some)
                        .ok_or_else(|| StoreError::BadCursor {
                            param,
                            id: id.clone(),
                        })
                }
            }
        };
        let after = cursor("after", &params.after)?;
        let before = cursor("before", &params.before)?;
        // In list order, `after` bounds from the front and `before` from the back.
        let (lower, upper) = match params.order {
            Order::Desc => (before, after),
            _ => (after, before),
        };
        let range = (
            lower.map_or(Bound::Unbounded, Bound::Excluded),
            upper.map_or(Bound::Unbounded, Bound::Excluded),
        );
        let in_range = self
            .items
            .range(range)
            .map(|(_, (_, item))| item)
            .filter(|item| keep(item));
        let ascending = !matches!(params.order, Order::Desc);
        // `before` alone pages backwards: the items nearest the cursor.
        let from_back = params.before.is_some() && params.after.is_none();
        let mut picked: Vec<&T> = match (ascending, from_back) {
            (true, false) | (false, true) => in_range.take(params.limit + 1).collect(),
            (false, false) | (true, true) => in_range.rev().take(params.limit + 1).collect(),
        };
        let has_more = picked.len() > params.limit;
        picked.truncate(params.limit);
        if from_back {
            picked.reverse();
        }
        let data: Vec<V> = picked.into_iter().map(view).collect();
        Ok(Page { data, has_more })
    }
}

/// A run with its steps and events.
#[derive(Debug)]
struct RunData {
    record: RunRecord,
    steps: Collection<RunStep>,
    events: Vec<StoredEvent>,
    /// When the run reached a terminal status (Unix seconds).
    ended_at: Option<i64>,
}

/// A thread with its messages and runs.
#[derive(Debug)]
struct ThreadData {
    thread: Thread,
    messages: Collection<Message>,
    runs: Collection<RunData>,
    active_run: Option<String>,
}

#[derive(Debug, Default)]
struct Data {
    assistants: Collection<Assistant>,
    threads: HashMap<String, ThreadData>,
    /// When each instance sharing the store was last heard of (Unix ms).
    instances: HashMap<String, i64>,
}

impl Data {
    fn thread(&self, id: &str) -> StoreResult<&ThreadData> {
        self.threads
            .get(id)
            .ok_or_else(|| StoreError::not_found("thread", id))
    }

    fn thread_mut(&mut self, id: &str) -> StoreResult<&mut ThreadData> {
        self.threads
            .get_mut(id)
            .ok_or_else(|| StoreError::not_found("thread", id))
    }

    fn run(&self, thread_id: &str, run_id: &str) -> StoreResult<&RunData> {
        self.thread(thread_id)?
            .runs
            .get(run_id)
            .ok_or_else(|| StoreError::not_found("run", run_id))
    }
}

/// The memory store. See the [module docs](self).
#[derive(Debug, Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
    /// Set when several servers in this process share the store.
    wakeups: Option<broadcast::Sender<Wakeup>>,
}

/// Wake-ups kept for a receiver that is behind; past this it lags, and
/// rereads the store.
const WAKEUP_BACKLOG: usize = 4096;

impl MemoryStore {
    /// An empty store, of this process alone.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    /// A memory store that several servers in one process share, as
    /// instances share a PostgreSQL database: runs have owners, leases and
    /// wake-ups. For the tests of several instances.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn shared() -> Self {
        MemoryStore {
            data: Mutex::default(),
            wakeups: Some(broadcast::channel(WAKEUP_BACKLOG).0),
        }
    }

    fn wake(&self, wakeup: Wakeup) {
        if let Some(wakeups) = &self.wakeups {
            // Nobody listening is fine.
            let _ = wakeups.send(wakeup);
        }
    }

    /// The data. Never held across an `.await`.
    fn data(&self) -> MutexGuard<'_, Data> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn upsert<T>(collection: &mut Collection<T>, id: &str, value: T) {
    match collection.get_mut(id) {
        Some(slot) => *slot = value,
        None => collection.insert(id.to_owned(), value),
    }
}

#[async_trait::async_trait]
impl AssistantStore for MemoryStore {
    async fn insert_assistant(&self, assistant: &Assistant) -> StoreResult<()> {
        self.data()
            .assistants
            .insert(assistant.id.clone(), assistant.clone());
        Ok(())
    }

    async fn assistant(&self, id: &str) -> StoreResult<Assistant> {
        self.data()
            .assistants
            .get(id)
            .cloned()
            .ok_or_else(|| StoreError::not_found("assistant", id))
    }

    async fn update_assistant(&self, assistant: &Assistant) -> StoreResult<()> {
        let mut data = self.data();
        let slot = data
            .assistants
            .get_mut(&assistant.id)
            .ok_or_else(|| StoreError::not_found("assistant", &assistant.id))?;
        *slot = assistant.clone();
        Ok(())
    }

    async fn delete_assistant(&self, id: &str) -> StoreResult<()> {
        self.data()
            .assistants
            .remove(id)
            .map(drop)
            .ok_or_else(|| StoreError::not_found("assistant", id))
    }

    async fn list_assistants(&self, page: &PageQuery) -> StoreResult<Page<Assistant>> {
        self.data().assistants.page(page, |_| true, Clone::clone)
    }
}

#[async_trait::async_trait]
impl ThreadStore for MemoryStore {
    async fn insert_thread(&self, thread: &Thread, messages: &[Message]) -> StoreResult<()> {
        let mut entry = ThreadData {
            thread: thread.clone(),
            messages: Collection::default(),
            runs: Collection::default(),
            active_run: None,
        };
        for message in messages {
            entry.messages.insert(message.id.clone(), message.clone());
        }
        self.data().threads.insert(thread.id.clone(), entry);
        Ok(())
    }

    async fn thread(&self, id: &str) -> StoreResult<ThreadRecord> {
        let data = self.data();
        let thread = data.thread(id)?;
        Ok(ThreadRecord {
            thread: thread.thread.clone(),
            active_run: thread.active_run.clone(),
        })
    }

    async fn update_thread(&self, thread: &Thread) -> StoreResult<()> {
        self.data().thread_mut(&thread.id)?.thread = thread.clone();
        Ok(())
    }

    async fn delete_thread(&self, id: &str) -> StoreResult<()> {
        self.data()
            .threads
            .remove(id)
            .map(drop)
            .ok_or_else(|| StoreError::not_found("thread", id))
    }

    async fn insert_message(&self, message: &Message) -> StoreResult<()> {
        let mut data = self.data();
        let thread = data.thread_mut(&message.thread_id)?;
        if let Some(run_id) = &thread.active_run {
            return Err(StoreError::ThreadLocked {
                thread_id: message.thread_id.clone(),
                run_id: run_id.clone(),
            });
        }
        thread.messages.insert(message.id.clone(), message.clone());
        Ok(())
    }

    async fn message(&self, thread_id: &str, id: &str) -> StoreResult<Message> {
        self.data()
            .thread(thread_id)?
            .messages
            .get(id)
            .cloned()
            .ok_or_else(|| StoreError::not_found("message", id))
    }

    async fn update_message(&self, message: &Message) -> StoreResult<()> {
        let mut data = self.data();
        let slot = data
            .thread_mut(&message.thread_id)?
            .messages
            .get_mut(&message.id)
            .ok_or_else(|| StoreError::not_found("message", &message.id))?;
        *slot = message.clone();
        Ok(())
    }

    async fn delete_message(&self, thread_id: &str, id: &str) -> StoreResult<()> {
        self.data()
            .thread_mut(thread_id)?
            .messages
            .remove(id)
            .map(drop)
            .ok_or_else(|| StoreError::not_found("message", id))
    }

    async fn list_messages(
        &self,
        thread_id: &str,
        page: &PageQuery,
        run_id: Option<&str>,
    ) -> StoreResult<Page<Message>> {
        self.data().thread(thread_id)?.messages.page(
            page,
            |m| run_id.is_none() || m.run_id.as_deref() == run_id,
            Clone::clone,
        )
    }

    async fn thread_messages(&self, thread_id: &str) -> StoreResult<Vec<Message>> {
        Ok(self
            .data()
            .thread(thread_id)?
            .messages
            .values()
            .cloned()
            .collect())
    }
}

#[async_trait::async_trait]
impl RunStore for MemoryStore {
    async fn insert_run(&self, run: &RunRecord, messages: &[Message]) -> StoreResult<Vec<Message>> {
        let mut data = self.data();
        let thread = data.thread_mut(&run.run.thread_id)?;
        if let Some(active) = &thread.active_run {
            return Err(StoreError::ThreadLocked {
                thread_id: run.run.thread_id.clone(),
                run_id: active.clone(),
            });
        }
        for message in messages {
            thread.messages.insert(message.id.clone(), message.clone());
        }
        thread.active_run = Some(run.run.id.clone());
        thread.runs.insert(
            run.run.id.clone(),
            RunData {
                record: run.clone(),
                steps: Collection::default(),
                events: Vec::new(),
                ended_at: None,
            },
        );
        Ok(thread.messages.values().cloned().collect())
    }

    async fn run(&self, thread_id: &str, run_id: &str) -> StoreResult<RunRecord> {
        Ok(self.data().run(thread_id, run_id)?.record.clone())
    }

    async fn list_runs(&self, thread_id: &str, page: &PageQuery) -> StoreResult<Page<Run>> {
        self.data()
            .thread(thread_id)?
            .runs
            .page(page, |_| true, |r| r.record.run.clone())
    }

    async fn step(&self, thread_id: &str, run_id: &str, step_id: &str) -> StoreResult<RunStep> {
        self.data()
            .run(thread_id, run_id)?
            .steps
            .get(step_id)
            .cloned()
            .ok_or_else(|| StoreError::not_found("run step", step_id))
    }

    async fn list_steps(
        &self,
        thread_id: &str,
        run_id: &str,
        page: &PageQuery,
    ) -> StoreResult<Page<RunStep>> {
        self.data()
            .run(thread_id, run_id)?
            .steps
            .page(page, |_| true, Clone::clone)
    }

    async fn run_steps(&self, thread_id: &str, run_id: &str) -> StoreResult<Vec<RunStep>> {
        Ok(self
            .data()
            .run(thread_id, run_id)?
            .steps
            .values()
            .cloned()
            .collect())
    }

    async fn commit(&self, batch: &RunBatch) -> StoreResult<()> {
        let mut data = self.data();
        let thread = data.thread_mut(&batch.thread_id)?;
        let Some(run) = thread.runs.get_mut(&batch.run_id) else {
            return Err(StoreError::not_found("run", &batch.run_id));
        };
        if let Some(owner) = &batch.owner
            && run.record.owner.as_ref() != Some(owner)
        {
            return Err(StoreError::Lost {
                run_id: batch.run_id.clone(),
            });
        }
        for step in &batch.steps {
            upsert(&mut run.steps, &step.id, step.clone());
        }
        run.events.extend(batch.events.iter().cloned());
        let mut ended = false;
        if let Some(record) = &batch.run {
            // The holder changes only by insert, claim and release.
            let owner = run.record.owner.take();
            run.record = record.clone();
            run.record.owner = owner;
            if record.run.status.is_terminal() && run.ended_at.is_none() {
                run.ended_at = Some(now());
                ended = true;
            }
        }
        for message in &batch.messages {
            upsert(&mut thread.messages, &message.id, message.clone());
        }
        if batch.release || ended {
            run.record.owner = None;
        }
        if ended && thread.active_run.as_deref() == Some(batch.run_id.as_str()) {
            thread.active_run = None;
        }
        drop(data);
        if let Some(last) = batch.events.last() {
            self.wake(Wakeup::Events {
                run_id: batch.run_id.clone(),
                last_seq: last.seq,
            });
        }
        Ok(())
    }

    async fn unfinished_runs(&self) -> StoreResult<Vec<RunRecord>> {
        let data = self.data();
        let mut runs: Vec<RunRecord> = data
            .threads
            .values()
            .flat_map(|t| t.runs.values())
            .filter(|r| !r.record.run.status.is_terminal())
            .map(|r| {
                let mut record = r.record.clone();
                if let Some(last) = r.events.last() {
                    record.progress.last_event = record.progress.last_event.max(last.seq);
                }
                record
            })
            .collect();
        runs.sort_by_key(|r| r.run.created_at);
        Ok(runs)
    }
}

#[async_trait::async_trait]
impl EventLog for MemoryStore {
    async fn events_after(
        &self,
        thread_id: &str,
        run_id: &str,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        let data = self.data();
        let events = &data.run(thread_id, run_id)?.events;
        let start = events.partition_point(|e| e.seq <= after);
        Ok(events[start..].iter().take(limit).cloned().collect())
    }

    async fn prune_events(&self, ended_before: i64) -> StoreResult<u64> {
        let mut data = self.data();
        let mut pruned = 0;
        for thread in data.threads.values_mut() {
            for run in thread.runs.values_mut() {
                if run.ended_at.is_some_and(|at| at < ended_before) && !run.events.is_empty() {
                    pruned += run.events.len() as u64;
                    run.events = Vec::new();
                }
            }
        }
        Ok(pruned)
    }
}

#[async_trait::async_trait]
impl Ownership for MemoryStore {
    fn is_shared(&self) -> bool {
        self.wakeups.is_some()
    }

    async fn heartbeat(&self, instance: &str) -> StoreResult<()> {
        self.data()
            .instances
            .insert(instance.to_owned(), now_millis());
        Ok(())
    }

    async fn claim_run(
        &self,
        thread_id: &str,
        run_id: &str,
        instance: &str,
        lapsed_before: i64,
    ) -> StoreResult<Option<RunRecord>> {
        let mut data = self.data();
        let Data {
            threads, instances, ..
        } = &mut *data;
        let run = threads
            .get_mut(thread_id)
            .ok_or_else(|| StoreError::not_found("thread", thread_id))?
            .runs
            .get_mut(run_id)
            .ok_or_else(|| StoreError::not_found("run", run_id))?;
        let free = run.ended_at.is_none()
            && match &run.record.owner {
                None => true,
                Some(owner) => lapsed(instances, owner, lapsed_before),
            };
        Ok(free.then(|| claim(run, instance)))
    }

    async fn claim_lapsed_runs(
        &self,
        instance: &str,
        lapsed_before: i64,
        now: i64,
        limit: usize,
    ) -> StoreResult<Vec<RunRecord>> {
        let mut data = self.data();
        let Data {
            threads, instances, ..
        } = &mut *data;
        let mut claimed = Vec::new();
        for run in threads.values_mut().flat_map(|t| t.runs.values_mut()) {
            if claimed.len() == limit {
                break;
            }
            let needs_someone = run.ended_at.is_none()
                && match &run.record.owner {
                    Some(owner) => lapsed(instances, owner, lapsed_before),
                    None => run.record.run.expires_at.is_some_and(|at| at <= now),
                };
            if needs_someone {
                claimed.push(claim(run, instance));
            }
        }
        claimed.sort_by_key(|r| r.run.created_at);
        Ok(claimed)
    }

    async fn request_cancel(&self, thread_id: &str, run_id: &str) -> StoreResult<()> {
        self.data().run(thread_id, run_id)?;
        self.wake(Wakeup::Cancel {
            run_id: run_id.to_owned(),
        });
        Ok(())
    }

    fn wakeups(&self) -> Option<broadcast::Receiver<Wakeup>> {
        self.wakeups.as_ref().map(broadcast::Sender::subscribe)
    }
}

/// Unix time in milliseconds.
fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Whether `owner` was last heard of before `lapsed_before` (or never).
fn lapsed(instances: &HashMap<String, i64>, owner: &str, lapsed_before: i64) -> bool {
    instances
        .get(owner)
        .is_none_or(|&seen| seen < lapsed_before)
}

/// Gives a run to `instance`; the record as a claim returns it, with the
/// number of its last stored event.
fn claim(run: &mut RunData, instance: &str) -> RunRecord {
    run.record.owner = Some(instance.to_owned());
    let mut record = run.record.clone();
    if let Some(last) = run.events.last() {
        record.progress.last_event = record.progress.last_event.max(last.seq);
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(limit: usize, order: Order, after: Option<&str>, before: Option<&str>) -> PageQuery {
        PageQuery {
            limit,
            order,
            after: after.map(str::to_owned),
            before: before.map(str::to_owned),
        }
    }

    fn ids(c: &Collection<u32>, p: PageQuery) -> (Vec<u32>, bool) {
        let page = c.page(&p, |_| true, |v| *v).unwrap();
        (page.data, page.has_more)
    }

    #[test]
    fn pages_both_ways() {
        let mut c = Collection::default();
        for i in 0..7u32 {
            c.insert(i.to_string(), i);
        }
        assert_eq!(
            ids(&c, params(3, Order::Asc, None, None)),
            (vec![0, 1, 2], true)
        );
        assert_eq!(
            ids(&c, params(3, Order::Asc, Some("2"), None)),
            (vec![3, 4, 5], true)
        );
        assert_eq!(
            ids(&c, params(3, Order::Asc, Some("5"), None)),
            (vec![6], false)
        );
        assert_eq!(
            ids(&c, params(3, Order::Desc, None, None)),
            (vec![6, 5, 4], true)
        );
        assert_eq!(
            ids(&c, params(3, Order::Desc, Some("4"), None)),
            (vec![3, 2, 1], true)
        );
        assert_eq!(
            ids(&c, params(3, Order::Desc, None, Some("1"))),
            (vec![4, 3, 2], true)
        );
        assert_eq!(
            ids(&c, params(3, Order::Asc, None, Some("2"))),
            (vec![0, 1], false)
        );
        assert_eq!(
            ids(&c, params(3, Order::Asc, None, Some("5"))),
            (vec![2, 3, 4], true)
        );
        assert_eq!(
            ids(&c, params(10, Order::Asc, Some("1"), Some("4"))),
            (vec![2, 3], false)
        );
    }

    #[test]
    fn unknown_cursor_is_a_400() {
        let c: Collection<u32> = Collection::default();
        let err = c
            .page(&params(3, Order::Asc, Some("x"), None), |_| true, |v| *v)
            .unwrap_err();
        assert!(
            matches!(err, StoreError::BadCursor { param: "after", .. }),
            "{err:?}"
        );
    }
}
