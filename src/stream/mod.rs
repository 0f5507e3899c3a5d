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
//! byte source yields one `Err` and ends the stream. A stream that ends before
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

mod text_deltas;

pub use text_deltas::TextDeltas;

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
    }
}

impl<S> std::fmt::Debug for AssistantStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssistantStream")
            .field("state", &self.state)
            .field("events", &self.events)
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
        }
    }

    /// Lets [`drive`](Self::drive) submit tool outputs and continue the run in
    /// this same stream. The client sets this; set it yourself to continue
    /// runs over a transport of your own.
    pub fn with_tool_output_submitter(mut self, submit: SubmitToolOutputsFn<S>) -> Self {
        self.submit = Some(submit);
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
            if *this.state == State::Finished {
                return Poll::Ready(None);
            }
            let next = match this.parser.next_frame() {
                Some(next) => Some(next),
                None if *this.state == State::Draining => this.parser.finish(),
                None => None,
            };
            if let Some(next) = next {
                *this.events += 1;
                let item = match next {
                    Ok(frame) => {
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
                        }
                        handled
                    }
                    Err(err) => Err(Error::sse(err)),
                };
                return Poll::Ready(Some(item));
            }
            if *this.state == State::Draining {
                *this.state = State::Finished;
                let end = end_error(
                    *this.run_ended,
                    this.server_error.as_ref(),
                    this.snapshots,
                    this.parser,
                    Some(this.last_event.as_str()).filter(|name| !name.is_empty()),
                    *this.events,
                );
                return Poll::Ready(end.map(Err));
            }
            match ready!(this.body.as_mut().poll_next(cx)) {
                Some(Ok(chunk)) => this.parser.push(chunk.as_ref()),
                Some(Err(err)) => {
                    *this.state = State::Finished;
                    return Poll::Ready(Some(Err(Error::body(err, this.parser.bytes_consumed()))));
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

    /// Total events seen (frames, including those that failed to decode).
    pub fn event_count(&self) -> u64 {
        self.events
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
