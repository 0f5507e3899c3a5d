//! [`AssistantStream`]: bytes in, typed events out, snapshots kept.
//!
//! It wraps any `Stream` of byte chunks (an HTTP body, a file, a channel) and
//! is itself a `Stream<Item = Result<AssistantEvent, Error>>`. Each event is
//! applied to the [`Snapshots`] before it is yielded, so
//! [`current_message_snapshot`](AssistantStream::current_message_snapshot)
//! and friends always reflect the events seen so far.
//!
//! Errors: an event that does not decode, or an SSE frame with invalid UTF-8,
//! yields one `Err` and the stream goes on with the next event. A failing
//! byte source yields one `Err` and ends the stream (unless the stream can
//! [resume](#resuming-a-dropped-stream)). A stream that ends before
//! its run reached a terminal status or `requires_action` ends with an `Err`
//! for which [`Error::is_incomplete`](crate::Error::is_incomplete) is true.
//! Everything accumulated stays readable after any error.
//!
//! ```
//! use assistant_stream::{AssistantEvent, AssistantStream};
//! use futures_util::StreamExt;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let body = concat!(
//!     "event: thread.message.created\n",
//!     "data: {\"id\":\"msg_1\",\"role\":\"assistant\",\"content\":[]}\n\n",
//!     ": keep-alive\n\n",
//!     "event: thread.message.delta\n",
//!     "data: {\"id\":\"msg_1\",\"delta\":{\"content\":[{\"index\":0,\"type\":\"text\",\"text\":{\"value\":\"Hello\"}}]}}\n\n",
//!     "event: thread.run.completed\n",
//!     "data: {\"id\":\"run_1\",\"status\":\"completed\"}\n\n",
//!     "event: done\n",
//!     "data: [DONE]\n\n",
//! );
//! let mut stream = AssistantStream::from_bytes(body);
//! let mut names = Vec::new();
//! while let Some(event) = stream.next().await {
//!     names.push(event?.name().to_owned());
//! }
//! assert_eq!(names, ["thread.message.created", "thread.message.delta", "thread.run.completed", "done"]);
//! assert_eq!(stream.current_message_snapshot().unwrap().text(), "Hello");
//! assert!(stream.final_run().is_some());
//! # Ok::<(), assistant_stream::Error>(())
//! # }).unwrap();
//! ```
//!
//! # Resuming a dropped stream
//!
//! A server may number the events of a run with the SSE `id:` field (1, 2,
//! 3, ... across all the turns of the run, `done` included) and serve them
//! again after a given id, as this crate's server does at
//! `GET /threads/{thread_id}/runs/{run_id}/events` (`Last-Event-ID`). A
//! stream given a [`ResumeFn`] (the client's run streams have one) then
//! outlives its connection: when the body fails, or ends without `done`
//! before its run ended, the stream asks the function for the events after
//! the newest id it saw and reads on from them, as one stream.
//!
//! - No event is missed or repeated: the dropped connection's partial frame
//!   is discarded, and an event of the resumed connection whose id is not
//!   above the newest seen is dropped (a server that sends it again).
//! - The snapshots, the current turn, the tool outputs and `drive`'s handler
//!   carry on: [`drive`](AssistantStream::drive), [`until_done`](AssistantStream::until_done),
//!   [`text_deltas`](AssistantStream::text_deltas) and the `Stream` items see
//!   neither a seam nor the disconnect. This holds after `drive` submitted
//!   tool outputs too (the continuation goes on numbering the run's events).
//! - The request that created the run or submitted tool outputs is never
//!   sent again: the client resumes with a `GET` of the events route.
//! - At most 3 resumes in a row may bring no new event (only connection
//!   trouble is tried again). A refusal, such as the 404 of a server without
//!   the events route, ends resuming at once. The stream then fails with the
//!   disconnect's own error, as it would have without resuming; its message
//!   says why resuming was not possible.
//! - A stream that saw no event id (a server that does not number its
//!   events), or no event naming its run, fails as before.
//!
//! [`last_event_id`](AssistantStream::last_event_id) is where to resume
//! from later, even in another process (the client's `Runs::events_stream`).
//!
//! ```
//! use assistant_stream::stream::{ByteStream, ResumeFrom};
//! use assistant_stream::{AssistantStream, BoxError};
//! use bytes::Bytes;
//! use futures_util::{FutureExt, stream};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let frame = |id: u64, event: &str, data: &str| format!("id: {id}\nevent: {event}\ndata: {data}\n\n");
//! let delta = |text: &str| {
//!     format!(r#"{{"id":"msg_1","delta":{{"content":[{{"index":0,"type":"text","text":{{"value":"{text}"}}}}]}}}}"#)
//! };
//! let events = [
//!     frame(1, "thread.run.created", r#"{"id":"run_1","thread_id":"thread_1","status":"queued"}"#),
//!     frame(2, "thread.message.created", r#"{"id":"msg_1","role":"assistant","content":[]}"#),
//!     frame(3, "thread.message.delta", &delta("Hello")),
//!     frame(4, "thread.message.delta", &delta(", world")),
//!     frame(5, "thread.run.completed", r#"{"id":"run_1","thread_id":"thread_1","status":"completed"}"#),
//!     frame(6, "done", "[DONE]"),
//! ];
//! // The connection drops in the middle of event 4.
//! let cut = events[..3].concat() + &events[3][..20];
//! let first: ByteStream = Box::pin(stream::iter([
//!     Ok(Bytes::from(cut)),
//!     Err::<Bytes, BoxError>("connection reset by peer".into()),
//! ]));
//! let mut stream = AssistantStream::new(first).with_resume(Box::new(move |from: ResumeFrom| {
//!     assert_eq!((from.thread_id.as_str(), from.run_id.as_str()), ("thread_1", "run_1"));
//!     assert_eq!(from.last_event_id, 3);
//!     // This server sends event 3 again: the stream drops the repeat.
//!     let rest = Bytes::from(events[2..].concat());
//!     async move { Ok(Box::pin(stream::iter([Ok::<_, BoxError>(rest)])) as ByteStream) }.boxed()
//! }));
//! stream.until_done().await?;
//! assert_eq!(stream.current_message_snapshot().unwrap().text(), "Hello, world");
//! assert_eq!((stream.event_count(), stream.last_event_id()), (6, Some(6)));
//! # Ok::<(), assistant_stream::Error>(())
//! # }).unwrap();
//! ```

mod resume;
mod text_deltas;

pub use resume::{ResumeFn, ResumeFrom};
pub use text_deltas::TextDeltas;

use resume::Resumer;

use crate::accumulate::{Placed, Snapshots};
use crate::error::{BoxError, Error, Kind};
use crate::event::{AssistantEvent, SpareEvents};
use crate::handler::{Dispatch, EventHandler};
use crate::sse::{ParserConfig, SseParser};
use crate::types::{Message, Run, RunStep, ToolOutput};
use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// A boxed byte stream, the body type of streams made by the client.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>;

/// What the stream asks for to continue a run after tool outputs: given the
/// run's thread id, run id and the outputs, a future of the continuation body.
pub type SubmitToolOutputsFn<S> =
    Box<dyn FnMut(String, String, Vec<ToolOutput>) -> BoxFuture<'static, Result<S, Error>> + Send>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading the body.
    Reading,
    /// The body ended (or `done` arrived); frames may still be buffered.
    Draining,
    /// The connection dropped mid-run; waiting for the resumed body.
    Resuming,
    /// Nothing more will be yielded.
    Finished,
}

pin_project! {
    /// A typed, accumulating stream of Assistants events over a byte stream.
    ///
    /// See the [module documentation](self) for an example.
    #[must_use = "streams do nothing unless polled"]
    pub struct AssistantStream<S> {
        #[pin]
        body: S,
        parser: SseParser,
        state: State,
        snapshots: Snapshots,
        // Where the last event went in the snapshots, for the dispatcher.
        placed: Placed,
        // The event being handled: decoded in place, borrowed by `drive`,
        // taken by `poll_next`. Deltas are decoded into the previous one.
        current: Option<AssistantEvent>,
        // Deltas of the other kind, decoded into again.
        spares: SpareEvents,
        dispatch: Dispatch,
        run_ended: bool,
        server_error: Option<crate::types::ErrorObject>,
        last_event: String,
        events: u64,
        tool_outputs: Vec<ToolOutput>,
        submit: Option<SubmitToolOutputsFn<S>>,
        // Whether this turn's body ended with `done` (a body that ends
        // without it was cut off).
        saw_done: bool,
        resumer: Resumer<S>,
    }
}

impl<S> std::fmt::Debug for AssistantStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssistantStream")
            .field("state", &self.state)
            .field("events", &self.events)
            .field("last_event_id", &self.resumer.last_event_id)
            .field("run", &self.snapshots.run().map(|r| (&r.id, &r.status)))
            .finish_non_exhaustive()
    }
}

impl
    AssistantStream<
        futures_util::stream::Iter<std::iter::Once<Result<Bytes, std::convert::Infallible>>>,
    >
{
    /// A stream over bytes already in memory (a recorded `.sse` file, a test body).
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        AssistantStream::new(futures_util::stream::iter(std::iter::once(
            Ok(bytes.into()),
        )))
    }
}

impl<S, B, E> AssistantStream<S>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: Into<BoxError>,
{
    /// Wraps a stream of byte chunks.
    pub fn new(body: S) -> Self {
        Self::with_parser_config(body, ParserConfig::default())
    }

    /// Wraps a stream of byte chunks, with SSE parser limits of your own.
    pub fn with_parser_config(body: S, config: ParserConfig) -> Self {
        AssistantStream {
            body,
            parser: SseParser::with_config(config),
            state: State::Reading,
            snapshots: Snapshots::new(),
            placed: Placed::Elsewhere,
            current: None,
            spares: SpareEvents::default(),
            dispatch: Dispatch::default(),
            run_ended: false,
            server_error: None,
            last_event: String::new(),
            events: 0,
            tool_outputs: Vec::new(),
            submit: None,
            saw_done: false,
            resumer: Resumer::default(),
        }
    }

    /// Lets [`drive`](Self::drive) submit tool outputs and continue the run in
    /// this same stream. The client sets this; set it yourself to continue
    /// runs over a transport of your own.
    pub fn with_tool_output_submitter(mut self, submit: SubmitToolOutputsFn<S>) -> Self {
        self.submit = Some(submit);
        self
    }

    /// Lets the stream resume its run when the connection drops mid-run; see
    /// [Resuming a dropped stream](self#resuming-a-dropped-stream). The
    /// client sets this on the run streams it opens; set it yourself to
    /// resume over a transport of your own.
    pub fn with_resume(mut self, resume: ResumeFn<S>) -> Self {
        self.resumer.set(resume);
        self
    }

    /// Names the run this stream carries before any event does, and the id
    /// of the last event already seen elsewhere (a stream opened on a run's
    /// events route).
    #[doc(hidden)]
    pub fn resuming_run(mut self, thread_id: String, run_id: String, after: Option<u64>) -> Self {
        self.resumer.set_known_run(thread_id, run_id, after);
        self
    }

    /// Continues with the body of a continuation stream (the response of
    /// `submit_tool_outputs` with `stream: true`), keeping the snapshots and
    /// the handler bookkeeping, so the two bodies read as one logical stream.
    pub fn continue_with(self: Pin<&mut Self>, body: S) {
        let mut this = self.project();
        this.body.set(body);
        this.parser.reset();
        *this.state = State::Reading;
        *this.run_ended = false;
        *this.server_error = None;
        *this.saw_done = false;
        // The run's event ids go on across its turns: the newest seen is kept.
        this.resumer.new_turn();
        this.tool_outputs.clear();
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_frame(
        snapshots: &mut Snapshots,
        placed: &mut Placed,
        current: &mut Option<AssistantEvent>,
        spares: &mut SpareEvents,
        run_ended: &mut bool,
        server_error: &mut Option<crate::types::ErrorObject>,
        state: &mut State,
        frame: crate::sse::Frame,
    ) -> Result<(), Error> {
        *placed = Placed::Elsewhere;
        AssistantEvent::decode_into(current, spares, frame.event(), frame.data())
            .map_err(|err| err.with_offset(frame.offset()))?;
        let event = current.as_ref().expect("decode_into fills the slot");
        match event {
            AssistantEvent::Done => *state = State::Draining,
            AssistantEvent::Error(error) => *server_error = Some(error.clone()),
            other => {
                if let Some(run) = other.run() {
                    *run_ended = run.status.ends_stream();
                }
            }
        }
        *placed = snapshots
            .apply_placed(event)
            .map_err(|err| err.with_event(event.name()).with_offset(frame.offset()))?;
        Ok(())
    }

    /// The next event, decoded into `current` (where `drive` reads it in
    /// place; `poll_next` takes it out).
    fn poll_event(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<(), Error>>> {
        let mut this = self.project();
        loop {
            match *this.state {
                State::Finished => return Poll::Ready(None),
                State::Resuming => {
                    match ready!(this.resumer.poll(cx)) {
                        Ok(body) => {
                            this.body.set(body);
                            // The dropped connection's partial frame goes:
                            // the resumed body starts with whole events, and
                            // everything else (snapshots, turn, outputs) stays.
                            this.parser.reset();
                            *this.state = State::Reading;
                        }
                        Err(disconnect) => {
                            *this.state = State::Finished;
                            return Poll::Ready(Some(Err(disconnect)));
                        }
                    }
                    continue;
                }
                State::Reading | State::Draining => {}
            }
            let next = match this.parser.next_frame() {
                Some(next) => Some(next),
                None if *this.state == State::Draining => this.parser.finish(),
                None => None,
            };
            if let Some(next) = next {
                let item = match next {
                    Ok(frame) => {
                        if !this.resumer.accept(frame.id()) {
                            // Already seen before a resume: a repeat.
                            continue;
                        }
                        *this.events += 1;
                        // Reuses the buffer: no allocation per event.
                        this.last_event.clear();
                        this.last_event.push_str(frame.event());
                        let handled = Self::handle_frame(
                            this.snapshots,
                            this.placed,
                            this.current,
                            this.spares,
                            this.run_ended,
                            this.server_error,
                            this.state,
                            frame,
                        );
                        if matches!(this.current, Some(AssistantEvent::Done)) {
                            // `done` ends reading: whatever came after it in
                            // the same chunk is dropped, as it would be had it
                            // come in a later chunk, so that the chunking
                            // never changes what a stream says.
                            this.parser.reset();
                            *this.saw_done = true;
                        }
                        handled
                    }
                    Err(err) => {
                        *this.events += 1;
                        Err(Error::sse(err))
                    }
                };
                return Poll::Ready(Some(item));
            }
            if *this.state == State::Draining {
                let end = end_error(
                    *this.run_ended,
                    this.server_error.as_ref(),
                    this.snapshots,
                    this.parser,
                    Some(this.last_event.as_str()).filter(|name| !name.is_empty()),
                    *this.events,
                );
                // A body that ends mid-run without `done` (or an `error`
                // event) was cut off, like one that fails: resume if possible.
                let cut_off = !*this.saw_done && this.server_error.is_none();
                let end = match end {
                    Some(end) if cut_off => match this.resumer.begin(end, this.snapshots) {
                        Ok(()) => {
                            *this.state = State::Resuming;
                            continue;
                        }
                        Err(end) => Some(end),
                    },
                    end => end,
                };
                *this.state = State::Finished;
                return Poll::Ready(end.map(Err));
            }
            match ready!(this.body.as_mut().poll_next(cx)) {
                Some(Ok(chunk)) => this.parser.push(chunk.as_ref()),
                Some(Err(err)) => {
                    let disconnect = Error::body(err, this.parser.bytes_consumed());
                    if let Err(disconnect) = this.resumer.begin(disconnect, this.snapshots) {
                        *this.state = State::Finished;
                        return Poll::Ready(Some(Err(disconnect)));
                    }
                    *this.state = State::Resuming;
                }
                None => *this.state = State::Draining,
            }
        }
    }
}

impl<S, B, E> Stream for AssistantStream<S>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: Into<BoxError>,
{
    type Item = Result<AssistantEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = ready!(self.as_mut().poll_event(cx));
        Poll::Ready(next.map(|item| {
            item.map(|()| {
                self.project()
                    .current
                    .take()
                    .expect("poll_event leaves the event it decoded")
            })
        }))
    }
}

/// The error that ends a stream whose run did not end, if it did not.
fn end_error(
    run_ended: bool,
    server_error: Option<&crate::types::ErrorObject>,
    snapshots: &Snapshots,
    parser: &SseParser,
    last_event: Option<&str>,
    events: u64,
) -> Option<Error> {
    if run_ended {
        return None;
    }
    if let Some(error) = server_error {
        return Some(Error::server_event(error.clone()).with_offset(parser.bytes_consumed()));
    }
    let last = last_event.unwrap_or("no event");
    let run = match snapshots.run() {
        Some(run) => format!("run {} was `{}`", run.id, run.status),
        None => "no run event decoded".to_owned(),
    };
    Some(
        Error::new(
            Kind::Incomplete,
            format!(
                "the stream ended after {} bytes and {events} events before its run ended ({run}; last event: {last})",
                parser.bytes_consumed(),
            ),
        )
        .with_offset(parser.bytes_consumed()),
    )
}

impl<S> AssistantStream<S> {
    /// All snapshots: the run, its steps and its messages.
    pub fn snapshots(&self) -> &Snapshots {
        &self.snapshots
    }

    /// The latest run object seen.
    pub fn current_run(&self) -> Option<&Run> {
        self.snapshots.run()
    }

    /// The message most recently created or changed, as accumulated so far.
    pub fn current_message_snapshot(&self) -> Option<&Message> {
        self.snapshots.current_message()
    }

    /// The run step most recently created or changed, as accumulated so far.
    pub fn current_run_step_snapshot(&self) -> Option<&RunStep> {
        self.snapshots.current_run_step()
    }

    /// The run, once it reached a terminal status or `requires_action`.
    pub fn final_run(&self) -> Option<&Run> {
        self.snapshots.run().filter(|run| run.status.ends_stream())
    }

    /// The messages the server finished, as it sent them (not the snapshots).
    pub fn final_messages(&self) -> Vec<&Message> {
        self.snapshots.final_messages().collect()
    }

    /// The run steps the server finished, as it sent them (not the snapshots).
    pub fn final_run_steps(&self) -> Vec<&RunStep> {
        self.snapshots.final_run_steps().collect()
    }

    /// The outputs the handler gave for a `requires_action` run that this
    /// stream could not submit itself (no client behind it, or not every call
    /// answered).
    pub fn tool_outputs(&self) -> &[ToolOutput] {
        &self.tool_outputs
    }

    /// Takes the unsubmitted tool outputs.
    pub fn take_tool_outputs(&mut self) -> Vec<ToolOutput> {
        std::mem::take(&mut self.tool_outputs)
    }

    /// Total events seen (frames, including those that failed to decode;
    /// not the repeats a resumed connection may bring).
    pub fn event_count(&self) -> u64 {
        self.events
    }

    /// The id (sequence number) of the newest event seen, when the server
    /// numbers its events (an SSE `id:` field holding a number). Keep it to
    /// resume the run later, even from another process: the client's
    /// `Runs::events_stream` takes it as `after`.
    pub fn last_event_id(&self) -> Option<u64> {
        self.resumer.last_event_id
    }
}

impl<S, B, E> AssistantStream<S>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: Into<BoxError>,
{
    /// Reads the stream to its end, accumulating snapshots.
    ///
    /// Events that fail to decode do not stop the reading; the first error
    /// seen is returned at the end.
    pub async fn until_done(&mut self) -> Result<(), Error> {
        let mut first_error = None;
        while let Some(item) = self.next().await {
            if let Err(err) = item {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Reads the stream to its end, calling `handler` for every event.
    ///
    /// When the run stops at `requires_action`, every function call is put to
    /// [`EventHandler::on_tool_call`] (concurrently). If all are answered and
    /// the stream can submit them (it came from a client), the outputs are
    /// submitted and the continuation is streamed on through the same handler
    /// and snapshots, until the run ends. Otherwise the outputs stay on the
    /// stream ([`tool_outputs`](Self::tool_outputs)).
    ///
    /// Errors go to [`EventHandler::on_error`] and do not stop the reading
    /// unless the stream cannot go on; the first one is returned at the end.
    pub async fn drive<H: EventHandler>(&mut self, handler: &mut H) -> Result<(), Error> {
        let mut first_error = None;
        let mut pending_outputs: Option<(String, String, Vec<ToolOutput>)> = None;
        let mut saw_error_event = false;
        loop {
            // The event is decoded in place and read there: a large event is
            // never moved, and the next delta reuses this one's buffers.
            let next = std::future::poll_fn(|cx| Pin::new(&mut *self).poll_event(cx)).await;
            match next {
                Some(Ok(())) => {
                    let Some(event) = self.current.as_ref() else {
                        continue;
                    };
                    saw_error_event |= matches!(event, AssistantEvent::Error(_));
                    self.dispatch
                        .dispatch(handler, event, &self.snapshots, self.placed)
                        .await;
                    if let AssistantEvent::RunRequiresAction(run) = event {
                        let calls = run.required_tool_calls();
                        let answers = futures_util::future::join_all(
                            calls.iter().map(|call| handler.on_tool_call(call)),
                        )
                        .await;
                        let all_answered = answers.iter().all(Option::is_some);
                        let outputs: Vec<ToolOutput> = calls
                            .iter()
                            .zip(answers)
                            .filter_map(|(call, answer)| {
                                answer.map(|output| ToolOutput::new(call.id.clone(), output))
                            })
                            .collect();
                        if all_answered && !calls.is_empty() && self.submit.is_some() {
                            pending_outputs =
                                Some((run.thread_id.clone(), run.id.clone(), outputs));
                        } else {
                            self.tool_outputs = outputs;
                        }
                    }
                }
                Some(Err(err)) => {
                    // The handler heard of a server `error` event when it was
                    // dispatched; the end of stream it causes is the same error.
                    if !(err.is_server_event() && saw_error_event) {
                        handler.on_error(&err).await;
                    }
                    first_error.get_or_insert(err);
                }
                None => {
                    let Some((thread_id, run_id, outputs)) = pending_outputs.take() else {
                        break;
                    };
                    let submit = self
                        .submit
                        .as_mut()
                        .expect("checked when the outputs were kept");
                    match submit(thread_id, run_id, outputs.clone()).await {
                        Ok(body) => Pin::new(&mut *self).continue_with(body),
                        Err(err) => {
                            handler.on_error(&err).await;
                            self.tool_outputs = outputs;
                            first_error.get_or_insert(err);
                            break;
                        }
                    }
                }
            }
        }
        handler.on_end().await;
        first_error.map_or(Ok(()), Err)
    }

    /// A stream of the text deltas alone: the simplest way to render tokens.
    pub fn text_deltas(self) -> TextDeltas<S> {
        TextDeltas::new(self)
    }
}
