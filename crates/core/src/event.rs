//! Typed events: the decoder from SSE [`Frame`](crate::sse::Frame)s to
//! [`AssistantEvent`]s, and the encoder back to frames.
//!
//! Each event name of the Assistants stream has a variant holding its typed
//! payload. Names this crate does not know become [`AssistantEvent::Unknown`]
//! with the raw data, so a server that adds events never breaks a stream.
//!
//! ```
//! use assistant_stream::{AssistantEvent, types::RunStatus};
//!
//! let event = AssistantEvent::decode("thread.run.completed", r#"{"id":"run_1","status":"completed"}"#)?;
//! assert_eq!(event.name(), "thread.run.completed");
//! assert_eq!(event.run().unwrap().status, RunStatus::Completed);
//!
//! let later = AssistantEvent::decode("thread.run.teleported", r#"{"id":"run_1"}"#)?;
//! assert!(matches!(later, AssistantEvent::Unknown { .. }));
//! # Ok::<(), assistant_stream::Error>(())
//! ```
//!
//! [`AssistantEvent::encode_into`] writes an event as the frame the API
//! sends, its name taken from the variant, so that a server needs no event
//! names of its own:
//!
//! ```
//! use assistant_stream::AssistantEvent;
//!
//! let mut body = Vec::new();
//! AssistantEvent::Done.encode_into(Some(41), &mut body)?;
//! assert_eq!(body, b"event: done\nid: 41\ndata: [DONE]\n\n");
//! # Ok::<(), assistant_stream::sse::EncodeError>(())
//! ```

use crate::error::{Error, Kind};
use crate::sse::{self, EncodeError};
use crate::types::{
    ErrorObject, Message, MessageDeltaEvent, Run, RunStep, RunStepDeltaEvent, Thread,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// One event of an Assistants stream.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum AssistantEvent {
    /// `thread.created`
    ThreadCreated(Thread),
    /// `thread.run.created`
    RunCreated(Run),
    /// `thread.run.queued`
    RunQueued(Run),
    /// `thread.run.in_progress`
    RunInProgress(Run),
    /// `thread.run.requires_action`: the run waits for tool outputs.
    RunRequiresAction(Run),
    /// `thread.run.completed` (real servers have sent it with status `incomplete`).
    RunCompleted(Run),
    /// `thread.run.incomplete`
    RunIncomplete(Run),
    /// `thread.run.failed`
    RunFailed(Run),
    /// `thread.run.cancelling`
    RunCancelling(Run),
    /// `thread.run.cancelled`
    RunCancelled(Run),
    /// `thread.run.expired`
    RunExpired(Run),
    /// `thread.run.step.created`
    RunStepCreated(RunStep),
    /// `thread.run.step.in_progress`
    RunStepInProgress(RunStep),
    /// `thread.run.step.delta`
    RunStepDelta(RunStepDeltaEvent),
    /// `thread.run.step.completed`
    RunStepCompleted(RunStep),
    /// `thread.run.step.failed`
    RunStepFailed(RunStep),
    /// `thread.run.step.cancelled`
    RunStepCancelled(RunStep),
    /// `thread.run.step.expired`
    RunStepExpired(RunStep),
    /// `thread.message.created`
    MessageCreated(Message),
    /// `thread.message.in_progress`
    MessageInProgress(Message),
    /// `thread.message.delta`
    MessageDelta(MessageDeltaEvent),
    /// `thread.message.completed`
    MessageCompleted(Message),
    /// `thread.message.incomplete`
    MessageIncomplete(Message),
    /// `error`: the server failed mid-stream. Both `{"error": {...}}` and the
    /// bare error object are accepted.
    Error(ErrorObject),
    /// `done` (data `[DONE]`): the end of the stream.
    Done,
    /// An event name this crate does not know, with its raw data.
    Unknown {
        /// The event name.
        event: String,
        /// The data, as sent.
        data: String,
    },
}

impl AssistantEvent {
    /// Decodes an event from its name and data.
    ///
    /// A frame without an `event:` field has the name `message`; a `message`
    /// whose data is `[DONE]` is the end of the stream, as with chat
    /// completions.
    pub fn decode(event: &str, data: &str) -> Result<Self, Error> {
        fn parse<'a, T: Deserialize<'a>>(event: &str, data: &'a str) -> Result<T, Error> {
            serde_json::from_str(data).map_err(|err| decode_error(event, data, err))
        }
        Ok(match event {
            "thread.message.delta" => AssistantEvent::MessageDelta(parse(event, data)?),
            "thread.run.step.delta" => AssistantEvent::RunStepDelta(parse(event, data)?),
            "thread.created" => AssistantEvent::ThreadCreated(parse(event, data)?),
            "thread.run.created" => AssistantEvent::RunCreated(parse(event, data)?),
            "thread.run.queued" => AssistantEvent::RunQueued(parse(event, data)?),
            "thread.run.in_progress" => AssistantEvent::RunInProgress(parse(event, data)?),
            "thread.run.requires_action" => AssistantEvent::RunRequiresAction(parse(event, data)?),
            "thread.run.completed" => AssistantEvent::RunCompleted(parse(event, data)?),
            "thread.run.incomplete" => AssistantEvent::RunIncomplete(parse(event, data)?),
            "thread.run.failed" => AssistantEvent::RunFailed(parse(event, data)?),
            "thread.run.cancelling" => AssistantEvent::RunCancelling(parse(event, data)?),
            "thread.run.cancelled" => AssistantEvent::RunCancelled(parse(event, data)?),
            "thread.run.expired" => AssistantEvent::RunExpired(parse(event, data)?),
            "thread.run.step.created" => AssistantEvent::RunStepCreated(parse(event, data)?),
            "thread.run.step.in_progress" => AssistantEvent::RunStepInProgress(parse(event, data)?),
            "thread.run.step.completed" => AssistantEvent::RunStepCompleted(parse(event, data)?),
            "thread.run.step.failed" => AssistantEvent::RunStepFailed(parse(event, data)?),
            "thread.run.step.cancelled" => AssistantEvent::RunStepCancelled(parse(event, data)?),
            "thread.run.step.expired" => AssistantEvent::RunStepExpired(parse(event, data)?),
            "thread.message.created" => AssistantEvent::MessageCreated(parse(event, data)?),
            "thread.message.in_progress" => AssistantEvent::MessageInProgress(parse(event, data)?),
            "thread.message.completed" => AssistantEvent::MessageCompleted(parse(event, data)?),
            "thread.message.incomplete" => AssistantEvent::MessageIncomplete(parse(event, data)?),
            "error" => AssistantEvent::Error(
                parse_error_event(data).map_err(|err| decode_error(event, data, err))?,
            ),
            "done" => AssistantEvent::Done,
            "message" if data.trim() == "[DONE]" => AssistantEvent::Done,
            _ => AssistantEvent::Unknown {
                event: event.to_owned(),
                data: data.to_owned(),
            },
        })
    }

    /// [`decode`](Self::decode) into `slot`, reusing the buffers of the
    /// event there (or of a spare one): the common delta events are read
    /// borrowed from `data` and copied into the strings and lists of the
    /// previous delta of the same kind, so that a stream of deltas decodes
    /// without allocating, and without moving a (large) event. The result is
    /// always the one `decode` gives; on an error `slot` is `None`.
    pub(crate) fn decode_into(
        slot: &mut Option<AssistantEvent>,
        spares: &mut SpareEvents,
        event: &str,
        data: &str,
    ) -> Result<(), Error> {
        match event {
            "thread.message.delta" => {
                if !matches!(slot, Some(AssistantEvent::MessageDelta(_))) {
                    let spare = spares.message_delta.take().unwrap_or_default();
                    spares.keep(slot.replace(AssistantEvent::MessageDelta(spare)));
                }
                if let Some(AssistantEvent::MessageDelta(target)) = slot
                    && crate::types::reuse::message_delta(data, target)
                {
                    return Ok(());
                }
            }
            "thread.run.step.delta" => {
                if !matches!(slot, Some(AssistantEvent::RunStepDelta(_))) {
                    let spare = spares.run_step_delta.take().unwrap_or_default();
                    spares.keep(slot.replace(AssistantEvent::RunStepDelta(spare)));
                }
                if let Some(AssistantEvent::RunStepDelta(target)) = slot
                    && crate::types::reuse::run_step_delta(data, target)
                {
                    return Ok(());
                }
            }
            _ => {}
        }
        spares.keep(slot.take());
        *slot = Some(Self::decode(event, data)?);
        Ok(())
    }

    /// Appends the event to `buf` as the SSE frame the API sends: `event:`
    /// with [`name`](Self::name), `id:` with `id` when given (the event's
    /// number in its run, say), and the payload serialized to JSON straight
    /// into `buf` as one `data:` line ([`sse::encode_json_frame`]).
    ///
    /// [`Done`](Self::Done) is `data: [DONE]`; [`Error`](Self::Error) is sent
    /// in the API's envelope, `{"error": {...}}`; [`Unknown`](Self::Unknown)
    /// sends its name and raw data as they are ([`sse::encode_frame`]: a CR in
    /// that data is read back as LF). [`decode`](Self::decode) of the frame's
    /// name and data gives the same event back (for an `Unknown` event, but
    /// for that CR).
    ///
    /// Reusing `buf` (cleared, or drained by whoever writes it out) makes
    /// encoding allocation-free but for the buffer's growth. Only an
    /// `Unknown` event whose name has a line break fails; nothing is written
    /// then.
    ///
    /// ```
    /// use assistant_stream::AssistantEvent;
    ///
    /// let delta = AssistantEvent::decode(
    ///     "thread.message.delta",
    ///     r#"{"id":"msg_1","delta":{"content":[{"index":0,"type":"text","text":{"value":"Hi\n"}}]}}"#,
    /// )?;
    /// let mut buf = Vec::new();
    /// for id in 0..3 {
    ///     buf.clear(); // as if written out: the capacity stays for the next frame
    ///     delta.encode_into(Some(id), &mut buf)?;
    /// }
    /// let frame = std::str::from_utf8(&buf)?;
    /// assert!(frame.starts_with("event: thread.message.delta\nid: 2\ndata: {\"id\":\"msg_1\","));
    /// // The `\n` in the text is escaped in the JSON: the data is one line.
    /// assert_eq!(frame.lines().count(), 4);
    /// assert!(frame.ends_with("\"value\":\"Hi\\n\"}}]}}\n\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encode_into(&self, id: Option<u64>, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        /// The `error` event's data, as the API sends it.
        #[derive(Serialize)]
        struct ErrorEnvelope<'a> {
            error: &'a ErrorObject,
        }
        let name = self.name();
        match self {
            AssistantEvent::MessageDelta(delta) => sse::encode_json_frame(name, id, delta, buf),
            AssistantEvent::RunStepDelta(delta) => sse::encode_json_frame(name, id, delta, buf),
            AssistantEvent::ThreadCreated(thread) => sse::encode_json_frame(name, id, thread, buf),
            AssistantEvent::RunCreated(run)
            | AssistantEvent::RunQueued(run)
            | AssistantEvent::RunInProgress(run)
            | AssistantEvent::RunRequiresAction(run)
            | AssistantEvent::RunCompleted(run)
            | AssistantEvent::RunIncomplete(run)
            | AssistantEvent::RunFailed(run)
            | AssistantEvent::RunCancelling(run)
            | AssistantEvent::RunCancelled(run)
            | AssistantEvent::RunExpired(run) => sse::encode_json_frame(name, id, run, buf),
            AssistantEvent::RunStepCreated(step)
            | AssistantEvent::RunStepInProgress(step)
            | AssistantEvent::RunStepCompleted(step)
            | AssistantEvent::RunStepFailed(step)
            | AssistantEvent::RunStepCancelled(step)
            | AssistantEvent::RunStepExpired(step) => sse::encode_json_frame(name, id, step, buf),
            AssistantEvent::MessageCreated(message)
            | AssistantEvent::MessageInProgress(message)
            | AssistantEvent::MessageCompleted(message)
            | AssistantEvent::MessageIncomplete(message) => {
                sse::encode_json_frame(name, id, message, buf)
            }
            AssistantEvent::Error(error) => {
                sse::encode_json_frame(name, id, &ErrorEnvelope { error }, buf)
            }
            AssistantEvent::Done => sse::encode_frame(name, id, "[DONE]", buf),
            AssistantEvent::Unknown { event, data } => sse::encode_frame(event, id, data, buf),
        }
    }

    /// The event as one SSE frame ([`encode_into`](Self::encode_into) a new
    /// buffer), ready to be written to a response body.
    ///
    /// ```
    /// use assistant_stream::AssistantEvent;
    ///
    /// let frame = AssistantEvent::Done.to_frame(None)?;
    /// assert_eq!(&frame[..], b"event: done\ndata: [DONE]\n\n");
    /// # Ok::<(), assistant_stream::sse::EncodeError>(())
    /// ```
    pub fn to_frame(&self, id: Option<u64>) -> Result<Bytes, EncodeError> {
        let mut buf = Vec::new();
        self.encode_into(id, &mut buf)?;
        Ok(Bytes::from(buf))
    }

    /// The event name, as on the wire.
    pub fn name(&self) -> &str {
        match self {
            AssistantEvent::ThreadCreated(_) => "thread.created",
            AssistantEvent::RunCreated(_) => "thread.run.created",
            AssistantEvent::RunQueued(_) => "thread.run.queued",
            AssistantEvent::RunInProgress(_) => "thread.run.in_progress",
            AssistantEvent::RunRequiresAction(_) => "thread.run.requires_action",
            AssistantEvent::RunCompleted(_) => "thread.run.completed",
            AssistantEvent::RunIncomplete(_) => "thread.run.incomplete",
            AssistantEvent::RunFailed(_) => "thread.run.failed",
            AssistantEvent::RunCancelling(_) => "thread.run.cancelling",
            AssistantEvent::RunCancelled(_) => "thread.run.cancelled",
            AssistantEvent::RunExpired(_) => "thread.run.expired",
            AssistantEvent::RunStepCreated(_) => "thread.run.step.created",
            AssistantEvent::RunStepInProgress(_) => "thread.run.step.in_progress",
            AssistantEvent::RunStepDelta(_) => "thread.run.step.delta",
            AssistantEvent::RunStepCompleted(_) => "thread.run.step.completed",
            AssistantEvent::RunStepFailed(_) => "thread.run.step.failed",
            AssistantEvent::RunStepCancelled(_) => "thread.run.step.cancelled",
            AssistantEvent::RunStepExpired(_) => "thread.run.step.expired",
            AssistantEvent::MessageCreated(_) => "thread.message.created",
            AssistantEvent::MessageInProgress(_) => "thread.message.in_progress",
            AssistantEvent::MessageDelta(_) => "thread.message.delta",
            AssistantEvent::MessageCompleted(_) => "thread.message.completed",
            AssistantEvent::MessageIncomplete(_) => "thread.message.incomplete",
            AssistantEvent::Error(_) => "error",
            AssistantEvent::Done => "done",
            AssistantEvent::Unknown { event, .. } => event,
        }
    }

    /// The run, for `thread.run.*` events.
    pub fn run(&self) -> Option<&Run> {
        match self {
            AssistantEvent::RunCreated(run)
            | AssistantEvent::RunQueued(run)
            | AssistantEvent::RunInProgress(run)
            | AssistantEvent::RunRequiresAction(run)
            | AssistantEvent::RunCompleted(run)
            | AssistantEvent::RunIncomplete(run)
            | AssistantEvent::RunFailed(run)
            | AssistantEvent::RunCancelling(run)
            | AssistantEvent::RunCancelled(run)
            | AssistantEvent::RunExpired(run) => Some(run),
            _ => None,
        }
    }

    /// The run step, for `thread.run.step.*` events other than deltas.
    pub fn run_step(&self) -> Option<&RunStep> {
        match self {
            AssistantEvent::RunStepCreated(step)
            | AssistantEvent::RunStepInProgress(step)
            | AssistantEvent::RunStepCompleted(step)
            | AssistantEvent::RunStepFailed(step)
            | AssistantEvent::RunStepCancelled(step)
            | AssistantEvent::RunStepExpired(step) => Some(step),
            _ => None,
        }
    }

    /// The message, for `thread.message.*` events other than deltas.
    pub fn message(&self) -> Option<&Message> {
        match self {
            AssistantEvent::MessageCreated(message)
            | AssistantEvent::MessageInProgress(message)
            | AssistantEvent::MessageCompleted(message)
            | AssistantEvent::MessageIncomplete(message) => Some(message),
            _ => None,
        }
    }

    /// The event's data as JSON, as the API would send it (`[DONE]` is `null`).
    pub fn data_json(&self) -> serde_json::Value {
        let value = match self {
            AssistantEvent::ThreadCreated(thread) => serde_json::to_value(thread),
            AssistantEvent::RunStepDelta(delta) => serde_json::to_value(delta),
            AssistantEvent::MessageDelta(delta) => serde_json::to_value(delta),
            AssistantEvent::Error(error) => serde_json::to_value(error),
            AssistantEvent::Done => Ok(serde_json::Value::Null),
            AssistantEvent::Unknown { data, .. } => Ok(serde_json::from_str(data)
                .unwrap_or_else(|_| serde_json::Value::String(data.clone()))),
            other => {
                if let Some(run) = other.run() {
                    serde_json::to_value(run)
                } else if let Some(step) = other.run_step() {
                    serde_json::to_value(step)
                } else if let Some(message) = other.message() {
                    serde_json::to_value(message)
                } else {
                    Ok(serde_json::Value::Null)
                }
            }
        };
        value.unwrap_or(serde_json::Value::Null)
    }
}

/// Spent delta events whose buffers later deltas are decoded into
/// ([`AssistantEvent::decode_into`]), one of each kind, so that deltas of
/// messages and of run steps in turn both reuse theirs.
#[derive(Clone, Debug, Default)]
pub(crate) struct SpareEvents {
    message_delta: Option<MessageDeltaEvent>,
    run_step_delta: Option<RunStepDeltaEvent>,
}

impl SpareEvents {
    /// Keeps `event` for its buffers if it is a delta; drops it otherwise.
    fn keep(&mut self, event: Option<AssistantEvent>) {
        match event {
            Some(AssistantEvent::MessageDelta(delta)) => self.message_delta = Some(delta),
            Some(AssistantEvent::RunStepDelta(delta)) => self.run_step_delta = Some(delta),
            _ => {}
        }
    }
}

fn parse_error_event(data: &str) -> Result<ErrorObject, serde_json::Error> {
    #[derive(Deserialize)]
    struct Envelope {
        error: ErrorObject,
    }
    let value: serde_json::Value = serde_json::from_str(data)?;
    if value.get("error").is_some_and(|e| e.is_object()) {
        Ok(Envelope::deserialize(value)?.error)
    } else {
        ErrorObject::deserialize(value)
    }
}

const SNIPPET: usize = 120;

fn decode_error(event: &str, data: &str, err: serde_json::Error) -> Error {
    let snippet = if data.len() > SNIPPET {
        let mut end = SNIPPET;
        while !data.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &data[..end])
    } else {
        data.to_owned()
    };
    Error::new(
        Kind::Decode,
        format!("could not decode the data of event `{event}`; data: {snippet}"),
    )
    .with_event(event)
    .with_source(err)
}

/// Whether an event name is one of the delta events (`thread.message.delta`,
/// `thread.run.step.delta`): what a server may send without storing.
#[doc(hidden)]
pub fn is_delta_name(name: &str) -> bool {
    name == "thread.message.delta" || name == "thread.run.step.delta"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_event_accepts_envelope_and_bare_object() {
        let wrapped = AssistantEvent::decode(
            "error",
            r#"{"error":{"message":"boom","type":"server_error","param":null,"code":null}}"#,
        )
        .unwrap();
        let bare =
            AssistantEvent::decode("error", r#"{"message":"boom","type":"server_error"}"#).unwrap();
        assert_eq!(wrapped, bare);
        assert!(
            matches!(wrapped, AssistantEvent::Error(ref e) if e.message == "boom" && e.kind == "server_error")
        );
    }

    #[test]
    fn done_in_both_spellings() {
        assert_eq!(
            AssistantEvent::decode("done", "[DONE]").unwrap(),
            AssistantEvent::Done
        );
        assert_eq!(
            AssistantEvent::decode("message", "[DONE]").unwrap(),
            AssistantEvent::Done
        );
    }

    #[test]
    fn unknown_event_keeps_raw_data() {
        let event = AssistantEvent::decode("thread.run.step.teleported", "{\"x\":1}").unwrap();
        assert_eq!(
            event,
            AssistantEvent::Unknown {
                event: "thread.run.step.teleported".into(),
                data: "{\"x\":1}".into()
            }
        );
        assert_eq!(event.name(), "thread.run.step.teleported");
    }

    #[test]
    fn decode_error_names_event_and_shows_data() {
        let err = AssistantEvent::decode("thread.run.created", "{\"id\":").unwrap_err();
        assert!(err.is_decode());
        assert_eq!(err.event(), Some("thread.run.created"));
        assert!(err.to_string().contains("thread.run.created"), "{err}");
        assert!(err.to_string().contains("{\"id\":"), "{err}");
    }

    /// Encodes `event`, then parses and decodes the frame: (event, id).
    fn encode_and_read_back(
        event: &AssistantEvent,
        id: Option<u64>,
    ) -> (AssistantEvent, Option<String>) {
        let mut buf = Vec::new();
        event.encode_into(id, &mut buf).unwrap();
        let mut parser = crate::sse::SseParser::new();
        parser.push(&buf);
        let frame = parser.next_frame().unwrap().unwrap();
        assert!(parser.next_frame().is_none());
        let decoded = AssistantEvent::decode(frame.event(), frame.data()).unwrap();
        (decoded, frame.id().map(str::to_owned))
    }

    #[test]
    fn done_encodes_as_the_api_sends_it() {
        assert_eq!(
            &AssistantEvent::Done.to_frame(None).unwrap()[..],
            b"event: done\ndata: [DONE]\n\n"
        );
        assert_eq!(
            &AssistantEvent::Done.to_frame(Some(9)).unwrap()[..],
            b"event: done\nid: 9\ndata: [DONE]\n\n"
        );
    }

    #[test]
    fn error_encodes_in_the_api_envelope() {
        // As in ../shared/fixtures/real/simple-openai-server-error-midstream.sse.
        let data = r#"{"error":{"message":"boom","type":"server_error","param":null,"code":null}}"#;
        let event = AssistantEvent::decode("error", data).unwrap();
        assert_eq!(
            event.to_frame(None).unwrap(),
            format!("event: error\ndata: {data}\n\n").as_bytes()
        );
        assert_eq!(
            encode_and_read_back(&event, Some(2)),
            (event, Some("2".into()))
        );
    }

    #[test]
    fn unknown_events_send_their_raw_data() {
        let event = AssistantEvent::Unknown {
            event: "thread.run.step.teleported".into(),
            data: "not json\nat all".into(),
        };
        assert_eq!(
            &event.to_frame(Some(1)).unwrap()[..],
            b"event: thread.run.step.teleported\nid: 1\ndata: not json\ndata: at all\n\n"
        );
        assert_eq!(encode_and_read_back(&event, None).0, event);
    }

    #[test]
    fn unknown_event_named_with_a_line_break_is_an_error_and_writes_nothing() {
        let event = AssistantEvent::Unknown {
            event: "a\nb".into(),
            data: "{}".into(),
        };
        let mut buf = b"event: done\ndata: [DONE]\n\n".to_vec();
        let err = event.encode_into(Some(1), &mut buf).unwrap_err();
        assert_eq!(err.event(), "a\nb");
        assert_eq!(buf, b"event: done\ndata: [DONE]\n\n");
        assert!(event.to_frame(None).is_err());
    }

    #[test]
    fn typed_events_read_back_the_same() {
        let events = [
            AssistantEvent::decode(
                "thread.message.delta",
                r#"{"id":"msg_1","object":"thread.message.delta","delta":{"content":[{"index":0,"type":"text","text":{"value":"a\r\nb \"c\" é ✓"}}]}}"#,
            )
            .unwrap(),
            AssistantEvent::decode(
                "thread.run.step.delta",
                r#"{"id":"step_1","delta":{"step_details":{"type":"tool_calls","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"x\":\n1}"}}]}}}"#,
            )
            .unwrap(),
            AssistantEvent::decode("thread.run.completed", r#"{"id":"run_1","status":"completed"}"#).unwrap(),
            AssistantEvent::decode("thread.created", r#"{"id":"thread_1","metadata":{"k":"v"}}"#).unwrap(),
            AssistantEvent::decode("thread.run.step.completed", r#"{"id":"step_1","type":"message_creation","status":"completed","step_details":{"type":"message_creation","message_creation":{"message_id":"msg_1"}}}"#).unwrap(),
            AssistantEvent::decode("thread.message.completed", r#"{"id":"msg_1","role":"assistant","content":[]}"#).unwrap(),
            AssistantEvent::Done,
        ];
        for (id, event) in (0..).zip(&events) {
            assert_eq!(
                encode_and_read_back(event, Some(id)),
                (event.clone(), Some(id.to_string()))
            );
        }
    }

    #[test]
    fn frames_append_to_a_reused_buffer() {
        let mut buf = Vec::new();
        AssistantEvent::Done.encode_into(Some(0), &mut buf).unwrap();
        let first = buf.len();
        AssistantEvent::Done.encode_into(Some(1), &mut buf).unwrap();
        assert_eq!(&buf[first..], b"event: done\nid: 1\ndata: [DONE]\n\n");
    }

    #[test]
    fn run_completed_with_incomplete_status_decodes() {
        let event = AssistantEvent::decode(
            "thread.run.completed",
            r#"{"id":"run_1","status":"incomplete","instructions":null,"incomplete_details":{"reason":"max_prompt_tokens"}}"#,
        )
        .unwrap();
        let run = event.run().unwrap();
        assert_eq!(run.status, crate::types::RunStatus::Incomplete);
        assert_eq!(
            run.incomplete_details.as_ref().unwrap().reason,
            "max_prompt_tokens"
        );
    }
}
