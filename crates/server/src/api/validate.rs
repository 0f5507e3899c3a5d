//! Checks of request fields, answered with 400s worded as the API words them.
//!
//! The shape of a body (types, required fields) is checked as it is read
//! (`extract::JsonBody`); this module checks values: ranges, lengths, and
//! the tool types the API knows.

use super::error::{ApiError, ApiResult};
use crate::ids::{new_id, now};
use crate::types::tagged::TaggedVariants;
use crate::types::{
    CreateMessageRequest, ImageFileContent, ImageUrlContent, Message, MessageContent, MessageInput,
    MessageInputPart, MessageStatus, Metadata, Role, Tool,
};

/// The least `max_prompt_tokens` and `max_completion_tokens` a run takes
/// (`minimum` in the OpenAPI document).
pub(crate) const MIN_RUN_TOKENS: u64 = 256;

/// At most 16 pairs, keys of at most 64 characters, values of at most 512.
pub(crate) fn metadata(metadata: Option<&Metadata>) -> ApiResult<()> {
    let Some(metadata) = metadata else {
        return Ok(());
    };
    if metadata.len() > 16 {
        return Err(ApiError::invalid_param(
            "metadata",
            format!(
                "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but got an object with {} properties instead.",
                metadata.len()
            ),
        ));
    }
    for (key, value) in metadata {
        if key.chars().count() > 64 {
            return Err(ApiError::invalid_param(
                "metadata",
                format!("Invalid 'metadata': key '{key}' is longer than 64 characters."),
            ));
        }
        if value.chars().count() > 512 {
            return Err(ApiError::invalid_param(
                "metadata",
                format!(
                    "Invalid 'metadata.{key}': string too long. Expected a string with maximum length 512."
                ),
            ));
        }
    }
    Ok(())
}

/// At most this many tools on an assistant.
pub(crate) const MAX_ASSISTANT_TOOLS: usize = 128;

/// At most this many tools on a run (its override of the assistant's).
pub(crate) const MAX_RUN_TOOLS: usize = 20;

/// At most `max` tools, of the types the API knows (the client keeps unknown
/// types, to decode newer answers; the server refuses them, as the API
/// does). Function tools need a name of letters, digits, `_` and `-`, at
/// most 64 long.
pub(crate) fn tools(tools: &[Tool], max: usize) -> ApiResult<()> {
    if tools.len() > max {
        return Err(ApiError::invalid_param(
            "tools",
            format!(
                "Invalid 'tools': array too long. Expected an array with maximum length {max}, but got an array with length {} instead.",
                tools.len()
            ),
        ));
    }
    for (i, tool) in tools.iter().enumerate() {
        known_tool_type(&format!("tools[{i}]"), tool, Tool::TAGS)?;
        if let Some(function) = tool.as_function() {
            function_name(&format!("tools[{i}].function.name"), &function.name)?;
        }
    }
    Ok(())
}

/// A function's name: letters, digits, `_` and `-`, at most 64.
pub(crate) fn function_name(param: &str, name: &str) -> ApiResult<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        return Err(ApiError::invalid_param(
            param,
            format!("Invalid '{param}': '{name}' does not match '^[a-zA-Z0-9_-]{{1,64}}$'."),
        ));
    }
    Ok(())
}

/// A tool whose `type` is one of `supported`.
fn known_tool_type(param: &str, tool: &Tool, supported: &[&str]) -> ApiResult<()> {
    let param = format!("{param}.type");
    match tool {
        Tool::Unknown(raw) => match raw.get("type").and_then(|kind| kind.as_str()) {
            None => Err(ApiError::invalid_param(
                &param,
                format!("Missing required parameter: '{param}'."),
            )),
            Some(kind) => Err(unsupported_value(&param, kind, supported)),
        },
        known if !supported.contains(&known.type_name()) => {
            Err(unsupported_value(&param, known.type_name(), supported))
        }
        _ => Ok(()),
    }
}

/// `Invalid value: 'x'. Supported values are: 'a', 'b', and 'c'.`
pub(crate) fn unsupported_value(param: &str, value: &str, supported: &[&str]) -> ApiError {
    let quoted: Vec<String> = supported.iter().map(|s| format!("'{s}'")).collect();
    let list = match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [init @ .., last] => format!("{}, and {last}", init.join(", ")),
    };
    ApiError::invalid_param(
        param,
        format!("Invalid value: '{value}'. Supported values are: {list}."),
    )
}

/// `temperature` 0 to 2 and `top_p` 0 to 1, as the API bounds them.
pub(crate) fn sampling(temperature: Option<f64>, top_p: Option<f64>) -> ApiResult<()> {
    within("temperature", temperature, 0.0, 2.0)?;
    within("top_p", top_p, 0.0, 1.0)
}

fn within(param: &str, value: Option<f64>, min: f64, max: f64) -> ApiResult<()> {
    match value {
        Some(value) if value < min => Err(ApiError::invalid_param(
            param,
            format!(
                "Invalid '{param}': decimal below minimum value. Expected a value >= {min}, but got {value} instead."
            ),
        )),
        Some(value) if value > max => Err(ApiError::invalid_param(
            param,
            format!(
                "Invalid '{param}': decimal above maximum value. Expected a value <= {max}, but got {value} instead."
            ),
        )),
        _ => Ok(()),
    }
}

/// `max_prompt_tokens` and `max_completion_tokens` of a run: at least
/// [`MIN_RUN_TOKENS`].
pub(crate) fn token_limits(
    max_prompt_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
) -> ApiResult<()> {
    for (param, value) in [
        ("max_prompt_tokens", max_prompt_tokens),
        ("max_completion_tokens", max_completion_tokens),
    ] {
        if let Some(value) = value.filter(|&value| value < MIN_RUN_TOKENS) {
            return Err(ApiError::invalid_param(
                param,
                format!(
                    "Invalid '{param}': integer below minimum value. Expected a value >= {MIN_RUN_TOKENS}, but got {value} instead."
                ),
            ));
        }
    }
    Ok(())
}

/// A string field of at most `max` characters.
pub(crate) fn max_len(param: &str, value: Option<&str>, max: usize) -> ApiResult<()> {
    match value {
        Some(value) if value.chars().count() > max => Err(ApiError::invalid_param(
            param,
            format!(
                "Invalid '{param}': string too long. Expected a string with maximum length {max}."
            ),
        )),
        _ => Ok(()),
    }
}

/// A new message of a thread, checked.
pub(crate) fn message(thread_id: &str, request: CreateMessageRequest) -> ApiResult<Message> {
    if !matches!(request.role, Role::User | Role::Assistant) {
        return Err(ApiError::invalid_param(
            "role",
            format!(
                "Invalid value: '{}'. Supported values are: 'user' and 'assistant'.",
                request.role
            ),
        ));
    }
    metadata(request.metadata.as_ref())?;
    for (i, attachment) in request.attachments.iter().flatten().enumerate() {
        for (j, tool) in attachment.tools.iter().enumerate() {
            // A file goes to a tool that reads files, not to a function.
            known_tool_type(
                &format!("attachments[{i}].tools[{j}]"),
                tool,
                &["code_interpreter", "file_search"],
            )?;
        }
    }
    let content = match request.content {
        MessageInput::Text(text) => {
            if text.is_empty() {
                return Err(ApiError::invalid_param(
                    "content",
                    "Invalid 'content': string too short. Expected a string with minimum length 1.",
                ));
            }
            vec![MessageContent::text(text)]
        }
        MessageInput::Parts(parts) => {
            if parts.is_empty() {
                return Err(ApiError::invalid_param(
                    "content",
                    "Invalid 'content': array too short. Expected an array with minimum length 1.",
                ));
            }
            parts
                .into_iter()
                .map(|part| match part {
                    MessageInputPart::Text { text } => Ok(MessageContent::text(text)),
                    MessageInputPart::ImageFile { image_file } => {
                        Ok(MessageContent::ImageFile(make!(ImageFileContent {
                            image_file
                        })))
                    }
                    MessageInputPart::ImageUrl { image_url } => {
                        Ok(MessageContent::ImageUrl(make!(ImageUrlContent {
                            image_url
                        })))
                    }
                    _ => Err(unknown_content()),
                })
                .collect::<ApiResult<Vec<_>>>()?
        }
        _ => return Err(unknown_content()),
    };
    Ok(make!(Message {
        id: new_id("msg"),
        object: "thread.message".to_owned(),
        created_at: now(),
        thread_id: thread_id.to_owned(),
        status: Some(MessageStatus::Completed),
        incomplete_details: None,
        completed_at: None,
        incomplete_at: None,
        role: request.role,
        content,
        assistant_id: None,
        run_id: None,
        attachments: request.attachments.unwrap_or_default(),
        metadata: request.metadata.unwrap_or_default(),
    }))
}

/// A kind of message content newer than this server.
fn unknown_content() -> ApiError {
    ApiError::invalid_param(
        "content",
        "Invalid 'content': a kind of content this server does not know.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_limits() {
        let ok: Metadata = (0..16).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(metadata(Some(&ok)).is_ok());
        let too_many: Metadata = (0..17).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(metadata(Some(&too_many)).is_err());
        let long_key: Metadata = [("k".repeat(65), "v".to_owned())].into();
        assert!(metadata(Some(&long_key)).is_err());
        let long_value: Metadata = [("k".to_owned(), "v".repeat(513))].into();
        assert!(metadata(Some(&long_value)).is_err());
        let edge: Metadata = [("k".repeat(64), "v".repeat(512))].into();
        assert!(metadata(Some(&edge)).is_ok());
    }

    #[test]
    fn ranges_are_inclusive() {
        assert!(sampling(Some(0.0), Some(0.0)).is_ok());
        assert!(sampling(Some(2.0), Some(1.0)).is_ok());
        assert!(sampling(None, None).is_ok());
        assert!(sampling(Some(2.01), None).is_err());
        assert!(sampling(None, Some(-0.1)).is_err());
        assert!(token_limits(Some(MIN_RUN_TOKENS), Some(MIN_RUN_TOKENS)).is_ok());
        assert!(token_limits(None, Some(MIN_RUN_TOKENS - 1)).is_err());
    }

    #[test]
    fn lists_supported_values() {
        let error = unsupported_value("tools[0].type", "teleport", Tool::TAGS);
        assert_eq!(
            error.object().message,
            "Invalid value: 'teleport'. Supported values are: 'code_interpreter', 'file_search', and 'function'."
        );
    }
}
