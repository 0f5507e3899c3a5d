//! The PostgreSQL store as a store that several server instances share
//! ([`Store::is_shared`](super::Store::is_shared); the design is in the
//! server crate's run ownership): who holds a run, heartbeats, claims,
//! fenced commits and wake-ups. Schema:
//! `migrations/postgres/0002_instances.sql`.
//!
//! - **Holding.** `runs.owner` is the instance that holds a run. It is set
//!   by the insert (`insert_owned_run`, in the insert's transaction) and by
//!   the claims, and cleared by a commit that releases the run or ends it;
//!   nothing else writes it.
//! - **Fenced commits** (the commit's statement, `commit_sql` in the
//!   parent module): a commit of a run's holder locks the thread's row for
//!   key share, then the run's row (`FOR NO KEY UPDATE`, what a claim's
//!   `UPDATE` waits for), and writes only if the committer still holds the
//!   run; if not, nothing is written (`StoreError::Lost`). It is one
//!   statement, so one round trip and one transaction. A claim that comes
//!   meanwhile waits for the commit's end, then sees the run as the commit
//!   left it.
//! - **Claims** are single statements: [`claim_run`] one conditional
//!   `UPDATE`; [`claim_lapsed_runs`] picks its runs `FOR NO KEY UPDATE SKIP
//!   LOCKED`, so two instances claiming together split the runs and never
//!   share one.
//! - **Liveness** is `instances.seen_at` (Unix ms, the instance's clock: the
//!   instances' clocks must agree to well within a lease). An owner missing
//!   from `instances` has lapsed.
//! - **Wake-ups** are `NOTIFY assistant_stream` with a small text payload
//!   (`e SEQ RUN_ID`: the run's events up to `SEQ` are committed;
//!   `c RUN_ID`: cancel it), queued by the commit's statement, so PostgreSQL
//!   delivers them when (and only if) it commits. One task per store
//!   listens on a connection of its own (from a pool of two beside the
//!   store's, whose other connection is the heartbeat's, so that neither
//!   waits for a busy store pool) and broadcasts them to the store's
//!   receivers. It reconnects by itself; notifications sent while it
//!   was away are lost, which is fine: a wake-up is a hint and followers
//!   poll the tables.

use super::{PostgresStore, RunRecord, StoreResult, fault, run_record};
use assistant_stream_store::Wakeup;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// The channel of the store's notifications.
const CHANNEL: &str = "assistant_stream";

/// Wake-ups kept for a receiver that is behind; past this it lags, and
/// rereads the store (as the shared memory store's).
const WAKEUP_BACKLOG: usize = 4096;

/// How long the listener waits before connecting again after a failure:
/// short, since followers only poll meanwhile, but not a busy loop while
/// the database is down.
const RECONNECT_DELAY: Duration = Duration::from_millis(250);

/// The sequence number of a run's last stored event, as a claim's record
/// reports it (`runs` in scope).
const LAST_STORED: &str = "(SELECT MAX(last_seq) FROM run_event_batches WHERE run_id = runs.id)";

/// What a store shares between its clones: the wake-ups' channel and the
/// task that feeds it, stopped when the last clone goes.
pub(super) struct Shared {
    sender: broadcast::Sender<Wakeup>,
    /// A pool of two connections beside the store's, made lazily: one the
    /// listener keeps, one for the heartbeat. A heartbeat that waited for
    /// the store's pool, saturated under load, could come later than the
    /// lease and have a live instance's runs taken over.
    pool: PgPool,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().ok().and_then(Option::take) {
            task.abort();
        }
    }
}

impl Shared {
    pub(super) fn new(options: &PgConnectOptions) -> Self {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(super::CONNECT_TIMEOUT)
            .connect_lazy_with(options.clone());
        Shared {
            sender: broadcast::channel(WAKEUP_BACKLOG).0,
            pool,
            task: Mutex::new(None),
        }
    }

    /// A receiver of the wake-ups; starts the listener on first use (inside
    /// a Tokio runtime, as the server's calls are).
    pub(super) fn subscribe(&self) -> broadcast::Receiver<Wakeup> {
        let receiver = self.sender.subscribe();
        let mut task = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if task.is_none()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            *task = Some(runtime.spawn(listen(self.pool.clone(), self.sender.clone())));
        }
        receiver
    }
}

/// Listens for the store's notifications and broadcasts them, reconnecting
/// after any failure (logged once per outage).
async fn listen(pool: PgPool, sender: broadcast::Sender<Wakeup>) {
    let mut down = false;
    loop {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match listener.await {
            Ok(listener) => listener,
            Err(err) => {
                if !down {
                    tracing::warn!(%err, "cannot listen for other instances' wake-ups; retrying");
                    down = true;
                }
                tokio::time::sleep(RECONNECT_DELAY).await;
                continue;
            }
        };
        if down {
            tracing::info!("listening for other instances' wake-ups again");
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    if let Some(wakeup) = parse(notification.payload()) {
                        // Nobody listening is fine.
                        let _ = sender.send(wakeup);
                    }
                }
                // The connection dropped and was made again: what was sent
                // meanwhile is lost (followers poll).
                Ok(None) => tracing::warn!(
                    "the connection for other instances' wake-ups was lost and made again"
                ),
                Err(err) => {
                    tracing::warn!(%err, "lost the connection for other instances' wake-ups; reconnecting");
                    down = true;
                    break;
                }
            }
        }
        drop(listener);
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

/// A notification's payload as a wake-up (`None` for one this build does
/// not know).
fn parse(payload: &str) -> Option<Wakeup> {
    let (kind, rest) = payload.split_once(' ')?;
    match kind {
        "e" => {
            let (seq, run_id) = rest.split_once(' ')?;
            Some(Wakeup::Events {
                run_id: run_id.to_owned(),
                last_seq: seq.parse().ok()?,
            })
        }
        "c" => Some(Wakeup::Cancel {
            run_id: rest.to_owned(),
        }),
        _ => None,
    }
}

/// The payload of the wake-up that says run `run_id`'s events up to `seq`
/// are committed ([`parse`] reads it back).
pub(super) fn events_payload(seq: u64, run_id: &str) -> String {
    format!("e {seq} {run_id}")
}

/// A claimed run's record, held by `instance`, with the number of its last
/// stored event.
fn claimed(
    (id, object, progress, last_stored): &(String, String, String, Option<i64>),
    instance: &str,
) -> StoreResult<RunRecord> {
    let mut record = run_record(object, progress, id)?;
    let last_stored = last_stored.map_or(0, i64::unsigned_abs);
    record.progress.last_event = record.progress.last_event.max(last_stored);
    record.owner = Some(instance.to_owned());
    Ok(record)
}

/// How long an instance's row outlives its last heartbeat when it holds no
/// run. Every start of a server is a new instance, so without this the
/// table would keep a row for each start ever made. A missing row and a
/// stale one mean the same (lapsed), and a row that holds no run matters
/// to no claim; the hour only spares the row of an instance that is alive
/// but stalled, whose next run would otherwise be taken from it at once
/// (rather than after its lease) when it comes back.
const FORGET_INSTANCES_AFTER: Duration = Duration::from_secs(3600);

/// Says that `instance` is alive, and forgets, in the same statement, the
/// instances not heard of for [`FORGET_INSTANCES_AFTER`] that hold no run.
pub(super) async fn heartbeat(store: &PostgresStore, instance: &str) -> StoreResult<()> {
    let now = now_millis();
    let forget_before = now.saturating_sub(FORGET_INSTANCES_AFTER.as_millis() as i64);
    sqlx::query(
        "WITH forgotten AS (DELETE FROM instances i \
             WHERE i.seen_at < $3 AND i.id <> $1 \
             AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.owner = i.id AND r.ended_at IS NULL)) \
         INSERT INTO instances (id, seen_at) VALUES ($1, $2) \
         ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
    )
    .bind(instance)
    .bind(now)
    .bind(forget_before)
    .execute(&store.shared.pool)
    .await
    .map_err(|error| fault(format!("saying that instance {instance} is alive"), error))?;
    Ok(())
}

pub(super) async fn claim_run(
    store: &PostgresStore,
    thread_id: &str,
    run_id: &str,
    instance: &str,
    lapsed_before: i64,
) -> StoreResult<Option<RunRecord>> {
    let action = || format!("claiming run {run_id}");
    // One statement: a concurrent claim waits for this one's row lock, then
    // finds the run held (by a live instance) and takes nothing.
    let row: Option<(String, String, String, Option<i64>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE runs SET owner = $3 \
             WHERE id = $2 AND thread_id = $1 AND ended_at IS NULL \
             AND (owner IS NULL OR NOT EXISTS \
                 (SELECT 1 FROM instances i WHERE i.id = runs.owner AND i.seen_at >= $4)) \
             RETURNING id, object::text, progress::text, {LAST_STORED}"
        )))
        .bind(thread_id)
        .bind(run_id)
        .bind(instance)
        .bind(lapsed_before)
        .fetch_optional(&store.pool)
        .await
        .map_err(|error| fault(action(), error))?;
    match row {
        Some(row) => claimed(&row, instance).map(Some),
        None => {
            store.check_run(thread_id, run_id).await?;
            Ok(None)
        }
    }
}

pub(super) async fn claim_lapsed_runs(
    store: &PostgresStore,
    instance: &str,
    lapsed_before: i64,
    now: i64,
    limit: usize,
) -> StoreResult<Vec<RunRecord>> {
    let action = || "claiming the runs of lapsed instances".to_owned();
    // `SKIP LOCKED`: a run another instance is claiming (or committing) is
    // left to it; two claimants split the runs between them.
    let mut rows: Vec<(String, String, String, Option<i64>)> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "WITH c AS (SELECT r.id FROM runs r \
                 WHERE r.ended_at IS NULL AND ( \
                     (r.owner IS NOT NULL AND NOT EXISTS \
                         (SELECT 1 FROM instances i WHERE i.id = r.owner AND i.seen_at >= $2)) \
                     OR (r.owner IS NULL AND (r.object->>'expires_at')::bigint <= $3)) \
                 ORDER BY r.created_at, r.seq LIMIT $4 \
                 FOR NO KEY UPDATE SKIP LOCKED) \
             UPDATE runs SET owner = $1 FROM c WHERE runs.id = c.id \
             RETURNING runs.id, runs.object::text, runs.progress::text, {LAST_STORED}"
        )))
        .bind(instance)
        .bind(lapsed_before)
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&store.pool)
        .await
        .map_err(|error| fault(action(), error))?;
    let mut records = rows
        .drain(..)
        .map(|row| claimed(&row, instance))
        .collect::<StoreResult<Vec<_>>>()?;
    // `RETURNING` keeps no order.
    records.sort_by_key(|record| record.run.created_at);
    Ok(records)
}

pub(super) async fn request_cancel(
    store: &PostgresStore,
    thread_id: &str,
    run_id: &str,
) -> StoreResult<()> {
    let sent: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_notify('assistant_stream', 'c ' || id) \
         FROM runs WHERE id = $2 AND thread_id = $1) n",
    )
    .bind(thread_id)
    .bind(run_id)
    .fetch_one(&store.pool)
    .await
    .map_err(|error| fault(format!("asking for run {run_id} to be cancelled"), error))?;
    if sent == 0 {
        store.check_run(thread_id, run_id).await?;
    }
    Ok(())
}

/// Unix time in milliseconds.
fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        assert_eq!(
            parse("e 42 run_abc"),
            Some(Wakeup::Events {
                run_id: "run_abc".to_owned(),
                last_seq: 42
            })
        );
        assert_eq!(
            parse("c run_abc"),
            Some(Wakeup::Cancel {
                run_id: "run_abc".to_owned()
            })
        );
        assert_eq!(
            parse(&events_payload(7, "run_x")),
            Some(Wakeup::Events {
                run_id: "run_x".to_owned(),
                last_seq: 7
            })
        );
        assert_eq!(parse("x y"), None);
        assert_eq!(parse("e nope run"), None);
    }
}
