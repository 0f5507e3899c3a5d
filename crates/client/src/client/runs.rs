//! `/threads/{thread_id}/runs`.

use super::Client;
use super::include::Include;
use super::pagination::Page;
use super::request::{ApiRequest, check_id};
use super::steps::Steps;
use super::streaming::RunStream;
use crate::error::Error;
use crate::types::{
    CreateRunRequest, ListQuery, ModifyRunRequest, Run, SubmitToolOutputsRequest, ToolOutput,
};
use std::time::Duration;

/// The runs of a thread: create (plain, polled or streamed), retrieve,
/// update, list, cancel, poll, submit tool outputs. Made by
/// [`Client::runs`] or [`Threads::runs`](super::Threads::runs).
///
/// # Streaming with tool calls answered mid-stream
///
/// A handler that answers [`EventHandler::on_tool_call`](assistant_stream_core::EventHandler::on_tool_call)
/// is all it takes: when the run stops at `requires_action` and every
/// function call is answered, [`drive`](assistant_stream_core::AssistantStream::drive)
/// submits the outputs (`stream: true`) and goes on with the continuation,
/// through the same handler and the same snapshots, until the run ends.
///
/// ```no_run
/// use assistant_stream::{Client, EventHandler};
/// use assistant_stream::types::{CreateRunRequest, RunToolCall, Text, TextDelta};
///
/// struct Weather;
///
/// impl EventHandler for Weather {
///     async fn on_text_delta(&mut self, delta: &TextDelta, _snapshot: &Text) {
///         print!("{}", delta.value.as_deref().unwrap_or(""));
///     }
///
///     async fn on_tool_call(&self, call: &RunToolCall) -> Option<String> {
///         (call.function.name == "get_current_weather").then(|| r#"{"sky":"sunny"}"#.to_owned())
///     }
/// }
///
/// # async fn example() -> Result<(), assistant_stream::Error> {
/// let client = Client::new()?;
/// let mut stream = client.runs().create_and_stream("thread_abc", CreateRunRequest::new("asst_abc")).await?;
/// stream.drive(&mut Weather).await?;
/// println!("\nrun {:?}", stream.final_run().map(|run| &run.status));
/// for message in stream.final_messages() {
///     println!("{}", message.text());
/// }
/// # Ok(())
/// # }
/// ```
///
/// # Submitting tool outputs yourself
///
/// Read the stream until it stops at `requires_action`, then submit the
/// outputs with [`submit_tool_outputs_stream`](Self::submit_tool_outputs_stream)
/// and read the continuation, as a new stream or, to keep the snapshots,
/// inside the first one with [`AssistantStream::continue_with`](assistant_stream_core::AssistantStream::continue_with)
/// (give it the body of [`submit_tool_outputs_body`](Self::submit_tool_outputs_body)).
///
/// ```no_run
/// use assistant_stream::Client;
/// use assistant_stream::types::{CreateRunRequest, RunStatus, ToolOutput};
///
/// # async fn example() -> Result<(), assistant_stream::Error> {
/// let client = Client::new()?;
/// let mut stream = client.runs().create_and_stream("thread_abc", CreateRunRequest::new("asst_abc")).await?;
/// stream.until_done().await?;
/// let run = stream.final_run().expect("the run stopped").clone();
/// if run.status == RunStatus::RequiresAction {
///     let outputs = run
///         .required_tool_calls()
///         .iter()
///         .map(|call| ToolOutput::new(call.id.clone(), "42"))
///         .collect();
///     // A new stream for the continuation...
///     let mut rest = client.runs().submit_tool_outputs_stream(&run.thread_id, &run.id, outputs).await?;
///     rest.until_done().await?;
///     // ...or, to keep one set of snapshots, the continuation's body in the same stream:
///     // let body = client.runs().submit_tool_outputs_body(&run.thread_id, &run.id, outputs).await?;
///     // std::pin::Pin::new(&mut stream).continue_with(body);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Runs<'c> {
    client: &'c Client,
    include: Vec<String>,
    poll_interval: Option<Duration>,
}

impl<'c> Runs<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        Runs {
            client,
            include: Vec::new(),
            poll_interval: None,
        }
    }

    /// Asks for an extra field in the run steps a created run streams
    /// (`include[]` on `POST /threads/{thread_id}/runs`).
    #[must_use]
    pub fn include(mut self, include: Include) -> Self {
        self.include.push(include.as_str().to_owned());
        self
    }

    /// The interval of the `*_poll` calls made with this handle, when the
    /// server does not give one (overrides the client's).
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval);
        self
    }

    /// The steps of runs.
    pub fn steps(&self) -> Steps<'c> {
        Steps::new(self.client)
    }

    fn interval(&self) -> Duration {
        self.poll_interval
            .unwrap_or(self.client.inner.config.poll_interval)
    }

    fn create_request(
        &self,
        thread_id: &str,
        request: &CreateRunRequest,
    ) -> Result<ApiRequest, Error> {
        let thread = check_id("thread id", thread_id)?;
        Ok(ApiRequest::post(&["threads", thread, "runs"], request)?.include(&self.include))
    }

    /// `POST /threads/{thread_id}/runs`.
    pub async fn create(
        &self,
        thread_id: &str,
        mut request: CreateRunRequest,
    ) -> Result<Run, Error> {
        request.stream = None;
        self.client
            .json(self.create_request(thread_id, &request)?)
            .await
    }

    /// Creates a run and polls it until it ends or waits for tool outputs.
    pub async fn create_and_poll(
        &self,
        thread_id: &str,
        mut request: CreateRunRequest,
    ) -> Result<Run, Error> {
        request.stream = None;
        let (run, headers): (Run, _) = self
            .client
            .json_with_headers(self.create_request(thread_id, &request)?)
            .await?;
        let run_id = run.id.clone();
        self.client
            .poll_run(thread_id, &run_id, self.interval(), Some((run, headers)))
            .await
    }

    /// Creates a run and streams it (`stream: true`).
    ///
    /// The HTTP status is checked before the body is read; an error status
    /// is an [`Error`] with the server's error object. The POST is retried
    /// only before a successful response arrived, never after.
    pub async fn create_and_stream(
        &self,
        thread_id: &str,
        mut request: CreateRunRequest,
    ) -> Result<RunStream, Error> {
        request.stream = Some(true);
        let body = self
            .client
            .event_stream(self.create_request(thread_id, &request)?)
            .await?;
        Ok(self.client.run_stream(body))
    }

    /// The same as [`create_and_stream`](Self::create_and_stream).
    pub async fn stream(
        &self,
        thread_id: &str,
        request: CreateRunRequest,
    ) -> Result<RunStream, Error> {
        self.create_and_stream(thread_id, request).await
    }

    /// `GET /threads/{thread_id}/runs/{run_id}`.
    pub async fn retrieve(&self, thread_id: &str, run_id: &str) -> Result<Run, Error> {
        let thread = check_id("thread id", thread_id)?;
        let run = check_id("run id", run_id)?;
        self.client
            .json(ApiRequest::get(&["threads", thread, "runs", run]))
            .await
    }

    /// `POST /threads/{thread_id}/runs/{run_id}`: changes the metadata.
    pub async fn update(
        &self,
        thread_id: &str,
        run_id: &str,
        request: ModifyRunRequest,
    ) -> Result<Run, Error> {
        let thread = check_id("thread id", thread_id)?;
        let run = check_id("run id", run_id)?;
        self.client
            .json(ApiRequest::post(
                &["threads", thread, "runs", run],
                &request,
            )?)
            .await
    }

    /// `GET /threads/{thread_id}/runs`: the first page.
    pub async fn list(&self, thread_id: &str, query: ListQuery) -> Result<Page<Run>, Error> {
        let thread = check_id("thread id", thread_id)?;
        Page::fetch(
            self.client.clone(),
            ApiRequest::get(&["threads", thread, "runs"]),
            query,
        )
        .await
    }

    /// `POST /threads/{thread_id}/runs/{run_id}/cancel`.
    pub async fn cancel(&self, thread_id: &str, run_id: &str) -> Result<Run, Error> {
        let thread = check_id("thread id", thread_id)?;
        let run = check_id("run id", run_id)?;
        self.client
            .json(ApiRequest::post_empty(&[
                "threads", thread, "runs", run, "cancel",
            ]))
            .await
    }

    /// Polls a run until it is `completed`, `failed`, `cancelled`,
    /// `expired`, `incomplete` or `requires_action`, waiting between polls
    /// what the server asks for in `openai-poll-after-ms`, or the poll interval.
    ///
    /// ```no_run
    /// # async fn example(client: assistant_stream::Client) -> Result<(), assistant_stream::Error> {
    /// use std::time::Duration;
    ///
    /// let run = client.runs().poll_interval(Duration::from_millis(500)).poll("thread_abc", "run_abc").await?;
    /// println!("{}", run.status);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn poll(&self, thread_id: &str, run_id: &str) -> Result<Run, Error> {
        self.client
            .poll_run(thread_id, run_id, self.interval(), None)
            .await
    }

    fn submit_request(
        &self,
        thread_id: &str,
        run_id: &str,
        body: &SubmitToolOutputsRequest,
    ) -> Result<ApiRequest, Error> {
        let thread = check_id("thread id", thread_id)?;
        let run = check_id("run id", run_id)?;
        ApiRequest::post(
            &["threads", thread, "runs", run, "submit_tool_outputs"],
            body,
        )
    }

    /// `POST /threads/{thread_id}/runs/{run_id}/submit_tool_outputs`.
    pub async fn submit_tool_outputs(
        &self,
        thread_id: &str,
        run_id: &str,
        tool_outputs: Vec<ToolOutput>,
    ) -> Result<Run, Error> {
        let body = SubmitToolOutputsRequest::new(tool_outputs);
        self.client
            .json(self.submit_request(thread_id, run_id, &body)?)
            .await
    }

    /// Submits tool outputs and polls the run until it ends or waits again.
    pub async fn submit_tool_outputs_and_poll(
        &self,
        thread_id: &str,
        run_id: &str,
        tool_outputs: Vec<ToolOutput>,
    ) -> Result<Run, Error> {
        let body = SubmitToolOutputsRequest::new(tool_outputs);
        let first = self
            .client
            .json_with_headers(self.submit_request(thread_id, run_id, &body)?)
            .await?;
        self.client
            .poll_run(thread_id, run_id, self.interval(), Some(first))
            .await
    }

    /// Submits tool outputs and streams the continuation of the run (a new
    /// stream, which can itself submit further outputs).
    pub async fn submit_tool_outputs_stream(
        &self,
        thread_id: &str,
        run_id: &str,
        tool_outputs: Vec<ToolOutput>,
    ) -> Result<RunStream, Error> {
        let body = self
            .submit_tool_outputs_body(thread_id, run_id, tool_outputs)
            .await?;
        Ok(self.client.run_stream(body))
    }

    /// Streams a run's events from the server's events route
    /// (`GET /threads/{thread_id}/runs/{run_id}/events`): those after event
    /// `after` (all of them for `None`), then the run live until the end of
    /// its current turn (`done`).
    ///
    /// This resumes a run stream from another process or after a failure,
    /// from the [`last_event_id`](assistant_stream_core::AssistantStream::last_event_id) of
    /// the stream that stopped. It is a `GET`: nothing is created or
    /// submitted again. The route is an extension of this crate's server
    /// (`assistant-stream serve`); other servers answer 404, an
    /// [`is_status`](Error::is_status) error.
    ///
    /// The stream's snapshots hold what it read: opened after the run's
    /// last run event (its `thread.run.completed`, say), it ends with an
    /// [`is_incomplete`](Error::is_incomplete) error though the run is over;
    /// [`retrieve`](Self::retrieve) tells the run's status.
    ///
    /// ```no_run
    /// use assistant_stream::{Client, NoopHandler};
    ///
    /// # async fn example(last_event_id: Option<u64>) -> Result<(), assistant_stream::Error> {
    /// let client = Client::new()?;
    /// let mut stream = client.runs().events_stream("thread_abc", "run_abc", last_event_id).await?;
    /// stream.drive(&mut NoopHandler).await?;
    /// println!("up to event {:?}", stream.last_event_id());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn events_stream(
        &self,
        thread_id: &str,
        run_id: &str,
        after: Option<u64>,
    ) -> Result<RunStream, Error> {
        let body = self
            .client
            .run_events_body(thread_id, run_id, after)
            .await?;
        Ok(self.client.run_stream(body).resuming_run(
            thread_id.to_owned(),
            run_id.to_owned(),
            after,
        ))
    }

    /// Submits tool outputs and returns the continuation's raw body, for
    /// [`AssistantStream::continue_with`](assistant_stream_core::AssistantStream::continue_with).
    pub async fn submit_tool_outputs_body(
        &self,
        thread_id: &str,
        run_id: &str,
        tool_outputs: Vec<ToolOutput>,
    ) -> Result<crate::stream::ByteStream, Error> {
        self.client
            .submit_tool_outputs_body(thread_id, run_id, tool_outputs)
            .await
    }
}
