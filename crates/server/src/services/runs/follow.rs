//! The one follower of a run's events, for every stream a client reads:
//! the answer of a POST that starts or continues a run, the events route
//! that resumes one (`GET .../runs/{run_id}/events`), and a run that
//! another instance drives.
//!
//! A run's events are in two places: the store holds every committed one,
//! and a live run's [feed](crate::services::live::Feed) holds those of this process
//! since the run became live here (published as they are made, written
//! within `WRITE_INTERVAL`). A follower reads the store up to the feed's
//! first event, then the feed ([`live`]); a run that is not live here is
//! read from the store alone, to its end, or, on a store several instances
//! share, as the instance driving it commits its events ([`resume`]: a
//! wake-up says when, or a look every `FOLLOW_POLL`). Each stream ends
//! at the end of the turn (the next `done`).
//!
//! Every stream ends when the server shuts down, with an `error` event
//! (without an id) that says to resume the run from its events route
//! ([`until_shutdown`]).

use super::ownership::{FOLLOW_POLL, wait_for};
use crate::services::live::{Follow, LiveRun, error_frame, frame};
use crate::services::{ServiceError, ServiceResult, Services};
use crate::store::{StoreError, StoreResult, StoredEvent};
use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

/// Stored events read at a time.
const EVENT_PAGE: usize = 1000;

/// The message of the `error` event that ends every stream at shutdown.
const SHUTTING_DOWN: &str = "The server is shutting down; resume this run from its events route \
     (GET /threads/{thread_id}/runs/{run_id}/events) when it is back.";

/// A live run's events after `after`: those before its feed from the
/// store, then the feed, to the end of the turn.
pub(crate) fn live(app: &Arc<Services>, live: &Arc<LiveRun>, after: u64) -> Follow {
    let first = live.feed.first_seq();
    let feed: Follow = Box::pin(Arc::clone(&live.feed).follow(after.max(first - 1)));
    let stored = Stored {
        app: Arc::clone(app),
        thread_id: live.thread_id.clone(),
        run_id: live.run_id.clone(),
        after,
        until: first - 1,
    };
    until_shutdown(app, Box::pin(stored.chain_until_done(feed)))
}

/// A run's events after `after`, wherever they are, to the end of the
/// turn (the events route). `NotFound` for an unknown run;
/// [`ServiceError::EventsExpired`] if events after `after` were kept and
/// are pruned.
pub(crate) async fn resume(
    app: &Arc<Services>,
    thread_id: &str,
    run_id: &str,
    after: u64,
) -> ServiceResult<Follow> {
    let record = app.store.run(thread_id, run_id).await?;
    let live = app
        .runtime
        .get(run_id)
        .filter(|live| live.thread_id == thread_id);
    // Events before the live feed (all of them, for a run no longer live)
    // come from the store.
    let stored_until = match &live {
        Some(live) => live.feed.first_seq() - 1,
        None => record.progress.last_event,
    };
    if after < stored_until {
        let first = app.store.events_after(thread_id, run_id, after, 1).await?;
        if first.is_empty() {
            return Err(ServiceError::EventsExpired {
                run_id: run_id.to_owned(),
                retention_secs: app.config.event_retention.as_secs(),
            });
        }
    }
    let body: Follow = match live {
        Some(live) => return Ok(self::live(app, &live, after)),
        // Driven by another instance, or between instances: follow the store.
        None if app.store.is_shared() => from_store(
            Arc::clone(app),
            thread_id.to_owned(),
            run_id.to_owned(),
            after,
        ),
        None => Box::pin(
            Stored {
                app: Arc::clone(app),
                thread_id: thread_id.to_owned(),
                run_id: run_id.to_owned(),
                after,
                until: stored_until,
            }
            .into_stream(),
        ),
    };
    Ok(until_shutdown(app, body))
}

/// `body`, ended when the server shuts down by an `error` event that says
/// to resume (it has no id: a client resuming after it misses nothing).
pub(crate) fn until_shutdown(app: &Services, body: Follow) -> Follow {
    let stopping = app.tasks.stopping();
    Box::pin(futures_util::stream::unfold(
        Some((body, stopping)),
        |state| async move {
            let (mut body, stopping) = state?;
            tokio::select! {
                biased;
                chunk = body.next() => chunk.map(|chunk| (chunk, Some((body, stopping)))),
                () = stopping.cancelled() => {
                    Some((error_frame("server_error", SHUTTING_DOWN), None))
                }
            }
        },
    ))
}

/// The frames of `events` up to `until`, joined, with `*after` moved past
/// them; stops after a `done`, and says whether it did.
fn frames(events: &[StoredEvent], until: u64, after: &mut u64) -> (Bytes, bool) {
    let mut chunk = Vec::new();
    let mut done = false;
    for event in events.iter().take_while(|e| e.seq <= until) {
        chunk.extend_from_slice(&frame(&event.event, event.seq, &event.data));
        *after = event.seq;
        if crate::AssistantEvent::Done.name() == event.event {
            done = true;
            break;
        }
    }
    (Bytes::from(chunk), done)
}

/// A run's stored events in `(after, until]`, read a page at a time, up
/// to and including the first `done`.
struct Stored {
    app: Arc<Services>,
    thread_id: String,
    run_id: String,
    after: u64,
    until: u64,
}

impl Stored {
    /// The frames a page at a time, each chunk with whether it ends at a
    /// `done`; nothing after a `done`.
    fn chunks(self) -> impl futures_util::Stream<Item = (Bytes, bool)> + Send + 'static {
        futures_util::stream::unfold(Some(self), |state| async move {
            let mut state = state?;
            if state.after >= state.until {
                return None;
            }
            let events = match state
                .app
                .store
                .events_after(&state.thread_id, &state.run_id, state.after, EVENT_PAGE)
                .await
            {
                Ok(events) => events,
                Err(err) => {
                    tracing::error!(%err, "the events of a run could not be read");
                    return None;
                }
            };
            let (chunk, done) = frames(&events, state.until, &mut state.after);
            if chunk.is_empty() {
                return None;
            }
            let next = (!done).then_some(state);
            Some(((chunk, done), next))
        })
    }

    /// The stored frames, to the first `done`.
    fn into_stream(self) -> impl futures_util::Stream<Item = Bytes> + Send + 'static {
        self.chunks().map(|(chunk, _)| chunk)
    }

    /// The stored frames, then `follow` unless they reached a `done`.
    fn chain_until_done(
        self,
        follow: Follow,
    ) -> impl futures_util::Stream<Item = Bytes> + Send + 'static {
        let stored = Box::pin(self.chunks().fuse());
        futures_util::stream::unfold(
            (stored, Some(follow), false),
            |(mut stored, mut follow, mut done)| async move {
                if !done && let Some((chunk, ends)) = stored.next().await {
                    done = ends;
                    return Some((chunk, (stored, follow, done)));
                }
                if done {
                    return None;
                }
                let chunk = follow.as_mut()?.next().await?;
                Some((chunk, (stored, follow, done)))
            },
        )
    }
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
fn from_store(app: Arc<Services>, thread_id: String, run_id: String, after: u64) -> Follow {
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
                let (chunk, done) = frames(&events, u64::MAX, &mut after);
                let next = (!done).then_some((app, thread_id, run_id, after, wakeups, patience));
                return Some((chunk, next));
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
