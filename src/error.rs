//! The crate's one error type.

use crate::sse::SseError;
use crate::types::ErrorObject;
use std::fmt;

/// A boxed error from a byte source, an HTTP client or a handler.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong: decoding a stream, talking to a server, or a
/// server's own error.
///
/// The error is opaque; ask it what it is with the `is_*` accessors and read
/// its details with [`status`](Error::status), [`api_error`](Error::api_error),
/// [`request_id`](Error::request_id), [`event`](Error::event) and
/// [`offset`](Error::offset).
///
/// ```
/// use assistant_stream::AssistantStream;
/// use futures_util::StreamExt;
///
/// # tokio_test_block_on(async {
/// let body = "event: thread.message.delta\ndata: {not json}\n\n";
/// let mut stream = AssistantStream::from_bytes(body);
/// let err = stream.next().await.unwrap().unwrap_err();
/// assert!(err.is_decode());
/// assert_eq!(err.event(), Some("thread.message.delta"));
/// assert_eq!(err.offset(), Some(0));
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: Kind,
    message: String,
    source: Option<BoxError>,
    event: Option<String>,
    offset: Option<u64>,
    status: Option<u16>,
    api_error: Option<ErrorObject>,
    request_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The SSE framing was broken (invalid UTF-8, an event over the size limit).
    Sse,
    /// An event's data did not decode into its type.
    Decode,
    /// An index in a delta was out of all reason.
    AbsurdIndex,
    /// The byte source failed (connection reset, read error).
    Body,
    /// The stream ended before the run reached a terminal state or `requires_action`.
    Incomplete,
    /// The server sent an `error` event.
    ServerEvent,
    /// The server answered with an HTTP error status.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    Status,
    /// A request or connection timed out.
    Timeout,
    /// The request could not be sent (connection refused, DNS, TLS).
    Connect,
    /// The client was misconfigured or a request could not be built.
    Builder,
    /// A tool output could not be produced or submitted.
    ToolCall,
    /// A thread has an active run, so it cannot take a message or another run.
    #[cfg_attr(not(feature = "agent"), allow(dead_code))]
    ActiveRun,
    /// A blocking call was made inside an async runtime, or its runtime failed.
    #[cfg_attr(not(feature = "blocking"), allow(dead_code))]
    Runtime,
    /// Other request errors.
    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    Request,
}

impl Error {
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                source: None,
                event: None,
                offset: None,
                status: None,
                api_error: None,
                request_id: None,
            }),
        }
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    pub(crate) fn with_event(mut self, event: impl Into<String>) -> Self {
        self.inner.event = Some(event.into());
        self
    }

    pub(crate) fn with_offset(mut self, offset: u64) -> Self {
        self.inner.offset = Some(offset);
        self
    }

    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }

    pub(crate) fn with_api_error(mut self, api_error: ErrorObject) -> Self {
        self.inner.api_error = Some(api_error);
        self
    }

    #[cfg_attr(not(feature = "client"), allow(dead_code))]
    pub(crate) fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.inner.request_id = request_id;
        self
    }

    pub(crate) fn sse(err: SseError) -> Self {
        let offset = err.offset();
        Error::new(Kind::Sse, err.to_string())
            .with_offset(offset)
            .with_source(err)
    }

    pub(crate) fn body(source: impl Into<BoxError>, offset: u64) -> Self {
        let source = source.into();
        Error::new(
            Kind::Body,
            format!("reading the stream failed after {offset} bytes: {source}"),
        )
        .with_offset(offset)
        .with_source(source)
    }

    pub(crate) fn server_event(api_error: ErrorObject) -> Self {
        Error::new(
            Kind::ServerEvent,
            format!("the server sent an error event: {api_error}"),
        )
        .with_api_error(api_error)
        .with_event("error")
    }

    /// A handler or tool failed; the message says how.
    pub fn tool_call(message: impl Into<String>) -> Self {
        Error::new(Kind::ToolCall, message)
    }

    /// Whether the SSE framing was broken: invalid UTF-8 in an event, or an
    /// event over the size limit.
    pub fn is_sse(&self) -> bool {
        self.inner.kind == Kind::Sse
    }

    /// Whether an event's data did not decode into its type (invalid JSON, a
    /// wrong shape). [`event`](Error::event) and [`offset`](Error::offset) say
    /// which event.
    pub fn is_decode(&self) -> bool {
        matches!(self.inner.kind, Kind::Decode | Kind::AbsurdIndex)
    }

    /// Whether a delta carried an `index` out of all reason (over 10 000).
    pub fn is_absurd_index(&self) -> bool {
        self.inner.kind == Kind::AbsurdIndex
    }

    /// Whether the byte source (the HTTP body, a file) failed mid-stream.
    pub fn is_body(&self) -> bool {
        self.inner.kind == Kind::Body
    }

    /// Whether the stream ended before its run reached a terminal state or
    /// `requires_action`.
    pub fn is_incomplete(&self) -> bool {
        matches!(self.inner.kind, Kind::Incomplete | Kind::ServerEvent)
    }

    /// Whether the server sent an `error` event; [`api_error`](Error::api_error)
    /// holds it.
    pub fn is_server_event(&self) -> bool {
        self.inner.kind == Kind::ServerEvent
    }

    /// Whether the server answered with an HTTP error status.
    pub fn is_status(&self) -> bool {
        matches!(self.inner.kind, Kind::Status | Kind::ActiveRun)
    }

    /// Whether a thread refused a message or a run because a run of it is
    /// still active (a 400 from the server; wait for the run to end or
    /// cancel it).
    pub fn is_active_run(&self) -> bool {
        self.inner.kind == Kind::ActiveRun
    }

    /// Whether a blocking call was made from within an async runtime (where
    /// it would deadlock), or the runtime behind blocking calls failed.
    pub fn is_runtime(&self) -> bool {
        self.inner.kind == Kind::Runtime
    }

    /// Whether a request or connection timed out.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == Kind::Timeout
    }

    /// Whether the request could not reach the server.
    pub fn is_connect(&self) -> bool {
        self.inner.kind == Kind::Connect
    }

    /// Whether the client was misconfigured or a request could not be built.
    pub fn is_builder(&self) -> bool {
        self.inner.kind == Kind::Builder
    }

    /// Whether a tool call could not be answered or its output submitted.
    pub fn is_tool_call(&self) -> bool {
        self.inner.kind == Kind::ToolCall
    }

    /// The HTTP status, for [`is_status`](Error::is_status) errors.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// The server's error object: from an HTTP error body or an `error` event.
    pub fn api_error(&self) -> Option<&ErrorObject> {
        self.inner.api_error.as_ref()
    }

    /// The `x-request-id` of the failed request.
    pub fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }

    /// The name of the event at fault, for stream errors.
    pub fn event(&self) -> Option<&str> {
        self.inner.event.as_deref()
    }

    /// The byte offset in the stream of the event at fault (of the whole
    /// logical stream's current body, for stream errors).
    pub fn offset(&self) -> Option<u64> {
        self.inner.offset
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("message", &self.inner.message);
        if let Some(event) = &self.inner.event {
            d.field("event", event);
        }
        if let Some(offset) = &self.inner.offset {
            d.field("offset", offset);
        }
        if let Some(status) = &self.inner.status {
            d.field("status", status);
        }
        if let Some(api_error) = &self.inner.api_error {
            d.field("api_error", api_error);
        }
        if let Some(request_id) = &self.inner.request_id {
            d.field("request_id", request_id);
        }
        if let Some(source) = &self.inner.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source.as_ref().map(|s| &**s as _)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_small_and_thread_safe() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Error>();
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn server_event_error_keeps_the_object() {
        let err = Error::server_event(ErrorObject::new("server_error", "boom"));
        assert!(err.is_server_event());
        assert!(err.is_incomplete());
        assert_eq!(err.api_error().unwrap().message, "boom");
        assert_eq!(
            err.to_string(),
            "the server sent an error event: server_error: boom"
        );
    }
}
