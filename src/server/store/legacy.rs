//! The old in-memory storage, until the routes move to [`Store`](super::Store). (Temporary.)

use crate::server::error::{ApiError, ApiResult};
use crate::server::extract::ListParams;
use crate::types::{Assistant, ListResponse, Message, Order, Run, RunStep, Thread};
use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use tokio::sync::watch;
use tokio::task::AbortHandle;

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

    /// All items, oldest first.
    pub(crate) fn values(&self) -> impl DoubleEndedIterator<Item = &T> {
        self.items.values().map(|(_, item)| item)
    }

    /// One page, as the list endpoints answer it. `after` and `before` are
    /// ids of this collection (400 otherwise); `keep` filters items (the
    /// cursors need not pass it); `view` turns an item into what is sent.
    pub(crate) fn page<V>(
        &self,
        params: &ListParams,
        keep: impl Fn(&T) -> bool,
        view: impl Fn(&T) -> V,
        id_of: impl Fn(&V) -> String,
    ) -> ApiResult<ListResponse<V>> {
        let cursor = |param: &str, id: &Option<String>| -> ApiResult<Option<u64>> {
            match id {
                None => Ok(None),
                Some(id) => self.index.get(id).copied().map(Some).ok_or_else(|| {
                    ApiError::invalid_param(
                        param,
                        format!("Invalid '{param}': no object with id '{id}' in this list."),
                    )
                }),
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
        let first_id = data.first().map(&id_of);
        let last_id = data.last().map(&id_of);
        Ok(ListResponse::new(data, first_id, last_id, has_more))
    }
}

/// What a running turn of a run is told by the rest of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Control {
    Go,
    Cancel,
    Expire,
}

/// A run and what belongs to it.
#[derive(Debug)]
pub(crate) struct RunEntry {
    pub(crate) run: Run,
    pub(crate) steps: Collection<RunStep>,
    pub(crate) control: watch::Sender<Control>,
    /// How many turns the model has been asked for (0 before the first).
    pub(crate) turns: usize,
    /// Whether a task is driving the run now (queued or in progress).
    pub(crate) driven: bool,
    /// Usage summed over the run's steps.
    pub(crate) usage: crate::types::Usage,
    /// Prompt tokens of the turn that asked for tool outputs.
    pub(crate) pending_tool_usage: Option<crate::types::Usage>,
    pub(crate) expiry: Option<AbortHandle>,
}

impl RunEntry {
    pub(crate) fn new(run: Run) -> Self {
        RunEntry {
            run,
            steps: Collection::default(),
            control: watch::Sender::new(Control::Go),
            turns: 0,
            driven: false,
            usage: crate::types::Usage::default(),
            pending_tool_usage: None,
            expiry: None,
        }
    }

    /// The step a `requires_action` run waits on.
    pub(crate) fn open_tool_step_mut(&mut self) -> Option<&mut RunStep> {
        self.steps
            .items
            .values_mut()
            .rev()
            .map(|(_, step)| step)
            .find(|step| {
                step.status == crate::types::RunStepStatus::InProgress
                    && step.kind == crate::types::RunStepType::ToolCalls
            })
    }
}

impl Drop for RunEntry {
    fn drop(&mut self) {
        if let Some(expiry) = self.expiry.take() {
            expiry.abort();
        }
    }
}

/// A thread with its messages and runs.
#[derive(Debug)]
pub(crate) struct ThreadEntry {
    pub(crate) thread: Thread,
    pub(crate) messages: Collection<Message>,
    pub(crate) runs: Collection<RunEntry>,
    /// The run that locks the thread, while one is active.
    pub(crate) active_run: Option<String>,
}

impl ThreadEntry {
    pub(crate) fn new(thread: Thread) -> Self {
        ThreadEntry {
            thread,
            messages: Collection::default(),
            runs: Collection::default(),
            active_run: None,
        }
    }
}

/// Everything the server holds.
#[derive(Debug, Default)]
pub(crate) struct LegacyStore {
    pub(crate) assistants: Collection<Assistant>,
    pub(crate) threads: HashMap<String, ThreadEntry>,
}

impl LegacyStore {
    pub(crate) fn assistant(&self, id: &str) -> ApiResult<&Assistant> {
        self.assistants
            .get(id)
            .ok_or_else(|| ApiError::not_found("assistant", id))
    }

    pub(crate) fn thread(&self, id: &str) -> ApiResult<&ThreadEntry> {
        self.threads
            .get(id)
            .ok_or_else(|| ApiError::not_found("thread", id))
    }

    pub(crate) fn thread_mut(&mut self, id: &str) -> ApiResult<&mut ThreadEntry> {
        self.threads
            .get_mut(id)
            .ok_or_else(|| ApiError::not_found("thread", id))
    }

    pub(crate) fn run(&self, thread_id: &str, run_id: &str) -> ApiResult<&RunEntry> {
        self.thread(thread_id)?
            .runs
            .get(run_id)
            .ok_or_else(|| ApiError::not_found("run", run_id))
    }

    pub(crate) fn run_mut(&mut self, thread_id: &str, run_id: &str) -> ApiResult<&mut RunEntry> {
        self.thread_mut(thread_id)?
            .runs
            .get_mut(run_id)
            .ok_or_else(|| ApiError::not_found("run", run_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(limit: usize, order: Order, after: Option<&str>, before: Option<&str>) -> ListParams {
        ListParams {
            limit,
            order,
            after: after.map(str::to_owned),
            before: before.map(str::to_owned),
            run_id: None,
        }
    }

    fn ids(c: &Collection<u32>, p: ListParams) -> (Vec<u32>, bool) {
        let page = c.page(&p, |_| true, |v| *v, |v| v.to_string()).unwrap();
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
            .page(
                &params(3, Order::Asc, Some("x"), None),
                |_| true,
                |v| *v,
                |v| v.to_string(),
            )
            .unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
    }
}
