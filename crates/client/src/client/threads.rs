//! `/threads`.

use super::Client;
use super::messages::Messages;
use super::request::{ApiRequest, check_id};
use super::runs::Runs;
use super::streaming::RunStream;
use crate::error::Error;
use crate::types::{
    CreateThreadAndRunRequest, CreateThreadRequest, Deleted, ModifyThreadRequest, Run, Thread,
};
use std::time::Duration;

/// Threads: create, retrieve, update, delete, and create-and-run (plain,
/// polled or streamed). Made by [`Client::threads`].
///
/// ```no_run
/// use assistant_stream::{Client, NoopHandler};
/// use assistant_stream::types::{CreateMessageRequest, CreateThreadAndRunRequest, CreateThreadRequest};
///
/// # async fn example() -> Result<(), assistant_stream::Error> {
/// let client = Client::new()?;
/// let thread = client
///     .threads()
///     .create(CreateThreadRequest::new().message(CreateMessageRequest::user("Hello!")))
///     .await?;
/// client.threads().delete(&thread.id).await?;
///
/// // A new thread and a streamed run in one call.
/// let request = CreateThreadAndRunRequest::new("asst_abc")
///     .thread(CreateThreadRequest::new().message(CreateMessageRequest::user("Tell me a joke")));
/// let mut stream = client.threads().create_and_run_stream(request).await?;
/// stream.drive(&mut NoopHandler).await?;
/// for message in stream.final_messages() {
///     println!("{}", message.text());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Threads<'c> {
    client: &'c Client,
    poll_interval: Option<Duration>,
}

impl<'c> Threads<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        Threads {
            client,
            poll_interval: None,
        }
    }

    /// The messages of threads.
    pub fn messages(&self) -> Messages<'c> {
        Messages::new(self.client)
    }

    /// The runs of threads.
    pub fn runs(&self) -> Runs<'c> {
        let runs = Runs::new(self.client);
        match self.poll_interval {
            Some(interval) => runs.poll_interval(interval),
            None => runs,
        }
    }

    /// The interval of [`create_and_run_poll`](Self::create_and_run_poll)
    /// when the server does not give one (overrides the client's).
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval);
        self
    }

    /// `POST /threads`, with initial messages, metadata and tool resources.
    pub async fn create(&self, request: CreateThreadRequest) -> Result<Thread, Error> {
        self.client
            .json(ApiRequest::post(&["threads"], &request)?)
            .await
    }

    /// `GET /threads/{thread_id}`.
    pub async fn retrieve(&self, thread_id: &str) -> Result<Thread, Error> {
        let thread = check_id("thread id", thread_id)?;
        self.client
            .json(ApiRequest::get(&["threads", thread]))
            .await
    }

    /// `POST /threads/{thread_id}`: changes the fields set.
    pub async fn update(
        &self,
        thread_id: &str,
        request: ModifyThreadRequest,
    ) -> Result<Thread, Error> {
        let thread = check_id("thread id", thread_id)?;
        self.client
            .json(ApiRequest::post(&["threads", thread], &request)?)
            .await
    }

    /// `DELETE /threads/{thread_id}`.
    pub async fn delete(&self, thread_id: &str) -> Result<Deleted, Error> {
        let thread = check_id("thread id", thread_id)?;
        self.client
            .json(ApiRequest::delete(&["threads", thread]))
            .await
    }

    /// `POST /threads/runs`: creates a thread and runs it.
    pub async fn create_and_run(
        &self,
        mut request: CreateThreadAndRunRequest,
    ) -> Result<Run, Error> {
        request.stream = None;
        self.client
            .json(ApiRequest::post(&["threads", "runs"], &request)?)
            .await
    }

    /// Creates a thread, runs it, and polls the run until it ends or waits
    /// for tool outputs.
    pub async fn create_and_run_poll(
        &self,
        mut request: CreateThreadAndRunRequest,
    ) -> Result<Run, Error> {
        request.stream = None;
        let (run, headers): (Run, _) = self
            .client
            .json_with_headers(ApiRequest::post(&["threads", "runs"], &request)?)
            .await?;
        let (thread_id, run_id) = (run.thread_id.clone(), run.id.clone());
        let interval = self
            .poll_interval
            .unwrap_or(self.client.inner.config.poll_interval);
        self.client
            .poll_run(&thread_id, &run_id, interval, Some((run, headers)))
            .await
    }

    /// Creates a thread and streams its run (`stream: true`); see
    /// [`Runs`] for answering tool calls mid-stream.
    pub async fn create_and_run_stream(
        &self,
        mut request: CreateThreadAndRunRequest,
    ) -> Result<RunStream, Error> {
        request.stream = Some(true);
        let body = self
            .client
            .event_stream(ApiRequest::post(&["threads", "runs"], &request)?)
            .await?;
        Ok(self.client.run_stream(body))
    }
}
