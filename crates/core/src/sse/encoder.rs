//! The encoder: one event appended to a buffer as an SSE frame, the inverse
//! of the [`SseParser`](super::SseParser).

use memchr::memchr2;
use serde::Serialize;

use super::EncodeError;

/// Appends one event to `buf` as an SSE frame:
///
/// ```text
/// event: NAME
/// id: ID          (only when `id` is given)
/// data: LINE      (one per line of `data`)
///
/// ```
///
/// `data` is split into lines at LF, CRLF and CR, each sent as a `data:`
/// line; the parser joins them again with LF, so a CR or CRLF in the data
/// comes back as LF (the format has no way to carry a CR in data). Empty data
/// is one empty `data: ` line, so that the event is still dispatched (an
/// event with no `data` field is dropped by the reader). An empty name gives
/// an `event: ` line that readers take as no name: the event's type is then
/// `message`.
///
/// A name with a CR or LF in it cannot be sent: that is an
/// [`EncodeError::LineBreakInEventName`] and nothing is written.
///
/// ```
/// use assistant_stream::sse::{SseParser, encode_frame};
///
/// let mut buf = Vec::new();
/// encode_frame("thread.message.delta", Some(7), "line 1\r\nline 2", &mut buf)?;
/// assert_eq!(buf, b"event: thread.message.delta\nid: 7\ndata: line 1\ndata: line 2\n\n");
///
/// let mut parser = SseParser::new();
/// parser.push(&buf);
/// let frame = parser.next_frame().unwrap().unwrap();
/// assert_eq!((frame.event(), frame.id(), frame.data()), ("thread.message.delta", Some("7"), "line 1\nline 2"));
/// # Ok::<(), assistant_stream::sse::EncodeError>(())
/// ```
pub fn encode_frame(
    event: &str,
    id: Option<u64>,
    data: &str,
    buf: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    check_event_name(event)?;
    // Room for the whole frame, so that the buffer grows at most once.
    buf.reserve(FRAME_OVERHEAD + event.len() + data.len());
    push_event_and_id(event, id, buf);
    push_data_lines(data.as_bytes(), buf);
    buf.push(b'\n');
    Ok(())
}

/// Appends one event to `buf` as an SSE frame whose data is `data`
/// serialized to JSON, written straight into `buf` (no intermediate string):
/// the frame [`encode_frame`] would write for `serde_json::to_string(data)`.
///
/// Compact JSON has no line breaks (serde_json escapes them inside strings),
/// so the data is one `data:` line. The one exception is a
/// `serde_json::value::RawValue` holding line breaks between its tokens: that
/// JSON is split into lines as `encode_frame` splits data, which the reader
/// joins back into the same JSON.
///
/// On an error (a name with a line break, a `Serialize` implementation that
/// fails) nothing is written.
///
/// ```
/// use assistant_stream::sse::encode_json_frame;
///
/// let mut buf = Vec::new();
/// encode_json_frame("greeting", None, &serde_json::json!({"text": "a\nb"}), &mut buf)?;
/// assert_eq!(buf, b"event: greeting\ndata: {\"text\":\"a\\nb\"}\n\n");
/// # Ok::<(), assistant_stream::sse::EncodeError>(())
/// ```
pub fn encode_json_frame<T: Serialize + ?Sized>(
    event: &str,
    id: Option<u64>,
    data: &T,
    buf: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    check_event_name(event)?;
    let frame_start = buf.len();
    push_event_and_id(event, id, buf);
    let line_start = buf.len();
    buf.extend_from_slice(DATA_PREFIX);
    let json_start = buf.len();
    if let Err(source) = serde_json::to_writer(&mut *buf, data) {
        buf.truncate(frame_start);
        return Err(EncodeError::Json {
            event: event.to_owned(),
            source,
        });
    }
    if memchr2(b'\n', b'\r', &buf[json_start..]).is_some() {
        // Only raw JSON written as it came has line breaks, and only as
        // whitespace between tokens, so splitting it into data lines (the
        // reader joins them with LF) keeps the same JSON.
        let json = buf.split_off(json_start);
        buf.truncate(line_start);
        push_data_lines(&json, buf);
    } else {
        buf.push(b'\n');
    }
    buf.push(b'\n');
    Ok(())
}

const EVENT_PREFIX: &[u8] = b"event: ";
const ID_PREFIX: &[u8] = b"id: ";
const DATA_PREFIX: &[u8] = b"data: ";
/// The bytes of a frame besides the name and the data: the field names, an
/// id of up to 20 digits, the line ends of one data line and the blank line.
const FRAME_OVERHEAD: usize =
    EVENT_PREFIX.len() + 1 + ID_PREFIX.len() + 20 + 1 + DATA_PREFIX.len() + 1 + 1;

fn check_event_name(event: &str) -> Result<(), EncodeError> {
    match memchr2(b'\n', b'\r', event.as_bytes()) {
        Some(position) => Err(EncodeError::LineBreakInEventName {
            event: event.to_owned(),
            position,
        }),
        None => Ok(()),
    }
}

fn push_event_and_id(event: &str, id: Option<u64>, buf: &mut Vec<u8>) {
    buf.extend_from_slice(EVENT_PREFIX);
    buf.extend_from_slice(event.as_bytes());
    buf.push(b'\n');
    if let Some(id) = id {
        buf.extend_from_slice(ID_PREFIX);
        push_decimal(id, buf);
        buf.push(b'\n');
    }
}

/// One `data: ` line per line of `data`, split at LF, CRLF and CR.
fn push_data_lines(data: &[u8], buf: &mut Vec<u8>) {
    let mut rest = data;
    loop {
        buf.extend_from_slice(DATA_PREFIX);
        let Some(end) = memchr2(b'\n', b'\r', rest) else {
            buf.extend_from_slice(rest);
            buf.push(b'\n');
            return;
        };
        buf.extend_from_slice(&rest[..end]);
        buf.push(b'\n');
        let line_break = if rest[end..].starts_with(b"\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + line_break..];
    }
}

/// `n` in decimal, without going through `fmt` (this runs for every event).
fn push_decimal(mut n: u64, buf: &mut Vec<u8>) {
    // u64::MAX has 20 digits.
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::SseParser;

    fn frame(event: &str, id: Option<u64>, data: &str) -> Vec<u8> {
        let mut buf = Vec::new();
        encode_frame(event, id, data, &mut buf).unwrap();
        buf
    }

    /// Parses `bytes`, which must hold exactly one frame: (event, id, data).
    fn parse_one(bytes: &[u8]) -> (String, Option<String>, String) {
        let mut parser = SseParser::new();
        parser.push(bytes);
        let frame = parser.next_frame().unwrap().unwrap();
        assert!(parser.next_frame().is_none());
        assert!(parser.finish().is_none());
        (
            frame.event().to_owned(),
            frame.id().map(str::to_owned),
            frame.data().to_owned(),
        )
    }

    #[test]
    fn single_line() {
        assert_eq!(
            frame("thread.run.created", None, "{\"id\":\"run_1\"}"),
            b"event: thread.run.created\ndata: {\"id\":\"run_1\"}\n\n"
        );
    }

    #[test]
    fn id_comes_after_the_event_name() {
        assert_eq!(
            frame("done", Some(0), "[DONE]"),
            b"event: done\nid: 0\ndata: [DONE]\n\n"
        );
        assert_eq!(
            frame("x", Some(u64::MAX), "y"),
            b"event: x\nid: 18446744073709551615\ndata: y\n\n"
        );
        assert_eq!(
            frame("x", Some(1203), "y"),
            b"event: x\nid: 1203\ndata: y\n\n"
        );
    }

    #[test]
    fn multi_line_data() {
        assert_eq!(
            frame("x", None, "a\nb\nc"),
            b"event: x\ndata: a\ndata: b\ndata: c\n\n"
        );
        assert_eq!(parse_one(&frame("x", None, "a\nb\nc")).2, "a\nb\nc");
    }

    #[test]
    fn leading_and_trailing_line_breaks_are_empty_lines() {
        let bytes = frame("x", None, "\na\n");
        assert_eq!(bytes, b"event: x\ndata: \ndata: a\ndata: \n\n");
        assert_eq!(parse_one(&bytes).2, "\na\n");
        let bytes = frame("x", None, "a\n\nb");
        assert_eq!(bytes, b"event: x\ndata: a\ndata: \ndata: b\n\n");
        assert_eq!(parse_one(&bytes).2, "a\n\nb");
    }

    #[test]
    fn crlf_and_cr_in_data_become_line_ends() {
        let bytes = frame("x", None, "a\r\nb\rc\r\r\nd\r");
        assert_eq!(
            bytes,
            b"event: x\ndata: a\ndata: b\ndata: c\ndata: \ndata: d\ndata: \n\n"
        );
        assert_eq!(parse_one(&bytes).2, "a\nb\nc\n\nd\n");
    }

    #[test]
    fn empty_data_is_one_empty_data_line() {
        let bytes = frame("ping", None, "");
        assert_eq!(bytes, b"event: ping\ndata: \n\n");
        assert_eq!(parse_one(&bytes), ("ping".into(), None, String::new()));
    }

    #[test]
    fn spaces_at_the_start_of_name_and_data_survive() {
        // The reader removes exactly the one space after the colon.
        let bytes = frame(" x", Some(3), "  a\n b");
        assert_eq!(
            parse_one(&bytes),
            (" x".into(), Some("3".into()), "  a\n b".into())
        );
    }

    #[test]
    fn empty_name_reads_as_message() {
        assert_eq!(parse_one(&frame("", None, "a")).0, "message");
    }

    #[test]
    fn frames_append_to_what_the_buffer_holds() {
        let mut buf = b"event: a\ndata: 1\n\n".to_vec();
        encode_frame("b", Some(2), "2", &mut buf).unwrap();
        assert_eq!(buf, b"event: a\ndata: 1\n\nevent: b\nid: 2\ndata: 2\n\n");
    }

    #[test]
    fn name_with_a_line_break_leaves_the_buffer_untouched() {
        for (name, position) in [("a\nb", 1), ("ab\r", 2), ("\r\nab", 0)] {
            let mut buf = b"before".to_vec();
            let err = encode_frame(name, Some(1), "data", &mut buf).unwrap_err();
            assert!(
                matches!(&err, EncodeError::LineBreakInEventName { event, position: at } if event == name && *at == position),
                "{err:?}"
            );
            assert_eq!(err.event(), name);
            assert_eq!(buf, b"before");

            let err = encode_json_frame(name, None, &1, &mut buf).unwrap_err();
            assert!(
                matches!(err, EncodeError::LineBreakInEventName { .. }),
                "{err:?}"
            );
            assert_eq!(buf, b"before");
        }
    }

    #[test]
    fn error_display_says_what_and_where() {
        let err = encode_frame("thread.run\r", None, "", &mut Vec::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"cannot encode SSE event "thread.run\r": its name has a line break at byte 10"#
        );
    }

    #[test]
    fn json_is_one_data_line() {
        let mut buf = b"before\n".to_vec();
        let value = serde_json::json!({"text": "a\nb\r\"c\"\u{2028}é"});
        encode_json_frame("thread.message.delta", Some(12), &value, &mut buf).unwrap();
        assert_eq!(
            buf,
            "before\nevent: thread.message.delta\nid: 12\ndata: {\"text\":\"a\\nb\\r\\\"c\\\"\u{2028}é\"}\n\n"
                .as_bytes()
        );
        let (_, id, data) = parse_one(&buf[7..]);
        assert_eq!(id.as_deref(), Some("12"));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&data).unwrap(),
            value
        );
    }

    #[test]
    fn json_is_what_encode_frame_writes_for_the_serialized_string() {
        let value = serde_json::json!({"a": [1, null, "x"], "b": {"c": true}});
        let mut direct = Vec::new();
        encode_json_frame("e", Some(5), &value, &mut direct).unwrap();
        assert_eq!(direct, frame("e", Some(5), &value.to_string()));
    }

    #[test]
    fn raw_json_with_line_breaks_is_split_into_data_lines() {
        // serde_json's `raw_value` feature is on in the tests (axum, a
        // dev-dependency, turns it on).
        let raw =
            serde_json::value::RawValue::from_string("{\"a\":\n1,\r\n\"b\":\r2}".into()).unwrap();
        let mut buf = Vec::new();
        encode_json_frame("e", None, &*raw, &mut buf).unwrap();
        assert_eq!(
            buf,
            b"event: e\ndata: {\"a\":\ndata: 1,\ndata: \"b\":\ndata: 2}\n\n"
        );
        let data = parse_one(&buf).2;
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&data).unwrap(),
            serde_json::json!({"a": 1, "b": 2})
        );
    }

    #[test]
    fn json_that_fails_to_serialize_leaves_the_buffer_untouched() {
        // A map with keys that are not strings has no JSON form.
        let value = std::collections::BTreeMap::from([(vec![1u8], 1)]);
        let mut buf = b"before".to_vec();
        let err = encode_json_frame("e", Some(1), &value, &mut buf).unwrap_err();
        assert!(
            matches!(&err, EncodeError::Json { event, .. } if event == "e"),
            "{err:?}"
        );
        assert!(std::error::Error::source(&err).is_some());
        assert_eq!(buf, b"before");
    }
}
