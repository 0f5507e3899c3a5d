//! Opening event streams: status checked first, an idle timeout on the
//! body, tool outputs submitted mid-stream, and dropped run streams resumed
//! from the run's events route.

use super::Client;
use super::request::{ApiRequest, check_id};
use super::transport::{BodyKind, reqwest_error, snippet, timeout_error};
use crate::error::{BoxError, Error, Kind};
use crate::stream::{AssistantStream, ByteStream, ResumeFn, ResumeFrom, SubmitToolOutputsFn};
use crate::types::{SubmitToolOutputsRequest, ToolOutput};
use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use pin_project_lite::pin_project;
use reqwest::header::CONTENT_TYPE;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// A streamed run: the engine's [`AssistantStream`] over the HTTP body.
///
/// Made by [`Runs::create_and_stream`](super::Runs::create_and_stream),
/// [`Threads::create_and_run_stream`](super::Threads::create_and_run_stream)
/// and [`Runs::submit_tool_outputs_stream`](super::Runs::submit_tool_outputs_stream).
/// It can submit tool outputs itself: see
/// [`AssistantStream::drive`]. If its connection drops mid-run, it resumes
/// from the run's events route when the server has one; see
/// [Resuming a dropped stream](crate::stream#resuming-a-dropped-stream).
/// Dropping it closes the connection.
pub type RunStream = AssistantStream<ByteStream>;

impl Client {
    /// Sends a streaming request and returns its body once the server
    /// answered with a success status and an event stream.
    pub(crate) async fn event_stream(&self, request: ApiRequest) -> Result<ByteStream, Error> {
        let response = self.send(&request, BodyKind::EventStream).await?;
        let timeout = self.inner.config.timeout;
        let request_id = super::transport::request_id(response.headers());
        let is_json = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("application/json"));
        if is_json {
            let body = match tokio::time::timeout(timeout, response.bytes()).await {
                Ok(Ok(body)) => body,
                Ok(Err(err)) => {
                    return Err(reqwest_error(&request, err).with_request_id(request_id));
                }
                Err(_) => return Err(timeout_error(&request, timeout).with_request_id(request_id)),
            };
            return Err(Error::new(
                Kind::Decode,
                format!(
                    "{} answered with JSON where an event stream was expected; the body starts with: {}",
                    request.describe(),
                    snippet(&body)
                ),
            )
            .with_request_id(request_id));
        }
        let describe = request.describe();
        let body = response
            .bytes_stream()
            .map(move |chunk| -> Result<Bytes, BoxError> {
                chunk.map_err(|err| Box::new(reqwest_error(&request, err)) as BoxError)
            });
        Ok(Box::pin(IdleTimeout::new(body, timeout, describe)))
    }

    /// A run stream over `body` that submits tool outputs and resumes
    /// through this client.
    pub(crate) fn run_stream(&self, body: ByteStream) -> RunStream {
        AssistantStream::new(body)
            .with_tool_output_submitter(self.tool_output_submitter())
            .with_resume(self.resumer())
    }

    /// What a stream calls to resume its run after the connection dropped:
    /// a `GET` of the run's events route, never the POST that opened it.
    pub(crate) fn resumer(&self) -> ResumeFn<ByteStream> {
        let client = self.clone();
        Box::new(move |from: ResumeFrom| {
            let client = client.clone();
            Box::pin(async move {
                // The first attempt goes at once (the connection dropped, the
                // server is likely fine); later ones wait as retries do.
                if let Some(retry) = from.attempt.checked_sub(2) {
                    let delay = client.inner.config.retry.delay(retry, None);
                    tokio::time::sleep(delay).await;
                }
                client
                    .run_events_body(&from.thread_id, &from.run_id, Some(from.last_event_id))
                    .await
            })
        })
    }

    /// `GET /threads/{thread_id}/runs/{run_id}/events`: the run's events
    /// after `after` (`Last-Event-ID`), then the run live to its next `done`.
    pub(crate) async fn run_events_body(
        &self,
        thread_id: &str,
        run_id: &str,
        after: Option<u64>,
    ) -> Result<ByteStream, Error> {
        let mut request = ApiRequest::get(&[
            "threads",
            check_id("thread id", thread_id)?,
            "runs",
            check_id("run id", run_id)?,
            "events",
        ]);
        if let Some(after) = after {
            request = request.header("last-event-id", after.to_string());
        }
        self.event_stream(request).await
    }

    /// What a stream calls to submit tool outputs and get the continuation.
    pub(crate) fn tool_output_submitter(&self) -> SubmitToolOutputsFn<ByteStream> {
        let client = self.clone();
        Box::new(
            move |thread_id: String, run_id: String, outputs: Vec<ToolOutput>| {
                let client = client.clone();
                Box::pin(async move {
                    client
                        .submit_tool_outputs_body(&thread_id, &run_id, outputs)
                        .await
                })
            },
        )
    }

    /// `POST .../submit_tool_outputs` with `stream: true`: the continuation's body.
    pub(crate) async fn submit_tool_outputs_body(
        &self,
        thread_id: &str,
        run_id: &str,
        outputs: Vec<ToolOutput>,
    ) -> Result<ByteStream, Error> {
        let mut body = SubmitToolOutputsRequest::new(outputs);
        body.stream = Some(true);
        let request = ApiRequest::post(
            &[
                "threads",
                check_id("thread id", thread_id)?,
                "runs",
                check_id("run id", run_id)?,
                "submit_tool_outputs",
            ],
            &body,
        )?;
        self.event_stream(request).await
    }
}

pin_project! {
    /// Ends a body with an error when no chunk arrives for `idle`.
    struct IdleTimeout<S> {
        #[pin]
        body: S,
        #[pin]
        sleep: Sleep,
        idle: Duration,
        // When the last chunk came. The timer is moved on only when it
        // fires: resetting it on every chunk (one per event from most
        // servers) cost more than parsing the event.
        last: Instant,
        describe: String,
        done: bool,
    }
}

impl<S> IdleTimeout<S> {
    fn new(body: S, idle: Duration, describe: String) -> Self {
        IdleTimeout {
            body,
            sleep: tokio::time::sleep(idle),
            idle,
            last: Instant::now(),
            describe,
            done: false,
        }
    }
}

impl<S: Stream<Item = Result<Bytes, BoxError>>> Stream for IdleTimeout<S> {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        match this.body.poll_next(cx) {
            Poll::Ready(Some(item)) => {
                *this.last = Instant::now();
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                *this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => loop {
                if this.sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let deadline = *this.last + *this.idle;
                if deadline > Instant::now() {
                    // Data came since the timer was set: wait the rest.
                    this.sleep.as_mut().reset(deadline);
                    continue;
                }
                *this.done = true;
                let err = Error::new(
                    Kind::Timeout,
                    format!(
                        "{}: no data for {:?}; the stream was closed",
                        this.describe, this.idle
                    ),
                );
                return Poll::Ready(Some(Err(Box::new(err))));
            },
        }
    }
}
