//! What is running, beside the store: the live runs with their cancel
//! signals, expiry timers and event feeds, and the slots that bound how many
//! runs are driven at once.
//!
//! A run is *live* from its creation until it reaches a terminal status: a
//! [`LiveRun`] holds the authoritative copy of it ([`RunState`], behind an
//! async lock that every change takes), the [`Control`] signal its driver
//! watches, and its [`Feed`]. The store gets what changed in batches
//! ([`RunState::commit`]): status changes and new steps and messages are
//! committed before their event goes out, token deltas go out at once and
//! are written in batches (at most [`WRITE_INTERVAL`] late, and at the
//! next status change or step). A batch of deltas alone leaves the run's
//! record as stored (its number of the last event lags; a restart reads it
//! from the stored events), which spares rewriting the run a few times a
//! second while it streams.
//!
//! The feed is the run's event log in memory, for as long as the run is
//! live: every streaming client (the response of the POST that started a
//! turn, and clients resuming with `GET .../events`) follows it from its own
//! position, so a run never waits for a slow client. When the run ends its
//! events are all in the store, and a feed still followed lives on with its
//! followers.

use crate::AssistantEvent;
use crate::store::{RunBatch, RunRecord, Store, StoreResult, StoredEvent};
use crate::types::{Message, RunStep, RunToolCall};
use bytes::Bytes;
use futures_util::Stream;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// How late token deltas may be written to the store after they were sent.
pub(crate) const WRITE_INTERVAL: Duration = Duration::from_millis(100);

/// Staged events past which a batch is written even within the interval.
const MAX_STAGED_EVENTS: usize = 512;

/// What a run's driver is told by the rest of the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Control {
    Go,
    Cancel,
    Expire,
    /// The run's thread was deleted (or its writes failed): stop at once.
    Gone,
    /// The server is shutting down: stop at once, write what is staged and
    /// leave the run as it is, for the next start to settle.
    Shutdown,
}

/// The stream a streaming client follows: a run's SSE frames, to the end
/// of the turn (made by `super::follow`).
pub(crate) type Follow = std::pin::Pin<Box<dyn Stream<Item = Bytes> + Send>>;

/// The runs that are live in this process.
#[derive(Debug)]
pub(crate) struct Runtime {
    live: Mutex<HashMap<String, Arc<LiveRun>>>,
    slots: Arc<Semaphore>,
}

impl Runtime {
    pub(crate) fn new(max_active_runs: usize) -> Self {
        Runtime {
            live: Mutex::new(HashMap::new()),
            slots: Arc::new(Semaphore::new(max_active_runs)),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<LiveRun>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The live run of this id, if the run is live.
    pub(crate) fn get(&self, run_id: &str) -> Option<Arc<LiveRun>> {
        self.map().get(run_id).cloned()
    }

    pub(crate) fn insert(&self, run: Arc<LiveRun>) {
        self.map().insert(run.run_id.clone(), run);
    }

    pub(crate) fn remove(&self, run_id: &str) -> Option<Arc<LiveRun>> {
        self.map().remove(run_id)
    }

    /// The live runs of a thread.
    pub(crate) fn of_thread(&self, thread_id: &str) -> Vec<Arc<LiveRun>> {
        self.map()
            .values()
            .filter(|run| run.thread_id == thread_id)
            .cloned()
            .collect()
    }

    /// Every live run.
    pub(crate) fn all(&self) -> Vec<Arc<LiveRun>> {
        self.map().values().cloned().collect()
    }

    /// A slot for a turn about to be driven, if one is free.
    pub(crate) fn try_slot(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.slots).try_acquire_owned().ok()
    }
}

/// A run that has not ended, with everything that runs it.
#[derive(Debug)]
pub(crate) struct LiveRun {
    pub(crate) thread_id: String,
    pub(crate) run_id: String,
    pub(crate) state: Arc<tokio::sync::Mutex<RunState>>,
    pub(crate) control: watch::Sender<Control>,
    pub(crate) feed: Arc<Feed>,
    expiry: Mutex<Option<AbortHandle>>,
}

impl LiveRun {
    pub(crate) fn new(record: RunRecord) -> Arc<Self> {
        let first_seq = record.progress.last_event + 1;
        Arc::new(LiveRun {
            thread_id: record.run.thread_id.clone(),
            run_id: record.run.id.clone(),
            state: Arc::new(tokio::sync::Mutex::new(RunState::new(record))),
            control: watch::Sender::new(Control::Go),
            feed: Arc::new(Feed::new(first_seq)),
            expiry: Mutex::new(None),
        })
    }

    pub(crate) fn control(&self) -> Control {
        *self.control.borrow()
    }

    /// Sets the timer that expires the run, replacing any earlier one.
    pub(crate) fn set_expiry(&self, timer: AbortHandle) {
        let old = self
            .expiry
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(timer);
        if let Some(old) = old {
            old.abort();
        }
    }

    /// Stops the expiry timer (the run ended).
    pub(crate) fn stop_expiry(&self) {
        let timer = self.expiry.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(timer) = timer {
            timer.abort();
        }
    }
}

impl Drop for LiveRun {
    fn drop(&mut self) {
        self.stop_expiry();
        self.feed.close();
    }
}

/// The message a run is writing, token by token.
#[derive(Debug)]
pub(crate) struct OpenMessage {
    pub(crate) step: RunStep,
    pub(crate) message: Message,
    /// Its completion tokens so far.
    pub(crate) tokens: u64,
}

/// The tool-call step a run is writing, call by call.
#[derive(Debug)]
pub(crate) struct OpenTools {
    pub(crate) step: RunStep,
    pub(crate) calls: Vec<RunToolCall>,
    /// Argument chunks streamed (each a completion token).
    pub(crate) chunks: u64,
}

/// A live run's data: the run as it is now, what its driver has open, and
/// what is not written yet.
#[derive(Debug)]
pub(crate) struct RunState {
    pub(crate) record: RunRecord,
    /// Whether a driver task is running a turn now.
    pub(crate) driven: bool,
    /// Which driver task drives it: a new one for each turn, so that a
    /// driver that ended lets go of the run only if no other took it since.
    pub(crate) driver: u64,
    pub(crate) open_message: Option<OpenMessage>,
    pub(crate) open_tools: Option<OpenTools>,
    /// Whether the open message or tool step changed since the last write.
    open_dirty: bool,
    batch: RunBatch,
    run_dirty: bool,
    /// When the oldest change not yet written was made.
    staged_since: Option<Instant>,
    /// Frames made since the last publish, in order: `(seq, is_done, frame)`.
    unpublished: Vec<(u64, bool, Bytes)>,
}

impl RunState {
    fn new(record: RunRecord) -> Self {
        let mut batch = RunBatch::new(&record.run.thread_id, &record.run.id);
        // On a shared store, every write is fenced by the run's holder.
        batch.owner.clone_from(&record.owner);
        RunState {
            record,
            driven: false,
            driver: 0,
            open_message: None,
            open_tools: None,
            open_dirty: false,
            batch,
            run_dirty: false,
            staged_since: None,
            unpublished: Vec::new(),
        }
    }

    /// Marks the run as driven by a new driver task, and names it.
    pub(crate) fn drive(&mut self) -> u64 {
        self.driven = true;
        self.driver += 1;
        self.driver
    }

    fn touch(&mut self) {
        self.staged_since.get_or_insert_with(Instant::now);
    }

    /// Marks the run itself as changed.
    pub(crate) fn stage_run(&mut self) {
        self.run_dirty = true;
        self.touch();
    }

    /// Stages a step, new or changed.
    pub(crate) fn stage_step(&mut self, step: &RunStep) {
        match self.batch.steps.iter_mut().find(|s| s.id == step.id) {
            Some(slot) => slot.clone_from(step),
            None => self.batch.steps.push(step.clone()),
        }
        self.touch();
    }

    /// Stages a message, new or changed.
    pub(crate) fn stage_message(&mut self, message: &Message) {
        match self.batch.messages.iter_mut().find(|m| m.id == message.id) {
            Some(slot) => slot.clone_from(message),
            None => self.batch.messages.push(message.clone()),
        }
        self.touch();
    }

    /// Marks the open message or tool step as changed: it is copied into
    /// the batch when the batch is written, not at every token.
    pub(crate) fn stage_open(&mut self) {
        self.open_dirty = true;
        self.touch();
    }

    /// Lets go of the run with the next commit (on a shared store: a run
    /// that waits for tool outputs is held by nobody).
    pub(crate) fn stage_release(&mut self) {
        self.batch.release = true;
        self.record.owner = None;
        self.touch();
    }

    /// Numbers an event, stages it for the store and frames it for the
    /// feed (published by [`publish`](Self::publish) or a commit).
    pub(crate) fn stage_event(&mut self, event: &AssistantEvent) {
        let seq = self.record.progress.last_event + 1;
        self.record.progress.last_event = seq;
        let data = event_data(event);
        let frame = frame(event.name(), seq, &data);
        self.unpublished
            .push((seq, matches!(event, AssistantEvent::Done), frame));
        self.batch.events.push(StoredEvent {
            seq,
            event: event.name().to_owned(),
            data,
        });
        self.touch();
    }

    /// Stages a recorded event as it is (the replay model's).
    pub(crate) fn stage_raw_event(&mut self, name: &str, data: &str) {
        let seq = self.record.progress.last_event + 1;
        self.record.progress.last_event = seq;
        let frame = frame(name, seq, data);
        let is_done = name == AssistantEvent::Done.name();
        self.unpublished.push((seq, is_done, frame));
        self.batch.events.push(StoredEvent {
            seq,
            event: name.to_owned(),
            data: data.to_owned(),
        });
        self.touch();
    }

    /// Sends the staged events to the run's followers, before they are
    /// written (token deltas: written within [`WRITE_INTERVAL`]).
    pub(crate) fn publish(&mut self, feed: &Feed) {
        if !self.unpublished.is_empty() {
            feed.publish(self.unpublished.drain(..));
        }
    }

    /// Whether events are staged and not yet sent.
    pub(crate) fn staged_events(&self) -> bool {
        !self.unpublished.is_empty()
    }

    /// Whether the staged changes are due to be written.
    pub(crate) fn write_due(&self) -> bool {
        self.staged_since
            .is_some_and(|since| since.elapsed() >= WRITE_INTERVAL)
            || self.batch.events.len() >= MAX_STAGED_EVENTS
    }

    /// Writes everything staged in one transaction, then publishes the
    /// staged events: an event that goes out after a commit is durable.
    /// On failure the batch is kept, to be written with the next one.
    pub(crate) async fn commit(&mut self, store: &dyn Store, feed: &Feed) -> StoreResult<()> {
        if self.open_dirty {
            if let Some(open) = &self.open_message {
                let (message, step) = (open.message.clone(), open.step.clone());
                self.stage_message(&message);
                self.stage_step(&step);
            }
            if let Some(open) = &self.open_tools {
                let step = open.step.clone();
                self.stage_step(&step);
            }
            self.open_dirty = false;
        }
        if self.run_dirty {
            self.batch.run = Some(self.record.clone());
        }
        if !self.batch.is_empty() {
            store.commit(&self.batch).await?;
            self.batch.run = None;
            self.batch.steps.clear();
            self.batch.messages.clear();
            self.batch.events.clear();
            self.batch.release = false;
        }
        self.run_dirty = false;
        self.staged_since = None;
        self.publish(feed);
        Ok(())
    }
}

/// The data of an event as the API sends it.
fn event_data(event: &AssistantEvent) -> String {
    let json = match event {
        AssistantEvent::Done => return "[DONE]".to_owned(),
        AssistantEvent::Unknown { data, .. } => return data.clone(),
        AssistantEvent::ThreadCreated(thread) => serde_json::to_string(thread),
        AssistantEvent::MessageDelta(delta) => serde_json::to_string(delta),
        AssistantEvent::RunStepDelta(delta) => serde_json::to_string(delta),
        // In the envelope, as the API sends it.
        AssistantEvent::Error(error) => {
            serde_json::to_string(&serde_json::json!({ "error": error }))
        }
        other => match (other.run(), other.run_step(), other.message()) {
            (Some(run), _, _) => serde_json::to_string(run),
            (_, Some(step), _) => serde_json::to_string(step),
            (_, _, Some(message)) => serde_json::to_string(message),
            _ => Ok(String::new()),
        },
    };
    json.unwrap_or_else(|err| {
        tracing::error!(event = event.name(), %err, "an event could not be serialized");
        String::new()
    })
}

/// An `error` event for a stream that ends without its run's end, with no
/// id: it is not one of the run's events, so a client resuming after it
/// gets every event it missed.
pub(crate) fn error_frame(code: &str, message: &str) -> Bytes {
    let error = AssistantEvent::Error(crate::types::ErrorObject::new(code, message));
    let mut buf = Vec::new();
    if let Err(err) = crate::sse::encode_frame(error.name(), None, &event_data(&error), &mut buf) {
        tracing::error!(%err, "an error event could not be framed");
    }
    Bytes::from(buf)
}

/// One SSE frame with its id, written by the crate's encoder.
pub(crate) fn frame(name: &str, seq: u64, data: &str) -> Bytes {
    let mut buf = Vec::new();
    if let Err(err) = crate::sse::encode_frame(name, Some(seq), data, &mut buf) {
        // Names come from typed events, or from recordings read by the
        // parser, which cannot hold a line break in a name.
        tracing::error!(%err, "an event could not be framed");
    }
    Bytes::from(buf)
}

/// A run's events in memory while it is live, for the clients that follow
/// it.
#[derive(Debug)]
pub(crate) struct Feed {
    log: Mutex<FeedLog>,
    version: watch::Sender<u64>,
}

#[derive(Debug)]
struct FeedLog {
    /// The sequence number of `frames[0]`.
    first_seq: u64,
    frames: Vec<(bool, Bytes)>,
    closed: bool,
}

impl Feed {
    fn new(first_seq: u64) -> Self {
        Feed {
            log: Mutex::new(FeedLog {
                first_seq,
                frames: Vec::new(),
                closed: false,
            }),
            version: watch::Sender::new(0),
        }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, FeedLog> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The sequence number of the first event this feed holds (those
    /// before are in the store: a run recovered after a restart).
    pub(crate) fn first_seq(&self) -> u64 {
        self.log().first_seq
    }

    fn publish(&self, frames: impl Iterator<Item = (u64, bool, Bytes)>) {
        {
            let mut log = self.log();
            for (seq, done, frame) in frames {
                debug_assert_eq!(seq, log.first_seq + log.frames.len() as u64);
                log.frames.push((done, frame));
            }
        }
        self.version.send_modify(|v| *v += 1);
    }

    /// Ends the feed: followers end after what they have.
    pub(crate) fn close(&self) {
        self.log().closed = true;
        self.version.send_modify(|v| *v += 1);
    }

    /// The events after `after`, as they come, up to and including the next
    /// `done` (the end of the turn), in chunks of at most about 64 KiB.
    pub(crate) fn follow(
        self: Arc<Self>,
        after: u64,
    ) -> impl Stream<Item = Bytes> + Send + 'static {
        let changes = self.version.subscribe();
        futures_util::stream::unfold(
            (self, after, changes, false),
            |(feed, mut after, mut changes, ended)| async move {
                if ended {
                    return None;
                }
                loop {
                    changes.mark_unchanged();
                    let (chunk, done, closed) = feed.take_after(&mut after);
                    if !chunk.is_empty() {
                        return Some((chunk, (feed, after, changes, done)));
                    }
                    if closed || changes.changed().await.is_err() {
                        return None;
                    }
                }
            },
        )
    }

    /// The frames after `*after`, joined up to about 64 KiB or the next
    /// `done`; moves `*after` past them.
    fn take_after(&self, after: &mut u64) -> (Bytes, bool, bool) {
        const MAX: usize = 64 * 1024;
        let log = self.log();
        let start = after.saturating_sub(log.first_seq - 1) as usize;
        let mut done = false;
        let mut taken = 0;
        let mut size = 0;
        for (is_done, frame) in log.frames.iter().skip(start) {
            taken += 1;
            size += frame.len();
            if *is_done {
                done = true;
                break;
            }
            if size >= MAX {
                break;
            }
        }
        let chunk = match taken {
            0 => Bytes::new(),
            1 => log.frames[start].1.clone(),
            _ => {
                let mut joined = Vec::with_capacity(size);
                for (_, frame) in &log.frames[start..start + taken] {
                    joined.extend_from_slice(frame);
                }
                Bytes::from(joined)
            }
        };
        *after += taken as u64;
        (chunk, done, log.closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn publish(feed: &Feed, from: u64, names: &[&str]) {
        let frames: Vec<_> = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let seq = from + i as u64;
                (seq, *name == "done", frame(name, seq, "{}"))
            })
            .collect();
        feed.publish(frames.into_iter());
    }

    async fn collect(stream: impl Stream<Item = Bytes>) -> String {
        let chunks: Vec<Bytes> = stream.collect().await;
        chunks
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect()
    }

    #[tokio::test]
    async fn followers_end_at_the_next_done() {
        let feed = Arc::new(Feed::new(1));
        publish(&feed, 1, &["a", "b", "done", "c", "done"]);
        let first = collect(Arc::clone(&feed).follow(0)).await;
        assert_eq!(first.matches("event:").count(), 3, "{first}");
        assert!(first.contains("id: 3\n"));
        let resumed = collect(Arc::clone(&feed).follow(1)).await;
        assert!(resumed.starts_with("event: b\nid: 2\n"), "{resumed}");
        let second = collect(Arc::clone(&feed).follow(3)).await;
        assert!(second.starts_with("event: c\nid: 4\n"), "{second}");
        assert!(
            second.ends_with("event: done\nid: 5\ndata: {}\n\n"),
            "{second}"
        );
    }

    #[tokio::test]
    async fn followers_wait_for_what_comes_and_end_when_closed() {
        let feed = Arc::new(Feed::new(1));
        let follower = tokio::spawn(collect(Arc::clone(&feed).follow(0)));
        tokio::task::yield_now().await;
        publish(&feed, 1, &["a"]);
        tokio::task::yield_now().await;
        publish(&feed, 2, &["b"]);
        feed.close();
        let got = follower.await.unwrap();
        assert_eq!(got.matches("event:").count(), 2, "{got}");
    }

    #[tokio::test]
    async fn a_recovered_feed_starts_after_the_stored_events() {
        let feed = Arc::new(Feed::new(8));
        publish(&feed, 8, &["x", "done"]);
        let got = collect(Arc::clone(&feed).follow(7)).await;
        assert!(got.starts_with("event: x\nid: 8\n"), "{got}");
    }
}
