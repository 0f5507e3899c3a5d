//! Errors reported by the encoder ([`encode_frame`](super::encode_frame),
//! [`encode_json_frame`](super::encode_json_frame)).

/// Why an event could not be encoded. Nothing was written to the buffer.
///
/// ```
/// use assistant_stream::sse::{EncodeError, encode_frame};
///
/// let mut buf = Vec::new();
/// let err = encode_frame("thread.run\ncreated", None, "{}", &mut buf).unwrap_err();
/// assert!(matches!(err, EncodeError::LineBreakInEventName { position: 10, .. }));
/// assert_eq!(
///     err.to_string(),
///     r#"cannot encode SSE event "thread.run\ncreated": its name has a line break at byte 10"#
/// );
/// assert!(buf.is_empty());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The event name contains a CR or an LF: the `event:` field is one line,
    /// so such a name cannot be sent.
    #[error("cannot encode SSE event {event:?}: its name has a line break at byte {position}")]
    LineBreakInEventName {
        /// The event name.
        event: String,
        /// Byte offset of the first CR or LF in the name.
        position: usize,
    },
    /// The data could not be serialized to JSON (a `Serialize` implementation
    /// failed, or a map had keys that are not strings).
    #[error("cannot encode SSE event `{event}`: its data did not serialize to JSON")]
    Json {
        /// The event name.
        event: String,
        /// What serde_json reported.
        #[source]
        source: serde_json::Error,
    },
}

impl EncodeError {
    /// The name of the event that could not be encoded.
    pub fn event(&self) -> &str {
        match self {
            EncodeError::LineBreakInEventName { event, .. } | EncodeError::Json { event, .. } => {
                event
            }
        }
    }
}
