//! [`Frame`]: one dispatched Server-Sent Event.

use std::time::Duration;

use bytes::Bytes;

/// One dispatched event.
///
/// The data is kept as a zero-copy [`Bytes`] slice of the parser's input
/// buffer whenever the event has a single `data` line; it is guaranteed to be
/// valid UTF-8 (events whose data is not are reported as
/// [`SseError::InvalidUtf8`](super::SseError::InvalidUtf8) instead).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Event type; `None` when no (non-empty) `event` field was given.
    /// Invariant: valid UTF-8.
    event: Option<Bytes>,
    /// Invariant: valid UTF-8.
    data: Bytes,
    /// Invariant: valid UTF-8.
    id: Option<Bytes>,
    retry: Option<Duration>,
    offset: u64,
    index: u64,
}

/// View bytes that are known to be valid UTF-8 as `&str`.
#[inline]
#[allow(unsafe_code)]
fn utf8(bytes: &Bytes) -> &str {
    debug_assert!(std::str::from_utf8(bytes).is_ok());
    // SAFETY: every `Bytes` stored in a `Frame` was validated as UTF-8 (by
    // `str::from_utf8` in the parser) or copied from a `&str` in
    // `Frame::new`, and `Bytes` is immutable.
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

impl Frame {
    /// Build a frame from already validated parts (used by the parser).
    pub(crate) fn from_parts(
        event: Option<Bytes>,
        data: Bytes,
        id: Option<Bytes>,
        retry: Option<Duration>,
        offset: u64,
        index: u64,
    ) -> Frame {
        Frame {
            event,
            data,
            id,
            retry,
            offset,
            index,
        }
    }

    /// Build a frame by hand (for tests, or to feed code that consumes frames).
    ///
    /// An empty `event` means "no event field" (the type is then `message`).
    /// `id` and `retry` are unset, `offset` and `index` are 0.
    ///
    /// ```
    /// use assistant_stream::sse::Frame;
    /// let f = Frame::new("done", "[DONE]");
    /// assert_eq!((f.event(), f.data()), ("done", "[DONE]"));
    /// assert_eq!(Frame::new("", "x").event(), "message");
    /// ```
    pub fn new(event: &str, data: &str) -> Frame {
        Frame {
            event: (!event.is_empty()).then(|| Bytes::copy_from_slice(event.as_bytes())),
            data: Bytes::copy_from_slice(data.as_bytes()),
            id: None,
            retry: None,
            offset: 0,
            index: 0,
        }
    }

    /// The event type: the value of the last `event` field of the event, or
    /// `"message"` when there was none (or it was empty).
    #[inline]
    pub fn event(&self) -> &str {
        self.event.as_ref().map_or("message", utf8)
    }

    /// Whether the event carried an `event` field with a non-empty value
    /// (an empty `event:` field is the same as none, as in the WHATWG rules).
    #[inline]
    pub fn has_event_field(&self) -> bool {
        self.event.is_some()
    }

    /// The data: the values of the event's `data` lines joined with `'\n'`
    /// (no trailing newline). Always valid UTF-8.
    #[inline]
    pub fn data(&self) -> &str {
        utf8(&self.data)
    }

    /// The data as (cheaply clonable, usually zero-copy) [`Bytes`].
    #[inline]
    pub fn data_bytes(&self) -> &Bytes {
        &self.data
    }

    /// The value of the last `id` field of this event, if it had one
    /// (`id` fields whose value contains NUL are ignored). Unlike a browser's
    /// "last event ID", this does not carry over to later events.
    #[inline]
    pub fn id(&self) -> Option<&str> {
        self.id.as_ref().map(utf8)
    }

    /// The reconnection time from the last valid `retry` field (ASCII digits
    /// only, in milliseconds) of this event, if any.
    #[inline]
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// Byte offset in the whole input (counting a leading BOM) of the first
    /// line of this event.
    #[inline]
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// 0-based ordinal of this frame among everything the parser dispatched
    /// (errors take a slot too).
    #[inline]
    pub fn index(&self) -> u64 {
        self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_builds_frame() {
        let f = Frame::new("thread.run.created", "{\"a\":1}");
        assert_eq!(f.event(), "thread.run.created");
        assert!(f.has_event_field());
        assert_eq!(f.data(), "{\"a\":1}");
        assert_eq!(f.data_bytes().as_ref(), b"{\"a\":1}");
        assert_eq!(f.id(), None);
        assert_eq!(f.retry(), None);
        assert_eq!((f.offset(), f.index()), (0, 0));
    }

    #[test]
    fn new_with_empty_event_is_message() {
        let f = Frame::new("", "");
        assert_eq!(f.event(), "message");
        assert!(!f.has_event_field());
        assert_eq!(f.data(), "");
    }
}
