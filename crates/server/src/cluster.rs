//! Several instances of the server on one store: who runs which run, and
//! how the others hear of it.
//!
//! A store that several server processes share ([`Store::is_shared`]:
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
//! ([`Store::heartbeat`]); one not heard of for a whole lease has lapsed,
//! and the others take over its runs ([`Store::claim_lapsed_runs`], which
//! never gives one run to two instances) and settle them as a restart
//! would ([`lifecycle::take_over`]): a run that was being driven fails
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
//!   ([`follow_stored`]): the stored events, then each new batch as the
//!   store's wake-up ([`Wakeup::Events`]) says it is committed. A wake-up is
//!   only a hint (notifications are lost across reconnects): without one the
//!   follower looks again every [`FOLLOW_POLL`]. While the store fails (a
//!   database restart) the follower tries again for [`FOLLOW_OUTAGE`], then
//!   ends its stream with an `error` event that says to resume.
//! - Cancelling a run driven elsewhere asks its holder
//!   ([`Store::request_cancel`], a [`Wakeup::Cancel`]) and waits for the run
//!   to say `cancelling`; a run held by nobody, or by a lapsed instance, is
//!   taken and cancelled here.
//! - Tool outputs are taken by the instance they come to: it claims the run
//!   and drives its next turn.
//! - One active run per thread holds across instances: the store refuses a
//!   second one in the insert's transaction.

use super::api_error::{ApiError, ApiResult};
use super::app::App;
use super::lifecycle::{self, Follow};
use super::runtime::{LiveRun, error_frame, frame};
use super::store::{RunRecord, StoreError, StoreResult, Wakeup};
use crate::types::Run;
use axum::http::StatusCode;
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

/// How long an instance not heard of keeps its runs, by default.
pub(crate) const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// How often a follower of a run driven elsewhere looks at the store when
/// no wake-up came.
pub(crate) const FOLLOW_POLL: Duration = Duration::from_millis(500);

/// Runs taken over at a time.
const CLAIM_BATCH: usize = 64;

/// How long a cancel waits for the instance that runs the run.
const CANCEL_WAIT: Duration = Duration::from_secs(5);

/// Events read from the store at a time by a follower.
const EVENT_PAGE: usize = 1000;

/// Unix time in milliseconds.
fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The heartbeat time before which an instance has lapsed.
fn lapsed_before(app: &App) -> i64 {
    now_millis() - app.config.lease.as_millis() as i64
}

/// Joins the instances sharing the store: says this one is alive, then
/// keeps saying it, takes over the runs of lapsed instances, and does the
/// cancels asked of it.
pub(crate) async fn start(app: &Arc<App>) -> StoreResult<()> {
    app.store.heartbeat(&app.instance).await?;
    if let Some(wakeups) = app.store.wakeups() {
        tokio::spawn(listen(Arc::downgrade(app), wakeups));
    }
    let every = app.config.lease / 4;
    let app = Arc::downgrade(app);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(app) = app.upgrade() else { return };
            if let Err(err) = app.store.heartbeat(&app.instance).await {
                tracing::warn!(%err, "this instance could not say it is alive");
                continue;
            }
            take_over(&app).await;
        }
    });
    Ok(())
}

/// Takes over the runs that need someone (their holder lapsed, or nobody
/// holds them past their expiry), and settles them.
async fn take_over(app: &Arc<App>) {
    let claimed = app
        .store
        .claim_lapsed_runs(
            &app.instance,
            lapsed_before(app),
            super::ids::now(),
            CLAIM_BATCH,
        )
        .await;
    match claimed {
        Ok(records) => {
            for record in records {
                let (run_id, from) = (record.run.id.clone(), record.run.status.clone());
                lifecycle::report(lifecycle::take_over(app, record).await);
                tracing::info!(run = %run_id, %from, "a run was taken over from a lapsed instance");
            }
        }
        Err(err) => tracing::warn!(%err, "the runs of lapsed instances could not be claimed"),
    }
}

/// Does what other instances ask of this one.
async fn listen(app: std::sync::Weak<App>, mut wakeups: broadcast::Receiver<Wakeup>) {
    loop {
        match wakeups.recv().await {
            Ok(Wakeup::Cancel { run_id }) => {
                let Some(app) = app.upgrade() else { return };
                let Some(live) = app.runtime.get(&run_id) else {
                    continue;
                };
                let thread_id = live.thread_id.clone();
                drop(live);
                if let Err(err) = lifecycle::cancel(&app, &thread_id, &run_id).await {
                    tracing::debug!(run = %run_id, ?err, "a cancel asked by another instance was refused");
                }
            }
            Ok(Wakeup::Events { .. }) => {}
            // A cancel missed here is seen by its requester timing out.
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "wake-ups from other instances were missed");
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Takes a run that nobody holds (or whose holder lapsed) for this
/// instance; `None` if another instance holds it, or it ended.
pub(crate) async fn claim(
    app: &App,
    thread_id: &str,
    run_id: &str,
) -> StoreResult<Option<RunRecord>> {
    app.store
        .claim_run(thread_id, run_id, &app.instance, lapsed_before(app))
        .await
}

/// Asks the instance that runs a run to cancel it, and waits until the
/// run says so (or has ended).
pub(crate) async fn request_cancel(app: &App, thread_id: &str, run_id: &str) -> ApiResult<Run> {
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
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                format!(
                    "The server instance running run {run_id} did not cancel it within {} seconds.",
                    CANCEL_WAIT.as_secs()
                ),
            ));
        }
        wait_for(&mut wakeups, run_id, 0, FOLLOW_POLL.min(CANCEL_WAIT / 10)).await;
    }
}

/// Waits for a wake-up about `run_id` past `after`, or `poll`.
async fn wait_for(
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

/// How long a follower keeps trying while the store fails (a database
/// restarting, a connection cut) before it ends its stream with an `error`
/// event.
const FOLLOW_OUTAGE: Duration = Duration::from_secs(15);

/// How long a follower waits between two tries while the store fails.
const FOLLOW_RETRY: Duration = Duration::from_millis(250);

/// The message of the `error` event of a follower that gave up.
const FOLLOW_LOST: &str = "The server lost its database while streaming this run; \
     resume it from its events route (GET /threads/{thread_id}/runs/{run_id}/events).";

/// What a follower makes of a read ([`Patience::judge`]).
enum Read<T> {
    Value(T),
    /// The store failed: try again (after a pause, already taken).
    Again,
    /// The store failed for too long: end the stream with an `error` event.
    GiveUp,
    /// The thread or run was deleted: the stream just ends.
    Gone,
}

/// A follower's reads, tried again while the store fails.
struct Patience {
    failing_since: Option<tokio::time::Instant>,
}

impl Patience {
    /// Reads with `read`, bounded by [`FOLLOW_OUTAGE`]: while the database
    /// is away, a call may wait for a connection rather than fail at once,
    /// and a read that does not answer counts as failed.
    async fn read<T>(&mut self, read: impl Future<Output = StoreResult<T>>) -> Read<T> {
        let started = tokio::time::Instant::now();
        let result = match tokio::time::timeout(FOLLOW_OUTAGE, read).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::database(
                "reading a followed run",
                format!("the store did not answer in {} s", FOLLOW_OUTAGE.as_secs()),
            )),
        };
        self.judge(result, started).await
    }

    /// What to do with `result`, a read started at `started`.
    async fn judge<T>(&mut self, result: StoreResult<T>, started: tokio::time::Instant) -> Read<T> {
        match result {
            Ok(value) => {
                if self.failing_since.take().is_some() {
                    tracing::info!("a followed run's events can be read again");
                }
                Read::Value(value)
            }
            Err(err @ StoreError::Database { .. }) => {
                let since = *self.failing_since.get_or_insert_with(|| {
                    tracing::warn!(%err, "the events of a followed run cannot be read; trying again");
                    started
                });
                if since.elapsed() >= FOLLOW_OUTAGE {
                    tracing::error!(%err, "the events of a followed run cannot be read; giving up");
                    return Read::GiveUp;
                }
                tokio::time::sleep(FOLLOW_RETRY).await;
                Read::Again
            }
            Err(err) => {
                tracing::debug!(%err, "a followed run is gone");
                Read::Gone
            }
        }
    }
}

/// A run's events after `after` from the store, as they are committed, up
/// to and including the next `done`; for a stream of a run that another
/// instance drives. Ends early if the run ended with no `done` left to
/// read, or was deleted. While the store fails (a database restart) it
/// tries again for [`FOLLOW_OUTAGE`], then ends with an `error` event that
/// says to resume (the event has no id, so the resume misses nothing).
pub(crate) fn follow_stored(
    app: Arc<App>,
    thread_id: String,
    run_id: String,
    after: u64,
) -> Follow {
    let wakeups = app.store.wakeups();
    let patience = Patience {
        failing_since: None,
    };
    let state = Some((app, thread_id, run_id, after, wakeups, patience));
    Box::pin(futures_util::stream::unfold(state, |state| async move {
        let (app, thread_id, run_id, mut after, mut wakeups, mut patience) = state?;
        let give_up = || Some((error_frame("server_error", FOLLOW_LOST), None));
        loop {
            let read = app
                .store
                .events_after(&thread_id, &run_id, after, EVENT_PAGE);
            let events = match patience.read(read).await {
                Read::Value(events) => events,
                Read::Again => continue,
                Read::GiveUp => return give_up(),
                Read::Gone => return None,
            };
            if !events.is_empty() {
                let mut chunk = Vec::new();
                let mut done = false;
                for event in &events {
                    chunk.extend_from_slice(&frame(&event.event, event.seq, &event.data));
                    after = event.seq;
                    if crate::AssistantEvent::Done.name() == event.event {
                        done = true;
                        break;
                    }
                }
                let next = (!done).then_some((app, thread_id, run_id, after, wakeups, patience));
                return Some((Bytes::from(chunk), next));
            }
            // Nothing new: the run may have ended with nothing left to read.
            match patience.read(app.store.run(&thread_id, &run_id)).await {
                Read::Value(record) if record.run.status.is_terminal() => {
                    // Its last events may have come with its end.
                    let last = app.store.events_after(&thread_id, &run_id, after, 1);
                    match patience.read(last).await {
                        Read::Value(last) if last.is_empty() => return None,
                        Read::Value(_) | Read::Again => continue,
                        Read::GiveUp => return give_up(),
                        Read::Gone => return None,
                    }
                }
                Read::Value(_) => {}
                Read::Again => continue,
                Read::GiveUp => return give_up(),
                Read::Gone => return None,
            }
            wait_for(&mut wakeups, &run_id, after, FOLLOW_POLL).await;
        }
    }))
}

/// Puts a run this instance just took into the runtime.
pub(crate) fn adopt(app: &App, record: RunRecord) -> Arc<LiveRun> {
    let live = LiveRun::new(record);
    app.runtime.insert(Arc::clone(&live));
    live
}

/// Whether `err` says that another instance took the run over.
pub(crate) fn is_lost(err: &StoreError) -> bool {
    matches!(err, StoreError::Lost { .. })
}

#[cfg(test)]
mod tests;
