//! Who holds which run, among server instances sharing a store ([`Ownership`]).

use crate::{RunRecord, StoreResult, Wakeup};

/// Which server instance holds which run, on a store several instances share
/// (see the server's `services::runs::ownership`). Every method has a default
/// for a store one process owns: nothing is shared, every run not ended is live
/// in this process, and the other methods are not called.
#[async_trait::async_trait]
pub trait Ownership: Send + Sync {
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
