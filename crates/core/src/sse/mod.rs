//! Server-Sent Events (`text/event-stream`): an incremental parser, and an
//! encoder for the way back.
//!
//! [`SseParser`] turns the bytes of an event stream, pushed in chunks of any
//! size, into [`Frame`]s. It follows the WHATWG HTML rules for
//! [interpreting an event stream](https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
//!
//! - a UTF-8 BOM at the very start of the stream is skipped (also when it
//!   arrives split across pushes);
//! - lines end with LF, CR or CRLF (a CRLF split across two pushes is one
//!   line end);
//! - a line starting with `:` is a comment (keep-alive) and is ignored;
//! - `name:value` lines are fields, with one optional space after the colon
//!   removed; a line without a colon is a field with an empty value;
//! - `event` sets the event type, `data` appends a line to the data, `id` sets
//!   the event id (unless it contains NUL), `retry` sets the reconnection
//!   time (only if made of ASCII digits); other fields are ignored;
//! - a blank line dispatches the event, unless no `data` field was seen, in
//!   which case the event is silently dropped; the event type defaults to
//!   `message`;
//! - at the end of the input an unterminated event is dropped, except an
//!   `error` event (see [`SseParser::finish`]).
//!
//! Deviations made for robustness: an event whose data (or name) is not valid
//! UTF-8 is reported as [`SseError::InvalidUtf8`] instead of being decoded
//! with replacement characters, and an event larger than
//! [`ParserConfig::max_event_bytes`] is reported as
//! [`SseError::EventTooLarge`] and skipped. In both cases parsing goes on with
//! the next event. `id` and `retry` are reported per event on the [`Frame`].
//!
//! The parser does linear work whatever the chunking, and hands out the data
//! of single-line events as zero-copy [`bytes::Bytes`] slices of its input.
//!
//! # Example
//!
//! ```
//! use assistant_stream::sse::{Frame, SseParser};
//!
//! let mut parser = SseParser::new();
//! let mut frames: Vec<Frame> = Vec::new();
//! for chunk in [
//!     &b"event: thread.run.created\r\ndata: {\"id\":"[..],
//!     b"\"run_1\"}\r\n\r\n: keep-alive\n\ndata: [DO",
//!     b"NE]\n\nevent: error\ndata: {\"error\":{}}\n",
//! ] {
//!     parser.push(chunk);
//!     while let Some(frame) = parser.next_frame() {
//!         frames.push(frame.expect("valid event"));
//!     }
//! }
//! // The stream ends without a blank line after the `error` event.
//! if let Some(frame) = parser.finish() {
//!     frames.push(frame.expect("valid event"));
//! }
//!
//! assert_eq!(frames.len(), 3);
//! assert_eq!(frames[0].event(), "thread.run.created");
//! assert_eq!(frames[0].data(), r#"{"id":"run_1"}"#);
//! assert_eq!(frames[1].event(), "message");
//! assert_eq!(frames[1].data(), "[DONE]");
//! assert_eq!(frames[2].event(), "error");
//! assert_eq!(frames[2].index(), 2);
//! ```
//!
//! # Encoding
//!
//! [`encode_frame`] appends one event to a `Vec<u8>` as a frame: an `event:`
//! line, an `id:` line when an id is given, one `data:` line per line of the
//! data (split at LF, CRLF and CR: a CR in data is read back as LF, since the
//! format cannot carry one), and the blank line that dispatches it.
//! [`encode_json_frame`] does the same for a value serialized to JSON straight
//! into the buffer; [`AssistantEvent::encode_into`](crate::AssistantEvent::encode_into)
//! uses it for the typed events. An event name with a line break cannot be
//! sent: that is an [`EncodeError`], and nothing is written.
//!
//! ```
//! use assistant_stream::sse::{SseParser, encode_frame, encode_json_frame};
//!
//! let mut buf = Vec::new();
//! encode_frame("note", Some(0), "two\nlines", &mut buf)?;
//! encode_json_frame("thread.run.completed", Some(1), &serde_json::json!({"id": "run_1"}), &mut buf)?;
//! assert_eq!(
//!     String::from_utf8_lossy(&buf),
//!     "event: note\nid: 0\ndata: two\ndata: lines\n\n\
//!      event: thread.run.completed\nid: 1\ndata: {\"id\":\"run_1\"}\n\n"
//! );
//!
//! let mut parser = SseParser::new();
//! parser.push(&buf);
//! let note = parser.next_frame().unwrap().unwrap();
//! assert_eq!((note.id(), note.data()), (Some("0"), "two\nlines"));
//! let run = parser.next_frame().unwrap().unwrap();
//! assert_eq!((run.event(), run.id()), ("thread.run.completed", Some("1")));
//! # Ok::<(), assistant_stream::sse::EncodeError>(())
//! ```

mod encode_error;
mod encoder;
mod error;
mod frame;
mod parser;

pub use encode_error::EncodeError;
pub use encoder::{encode_frame, encode_json_frame};
pub use error::SseError;
pub use frame::Frame;
pub use parser::{ParserConfig, SseParser};
