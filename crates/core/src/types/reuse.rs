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

/// Sets `target` to `value`, in the buffer it already has.
fn assign(target: &mut String, value: &str) {
    target.clear();
    target.push_str(value);
}

/// Decodes the data of a `thread.message.delta` into `event`, in the buffers
/// it has; `false` when the shape is not the common one (see the module),
/// and `event` is then to be decoded anew.
///
/// The event's own fields and its content list are filled straight from the
/// JSON (each fragment is written field by field into the entry it
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
        while len < list.len() {
            // The entry is refilled in place when it is a text fragment.
            if !matches!(list[len], MessageContentDelta::Text(_)) {
                list[len] = MessageContentDelta::Text(TextContentDelta::default());
            }
            let MessageContentDelta::Text(entry) = &mut list[len] else {
                unreachable!("set just above");
            };
            if seq.next_element_seed(TextPartSeed(entry))?.is_none() {
                list.truncate(len);
                return Ok(());
            }
            len += 1;
        }
        loop {
            let mut entry = TextContentDelta::default();
            if seq.next_element_seed(TextPartSeed(&mut entry))?.is_none() {
                return Ok(());
            }
            list.push(MessageContentDelta::Text(entry));
        }
    }
}

/// One content fragment, written into `entry`; only `"type": "text"` is
/// taken. Its strings are unescaped straight into the entry's buffers.
struct TextPartSeed<'p>(&'p mut TextContentDelta);

impl<'de> DeserializeSeed<'de> for TextPartSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TextPartSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a text fragment")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let part = self.0;
        let (mut kind, mut index, mut text) = (false, false, false);
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key.0 {
                "type" => {
                    once(&mut kind, "type")?;
                    if map.next_value::<Str<'de>>()?.0 != "text" {
                        // Another content type: the ordinary decoder's business.
                        return Err(A::Error::custom("not a text fragment"));
                    }
                }
                "index" => {
                    once(&mut index, "index")?;
                    part.index = map.next_value()?;
                }
                "text" => {
                    once(&mut text, "text")?;
                    map.next_value_seed(TextDeltaSeed(&mut part.text))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !kind {
            // Untagged fragments are kept raw by the ordinary decoder.
            return Err(A::Error::missing_field("type"));
        }
        if !index {
            part.index = 0;
        }
        if !text {
            part.text = None;
        }
        Ok(())
    }
}

/// The `Deserialize` plumbing of a seed that writes into the `Option` it
/// holds (`self.0`): `null` (or a missing value) makes it `None`, anything
/// else is read with `$read` (`deserialize_map` or `deserialize_str`) by the
/// visitor methods given (`visit_map` or `visit_str`).
macro_rules! option_seed {
    ($seed:ident, $expecting:literal, $read:ident, $de:lifetime, { $($methods:tt)* }) => {
        impl<$de> DeserializeSeed<$de> for $seed<'_> {
            type Value = ();
            fn deserialize<D: Deserializer<$de>>(self, deserializer: D) -> Result<(), D::Error> {
                deserializer.deserialize_option(self)
            }
        }

        impl<$de> Visitor<$de> for $seed<'_> {
            type Value = ();
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str($expecting)
            }
            fn visit_none<E>(self) -> Result<(), E> {
                *self.0 = None;
                Ok(())
            }
            fn visit_unit<E>(self) -> Result<(), E> {
                *self.0 = None;
                Ok(())
            }
            fn visit_some<D: Deserializer<$de>>(self, deserializer: D) -> Result<(), D::Error> {
                deserializer.$read(self)
            }
            $($methods)*
        }
    };
}

/// A fragment's `text`, written into the one `target` holds; `null` is `None`.
struct TextDeltaSeed<'p>(&'p mut Option<TextDelta>);

option_seed! {
    TextDeltaSeed, "a text delta or null", deserialize_map, 'de,
    {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let text = self.0.get_or_insert_with(TextDelta::default);
            let (mut value, mut annotations) = (false, false);
            while let Some(key) = map.next_key::<Str<'de>>()? {
                match &*key.0 {
                    "value" => {
                        once(&mut value, "value")?;
                        map.next_value_seed(StringSeed(&mut text.value))?;
                    }
                    "annotations" => {
                        once(&mut annotations, "annotations")?;
                        text.annotations = map
                            .next_value::<Option<Vec<AnnotationDelta>>>()?
                            .unwrap_or_default();
                    }
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            if !value {
                text.value = None;
            }
            if !annotations {
                text.annotations.clear();
            }
            Ok(())
        }
    }
}

/// An optional string written into the buffer `target` already has: the
/// JSON's escapes are undone by `serde_json` into its scratch buffer and
/// copied from there once, with no `String` of their own. `null` is `None`.
struct StringSeed<'p>(&'p mut Option<String>);

option_seed! {
    StringSeed, "a string or null", deserialize_str, 'de,
    {
        fn visit_str<E>(self, v: &str) -> Result<(), E> {
            match self.0 {
                Some(target) => assign(target, v),
                None => *self.0 = Some(v.to_owned()),
            }
            Ok(())
        }
    }
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

option_seed! {
    ToolCallsDetailsSeed, "tool_calls step details or null", deserialize_map, 'de,
    {
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
        while len < list.len() {
            if seq
                .next_element_seed(ToolCallSeed(&mut list[len]))?
                .is_none()
            {
                list.truncate(len);
                return Ok(());
            }
            len += 1;
        }
        loop {
            let mut entry = ToolCallDelta::Function(FunctionToolCallDelta::default());
            if seq.next_element_seed(ToolCallSeed(&mut entry))?.is_none() {
                return Ok(());
            }
            list.push(entry);
        }
    }
}

/// One call fragment, written into `entry` (made the variant its `type`
/// names); only `function` and `code_interpreter` calls are taken, with
/// `type` before the call's body, as the API sends them. Its strings are
/// unescaped straight into the entry's buffers.
struct ToolCallSeed<'p>(&'p mut ToolCallDelta);

impl<'de> DeserializeSeed<'de> for ToolCallSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ToolCallSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tool call fragment")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let entry = self.0;
        // A spare may hold any kind of call (one the ordinary decoder made):
        // until `type` says which, the fragment is taken for a function call.
        if !matches!(
            entry,
            ToolCallDelta::Function(_) | ToolCallDelta::CodeInterpreter(_)
        ) {
            *entry = ToolCallDelta::Function(FunctionToolCallDelta::default());
        }
        let mut kind = false;
        let (mut index, mut id, mut body) = (None, false, false);
        while let Some(key) = map.next_key::<Str<'de>>()? {
            match &*key.0 {
                "type" => {
                    once(&mut kind, "type")?;
                    match &*map.next_value::<Str<'de>>()?.0 {
                        // The id may have come first: it goes with the variant.
                        "function" => {
                            if !matches!(entry, ToolCallDelta::Function(_)) {
                                *entry = ToolCallDelta::Function(FunctionToolCallDelta {
                                    id: take_id(entry),
                                    ..Default::default()
                                });
                            }
                        }
                        "code_interpreter" => {
                            if !matches!(entry, ToolCallDelta::CodeInterpreter(_)) {
                                *entry =
                                    ToolCallDelta::CodeInterpreter(CodeInterpreterToolCallDelta {
                                        id: take_id(entry),
                                        ..Default::default()
                                    });
                            }
                        }
                        // Another call type: the ordinary decoder's business.
                        _ => {
                            return Err(A::Error::custom(
                                "not a function or code interpreter call",
                            ));
                        }
                    }
                }
                "index" => {
                    if index.replace(map.next_value::<u64>()?).is_some() {
                        return Err(A::Error::duplicate_field("index"));
                    }
                }
                "id" => {
                    once(&mut id, "id")?;
                    let target = match entry {
                        ToolCallDelta::Function(call) => &mut call.id,
                        ToolCallDelta::CodeInterpreter(call) => &mut call.id,
                        _ => {
                            return Err(A::Error::custom(
                                "not a function or code interpreter call",
                            ));
                        }
                    };
                    map.next_value_seed(StringSeed(target))?;
                }
                name @ ("function" | "code_interpreter") => {
                    if !kind {
                        // A body before its `type`: left to the ordinary decoder.
                        return Err(A::Error::custom("a call's body before its type"));
                    }
                    match (name, &mut *entry) {
                        ("function", ToolCallDelta::Function(call)) => {
                            once(&mut body, "function")?;
                            map.next_value_seed(FunctionSeed(&mut call.function))?;
                        }
                        ("code_interpreter", ToolCallDelta::CodeInterpreter(call)) => {
                            once(&mut body, "code_interpreter")?;
                            map.next_value_seed(CodeSeed(&mut call.code_interpreter))?;
                        }
                        // The other type's body: an unknown field to this one.
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !kind {
            // Untagged fragments are kept raw by the ordinary decoder.
            return Err(A::Error::missing_field("type"));
        }
        match entry {
            ToolCallDelta::Function(call) => {
                call.index = index.unwrap_or(0);
                if !id {
                    call.id = None;
                }
                if !body {
                    call.function = None;
                }
            }
            ToolCallDelta::CodeInterpreter(call) => {
                call.index = index.unwrap_or(0);
                if !id {
                    call.id = None;
                }
                if !body {
                    call.code_interpreter = None;
                }
            }
            _ => return Err(A::Error::custom("not a function or code interpreter call")),
        }
        Ok(())
    }
}

fn take_id(entry: &mut ToolCallDelta) -> Option<String> {
    match entry {
        ToolCallDelta::Function(call) => call.id.take(),
        ToolCallDelta::CodeInterpreter(call) => call.id.take(),
        _ => None,
    }
}

/// A function call's body, written into the one `target` holds; `null` is `None`.
struct FunctionSeed<'p>(&'p mut Option<FunctionCallDelta>);

option_seed! {
    FunctionSeed, "a function call delta or null", deserialize_map, 'de,
    {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let function = self.0.get_or_insert_with(FunctionCallDelta::default);
            let (mut name, mut arguments, mut output) = (false, false, false);
            while let Some(key) = map.next_key::<Str<'de>>()? {
                match &*key.0 {
                    "name" => {
                        once(&mut name, "name")?;
                        map.next_value_seed(StringSeed(&mut function.name))?;
                    }
                    "arguments" => {
                        once(&mut arguments, "arguments")?;
                        map.next_value_seed(StringSeed(&mut function.arguments))?;
                    }
                    "output" => {
                        once(&mut output, "output")?;
                        map.next_value_seed(StringSeed(&mut function.output))?;
                    }
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            if !name {
                function.name = None;
            }
            if !arguments {
                function.arguments = None;
            }
            if !output {
                function.output = None;
            }
            Ok(())
        }
    }
}

/// A code interpreter call's body, written into the one `target` holds;
/// `null` is `None`.
struct CodeSeed<'p>(&'p mut Option<CodeInterpreterCallDelta>);

option_seed! {
    CodeSeed, "a code interpreter call delta or null", deserialize_map, 'de,
    {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let code = self.0.get_or_insert_with(CodeInterpreterCallDelta::default);
            let (mut input, mut outputs) = (false, false);
            while let Some(key) = map.next_key::<Str<'de>>()? {
                match &*key.0 {
                    "input" => {
                        once(&mut input, "input")?;
                        map.next_value_seed(StringSeed(&mut code.input))?;
                    }
                    "outputs" => {
                        once(&mut outputs, "outputs")?;
                        code.outputs = map
                            .next_value::<Option<Vec<CodeInterpreterOutputDelta>>>()?
                            .unwrap_or_default();
                    }
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            if !input {
                code.input = None;
            }
            if !outputs {
                code.outputs.clear();
            }
            Ok(())
        }
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
            // Keys in any order; escapes undone into the entry's buffer.
            r#"{"delta":{"content":[{"text":{"annotations":null,"value":"\u00e9\n\"q\""},"type":"text","index":2,"extra":[1,{"a":null}]}]},"id":"msg_3","object":"x"}"#,
            r#"{"id":"msg_3","delta":{"content":[{"index":0,"type":"text","text":{"value":null}},{"type":"text","index":1,"text":{}}]}}"#,
            r#"{"id":"msg_3","delta":{"content":[{"type":"text"}]}}"#,
        ];
        // A spare the ordinary decoder filled, with a fragment of another kind.
        let mut reused: MessageDeltaEvent = serde_json::from_str(
            r#"{"id":"m","delta":{"content":[{"index":0,"type":"image_file","image_file":{"file_id":"f"}},{"index":1,"type":"refusal","refusal":"no"}]}}"#,
        )
        .unwrap();
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
            // Keys in any order after `type`; escapes; the other type's body ignored.
            r#"{"delta":{"step_details":{"tool_calls":[{"type":"function","function":{"output":"ok\t","arguments":"{\"b\":\"\\u00e9\"}","name":null},"id":null,"index":3,"code_interpreter":7}],"type":"tool_calls"}},"id":"step_3"}"#,
            r#"{"id":"step_3","delta":{"step_details":{"type":"tool_calls","tool_calls":[{"type":"code_interpreter","code_interpreter":{"input":"print(\"\\n\")\n","outputs":null},"function":{"x":1}},{"type":"function","index":1,"function":null}]}}}"#,
            r#"{"id":"step_3","delta":{"step_details":{"type":"tool_calls","tool_calls":[{"type":"function","id":"call_9"},{"type":"code_interpreter","index":4,"code_interpreter":{}}]}}}"#,
            r#"{"id":"step_3","delta":{"step_details":{"type":"tool_calls","tool_calls":[{"id":"call_8","index":0,"type":"code_interpreter"},{"id":"call_7","type":"function"}]}}}"#,
        ];
        // A spare the ordinary decoder filled, with a call of another kind.
        let mut reused: RunStepDeltaEvent = serde_json::from_str(
            r#"{"id":"s","delta":{"step_details":{"type":"tool_calls","tool_calls":[{"index":0,"type":"file_search","file_search":{}},{"index":1,"type":"file_search","file_search":{}}]}}}"#,
        )
        .unwrap();
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
            r#"{"id":"s","delta":{"step_details":{"type":"tool_calls","tool_calls":[{"index":0,"function":{"arguments":"x"},"type":"function"}]}}}"#,
            r#"{"id":"s","delta":{"step_details":{"type":"tool_calls","tool_calls":[{"index":0,"index":1,"type":"function"}]}}}"#,
            r#"{"id":"s","delta":{"step_details":{"type":"tool_calls","tool_calls":[{"index":0,"function":{}}]}}}"#,
            r#"{"id":"s","delta":{"step_details":{"type":"tool_calls","tool_calls":[{"type":"function","function":{"name":1}}]}}}"#,
        ] {
            assert!(
                !run_step_delta(data, &mut RunStepDeltaEvent::default()),
                "{data}"
            );
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        /// A JSON value for a string field: a string with or without
        /// escapes, `null`, or a value of the wrong kind.
        fn string_value() -> impl Strategy<Value = String> {
            prop_oneof![
                4 => "[a-z \u{e9}\u{6570}]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap()),
                4 => "[a-z\n\t\"\\\\\u{1}\u{e9}]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap()),
                1 => Just(r#""\u00e9\ud83d\ude00""#.to_owned()),
                1 => Just("null".to_owned()),
                1 => Just("7".to_owned()),
            ]
        }

        /// An object of some of these entries, in any order.
        fn object(entries: Vec<(&'static str, BoxedStrategy<String>)>) -> BoxedStrategy<String> {
            let entries: Vec<_> = entries
                .into_iter()
                .map(|(key, value)| {
                    proptest::option::weighted(
                        0.7,
                        value.prop_map(move |v| format!("\"{key}\":{v}")),
                    )
                })
                .collect();
            (entries, any::<prop::sample::Index>())
                .prop_map(|(entries, rotate)| {
                    let mut present: Vec<String> = entries.into_iter().flatten().collect();
                    if !present.is_empty() {
                        let by = rotate.index(present.len());
                        present.rotate_left(by);
                    }
                    format!("{{{}}}", present.join(","))
                })
                .boxed()
        }

        fn kind(kinds: &'static [&'static str]) -> BoxedStrategy<String> {
            prop::sample::select(kinds)
                .prop_map(|k| format!("\"{k}\""))
                .boxed()
        }

        fn index() -> BoxedStrategy<String> {
            prop_oneof![8 => (0u64..3).prop_map(|i| i.to_string()), 1 => Just("null".to_owned())]
                .boxed()
        }

        fn text_part() -> BoxedStrategy<String> {
            let text = object(vec![
                ("value", string_value().boxed()),
                ("annotations", Just("[]".to_owned()).boxed()),
            ]);
            object(vec![
                ("index", index()),
                ("type", kind(&["text", "text", "text", "image_file"])),
                (
                    "text",
                    prop_oneof![4 => text, 1 => Just("null".to_owned())].boxed(),
                ),
                ("extra", Just(r#"[1,{"a":"\n"}]"#.to_owned()).boxed()),
            ])
        }

        fn tool_call() -> BoxedStrategy<String> {
            let function = object(vec![
                ("name", string_value().boxed()),
                ("arguments", string_value().boxed()),
                ("output", string_value().boxed()),
            ]);
            let code = object(vec![
                ("input", string_value().boxed()),
                (
                    "outputs",
                    Just(r#"[{"index":0,"type":"logs","logs":"1\n"}]"#.to_owned()).boxed(),
                ),
            ]);
            object(vec![
                ("index", index()),
                ("id", string_value().boxed()),
                (
                    "type",
                    kind(&["function", "code_interpreter", "file_search"]),
                ),
                (
                    "function",
                    prop_oneof![4 => function, 1 => Just("null".to_owned())].boxed(),
                ),
                (
                    "code_interpreter",
                    prop_oneof![4 => code, 1 => Just("null".to_owned())].boxed(),
                ),
            ])
        }

        fn message_delta_data() -> impl Strategy<Value = String> {
            prop::collection::vec(text_part(), 0..3).prop_map(|parts| {
                format!(
                    r#"{{"id":"msg_1","delta":{{"content":[{}]}}}}"#,
                    parts.join(",")
                )
            })
        }

        fn step_delta_data() -> impl Strategy<Value = String> {
            prop::collection::vec(tool_call(), 0..3).prop_map(|calls| {
                format!(
                    r#"{{"id":"step_1","delta":{{"step_details":{{"type":"tool_calls","tool_calls":[{}]}}}}}}"#,
                    calls.join(",")
                )
            })
        }

        proptest! {
            /// Whatever the spare held (even what a declined event left in
            /// it), the in-place decoders give what the ordinary decoder
            /// gives, or decline; they never accept what it rejects.
            #[test]
            fn message_deltas_match(
                datas in prop::collection::vec((message_delta_data(), any::<bool>()), 1..6),
            ) {
                let mut reused = MessageDeltaEvent::default();
                for (data, replace) in &datas {
                    let expected = serde_json::from_str::<MessageDeltaEvent>(data);
                    if message_delta(data, &mut reused) {
                        prop_assert!(expected.is_ok(), "accepted what is rejected: {}", data);
                        prop_assert_eq!(&reused, expected.as_ref().unwrap(), "{}", data);
                    } else if let (Ok(expected), true) = (expected, *replace) {
                        // The ordinary decoder's event, decoded into next.
                        reused = expected;
                    }
                    // Otherwise the spare is left half written, and decoded
                    // into again: as `decode_into` keeps it.
                }
            }

            #[test]
            fn step_deltas_match(
                datas in prop::collection::vec((step_delta_data(), any::<bool>()), 1..6),
            ) {
                let mut reused = RunStepDeltaEvent::default();
                for (data, replace) in &datas {
                    let expected = serde_json::from_str::<RunStepDeltaEvent>(data);
                    if run_step_delta(data, &mut reused) {
                        prop_assert!(expected.is_ok(), "accepted what is rejected: {}", data);
                        prop_assert_eq!(&reused, expected.as_ref().unwrap(), "{}", data);
                    } else if let (Ok(expected), true) = (expected, *replace) {
                        // The ordinary decoder's event, decoded into next.
                        reused = expected;
                    }
                    // Otherwise the spare is left half written, and decoded
                    // into again: as `decode_into` keeps it.
                }
            }
        }
    }
}
