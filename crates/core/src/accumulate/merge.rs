//! Merging one delta into a snapshot, field by field.
//!
//! Rules: text-bearing strings (text, arguments, code, logs, outputs) append;
//! identifiers, `type`, numbers and options overwrite; list entries are placed
//! by `index`. (The official SDKs add numbers such as `start_index`, which
//! corrupts annotations sent in more than one fragment.)

use super::slots::Slots;
use crate::error::Error;
use crate::types::tagged::TaggedVariants;
use crate::types::*;
use serde_json::Value;

pub(crate) fn merge_message_delta(
    message: &mut Message,
    slots: &mut Slots,
    delta: &MessageDelta,
) -> Result<(), Error> {
    if let Some(role) = &delta.role {
        message.role = role.clone();
    }
    for part in &delta.content {
        merge_content(&mut message.content, slots, part)?;
    }
    Ok(())
}

fn merge_content(
    content: &mut Vec<MessageContent>,
    slots: &mut Slots,
    delta: &MessageContentDelta,
) -> Result<(), Error> {
    let Some(index) = delta.index() else {
        return Err(missing_index("message content"));
    };
    let (position, children) = slots.place(content, index, || empty_content(delta))?;
    let entry = &mut content[position];
    if entry.type_name() != delta.type_name() && !matches!(delta, MessageContentDelta::Unknown(_)) {
        *entry = empty_content(delta);
    }
    match (entry, delta) {
        (MessageContent::Text(text), MessageContentDelta::Text(d)) => {
            if let Some(d) = &d.text {
                if let Some(value) = &d.value {
                    text.text.value.push_str(value);
                }
                for annotation in &d.annotations {
                    merge_annotation(&mut text.text.annotations, children, annotation)?;
                }
            }
        }
        (MessageContent::ImageFile(image), MessageContentDelta::ImageFile(d)) => {
            if let Some(d) = &d.image_file {
                overwrite(&mut image.image_file.file_id, &d.file_id);
                overwrite_option(&mut image.image_file.detail, &d.detail);
            }
        }
        (MessageContent::ImageUrl(image), MessageContentDelta::ImageUrl(d)) => {
            if let Some(d) = &d.image_url {
                overwrite(&mut image.image_url.url, &d.url);
                overwrite_option(&mut image.image_url.detail, &d.detail);
            }
        }
        (MessageContent::Refusal(refusal), MessageContentDelta::Refusal(d)) => {
            if let Some(more) = &d.refusal {
                refusal.refusal.push_str(more);
            }
        }
        (entry, MessageContentDelta::Unknown(raw)) => {
            // A fragment without a known `type`: read it as the entry's type if
            // it names none, otherwise keep merging raw JSON.
            if let Some(retyped) = as_entry_type::<MessageContentDelta>(raw, entry.type_name()) {
                return merge_content(content, slots, &retyped);
            }
            merge_unknown(entry, raw, |e| match e {
                MessageContent::Unknown(v) => Some(v),
                _ => None,
            });
        }
        _ => {}
    }
    Ok(())
}

fn empty_content(delta: &MessageContentDelta) -> MessageContent {
    match delta {
        MessageContentDelta::Text(_) => MessageContent::Text(TextContent::default()),
        MessageContentDelta::ImageFile(_) => MessageContent::ImageFile(ImageFileContent::default()),
        MessageContentDelta::ImageUrl(_) => MessageContent::ImageUrl(ImageUrlContent::default()),
        MessageContentDelta::Refusal(_) => MessageContent::Refusal(RefusalContent::default()),
        _ => MessageContent::Unknown(Value::Object(Default::default())),
    }
}

fn merge_annotation(
    annotations: &mut Vec<Annotation>,
    slots: &mut Slots,
    delta: &AnnotationDelta,
) -> Result<(), Error> {
    let Some(index) = delta.index() else {
        return Err(missing_index("annotation"));
    };
    let make = || match delta {
        AnnotationDelta::FileCitation(_) => {
            Annotation::FileCitation(FileCitationAnnotation::default())
        }
        AnnotationDelta::FilePath(_) => Annotation::FilePath(FilePathAnnotation::default()),
        _ => Annotation::Unknown(Value::Object(Default::default())),
    };
    let (position, _) = slots.place(annotations, index, make)?;
    let entry = &mut annotations[position];
    if entry.type_name() != delta.type_name() {
        *entry = make();
    }
    match (entry, delta) {
        (Annotation::FileCitation(a), AnnotationDelta::FileCitation(d)) => {
            append(&mut a.text, &d.text);
            if let Some(citation) = &d.file_citation {
                overwrite(&mut a.file_citation.file_id, &citation.file_id);
                // Servers send `"quote": ""` in deltas and leave it out of the final object.
                if let Some(quote) = citation.quote.as_deref().filter(|q| !q.is_empty()) {
                    a.file_citation
                        .quote
                        .get_or_insert_with(String::new)
                        .push_str(quote);
                }
            }
            overwrite(&mut a.start_index, &d.start_index);
            overwrite(&mut a.end_index, &d.end_index);
        }
        (Annotation::FilePath(a), AnnotationDelta::FilePath(d)) => {
            append(&mut a.text, &d.text);
            if let Some(path) = &d.file_path {
                overwrite(&mut a.file_path.file_id, &path.file_id);
            }
            overwrite(&mut a.start_index, &d.start_index);
            overwrite(&mut a.end_index, &d.end_index);
        }
        (entry, AnnotationDelta::Unknown(raw)) => merge_unknown(entry, raw, |e| match e {
            Annotation::Unknown(v) => Some(v),
            _ => None,
        }),
        _ => {}
    }
    Ok(())
}

pub(crate) fn merge_step_delta(
    step: &mut RunStep,
    slots: &mut Slots,
    delta: &RunStepDelta,
) -> Result<(), Error> {
    let Some(details) = &delta.step_details else {
        return Ok(());
    };
    match details {
        StepDetailsDelta::MessageCreation(d) => {
            if !matches!(step.step_details, StepDetails::MessageCreation(_)) {
                step.step_details = StepDetails::MessageCreation(MessageCreationDetails::default());
                step.kind = RunStepType::MessageCreation;
            }
            if let (StepDetails::MessageCreation(details), Some(d)) =
                (&mut step.step_details, &d.message_creation)
            {
                overwrite(&mut details.message_creation.message_id, &d.message_id);
            }
        }
        StepDetailsDelta::ToolCalls(d) => {
            if !matches!(step.step_details, StepDetails::ToolCalls(_)) {
                step.step_details = StepDetails::ToolCalls(ToolCallsDetails::default());
                step.kind = RunStepType::ToolCalls;
                *slots = Slots::default();
            }
            if let StepDetails::ToolCalls(details) = &mut step.step_details {
                for call in &d.tool_calls {
                    merge_tool_call(&mut details.tool_calls, slots, call)?;
                }
            }
        }
        StepDetailsDelta::Unknown(raw) => {
            if let StepDetails::Unknown(value) = &mut step.step_details {
                merge_json(value, raw);
            }
        }
    }
    Ok(())
}

pub(crate) fn merge_tool_call(
    calls: &mut Vec<ToolCall>,
    slots: &mut Slots,
    delta: &ToolCallDelta,
) -> Result<(), Error> {
    let Some(index) = delta.index() else {
        return Err(missing_index("tool call"));
    };
    let make = || match delta {
        ToolCallDelta::CodeInterpreter(_) => {
            ToolCall::CodeInterpreter(CodeInterpreterToolCall::default())
        }
        ToolCallDelta::FileSearch(_) => ToolCall::FileSearch(FileSearchToolCall::default()),
        ToolCallDelta::Function(_) => ToolCall::Function(FunctionToolCall::default()),
        _ => ToolCall::Unknown(Value::Object(Default::default())),
    };
    let (position, children) = slots.place(calls, index, make)?;
    let entry = &mut calls[position];
    if entry.type_name() != delta.type_name() && !matches!(delta, ToolCallDelta::Unknown(_)) {
        *entry = make();
        *children = Slots::default();
    }
    match (entry, delta) {
        (ToolCall::CodeInterpreter(call), ToolCallDelta::CodeInterpreter(d)) => {
            overwrite(&mut call.id, &d.id);
            if let Some(d) = &d.code_interpreter {
                append(&mut call.code_interpreter.input, &d.input);
                for output in &d.outputs {
                    merge_output(&mut call.code_interpreter.outputs, children, output)?;
                }
            }
        }
        (ToolCall::FileSearch(call), ToolCallDelta::FileSearch(d)) => {
            overwrite(&mut call.id, &d.id);
            if let Some(d) = &d.file_search {
                if d.ranking_options.is_some() {
                    call.file_search.ranking_options = d.ranking_options.clone();
                }
                call.file_search.results.extend(d.results.iter().cloned());
            }
        }
        (ToolCall::Function(call), ToolCallDelta::Function(d)) => {
            overwrite(&mut call.id, &d.id);
            if let Some(d) = &d.function {
                append(&mut call.function.name, &d.name);
                append(&mut call.function.arguments, &d.arguments);
                if let Some(output) = &d.output {
                    call.function
                        .output
                        .get_or_insert_with(String::new)
                        .push_str(output);
                }
            }
        }
        (entry, ToolCallDelta::Unknown(raw)) => {
            if let Some(retyped) = as_entry_type::<ToolCallDelta>(raw, entry.type_name()) {
                return merge_tool_call(calls, slots, &retyped);
            }
            merge_unknown(entry, raw, |e| match e {
                ToolCall::Unknown(v) => Some(v),
                _ => None,
            });
        }
        _ => {}
    }
    Ok(())
}

fn merge_output(
    outputs: &mut Vec<CodeInterpreterOutput>,
    slots: &mut Slots,
    delta: &CodeInterpreterOutputDelta,
) -> Result<(), Error> {
    let index = match delta {
        CodeInterpreterOutputDelta::Logs(d) => d.index,
        CodeInterpreterOutputDelta::Image(d) => d.index,
        CodeInterpreterOutputDelta::Unknown(raw) => {
            match raw.get("index").and_then(Value::as_u64) {
                Some(index) => index,
                None => return Err(missing_index("code interpreter output")),
            }
        }
    };
    let make = || match delta {
        CodeInterpreterOutputDelta::Logs(_) => {
            CodeInterpreterOutput::Logs(CodeInterpreterLogs::default())
        }
        CodeInterpreterOutputDelta::Image(_) => {
            CodeInterpreterOutput::Image(CodeInterpreterImage::default())
        }
        _ => CodeInterpreterOutput::Unknown(Value::Object(Default::default())),
    };
    let (position, _) = slots.place(outputs, index, make)?;
    let entry = &mut outputs[position];
    if entry.type_name() != delta.type_name() {
        *entry = make();
    }
    match (entry, delta) {
        (CodeInterpreterOutput::Logs(out), CodeInterpreterOutputDelta::Logs(d)) => {
            append(&mut out.logs, &d.logs)
        }
        (CodeInterpreterOutput::Image(out), CodeInterpreterOutputDelta::Image(d)) => {
            if let Some(image) = &d.image {
                overwrite(&mut out.image.file_id, &image.file_id);
            }
        }
        (entry, CodeInterpreterOutputDelta::Unknown(raw)) => {
            merge_unknown(entry, raw, |e| match e {
                CodeInterpreterOutput::Unknown(v) => Some(v),
                _ => None,
            })
        }
        _ => {}
    }
    Ok(())
}

/// A fragment that names no `type`, read as the known type of the entry it continues.
fn as_entry_type<D>(raw: &Value, entry_type: &str) -> Option<D>
where
    D: TaggedVariants + serde::de::DeserializeOwned,
{
    if raw.get("type").is_some() || !D::is_known(entry_type) {
        return None;
    }
    let mut typed = raw.clone();
    typed["type"] = Value::String(entry_type.to_owned());
    D::deserialize(typed).ok()
}

fn append(target: &mut String, more: &Option<String>) {
    if let Some(more) = more {
        target.push_str(more);
    }
}

fn overwrite<T: Clone>(target: &mut T, value: &Option<T>) {
    if let Some(value) = value {
        target.clone_from(value);
    }
}

fn overwrite_option<T: Clone>(target: &mut Option<T>, value: &Option<T>) {
    if value.is_some() {
        target.clone_from(value);
    }
}

fn missing_index(what: &str) -> Error {
    Error::new(
        crate::error::Kind::Decode,
        format!("a {what} fragment has no `index`, so it cannot be placed"),
    )
}

fn merge_unknown<T>(entry: &mut T, raw: &Value, as_raw: impl FnOnce(&mut T) -> Option<&mut Value>) {
    if let Some(value) = as_raw(entry) {
        merge_json(value, raw);
        // `index` places the fragment; the server's final objects do not carry it.
        if let Value::Object(map) = value {
            map.remove("index");
        }
    }
}

/// The generic rule set on raw JSON, for content types this crate does not know.
pub(crate) fn merge_json(acc: &mut Value, delta: &Value) {
    match (acc, delta) {
        (Value::Object(acc), Value::Object(delta)) => {
            for (key, value) in delta {
                match acc.get_mut(key) {
                    Some(existing) if key != "index" && key != "type" => {
                        merge_json(existing, value)
                    }
                    _ => {
                        acc.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (Value::String(acc), Value::String(more)) => acc.push_str(more),
        (Value::Array(acc), Value::Array(more)) => {
            for item in more {
                let index = item.get("index").and_then(Value::as_u64);
                let existing = index.and_then(|i| {
                    acc.iter_mut()
                        .find(|entry| entry.get("index").and_then(Value::as_u64) == Some(i))
                });
                match existing {
                    Some(existing) if index.is_some_and(|i| i <= super::slots::MAX_INDEX) => {
                        merge_json(existing, item)
                    }
                    _ => acc.push(item.clone()),
                }
            }
        }
        (acc, delta) => {
            if !delta.is_null() {
                *acc = delta.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(json: &str) -> MessageDelta {
        serde_json::from_str(json).unwrap()
    }

    fn message() -> Message {
        serde_json::from_str(r#"{"id":"msg_1","role":"assistant","content":[]}"#).unwrap()
    }

    #[test]
    fn fragments_of_one_index_in_one_delta_append_in_order() {
        let mut m = message();
        let mut slots = Slots::default();
        let d = delta(
            r#"{"content":[{"index":0,"type":"text","text":{"value":"Hel"}},{"index":0,"type":"text","text":{"value":"lo"}}]}"#,
        );
        merge_message_delta(&mut m, &mut slots, &d).unwrap();
        assert_eq!(m.text(), "Hello");
        assert_eq!(m.content.len(), 1);
    }

    #[test]
    fn numbers_overwrite_rather_than_add() {
        let mut m = message();
        let mut slots = Slots::default();
        let first = delta(
            r#"{"content":[{"index":0,"type":"text","text":{"value":"x【1】","annotations":[{"index":0,"type":"file_citation","text":"【1","start_index":1,"end_index":3,"file_citation":{"file_id":"file-1"}}]}}]}"#,
        );
        let second = delta(
            r#"{"content":[{"index":0,"type":"text","text":{"annotations":[{"index":0,"type":"file_citation","text":"】","start_index":1,"end_index":4}]}}]}"#,
        );
        merge_message_delta(&mut m, &mut slots, &first).unwrap();
        merge_message_delta(&mut m, &mut slots, &second).unwrap();
        let MessageContent::Text(text) = &m.content[0] else {
            panic!()
        };
        let Annotation::FileCitation(a) = &text.text.annotations[0] else {
            panic!()
        };
        assert_eq!((a.start_index, a.end_index), (1, 4));
        assert_eq!(a.text, "【1】");
        assert_eq!(a.file_citation.file_id, "file-1");
    }

    #[test]
    fn fragment_without_type_takes_the_entry_type() {
        let mut m = message();
        let mut slots = Slots::default();
        merge_message_delta(
            &mut m,
            &mut slots,
            &delta(r#"{"content":[{"index":0,"type":"text","text":{"value":"a"}}]}"#),
        )
        .unwrap();
        merge_message_delta(
            &mut m,
            &mut slots,
            &delta(r#"{"content":[{"index":0,"text":{"value":"b"}}]}"#),
        )
        .unwrap();
        assert_eq!(m.text(), "ab");
    }

    #[test]
    fn unknown_content_merges_as_json() {
        let mut m = message();
        let mut slots = Slots::default();
        merge_message_delta(
            &mut m,
            &mut slots,
            &delta(r#"{"content":[{"index":0,"type":"audio","audio":{"transcript":"he","n":1}}]}"#),
        )
        .unwrap();
        merge_message_delta(
            &mut m,
            &mut slots,
            &delta(r#"{"content":[{"index":0,"type":"audio","audio":{"transcript":"y","n":2}}]}"#),
        )
        .unwrap();
        let MessageContent::Unknown(raw) = &m.content[0] else {
            panic!()
        };
        assert_eq!(raw["audio"]["transcript"], "hey");
        assert_eq!(raw["audio"]["n"], 2);
    }

    #[test]
    fn tool_call_ids_overwrite_and_arguments_append() {
        let mut calls = Vec::new();
        let mut slots = Slots::default();
        for json in [
            r#"{"index":0,"id":"call_1","type":"function","function":{"name":"get","arguments":""}}"#,
            r#"{"index":0,"id":"call_1","type":"function","function":{"arguments":"{\"a\":"}}"#,
            r#"{"index":0,"type":"function","function":{"arguments":"1}"}}"#,
        ] {
            let d: ToolCallDelta = serde_json::from_str(json).unwrap();
            merge_tool_call(&mut calls, &mut slots, &d).unwrap();
        }
        let ToolCall::Function(call) = &calls[0] else {
            panic!()
        };
        assert_eq!(call.id, "call_1");
        assert_eq!(call.function.name, "get");
        assert_eq!(call.function.arguments, "{\"a\":1}");
    }

    #[test]
    fn absurd_index_is_an_error() {
        let mut m = message();
        let mut slots = Slots::default();
        let err = merge_message_delta(
            &mut m,
            &mut slots,
            &delta(r#"{"content":[{"index":4000000000,"type":"text","text":{"value":"x"}}]}"#),
        )
        .unwrap_err();
        assert!(err.is_absurd_index());
        assert!(m.content.is_empty());
    }
}
