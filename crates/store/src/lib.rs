//! Where the server's data lives: the [`Store`] trait and its
//! implementations, [`memory`], [`sqlite`] and `postgres` (with the
//! `postgres` feature).
//!
//! A store keeps assistants, threads, messages, runs, run steps and the
//! events of runs (for resumable streams), and answers the list endpoints'
//! pages. It knows nothing of HTTP (its errors are [`StoreError`]s, which the
//! routes turn into API errors) and nothing of what is running: cancel
//! signals, expiry timers and the live fan-out of events belong to the
//! runtime ([`super::runtime`]), and status changes to the run lifecycle
//! ([`super::lifecycle`]).
//!
//! Objects are kept whole, as the API shows them (the SQL stores keep them as
//! JSON next to the columns they are found and ordered by). Each collection
//! lists in insertion order.
//!
//! # Adding a store
//!
//! Implement [`Store`] in a module of its own, with the same semantics as
//! [`memory::MemoryStore`] (the reference: its behaviour is what the
//! integration tests check through HTTP), and make
//! [`Database`](super::Database) open it.
//!
//! The semantics that matter:
//! - [`Store::insert_run`] and [`Store::insert_message`] are atomic with the
//!   thread's lock: a thread with an active run refuses both
//!   ([`StoreError::ThreadLocked`]);
//! - [`Store::commit`] writes a [`RunBatch`] in one transaction, and a run
//!   that it leaves in a terminal status unlocks its thread and starts the
//!   retention window of its events;
//! - deleting a thread deletes its messages, runs, steps and events.

pub mod database;
pub mod ids;
pub mod memory;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use assistant_stream_core::types::{Assistant, Message, Order, Run, RunStep, Thread, Usage};
use serde::{Deserialize, Serialize};
use std::fmt;

pub use database::{Database, ParseDatabaseError, PostgresUrl};
pub use memory::MemoryStore;

/// The result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Why a store call failed.
#[derive(Debug)]
pub enum StoreError {
    /// No such object (`object` is `assistant`, `thread`, `message`, `run`
    /// or `run step`).
    NotFound { object: &'static str, id: String },
    /// A list cursor (`after` or `before`) names no object of the list.
    BadCursor { param: &'static str, id: String },
    /// The thread has an active run, which refuses new messages and runs.
    ThreadLocked { thread_id: String, run_id: String },
    /// Another instance took the run over (this one let its lease lapse):
    /// nothing was written.
    Lost { run_id: String },
    /// The database failed: `action` says what was being done.
    Database {
        action: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    pub fn not_found(object: &'static str, id: &str) -> Self {
        StoreError::NotFound {
            object,
            id: id.to_owned(),
        }
    }

    pub fn database(
        action: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StoreError::Database {
            action: action.into(),
            source: source.into(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound { object, id } => write!(f, "no {object} found with id '{id}'"),
            StoreError::BadCursor { param, id } => {
                write!(f, "'{param}' names no object of this list: '{id}'")
            }
            StoreError::ThreadLocked { thread_id, run_id } => {
                write!(f, "thread {thread_id} has an active run {run_id}")
            }
            StoreError::Lost { run_id } => {
                write!(f, "run {run_id} is now run by another server instance")
            }
            StoreError::Database { action, .. } => write!(f, "the database failed {action}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Database { source, .. } => Some(&**source),
            _ => None,
        }
    }
}

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
    pub data: Vec<T>,
    pub has_more: bool,
}

/// A thread, with the run that locks it, if any.
#[derive(Clone, Debug)]
pub struct ThreadRecord {
    pub thread: Thread,
    // Read by the tests; the routes learn of the lock from the store's errors.
    #[allow(dead_code)]
    pub active_run: Option<String>,
}

/// A run, with what the server keeps about it besides its API shape.
#[derive(Clone, Debug)]
pub struct RunRecord {
    pub run: Run,
    pub progress: RunProgress,
    /// The server instance that runs it, on a store several instances
    /// share ([`Store::is_shared`]); `None` on other stores, and while
    /// nobody holds it (a run waiting for tool outputs). Written by
    /// [`Store::insert_run`] and the claims, never by a commit.
    pub owner: Option<String>,
}

/// What one instance of the server tells the others through a shared
/// store ([`Store::wakeups`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wakeup {
    /// A run's events up to `last_seq` are committed: whoever follows the
    /// run from the store reads them.
    Events { run_id: String, last_seq: u64 },
    /// A client asked for a run to be cancelled: the instance running it
    /// does it.
    Cancel { run_id: String },
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
    /// the stored record may lag its stored events; [`Store::unfinished_runs`]
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
    pub thread_id: String,
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
    /// only if that instance still holds the run ([`StoreError::Lost`]
    /// otherwise), so that an instance that paused past its lease cannot
    /// write over the one that took the run over.
    pub owner: Option<String>,
    /// Lets go of the run in the same transaction (a run that waits for
    /// tool outputs is held by nobody: any instance may take the outputs).
    pub release: bool,
}

impl RunBatch {
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

/// The server's storage. See the [module docs](self) for the semantics an
/// implementation must keep.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- assistants ----

    async fn insert_assistant(&self, assistant: &Assistant) -> StoreResult<()>;
    async fn assistant(&self, id: &str) -> StoreResult<Assistant>;
    /// Replaces an assistant whole.
    async fn update_assistant(&self, assistant: &Assistant) -> StoreResult<()>;
    async fn delete_assistant(&self, id: &str) -> StoreResult<()>;
    async fn list_assistants(&self, page: &PageQuery) -> StoreResult<Page<Assistant>>;

    // ---- threads and messages ----

    /// Stores a new thread with its first messages.
    async fn insert_thread(&self, thread: &Thread, messages: &[Message]) -> StoreResult<()>;
    async fn thread(&self, id: &str) -> StoreResult<ThreadRecord>;
    /// Replaces a thread whole (its lock is kept).
    async fn update_thread(&self, thread: &Thread) -> StoreResult<()>;
    /// Deletes a thread with its messages, runs, steps and events.
    async fn delete_thread(&self, id: &str) -> StoreResult<()>;
    /// Adds a message to an unlocked thread.
    async fn insert_message(&self, message: &Message) -> StoreResult<()>;
    async fn message(&self, thread_id: &str, id: &str) -> StoreResult<Message>;
    /// Replaces a message whole.
    async fn update_message(&self, message: &Message) -> StoreResult<()>;
    async fn delete_message(&self, thread_id: &str, id: &str) -> StoreResult<()>;
    /// A page of a thread's messages, those of one run if `run_id` is given.
    async fn list_messages(
        &self,
        thread_id: &str,
        page: &PageQuery,
        run_id: Option<&str>,
    ) -> StoreResult<Page<Message>>;
    /// All of a thread's messages, oldest first (what a model sees).
    async fn thread_messages(&self, thread_id: &str) -> StoreResult<Vec<Message>>;

    // ---- runs and steps ----

    /// Stores a new run on an unlocked thread, with the messages it adds
    /// (`additional_messages`), and locks the thread. Returns the thread's
    /// messages as they are then, oldest first: what the run's first turn
    /// shows the model, read with the insert (a read fewer per run, and no
    /// message can come between them).
    async fn insert_run(&self, run: &RunRecord, messages: &[Message]) -> StoreResult<Vec<Message>>;
    async fn run(&self, thread_id: &str, run_id: &str) -> StoreResult<RunRecord>;
    async fn list_runs(&self, thread_id: &str, page: &PageQuery) -> StoreResult<Page<Run>>;
    async fn step(&self, thread_id: &str, run_id: &str, step_id: &str) -> StoreResult<RunStep>;
    async fn list_steps(
        &self,
        thread_id: &str,
        run_id: &str,
        page: &PageQuery,
    ) -> StoreResult<Page<RunStep>>;
    /// All of a run's steps, oldest first.
    async fn run_steps(&self, thread_id: &str, run_id: &str) -> StoreResult<Vec<RunStep>>;
    /// Writes what a run changed, in one transaction. A run left in a
    /// terminal status unlocks its thread (if it held it) and starts the
    /// retention window of its events. `NotFound` if the thread or run is
    /// gone (deleted meanwhile): nothing is written then.
    async fn commit(&self, batch: &RunBatch) -> StoreResult<()>;
    /// Runs that are not in a terminal status, oldest first: what a restart
    /// finds, each with `progress.last_event` at least its last stored
    /// event's number.
    async fn unfinished_runs(&self) -> StoreResult<Vec<RunRecord>>;

    // ---- events ----

    /// A run's events with a sequence number above `after`, in order, at
    /// most `limit` of them. `NotFound` if the run is gone.
    async fn events_after(
        &self,
        thread_id: &str,
        run_id: &str,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>>;
    /// Deletes the events of runs that ended before `ended_before` (Unix
    /// seconds); returns how many events went.
    async fn prune_events(&self, ended_before: i64) -> StoreResult<u64>;

    // ---- several instances (see `server::cluster`) ----

    /// Whether several server instances may share this store. If not (the
    /// defaults below), every run not ended is live in this process and the
    /// methods below are not called.
    fn is_shared(&self) -> bool {
        false
    }

    /// Says that `instance` is alive, now. An instance not heard of for
    /// longer than the lease has lapsed: its runs may be taken over.
    async fn heartbeat(&self, instance: &str) -> StoreResult<()> {
        let _ = instance;
        Ok(())
    }

    /// Takes a run for `instance` if it is not ended and nobody holds it:
    /// its holder's lease lapsed (not heard of since `lapsed_before`, Unix
    /// milliseconds), or nobody was (a run waiting for tool outputs).
    /// `None` if it is held, or ended.
    async fn claim_run(
        &self,
        thread_id: &str,
        run_id: &str,
        instance: &str,
        lapsed_before: i64,
    ) -> StoreResult<Option<RunRecord>> {
        let _ = (thread_id, run_id, instance, lapsed_before);
        Ok(None)
    }

    /// Takes for `instance` up to `limit` runs that need someone: those
    /// whose holder's lease lapsed, and those held by nobody past their
    /// `expires_at` (`now`, Unix seconds). Two instances never take the
    /// same run.
    async fn claim_lapsed_runs(
        &self,
        instance: &str,
        lapsed_before: i64,
        now: i64,
        limit: usize,
    ) -> StoreResult<Vec<RunRecord>> {
        let _ = (instance, lapsed_before, now, limit);
        Ok(Vec::new())
    }

    /// Asks whichever instance runs a run to cancel it
    /// ([`Wakeup::Cancel`]).
    async fn request_cancel(&self, thread_id: &str, run_id: &str) -> StoreResult<()> {
        let _ = (thread_id, run_id);
        Ok(())
    }

    /// The wake-ups of the instances sharing the store, this one's too.
    /// A receiver that lags has missed some: its reader rereads the store.
    fn wakeups(&self) -> Option<tokio::sync::broadcast::Receiver<Wakeup>> {
        None
    }
}
