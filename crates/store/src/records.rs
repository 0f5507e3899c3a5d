//! What the stores keep and answer besides the API's objects: list pages,
//! records of threads and runs with the server's bookkeeping, stored
//! events, run batches and wake-ups.

use assistant_stream_core::types::{Message, Order, Run, RunStep, Thread, Usage};
use serde::{Deserialize, Serialize};

/// Which page of a list to read, as the list endpoints take it.
#[derive(Clone, Debug)]
pub struct PageQuery {
    /// At most this many objects (1 to 100).
    pub limit: usize,
    /// `asc`: oldest first; `desc`: newest first.
    pub order: Order,
    /// Objects after this one, in list order.
    pub after: Option<String>,
    /// Objects before this one, in list order (alone, it pages backwards:
    /// the objects nearest the cursor).
    pub before: Option<String>,
}

/// One page of a list.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// The objects, in list order.
    pub data: Vec<T>,
    /// Whether the list goes on past them.
    pub has_more: bool,
}

/// A thread, with the run that locks it, if any.
#[derive(Clone, Debug)]
pub struct ThreadRecord {
    /// The thread, as the API shows it.
    pub thread: Thread,
    /// The run that locks it, if any.
    pub active_run: Option<String>,
}

/// A run, with what the server keeps about it besides its API shape.
#[derive(Clone, Debug)]
pub struct RunRecord {
    /// The run, as the API shows it.
    pub run: Run,
    /// The server's bookkeeping of it.
    pub progress: RunProgress,
    /// The server instance that runs it, on a store several instances
    /// share ([`Ownership::is_shared`](crate::Ownership::is_shared)); `None` on other stores, and while
    /// nobody holds it (a run waiting for tool outputs). Written by
    /// [`RunStore::insert_run`](crate::RunStore::insert_run) and the claims, never by a commit.
    pub owner: Option<String>,
}

/// What one instance of the server tells the others through a shared
/// store ([`Ownership::wakeups`](crate::Ownership::wakeups)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wakeup {
    /// A run's events up to `last_seq` are committed: whoever follows the
    /// run from the store reads them.
    Events {
        /// The run.
        run_id: String,
        /// Its last committed event.
        last_seq: u64,
    },
    /// A client asked for a run to be cancelled: the instance running it
    /// does it.
    Cancel {
        /// The run.
        run_id: String,
    },
}

/// The server's own bookkeeping of a run, kept with it so that a run
/// waiting for tool outputs survives a restart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunProgress {
    /// How many turns the model has been asked for.
    #[serde(default)]
    pub turns: u32,
    /// Usage summed over the run's finished steps.
    #[serde(default)]
    pub usage: Usage,
    /// The usage of the turn that asked for tool outputs, added to its step
    /// when they come.
    #[serde(default)]
    pub pending_tool_usage: Option<Usage>,
    /// Whether a turn of the run ended without the model reporting its
    /// usage: the run then ends with `usage: null`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub usage_unreported: bool,
    /// The sequence number of the run's last event. A batch of events alone
    /// (token deltas) does not rewrite the run, so while the run is live
    /// the stored record may lag its stored events; [`RunStore::unfinished_runs`](crate::RunStore::unfinished_runs)
    /// reports the last stored event, and a run's last batch (its status
    /// change) always holds the run.
    #[serde(default)]
    pub last_event: u64,
}

/// One event of a run's stream, as kept for resuming.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its sequence number in the run, from 1 (the SSE `id`).
    pub seq: u64,
    /// The event name (`thread.message.delta`, `done`, ...).
    pub event: String,
    /// The event data, as sent.
    pub data: String,
}

/// What a run changed since the last commit, written in one transaction.
#[derive(Clone, Debug, Default)]
pub struct RunBatch {
    /// The run's thread.
    pub thread_id: String,
    /// The run.
    pub run_id: String,
    /// The run as it is now, if it changed.
    pub run: Option<RunRecord>,
    /// Steps of the run, new or changed (inserted or replaced whole).
    pub steps: Vec<RunStep>,
    /// Messages of the run's thread, new or changed (inserted or replaced
    /// whole).
    pub messages: Vec<Message>,
    /// Events to append, in order.
    pub events: Vec<StoredEvent>,
    /// On a shared store, the instance that writes: the batch is written
    /// only if that instance still holds the run ([`StoreError::Lost`](crate::StoreError::Lost)
    /// otherwise), so that an instance that paused past its lease cannot
    /// write over the one that took the run over.
    pub owner: Option<String>,
    /// Lets go of the run in the same transaction (a run that waits for
    /// tool outputs is held by nobody: any instance may take the outputs).
    pub release: bool,
}

impl RunBatch {
    /// An empty batch of a run.
    pub fn new(thread_id: &str, run_id: &str) -> Self {
        RunBatch {
            thread_id: thread_id.to_owned(),
            run_id: run_id.to_owned(),
            ..RunBatch::default()
        }
    }

    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        !self.release
            && self.run.is_none()
            && self.steps.is_empty()
            && self.messages.is_empty()
            && self.events.is_empty()
    }
}
