//! Resuming a run stream whose connection dropped: the vocabulary
//! ([`ResumeFn`], [`ResumeFrom`]) and the bookkeeping behind it (which event
//! ids were seen, how many attempts were made, what to report when resuming
//! is not possible).

use crate::accumulate::Snapshots;
use crate::error::Error;
use futures_util::future::BoxFuture;
use std::task::{Context, Poll, ready};

/// How many resumes in a row may bring no new event before the stream gives
/// up. Any new event starts the count again, so a long run over a flaky
/// network goes on as long as each connection brings something.
pub(crate) const RESUME_ATTEMPTS: u32 = 3;

/// Where a dropped run stream asks to be resumed from: the run, and the
/// sequence number (the SSE `id`) of the newest event seen.
///
/// Given to a [`ResumeFn`]; the resumed body must carry the run's events
/// after `last_event_id` (events it repeats are dropped by the stream).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResumeFrom {
    /// The run's thread.
    pub thread_id: String,
    /// The run.
    pub run_id: String,
    /// The id of the newest event seen; send it as `Last-Event-ID`.
    pub last_event_id: u64,
    /// 1 for the first attempt since the last new event, then 2, 3: wait a
    /// little before the later ones (the connection just failed).
    pub attempt: u32,
}

/// What a stream calls to resume its run after the connection dropped: a
/// future of a body carrying the run's events after
/// [`ResumeFrom::last_event_id`] (on this crate's server,
/// `GET /threads/{thread_id}/runs/{run_id}/events` with `Last-Event-ID`).
///
/// It must never re-send the request that created the run or submitted tool
/// outputs: that would start the work again.
pub type ResumeFn<S> = Box<dyn FnMut(ResumeFrom) -> BoxFuture<'static, Result<S, Error>> + Send>;

/// The resume state of one stream.
pub(crate) struct Resumer<S> {
    resume: Option<ResumeFn<S>>,
    /// The id of the newest event seen, across every body of the stream.
    pub(crate) last_event_id: Option<u64>,
    /// The run to resume when no event named it yet (a stream opened on a
    /// known run).
    known_run: Option<(String, String)>,
    /// Resumes started since the last new event.
    attempts: u32,
    /// Whether the body read is a resumed one, which may repeat events.
    /// Only there are repeats dropped: a server that numbers each response
    /// on its own (1, 2, 3 again after tool outputs) must not lose a turn.
    replaying: bool,
    pending: Option<Pending<S>>,
}

/// A resume under way.
struct Pending<S> {
    future: BoxFuture<'static, Result<S, Error>>,
    from: ResumeFrom,
    /// What the stream reports if the resume fails: the error that ended the
    /// dropped connection, as it would have been reported without resuming.
    disconnect: Error,
}

impl<S> std::fmt::Debug for Resumer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resumer")
            .field("enabled", &self.resume.is_some())
            .field("last_event_id", &self.last_event_id)
            .field("attempts", &self.attempts)
            .field("resuming", &self.pending.as_ref().map(|p| &p.from))
            .finish()
    }
}

impl<S> Default for Resumer<S> {
    fn default() -> Self {
        Resumer {
            resume: None,
            last_event_id: None,
            known_run: None,
            attempts: 0,
            replaying: false,
            pending: None,
        }
    }
}

/// The event id of a frame, when it is a sequence number.
fn sequence_number(id: Option<&str>) -> Option<u64> {
    id?.trim().parse().ok()
}

impl<S> Resumer<S> {
    pub(crate) fn set(&mut self, resume: ResumeFn<S>) {
        self.resume = Some(resume);
    }

    pub(crate) fn set_known_run(&mut self, thread_id: String, run_id: String, after: Option<u64>) {
        self.known_run = Some((thread_id, run_id));
        if after.is_some() {
            self.last_event_id = after;
            self.replaying = true;
        }
    }

    /// Whether a frame with this id is new (it is then recorded as the
    /// newest). A frame of a resumed body whose sequence number is not above
    /// the newest seen is a repeat from a server that resent it, and must
    /// be dropped.
    pub(crate) fn accept(&mut self, id: Option<&str>) -> bool {
        if let Some(id) = sequence_number(id) {
            if self.replaying && self.last_event_id.is_some_and(|last| id <= last) {
                return false;
            }
            self.last_event_id = Some(id);
        }
        self.attempts = 0;
        true
    }

    /// A new turn of the same run (tool outputs submitted): its events go on
    /// numbering where the last turn stopped, so only the attempts restart.
    pub(crate) fn new_turn(&mut self) {
        self.attempts = 0;
        self.replaying = false;
        self.pending = None;
    }

    /// Starts resuming after the connection dropped with `disconnect`, or
    /// gives `disconnect` back (with the reason when there is one worth
    /// saying) when the stream cannot resume.
    pub(crate) fn begin(&mut self, disconnect: Error, snapshots: &Snapshots) -> Result<(), Error> {
        // Without a resume function, an event id or the run's ids the stream
        // fails exactly as a stream that cannot resume always did.
        let (Some(resume), Some(last_event_id)) = (self.resume.as_mut(), self.last_event_id) else {
            return Err(disconnect);
        };
        let Some((thread_id, run_id)) = run_ids(snapshots).or_else(|| self.known_run.clone())
        else {
            return Err(disconnect);
        };
        if self.attempts >= RESUME_ATTEMPTS {
            return Err(disconnect.with_resume_failure(
                last_event_id,
                &format!("{RESUME_ATTEMPTS} attempts in a row brought no new event"),
            ));
        }
        self.attempts += 1;
        let from = ResumeFrom {
            thread_id,
            run_id,
            last_event_id,
            attempt: self.attempts,
        };
        let future = resume(from.clone());
        self.pending = Some(Pending {
            future,
            from,
            disconnect,
        });
        Ok(())
    }

    /// Polls the resume under way: the new body, or the disconnect error
    /// saying why resuming was not possible. Connection trouble is tried
    /// again (up to [`RESUME_ATTEMPTS`] in a row); a refusal such as a 404
    /// (a server without the events route) ends the attempts at once.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<S, Error>> {
        loop {
            let pending = self.pending.as_mut().expect("polled only while resuming");
            let result = ready!(pending.future.as_mut().poll(cx));
            let Pending {
                from, disconnect, ..
            } = self.pending.take().expect("checked above");
            let err = match result {
                Ok(body) => {
                    self.replaying = true;
                    return Poll::Ready(Ok(body));
                }
                Err(err) => err,
            };
            // An answer (an error status, a body that is no event stream)
            // or a request that cannot be made will not change by asking
            // again; a connection that failed may.
            let refused = err.is_status() || err.is_decode() || err.is_builder();
            if refused {
                return Poll::Ready(Err(
                    disconnect.with_resume_failure(from.last_event_id, &err.to_string())
                ));
            }
            if self.attempts >= RESUME_ATTEMPTS {
                return Poll::Ready(Err(disconnect.with_resume_failure(
                    from.last_event_id,
                    &format!("{err} (attempt {} of {RESUME_ATTEMPTS})", self.attempts),
                )));
            }
            let resume = self.resume.as_mut().expect("set when the resume began");
            self.attempts += 1;
            let from = ResumeFrom {
                attempt: self.attempts,
                ..from
            };
            let future = resume(from.clone());
            self.pending = Some(Pending {
                future,
                from,
                disconnect,
            });
        }
    }
}

/// The thread and run of the events seen, if they named them.
fn run_ids(snapshots: &Snapshots) -> Option<(String, String)> {
    let known = |thread_id: &str, run_id: &str| {
        (!thread_id.is_empty() && !run_id.is_empty())
            .then(|| (thread_id.to_owned(), run_id.to_owned()))
    };
    if let Some(run) = snapshots.run()
        && let Some(ids) = known(&run.thread_id, &run.id)
    {
        return Some(ids);
    }
    if let Some(step) = snapshots.current_run_step()
        && let Some(ids) = known(&step.thread_id, &step.run_id)
    {
        return Some(ids);
    }
    let message = snapshots.current_message()?;
    known(&message.thread_id, message.run_id.as_deref()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_resumed_body_has_its_repeats_dropped() {
        let mut resumer = Resumer::<()>::default();
        assert!(resumer.accept(Some("1")) && resumer.accept(Some("2")));
        // A server that numbers each response anew: the next turn's events
        // are all new, whatever their ids.
        resumer.new_turn();
        assert!(resumer.accept(Some("1")));
        assert_eq!(resumer.last_event_id, Some(1));
        assert!(resumer.accept(None) && resumer.accept(Some("not a number")));
        assert_eq!(resumer.last_event_id, Some(1));

        resumer.replaying = true;
        assert!(!resumer.accept(Some("1")), "a repeat");
        assert!(!resumer.accept(Some(" 0 ")), "an older one");
        assert!(resumer.accept(Some("2")));
        assert_eq!(resumer.last_event_id, Some(2));
    }

    #[test]
    fn a_stream_with_no_run_or_no_event_id_cannot_resume() {
        let disconnect = || Error::body(std::io::Error::other("reset"), 10);
        let mut resumer = Resumer::<()>::default();
        resumer.set(Box::new(|_| Box::pin(async { Ok(()) })));
        let snapshots = Snapshots::new();
        let err = resumer.begin(disconnect(), &snapshots).unwrap_err();
        assert_eq!(err.to_string(), disconnect().to_string(), "no event id");
        resumer.accept(Some("3"));
        let err = resumer.begin(disconnect(), &snapshots).unwrap_err();
        assert_eq!(err.to_string(), disconnect().to_string(), "no run");
        resumer.set_known_run("thread_1".into(), "run_1".into(), None);
        for _ in 0..RESUME_ATTEMPTS {
            resumer.begin(disconnect(), &snapshots).unwrap();
            assert_eq!(resumer.pending.as_ref().unwrap().from.last_event_id, 3);
        }
        let err = resumer.begin(disconnect(), &snapshots).unwrap_err();
        assert!(err.is_body());
        assert!(
            err.to_string()
                .ends_with("resuming the run after event 3 was not possible: 3 attempts in a row brought no new event"),
            "{err}"
        );
    }
}
