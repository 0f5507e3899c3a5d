//! The HTTP client for every Assistants v2 resource, against OpenAI, Azure
//! OpenAI, the embedded server or any compatible server.
//!
//! # Configuration
//!
//! [`Client::new`] reads `OPENAI_API_KEY`, `OPENAI_BASE_URL` (default
//! `https://api.openai.com/v1`), `OPENAI_ORG_ID` and `OPENAI_PROJECT_ID`.
//! [`Client::builder`] sets everything explicitly: credentials, base URL,
//! default headers, timeouts, retries, the poll interval, a `reqwest::Client`
//! of your own. [`ClientBuilder::azure`] targets Azure OpenAI
//! (`{endpoint}/openai/...?api-version=...`, `api-key` header or bearer token).
//! Every request carries `OpenAI-Beta: assistants=v2`. The key never appears
//! in `Debug` output, logs or errors. A `Client` is cheap to clone (one `Arc`).
//!
//! ```no_run
//! use assistant_stream::Client;
//! use std::time::Duration;
//!
//! # fn example() -> Result<(), assistant_stream::Error> {
//! let from_env = Client::new()?;
//! let local = Client::builder()
//!     .base_url("http://127.0.0.1:8080/v1")
//!     .timeout(Duration::from_secs(60))
//!     .max_retries(3)
//!     .poll_interval(Duration::from_millis(250))
//!     .build()?;
//! # let _ = (from_env, local);
//! # Ok(())
//! # }
//! ```
//!
//! # Resources
//!
//! [`Client::assistants`], [`Client::threads`], [`Client::messages`] (also
//! `threads().messages()`), [`Client::runs`] (also `threads().runs()`) and
//! [`Client::run_steps`] (also `runs().steps()`). Lists return a [`Page`],
//! which fetches the next page on demand or turns into a stream of every
//! item ([`Page::into_stream`]). The `*_poll` calls poll a run until it ends
//! or waits for tool outputs, honouring `openai-poll-after-ms`.
//!
//! # Streaming with a handler
//!
//! The streaming calls return a [`RunStream`], the engine's
//! [`AssistantStream`](assistant_stream_core::AssistantStream) over the HTTP body: a
//! `Stream` of typed events with snapshots, or driven through an
//! [`EventHandler`](assistant_stream_core::EventHandler). Dropping it closes the connection.
//!
//! ```no_run
//! use assistant_stream::{Client, EventHandler};
//! use assistant_stream::types::{CreateRunRequest, Text, TextDelta};
//!
//! struct Print;
//!
//! impl EventHandler for Print {
//!     async fn on_text_delta(&mut self, delta: &TextDelta, _snapshot: &Text) {
//!         print!("{}", delta.value.as_deref().unwrap_or(""));
//!     }
//! }
//!
//! # async fn example() -> Result<(), assistant_stream::Error> {
//! let client = Client::new()?;
//! let mut stream = client.runs().stream("thread_abc", CreateRunRequest::new("asst_abc")).await?;
//! stream.drive(&mut Print).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Tool calls
//!
//! When a streamed run stops at `requires_action`, `drive` asks the handler's
//! [`on_tool_call`](assistant_stream_core::EventHandler::on_tool_call) for every function
//! call (concurrently). If all are answered, it submits the outputs and
//! streams the continuation through the same handler and snapshots, as one
//! logical stream, until the run ends: [`final_messages`](assistant_stream_core::AssistantStream::final_messages)
//! then covers the whole run. If some call is left unanswered the stream
//! stops at `requires_action` and you submit yourself; [`Runs`] shows both ways.
//!
//! # Errors
//!
//! Everything fails with the crate's one [`Error`]:
//! [`is_status`](assistant_stream_core::Error::is_status) with [`status`](assistant_stream_core::Error::status),
//! [`api_error`](assistant_stream_core::Error::api_error) (the server's
//! `{"error": {message, type, param, code}}`) and
//! [`request_id`](assistant_stream_core::Error::request_id) (`x-request-id`);
//! [`is_connect`](assistant_stream_core::Error::is_connect); [`is_timeout`](assistant_stream_core::Error::is_timeout);
//! [`is_decode`](assistant_stream_core::Error::is_decode) for a JSON answer that does not
//! decode (the message names the endpoint and quotes the body); stream errors
//! ([`is_incomplete`](assistant_stream_core::Error::is_incomplete), [`is_body`](assistant_stream_core::Error::is_body), ...).
//! A stream that stalls longer than the timeout is `is_body` and `is_timeout`.
//! Like reqwest's, an error displays only its own part (`GET /threads/t
//! could not connect`) and chains its cause as its `source`; `{:#}` prints
//! the whole chain on one line.
//!
//! Requests are retried on connection errors, 408, 409, 429 and 5xx, up to
//! [`max_retries`](ClientBuilder::max_retries) times (default 2), with
//! exponential backoff (0.5 s doubling, at most 8 s, with jitter) or the
//! wait the server asks for in `retry-after-ms` / `Retry-After` (seconds).
//! A timed-out request is not retried (the server may have acted on it), and
//! a streamed request is never re-sent once its response has started.
//!
//! ```no_run
//! # async fn example(client: assistant_stream::Client) {
//! match client.assistants().retrieve("asst_missing").await {
//!     Ok(assistant) => println!("{}", assistant.id),
//!     Err(err) if err.status() == Some(404) => {
//!         let message = err.api_error().map(|e| e.message.as_str()).unwrap_or("");
//!         eprintln!("not found: {message} (request {:?})", err.request_id());
//!     }
//!     Err(err) if err.is_timeout() || err.is_connect() => eprintln!("network trouble: {err:#}"),
//!     Err(err) => eprintln!("{err:#}"),
//! }
//! # }
//! ```

mod assistants;
mod config;
mod include;
mod messages;
mod pagination;
mod polling;
mod request;
#[doc(hidden)]
pub mod retry;
mod runs;
mod steps;
mod streaming;
mod threads;
mod tls;
mod transport;

pub use assistants::Assistants;
pub use config::{ClientBuilder, DEFAULT_AZURE_API_VERSION, DEFAULT_BASE_URL};
pub use include::Include;
pub use messages::Messages;
pub use pagination::{Page, PageItems};
pub use runs::Runs;
pub use steps::Steps;
pub use streaming::RunStream;
pub use threads::Threads;
pub use tls::install_crypto_provider;

use crate::error::Error;
use std::fmt;
use std::sync::Arc;

/// A client of an Assistants v2 server. Cheap to clone: clones share one
/// configuration and one connection pool.
///
/// ```no_run
/// use assistant_stream::Client;
/// use assistant_stream::types::{CreateMessageRequest, CreateRunRequest, CreateThreadRequest};
///
/// # async fn example() -> Result<(), assistant_stream::Error> {
/// let client = Client::new()?;
/// let thread = client
///     .threads()
///     .create(CreateThreadRequest::new().message(CreateMessageRequest::user("Hi!")))
///     .await?;
/// let run = client.runs().create_and_poll(&thread.id, CreateRunRequest::new("asst_abc")).await?;
/// println!("{}", run.status);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    config: config::Config,
    http: reqwest::Client,
}

impl Client {
    /// A client configured from the environment; see [`ClientBuilder::from_env`].
    ///
    /// Fails only if the base URL in `OPENAI_BASE_URL` is invalid or the
    /// HTTP client cannot be made.
    pub fn new() -> Result<Client, Error> {
        ClientBuilder::from_env().build()
    }

    /// A builder with the defaults (reads no environment variables).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// The base URL requests go to (with `/openai` for Azure).
    pub fn base_url(&self) -> &str {
        self.inner.config.base_url.as_str()
    }

    /// Assistants.
    pub fn assistants(&self) -> Assistants<'_> {
        Assistants::new(self)
    }

    /// Threads, and through them their messages and runs.
    pub fn threads(&self) -> Threads<'_> {
        Threads::new(self)
    }

    /// The messages of threads.
    pub fn messages(&self) -> Messages<'_> {
        Messages::new(self)
    }

    /// The runs of threads.
    pub fn runs(&self) -> Runs<'_> {
        Runs::new(self)
    }

    /// The steps of runs.
    pub fn run_steps(&self) -> Steps<'_> {
        Steps::new(self)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.inner.config;
        f.debug_struct("Client")
            .field("base_url", &config.base_url.as_str())
            .field("auth", &config.auth_kind)
            .field("api_version", &config.api_version)
            .field("organization", &config.organization)
            .field("project", &config.project)
            .field("timeout", &config.timeout)
            .field("max_retries", &config.retry.max_retries)
            .field("poll_interval", &config.poll_interval)
            .finish_non_exhaustive()
    }
}
