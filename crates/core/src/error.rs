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
/// Like reqwest's, its `Display` says only what went wrong at this level
/// (`POST /threads/runs could not connect`); the cause (`Connection
/// refused`) is its [`source`](std::error::Error::source), so that error
/// reporters such as `anyhow` and `eyre`, which print the whole chain, print
/// each part once. `{:#}` prints the chain on one line, joined with `: `.
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
#[doc(hidden)]
pub enum Kind {
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
    ActiveRun,
    /// A blocking call was made inside an async runtime, or its runtime failed.
    Runtime,
    /// Other request errors.
    Request,
}

impl Error {
    #[doc(hidden)]
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
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

    #[doc(hidden)]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    #[doc(hidden)]
    pub fn with_event(mut self, event: impl Into<String>) -> Self {
        self.inner.event = Some(event.into());
        self
    }

    #[doc(hidden)]
    pub fn with_offset(mut self, offset: u64) -> Self {
        self.inner.offset = Some(offset);
        self
    }

    #[doc(hidden)]
    pub fn with_status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }

    #[doc(hidden)]
    pub fn with_api_error(mut self, api_error: ErrorObject) -> Self {
        self.inner.api_error = Some(api_error);
        self
    }

    #[doc(hidden)]
    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.inner.request_id = request_id;
        self
    }

    #[doc(hidden)]
    pub fn sse(err: SseError) -> Self {
        let offset = err.offset();
        Error::new(
            Kind::Sse,
            format!("the event stream is malformed at byte {offset}"),
        )
        .with_offset(offset)
        .with_source(err)
    }

    /// The byte source failed `offset` bytes into the stream. A timeout in
    /// `source` (this crate's idle timeout, or an I/O timeout) stays visible
    /// through [`is_timeout`](Error::is_timeout).
    #[doc(hidden)]
    pub fn body(source: impl Into<BoxError>, offset: u64) -> Self {
        Error::new(
            Kind::Body,
            format!("reading the stream failed after {offset} bytes"),
        )
        .with_offset(offset)
        .with_source(source)
    }

    /// A dropped run stream that could not be resumed: the error of the
    /// disconnect stays what it was (its kind, offset and source), and its
    /// message says once why resuming failed. The resume's own error is told
    /// by its message alone, so that the source chain stays the disconnect's.
    #[doc(hidden)]
    pub fn with_resume_failure(mut self, last_event_id: u64, why: &str) -> Self {
        use std::fmt::Write;
        let message = &mut self.inner.message;
        let _ = write!(
            message,
            "; resuming the run after event {last_event_id} was not possible: {why}"
        );
        self
    }

    #[doc(hidden)]
    pub fn server_event(api_error: ErrorObject) -> Self {
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

    /// Whether a request or connection timed out, or a stream stalled for
    /// longer than the client's timeout.
    ///
    /// Like reqwest's, this looks through the whole [`source`] chain: a
    /// stalled stream is an [`is_body`](Error::is_body) error whose cause is
    /// the timeout, and a byte source of your own can report one as an
    /// [`std::io::Error`] of kind [`TimedOut`](std::io::ErrorKind::TimedOut).
    ///
    /// [`source`]: std::error::Error::source
    pub fn is_timeout(&self) -> bool {
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(self);
        while let Some(err) = next {
            if is_timeout_itself(err) {
                return true;
            }
            next = err.source();
        }
        false
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

/// Whether one error of a chain is a timeout, not looking at its sources.
fn is_timeout_itself(err: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(err) = err.downcast_ref::<Error>() {
        return err.inner.kind == Kind::Timeout;
    }
    if let Some(err) = err.downcast_ref::<std::io::Error>() {
        return err.kind() == std::io::ErrorKind::TimedOut;
    }
    #[cfg(feature = "reqwest")]
    if let Some(err) = err.downcast_ref::<reqwest::Error>() {
        return err.is_timeout();
    }
    false
}

impl fmt::Display for Error {
    /// This error's own message; with `{:#}`, followed by each source's.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.message)?;
        if f.alternate() {
            let mut next = std::error::Error::source(self);
            while let Some(err) = next {
                write!(f, ": {err}")?;
                next = err.source();
            }
        }
        Ok(())
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

/// Walks `err`'s source chain and checks that no error repeats its
/// source's message (so a reporter that prints the chain says each part
/// once), and that `{:#}` says every part. For tests (of every crate of
/// the workspace).
#[doc(hidden)]
pub fn assert_each_part_said_once(err: &Error) {
    let full = format!("{err:#}");
    let mut current: &(dyn std::error::Error + 'static) = err;
    let mut parts = 0;
    while let Some(source) = current.source() {
        let (own, cause) = (current.to_string(), source.to_string());
        assert!(!cause.is_empty(), "{err:?}");
        assert!(
            !own.contains(&cause),
            "`{own}` repeats its source `{cause}`"
        );
        assert!(full.contains(&cause), "`{full}` leaves out `{cause}`");
        current = source;
        parts += 1;
    }
    assert!(parts > 0, "{err:?} has no source to check");
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

    /// The engine's constructors that attach a source, and the client
    /// builder's (the requests' are checked in `client::transport`).
    fn errors_with_sources() -> Vec<Error> {
        let io = || std::io::Error::other("connection reset by peer");
        #[cfg_attr(not(feature = "eventsource-stream"), allow(unused_mut))]
        let mut errors = vec![
            Error::sse(SseError::EventTooLarge {
                offset: 7,
                limit: 16,
            }),
            Error::body(io(), 42),
            Error::body(
                Error::new(Kind::Timeout, "POST /threads/runs: no data for 1s").with_source(io()),
                42,
            ),
            crate::AssistantEvent::decode("thread.message.delta", "{not json}").unwrap_err(),
            Error::body(io(), 42).with_resume_failure(
                7,
                "GET /threads/thread_1/runs/run_1/events failed with 404 Not Found: no such route",
            ),
        ];
        #[cfg(feature = "eventsource-stream")]
        {
            use futures_util::{FutureExt, StreamExt};
            let failed = futures_util::stream::iter([Err::<eventsource_stream::Event, _>(io())]);
            let mut decoded = Box::pin(crate::interop::decode_eventsource(failed));
            errors.push(
                decoded
                    .next()
                    .now_or_never()
                    .flatten()
                    .unwrap()
                    .unwrap_err(),
            );
        }
        errors
    }

    #[test]
    fn display_says_only_its_own_part_and_the_source_chains() {
        for err in errors_with_sources() {
            super::assert_each_part_said_once(&err);
        }
    }

    #[test]
    fn a_timeout_stays_visible_through_a_boxed_source() {
        let idle = Error::new(Kind::Timeout, "no data for 1s");
        let stalled = Error::body(idle, 42);
        assert!(stalled.is_body() && stalled.is_timeout(), "{stalled:?}");
        let io_timeout = Error::body(std::io::Error::from(std::io::ErrorKind::TimedOut), 0);
        assert!(io_timeout.is_timeout(), "{io_timeout:?}");
        let reset = Error::body(std::io::Error::from(std::io::ErrorKind::ConnectionReset), 0);
        assert!(!reset.is_timeout(), "{reset:?}");
        assert!(!Error::tool_call("no").is_timeout());
    }

    #[test]
    fn alternate_display_joins_the_chain() {
        let err = Error::body(
            Error::new(Kind::Timeout, "no data for 1s").with_source(std::io::Error::other("idle")),
            42,
        );
        assert_eq!(err.to_string(), "reading the stream failed after 42 bytes");
        assert_eq!(
            format!("{err:#}"),
            "reading the stream failed after 42 bytes: no data for 1s: idle"
        );
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
