//! Runs and their steps ([`RunStore`]).

use crate::{Page, PageQuery, RunBatch, RunRecord, StoreResult};
use assistant_stream_core::types::{Message, Run, RunStep};

/// Runs and their steps, written by a run's batches ([`RunBatch`], one
/// transaction each).
#[async_trait::async_trait]
pub trait RunStore: Send + Sync {
    /// Stores a new run on an unlocked thread, with the messages it adds
    /// (`additional_messages`), and locks the thread. Returns the thread's
    /// messages as they are then, oldest first: what the run's first turn
    /// shows the model, read with the insert (a read fewer per run, and no
    /// message can come between them).
    async fn insert_run(&self, run: &RunRecord, messages: &[Message]) -> StoreResult<Vec<Message>>;

    /// A run of a thread.
    async fn run(&self, thread_id: &str, run_id: &str) -> StoreResult<RunRecord>;

    /// A page of a thread's runs.
    async fn list_runs(&self, thread_id: &str, page: &PageQuery) -> StoreResult<Page<Run>>;

    /// A step of a run.
    async fn step(&self, thread_id: &str, run_id: &str, step_id: &str) -> StoreResult<RunStep>;

    /// A page of a run's steps.
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
}
