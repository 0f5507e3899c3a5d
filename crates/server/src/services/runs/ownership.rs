//! Several instances of the server on one store: who runs which run, and
//! how the others hear of it.
//!
//! This module is what the lifecycle asks of the others: claiming a run,
//! asking its holder to cancel it, waiting for a wake-up. It never calls
//! back into the lifecycle.
//!
//! A store that several server processes share ([`Ownership::is_shared`](assistant_stream_store::Ownership::is_shared):
//! PostgreSQL; in the tests, one memory store shared by servers in one
//! process) is the only thing they have in common. There is no coordinator
//! and no instance talks to another: they meet in the store.
//!
//! # Holding runs
//!
//! Every run not ended is *held* by at most one instance
//! ([`RunRecord::owner`]), which alone drives it and writes it. Its writes
//! are fenced by the holder: a commit of an instance that no longer holds
//! the run writes nothing ([`StoreError::Lost`]), so an instance that stalled
//! past its lease cannot write over the one that took its runs. The
//! instance that creates a run holds it. A run that waits for tool outputs
//! is held by nobody, so that any instance may take them.
//!
//! Each instance tells the store it is alive every quarter of the lease
//! ([`Ownership::heartbeat`](assistant_stream_store::Ownership::heartbeat)); one not heard of for a whole lease has lapsed,
//! and the others take over its runs ([`Ownership::claim_lapsed_runs`](assistant_stream_store::Ownership::claim_lapsed_runs), which
//! never gives one run to two instances; the loop is
//! `services::background`'s) and settle them as a restart would
//! (`lifecycle::take_over`): a run that was being driven fails
//! (`server_error`, "The server instance running this run stopped."), one
//! being cancelled ends `cancelled`, and one waiting for tool outputs waits
//! on, held by nobody. The same loop expires the runs held by nobody past
//! their `expires_at`, so those expire up to a quarter of a lease late.
//!
//! # Requests on any instance
//!
//! - Reads come from the store. A run's stored record may lag its latest
//!   token deltas (written in batches, at most `WRITE_INTERVAL` late),
//!   never its status or its steps and messages.
//! - A stream of a run driven elsewhere follows the store
//!   (`super::follow`): the stored events, then each new batch as the
//!   store's wake-up ([`Wakeup::Events`]) says it is committed. A wake-up is
//!   only a hint (notifications are lost across reconnects): without one the
//!   follower looks again every [`FOLLOW_POLL`]. While the store fails (a
//!   database restart) the follower tries again for a while, then
//!   ends its stream with an `error` event that says to resume.
//! - Cancelling a run driven elsewhere asks its holder
//!   ([`Ownership::request_cancel`](assistant_stream_store::Ownership::request_cancel), a [`Wakeup::Cancel`]) and waits for the run
//!   to say `cancelling`; a run held by nobody, or by a lapsed instance, is
//!   taken and cancelled here.
//! - Tool outputs are taken by the instance they come to: it claims the run
//!   and drives its next turn.
//! - One active run per thread holds across instances: the store refuses a
//!   second one in the insert's transaction.

use crate::services::live::LiveRun;
use crate::services::{ServiceError, ServiceResult, Services};
use crate::store::{RunRecord, StoreError, StoreResult, Wakeup};
use crate::types::Run;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

/// How long an instance not heard of keeps its runs, by default.
pub(crate) const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// How often a follower of a run driven elsewhere looks at the store when
/// no wake-up came.
pub(crate) const FOLLOW_POLL: Duration = Duration::from_millis(500);

/// How long a cancel waits for the instance that runs the run.
const CANCEL_WAIT: Duration = Duration::from_secs(5);

/// Unix time in milliseconds.
pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The heartbeat time before which an instance has lapsed.
pub(crate) fn lapsed_before(app: &Services) -> i64 {
    now_millis() - app.config.lease.as_millis() as i64
}

/// Takes a run that nobody holds (or whose holder lapsed) for this
/// instance; `None` if another instance holds it, or it ended.
pub(crate) async fn claim(
    app: &Services,
    thread_id: &str,
    run_id: &str,
) -> StoreResult<Option<RunRecord>> {
    app.store
        .claim_run(thread_id, run_id, &app.instance, lapsed_before(app))
        .await
}

/// Asks the instance that runs a run to cancel it, and waits until the
/// run says so (or has ended).
pub(crate) async fn request_cancel(
    app: &Services,
    thread_id: &str,
    run_id: &str,
) -> ServiceResult<Run> {
    let mut wakeups = app.store.wakeups();
    app.store.request_cancel(thread_id, run_id).await?;
    let deadline = tokio::time::Instant::now() + CANCEL_WAIT;
    loop {
        let record = app.store.run(thread_id, run_id).await?;
        let status = &record.run.status;
        if status.is_terminal() || *status == crate::types::RunStatus::Cancelling {
            return Ok(record.run);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ServiceError::Internal(format!(
                "The server instance running run {run_id} did not cancel it within {} seconds.",
                CANCEL_WAIT.as_secs()
            )));
        }
        wait_for(&mut wakeups, run_id, 0, FOLLOW_POLL.min(CANCEL_WAIT / 10)).await;
    }
}

/// Waits for a wake-up about `run_id` past `after`, or `poll`.
pub(crate) async fn wait_for(
    wakeups: &mut Option<broadcast::Receiver<Wakeup>>,
    run_id: &str,
    after: u64,
    poll: Duration,
) {
    let Some(receiver) = wakeups else {
        tokio::time::sleep(poll).await;
        return;
    };
    let woken = async {
        loop {
            match receiver.recv().await {
                Ok(Wakeup::Events {
                    run_id: id,
                    last_seq,
                }) if id == run_id && last_seq > after => return,
                Ok(_) => {}
                // Missed some: look at the store.
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => {
                    std::future::pending::<()>().await;
                }
            }
        }
    };
    let _ = tokio::time::timeout(poll, woken).await;
}

/// Puts a run this instance just took into the runtime.
pub(crate) fn adopt(app: &Services, record: RunRecord) -> Arc<LiveRun> {
    let live = LiveRun::new(record);
    app.runtime.insert(Arc::clone(&live));
    live
}

/// Whether `err` says that another instance took the run over.
pub(crate) fn is_lost(err: &StoreError) -> bool {
    matches!(err, StoreError::Lost { .. })
}
