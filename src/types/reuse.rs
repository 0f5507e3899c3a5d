//! The hot path of decoding: delta events read borrowed from the frame and
//! written into the buffers of a spent event of the same kind.
//!
//! Nearly every event of a stream is a `thread.message.delta` or a
//! `thread.run.step.delta` carrying a few bytes of text, arguments or code.
//! Decoding each into fresh owned structs costs an allocation per string and
//! per list (the id, `object`, the content list, the text), which is more
//! than the JSON parsing itself. Here the JSON is read into borrowed shapes
//! (strings are slices of the frame unless they hold an escape) and copied
//! into the strings and lists of the previous delta event, in place, which
//! keep their capacity: after the first few deltas, decoding allocates
//! nothing (but for strings with escapes) and moves no event around.
//!
//! Only the common shapes are covered: text fragments, and function and code
//! interpreter call fragments. Anything else (another content `type`, a
//! missing `type`, a `message_creation` step delta, a duplicate key, a value
//! of the wrong kind) makes these decoders return `None`, and the caller
//! decodes the event the ordinary way, which gives the same value or the
//! error. So for every input these produce exactly what the ordinary decoder
//! produces, or nothing.

use super::tagged::null_as_default;
use super::{
    AnnotationDelta, CodeInterpreterCallDelta, CodeInterpreterOutputDelta,
    CodeInterpreterToolCallDelta, FunctionCallDelta, FunctionToolCallDelta, MessageContentDelta,
    MessageDeltaEvent, RunStepDeltaEvent, StepDetailsDelta, TextContentDelta, TextDelta,
    ToolCallDelta, ToolCallsDetailsDelta,
};
use serde::Deserialize;
use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use std::borrow::Cow;
use std::fmt;

/// A string borrowed from the input, owned only when it holds an escape.
/// (`Option<Cow<str>>` would always own: serde borrows only a bare `Cow`.)
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

impl Default for Str<'_> {
    fn default() -> Self {
        Str(Cow::Borrowed(""))
    }
}

/// A content fragment; only `"type": "text"` is taken.
#[derive(Deserialize)]
struct TextPartRef<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    #[serde(default)]
    index: u64,
    #[serde(borrow, default)]
    text: Option<TextDeltaRef<'a>>,
}

#[derive(Deserialize)]
struct TextDeltaRef<'a> {
    #[serde(borrow, default)]
    value: Option<Str<'a>>,
    #[serde(default, deserialize_with = "null_as_default")]
    annotations: Vec<AnnotationDelta>,
}

/// A call fragment; only `function` and `code_interpreter` are taken.
#[derive(Deserialize)]
struct ToolCallRef<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    #[serde(default)]
    index: u64,
    #[serde(borrow, default)]
    id: Option<Str<'a>>,
    #[serde(borrow, default)]
    function: Option<FunctionRef<'a>>,
    #[serde(borrow, default)]
    code_interpreter: Option<CodeInterpreterRef<'a>>,
}

#[derive(Deserialize)]
struct FunctionRef<'a> {
    #[serde(borrow, default)]
    name: Option<Str<'a>>,
    #[serde(borrow, default)]
    arguments: Option<Str<'a>>,
    #[serde(borrow, default)]
    output: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct CodeInterpreterRef<'a> {
    #[serde(borrow, default)]
    input: Option<Str<'a>>,
    #[serde(default, deserialize_with = "null_as_default")]
    outputs: Vec<CodeInterpreterOutputDelta>,
}

/// Sets `target` to `value`, in the buffer it already has.
fn assign(target: &mut String, value: &str) {
    target.clear();
    target.push_str(value);
}

fn assign_option(target: &mut Option<String>, value: Option<Str<'_>>) {
    match (target, value) {
        (Some(target), Some(value)) => assign(target, &value.0),
        (target, value) => *target = value.map(|v| v.0.into_owned()),
    }
}

/// Decodes the data of a `thread.message.delta` into `event`, in the buffers
/// it has; `false` when the shape is not the common one (see the module),
/// and `event` is then to be decoded anew.
///
/// The event's own fields and its content list are filled straight from the
/// JSON (each fragment is decoded borrowed, then copied into the entry it
/// refills): nothing larger than one fragment is built and moved around.
pub(crate) fn message_delta(data: &str, event: &mut MessageDeltaEvent) -> bool {
    let mut deserializer = serde_json::Deserializer::from_str(data);
    MessageDeltaSeed(event)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .is_ok()
}

struct MessageDeltaSeed<'p>(&'p mut MessageDeltaEvent);

impl<'de> DeserializeSeed<'de> for MessageDeltaSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MessageDeltaSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a thread.message.delta object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let event = self.0;
        let (mut id, mut object, mut delta) = (false, false, false);
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key.0 {
                "id" => {
                    once(&mut id, "id")?;
                    assign(&mut event.id, &map.next_value::<Str<'de>>()?.0);
                }
                "object" => {
                    once(&mut object, "object")?;
                    assign(&mut event.object, &map.next_value::<Str<'de>>()?.0);
                }
                "delta" => {
                    once(&mut delta, "delta")?;
                    map.next_value_seed(MessageDeltaBodySeed(&mut event.delta))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !id {
            return Err(A::Error::missing_field("id"));
        }
        if !object {
            event.object.clear();
        }
        if !delta {
            event.delta.role = None;
            event.delta.content.clear();
        }
        Ok(())
    }
}

/// A second occurrence of a key is an error, as in the derived decoders.
fn once<E: serde::de::Error>(seen: &mut bool, key: &'static str) -> Result<(), E> {
    if std::mem::replace(seen, true) {
        return Err(E::duplicate_field(key));
    }
    Ok(())
}

struct MessageDeltaBodySeed<'p>(&'p mut super::MessageDelta);

impl<'de> DeserializeSeed<'de> for MessageDeltaBodySeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for MessageDeltaBodySeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message delta")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let delta = self.0;
        let (mut role, mut content) = (false, false);
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key.0 {
                "role" => {
                    once(&mut role, "role")?;
                    delta.role = map.next_value()?;
                }
                "content" => {
                    once(&mut content, "content")?;
                    map.next_value_seed(TextPartsSeed(&mut delta.content))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !role {
            delta.role = None;
        }
        if !content {
            delta.content.clear();
        }
        Ok(())
    }
}

/// The content list, refilled entry by entry; `null` empties it.
struct TextPartsSeed<'p>(&'p mut Vec<MessageContentDelta>);

impl<'de> DeserializeSeed<'de> for TextPartsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for TextPartsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of text fragments or null")
    }
    fn visit_none<E>(self) -> Result<(), E> {
        self.0.clear();
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.clear();
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let list = self.0;
        let mut len = 0;
        while let Some(part) = seq.next_element::<TextPartRef<'de>>()? {
            if part.kind.0 != "text" {
                // Another content type: the ordinary decoder's business.
                return Err(A::Error::custom("not a text fragment"));
            }
            if let Some(fresh) = refill_text_part(list.get_mut(len), part) {
                match list.get_mut(len) {
                    Some(entry) => *entry = fresh,
                    None => list.push(fresh),
                }
            }
            len += 1;
        }
        list.truncate(len);
        Ok(())
    }
}

fn refill_text_part(
    entry: Option<&mut MessageContentDelta>,
    part: TextPartRef<'_>,
) -> Option<MessageContentDelta> {
    let text = part.text.map(|text| (text.value, text.annotations));
    if let Some(MessageContentDelta::Text(entry)) = entry {
        entry.index = part.index;
        match (&mut entry.text, text) {
            (Some(entry), Some((value, annotations))) => {
                assign_option(&mut entry.value, value);
                entry.annotations = annotations;
            }
            (entry, text) => {
                *entry = text.map(|(value, annotations)| TextDelta {
                    value: value.map(|v| v.0.into_owned()),
                    annotations,
                })
            }
        }
        return None;
    }
    Some(MessageContentDelta::Text(TextContentDelta {
        index: part.index,
        text: text.map(|(value, annotations)| TextDelta {
            value: value.map(|v| v.0.into_owned()),
            annotations,
        }),
    }))
}

/// Decodes the data of a `thread.run.step.delta` into `event`, in the
/// buffers it has; `false` when the shape is not the common one (see the
/// module), and `event` is then to be decoded anew.
pub(crate) fn run_step_delta(data: &str, event: &mut RunStepDeltaEvent) -> bool {
    let mut deserializer = serde_json::Deserializer::from_str(data);
    RunStepDeltaSeed(event)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end())
        .is_ok()
}

struct RunStepDeltaSeed<'p>(&'p mut RunStepDeltaEvent);

impl<'de> DeserializeSeed<'de> for RunStepDeltaSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RunStepDeltaSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a thread.run.step.delta object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let event = self.0;
        let (mut id, mut object, mut delta) = (false, false, false);
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key.0 {
                "id" => {
                    once(&mut id, "id")?;
                    assign(&mut event.id, &map.next_value::<Str<'de>>()?.0);
                }
                "object" => {
                    once(&mut object, "object")?;
                    assign(&mut event.object, &map.next_value::<Str<'de>>()?.0);
                }
                "delta" => {
                    once(&mut delta, "delta")?;
                    map.next_value_seed(RunStepDeltaBodySeed(&mut event.delta))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !id {
            return Err(A::Error::missing_field("id"));
        }
        if !object {
            event.object.clear();
        }
        if !delta {
            event.delta.step_details = None;
        }
        Ok(())
    }
}

struct RunStepDeltaBodySeed<'p>(&'p mut super::RunStepDelta);

impl<'de> DeserializeSeed<'de> for RunStepDeltaBodySeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RunStepDeltaBodySeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a run step delta")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let delta = self.0;
        let mut details = false;
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key.0 {
                "step_details" => {
                    once(&mut details, "step_details")?;
                    map.next_value_seed(ToolCallsDetailsSeed(&mut delta.step_details))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !details {
            delta.step_details = None;
        }
        Ok(())
    }
}

/// Step details; only `"type": "tool_calls"` is taken. `null` is `None`.
struct ToolCallsDetailsSeed<'p>(&'p mut Option<StepDetailsDelta>);

impl<'de> DeserializeSeed<'de> for ToolCallsDetailsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for ToolCallsDetailsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tool_calls step details or null")
    }
    fn visit_none<E>(self) -> Result<(), E> {
        *self.0 = None;
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        *self.0 = None;
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if !matches!(self.0, Some(StepDetailsDelta::ToolCalls(_))) {
            *self.0 = Some(StepDetailsDelta::ToolCalls(ToolCallsDetailsDelta::default()));
        }
        let Some(StepDetailsDelta::ToolCalls(details)) = self.0 else {
            unreachable!("set just above");
        };
        let (mut kind, mut calls) = (false, false);
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key.0 {
                "type" => {
                    once(&mut kind, "type")?;
                    if map.next_value::<Str<'de>>()?.0 != "tool_calls" {
                        return Err(A::Error::custom("not tool_calls details"));
                    }
                }
                "tool_calls" => {
                    once(&mut calls, "tool_calls")?;
                    map.next_value_seed(ToolCallsSeed(&mut details.tool_calls))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !kind {
            // Untagged details are kept raw by the ordinary decoder.
            return Err(A::Error::missing_field("type"));
        }
        if !calls {
            details.tool_calls.clear();
        }
        Ok(())
    }
}

/// The call list, refilled entry by entry; `null` empties it.
struct ToolCallsSeed<'p>(&'p mut Vec<ToolCallDelta>);

impl<'de> DeserializeSeed<'de> for ToolCallsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for ToolCallsSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of tool call fragments or null")
    }
    fn visit_none<E>(self) -> Result<(), E> {
        self.0.clear();
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.clear();
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let list = self.0;
        let mut len = 0;
        while let Some(call) = seq.next_element::<ToolCallRef<'de>>()? {
            if !matches!(&*call.kind.0, "function" | "code_interpreter") {
                // Another call type: the ordinary decoder's business.
                return Err(A::Error::custom("not a function or code interpreter call"));
            }
            if let Some(fresh) = refill_call(list.get_mut(len), call) {
                match list.get_mut(len) {
                    Some(entry) => *entry = fresh,
                    None => list.push(fresh),
                }
            }
            len += 1;
        }
        list.truncate(len);
        Ok(())
    }
}

fn refill_call(entry: Option<&mut ToolCallDelta>, call: ToolCallRef<'_>) -> Option<ToolCallDelta> {
    if call.kind.0 == "function" {
        if let Some(ToolCallDelta::Function(entry)) = entry {
            entry.index = call.index;
            assign_option(&mut entry.id, call.id);
            match (&mut entry.function, call.function) {
                (Some(entry), Some(function)) => {
                    assign_option(&mut entry.name, function.name);
                    assign_option(&mut entry.arguments, function.arguments);
                    assign_option(&mut entry.output, function.output);
                }
                (entry, function) => *entry = function.map(owned_function),
            }
            return None;
        }
        return Some(ToolCallDelta::Function(FunctionToolCallDelta {
            index: call.index,
            id: call.id.map(|id| id.0.into_owned()),
            function: call.function.map(owned_function),
        }));
    }
    if let Some(ToolCallDelta::CodeInterpreter(entry)) = entry {
        entry.index = call.index;
        assign_option(&mut entry.id, call.id);
        match (&mut entry.code_interpreter, call.code_interpreter) {
            (Some(entry), Some(code)) => {
                assign_option(&mut entry.input, code.input);
                entry.outputs = code.outputs;
            }
            (entry, code) => *entry = code.map(owned_code),
        }
        return None;
    }
    Some(ToolCallDelta::CodeInterpreter(
        CodeInterpreterToolCallDelta {
            index: call.index,
            id: call.id.map(|id| id.0.into_owned()),
            code_interpreter: call.code_interpreter.map(owned_code),
        },
    ))
}

fn owned_function(function: FunctionRef<'_>) -> FunctionCallDelta {
    FunctionCallDelta {
        name: function.name.map(|v| v.0.into_owned()),
        arguments: function.arguments.map(|v| v.0.into_owned()),
        output: function.output.map(|v| v.0.into_owned()),
    }
}

fn owned_code(code: CodeInterpreterRef<'_>) -> CodeInterpreterCallDelta {
    CodeInterpreterCallDelta {
        input: code.input.map(|v| v.0.into_owned()),
        outputs: code.outputs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every delta decodes to what the ordinary decoder gives, whatever the
    /// spare held before.
    #[test]
    fn reuse_matches_the_ordinary_decoder() {
        let messages = [
            r#"{"id":"msg_1","object":"thread.message.delta","delta":{"content":[{"index":0,"type":"text","text":{"value":"Hel"}}]}}"#,
            r#"{"id":"msg_1","object":"thread.message.delta","delta":{"content":[{"index":0,"type":"text","text":{"value":"lo \"x\"","annotations":[]}}]}}"#,
            r#"{"id":"msg_2","delta":{"role":"assistant","content":[{"index":1,"type":"text","text":{"value":"a"}},{"index":1,"type":"text"}]}}"#,
            r#"{"id":"msg_2","delta":{"content":null}}"#,
            r#"{"id":"msg_2","delta":{"content":[{"index":0,"type":"text","text":{"annotations":[{"index":0,"type":"file_citation","text":"【1"}]}}]}}"#,
            r#"{"id":"msg_2","delta":{"content":[{"index":0,"type":"text","text":null}]}}"#,
            r#"{"id":"msg_3"}"#,
        ];
        let mut reused = MessageDeltaEvent::default();
        for data in messages.iter().chain(messages.iter().rev()) {
            let expected: MessageDeltaEvent = serde_json::from_str(data).unwrap();
            assert!(message_delta(data, &mut reused), "{data}");
            assert_eq!(reused, expected, "{data}");
        }
        let steps = [
            r#"{"id":"step_1","object":"thread.run.step.delta","delta":{"step_details":{"type":"tool_calls","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"","output":null}}]}}}"#,
            r#"{"id":"step_1","object":"thread.run.step.delta","delta":{"step_details":{"type":"tool_calls","tool_calls":[{"index":0,"type":"function","function":{"arguments":"{\"a\":"}}]}}}"#,
            r#"{"id":"step_2","delta":{"step_details":{"type":"tool_calls","tool_calls":[{"index":0,"id":"ci","type":"code_interpreter","code_interpreter":{"input":"","outputs":[]}}]}}}"#,
            r#"{"id":"step_2","delta":{"step_details":{"type":"tool_calls","tool_calls":[{"index":0,"type":"code_interpreter","code_interpreter":{"input":"x = 1\n"}},{"index":1,"type":"function"}]}}}"#,
            r#"{"id":"step_2","delta":{"step_details":{"type":"tool_calls","tool_calls":[{"index":0,"type":"code_interpreter","code_interpreter":{"outputs":[{"index":0,"type":"logs","logs":"1\n"}]}}]}}}"#,
            r#"{"id":"step_2","delta":{"step_details":{"type":"tool_calls","tool_calls":null}}}"#,
            r#"{"id":"step_2","delta":{}}"#,
        ];
        let mut reused = RunStepDeltaEvent::default();
        for data in steps.iter().chain(steps.iter().rev()) {
            let expected: RunStepDeltaEvent = serde_json::from_str(data).unwrap();
            assert!(run_step_delta(data, &mut reused), "{data}");
            assert_eq!(reused, expected, "{data}");
        }
    }

    /// Shapes left to the ordinary decoder.
    #[test]
    fn uncommon_shapes_are_declined() {
        for data in [
            r#"{"id":"m","delta":{"content":[{"index":0,"type":"image_file","image_file":{"file_id":"f"}}]}}"#,
            r#"{"id":"m","delta":{"content":[{"index":0,"text":{"value":"x"}}]}}"#,
            r#"{"id":"m","delta":{"content":[{"index":0,"type":"text","type":"text"}]}}"#,
            r#"{"delta":{}}"#,
            r#"{"id":"m","delta":{"content":{}}}"#,
            r#"{"id":"m","object":null,"delta":{}}"#,
            r#"{"id":"m","id":"m","delta":{}}"#,
            r#"{"id":"m","delta":{"content":[]}} x"#,
        ] {
            assert!(
                !message_delta(data, &mut MessageDeltaEvent::default()),
                "{data}"
            );
        }
        for data in [
            r#"{"id":"s","delta":{"step_details":{"type":"message_creation","message_creation":{"message_id":"m"}}}}"#,
            r#"{"id":"s","delta":{"step_details":{"type":"tool_calls","tool_calls":[{"index":0,"type":"file_search","file_search":{}}]}}}"#,
            r#"{"id":"s","delta":{"step_details":{"tool_calls":[]}}}"#,
            r#"{"id":"s","delta":{"step_details":{"type":"tool_calls","type":"tool_calls"}}}"#,
        ] {
            assert!(
                !run_step_delta(data, &mut RunStepDeltaEvent::default()),
                "{data}"
            );
        }
    }
}
