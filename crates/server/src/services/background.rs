//! The server's long-lived work, each a task owned by the supervisor
//! (`super::tasks`) that ends when the server stops:
//!
//! - the pruner deletes the events of runs that ended longer than the
//!   retention ago ([`spawn_pruner`]);
//! - on a store several instances share, this instance says it is alive
//!   every quarter of the lease, takes over the runs of lapsed instances
//!   and does the cancels other instances ask of it ([`join_cluster`]).
//!
//! This module sits above the run services: it calls the lifecycle, which
//! never calls back.

use super::Services;
use super::runs::lifecycle;
use super::runs::ownership::lapsed_before;
use crate::store::{StoreResult, Wakeup};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::broadcast;

/// Runs taken over at a time.
const CLAIM_BATCH: usize = 64;

/// Deletes the events of runs that ended longer than the retention ago,
/// every quarter of the retention (at most every minute), for as long as
/// the server lives.
pub(crate) fn spawn_pruner(app: &Arc<Services>) {
    let retention = app.config.event_retention;
    let every = (retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let weak = Arc::downgrade(app);
    app.tasks.spawn_until_stopped(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(app) = weak.upgrade() else { return };
            let before = crate::ids::now() - retention.as_secs() as i64;
            match app.store.prune_events(before).await {
                Ok(0) => {}
                Ok(pruned) => tracing::debug!(pruned, "the events of ended runs were pruned"),
                Err(err) => tracing::warn!(%err, "the events of ended runs could not be pruned"),
            }
        }
    });
}

/// Joins the instances sharing the store: says this one is alive, then
/// keeps saying it, takes over the runs of lapsed instances, and does the
/// cancels asked of it.
pub(crate) async fn join_cluster(app: &Arc<Services>) -> StoreResult<()> {
    app.store.heartbeat(&app.instance).await?;
    if let Some(wakeups) = app.store.wakeups() {
        app.tasks
            .spawn_until_stopped(listen(Arc::downgrade(app), wakeups));
    }
    let every = app.config.lease / 4;
    let weak = Arc::downgrade(app);
    app.tasks.spawn_until_stopped(async move {
        loop {
            tokio::time::sleep(every).await;
            let Some(app) = weak.upgrade() else { return };
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
async fn take_over(app: &Arc<Services>) {
    let claimed = app
        .store
        .claim_lapsed_runs(
            &app.instance,
            lapsed_before(app),
            crate::ids::now(),
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
async fn listen(app: Weak<Services>, mut wakeups: broadcast::Receiver<Wakeup>) {
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
