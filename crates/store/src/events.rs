//! The events of runs, for resumable streams ([`EventLog`]).

use crate::{StoreResult, StoredEvent};

/// The events of runs, kept for clients that resume a run's stream: appended by
/// [`RunStore::commit`](crate::RunStore::commit), kept while the run is active
/// and for the retention after it ends.
#[async_trait::async_trait]
pub trait EventLog: Send + Sync {
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
}
