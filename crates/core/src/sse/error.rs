//! Errors reported by the [`SseParser`](super::SseParser).

/// An error reported for one event of the stream.
///
/// Errors are per event: after an `Err` the parser keeps going and the
/// following events are parsed normally. Every error takes one slot in the
/// frame numbering (see [`Frame::index`](super::Frame::index)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    /// The event's data (or its event name) is not valid UTF-8.
    #[error(
        "invalid UTF-8 in SSE event #{index} (`{}`) starting at byte offset {offset}: valid only up to byte {valid_up_to}",
        event.as_deref().unwrap_or("message")
    )]
    InvalidUtf8 {
        /// Byte offset in the whole input (counting a BOM) of the first line of the event.
        offset: u64,
        /// Ordinal of this event among everything dispatched (frames and errors).
        index: u64,
        /// Number of leading bytes of the event's data that are valid UTF-8.
        /// When the data is valid but the event name is not, this counts
        /// within the event name instead (the lossily decoded name in
        /// `event` then contains U+FFFD).
        valid_up_to: usize,
        /// The event name (lossily decoded), or `None` when the event had no
        /// `event` field.
        event: Option<String>,
    },
    /// A single event (or a single unterminated line) grew beyond
    /// [`ParserConfig::max_event_bytes`](super::ParserConfig::max_event_bytes).
    /// The rest of the event, up to the next blank line, is skipped.
    #[error(
        "SSE event starting at byte offset {offset} exceeds the limit of {limit} bytes; skipped up to the next blank line"
    )]
    EventTooLarge {
        /// Byte offset in the whole input (counting a BOM) of the first line of the event.
        offset: u64,
        /// The configured limit, in bytes.
        limit: usize,
    },
}

impl SseError {
    /// Byte offset in the whole input of the first line of the event at fault.
    pub fn offset(&self) -> u64 {
        match self {
            SseError::InvalidUtf8 { offset, .. } | SseError::EventTooLarge { offset, .. } => {
                *offset
            }
        }
    }

    /// The event name, when the event had one.
    pub fn event(&self) -> Option<&str> {
        match self {
            SseError::InvalidUtf8 { event, .. } => event.as_deref(),
            SseError::EventTooLarge { .. } => None,
        }
    }
}
