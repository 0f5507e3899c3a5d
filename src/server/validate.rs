//! Checks of request fields, answered with 400s worded as the API words them.

use super::error::{ApiError, ApiResult};
use super::ids::{new_id, now};
use crate::types::{
    CreateMessageRequest, ImageFileContent, ImageUrlContent, Message, MessageContent, MessageInput,
    MessageInputPart, MessageStatus, Metadata, Role, Tool,
};

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

/// Function tools need a name of letters, digits, `_` and `-`, at most 64 long.
pub(crate) fn tools(tools: &[Tool]) -> ApiResult<()> {
    if tools.len() > 128 {
        return Err(ApiError::invalid_param(
            "tools",
            "Invalid 'tools': at most 128 tools.",
        ));
    }
    for (i, tool) in tools.iter().enumerate() {
        if let Some(function) = tool.as_function() {
            let name = &function.name;
            let valid = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !valid {
                return Err(ApiError::invalid_param(
                    &format!("tools[{i}].function.name"),
                    format!(
                        "Invalid 'tools[{i}].function.name': '{name}' does not match '^[a-zA-Z0-9_-]{{1,64}}$'."
                    ),
                ));
            }
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
                    MessageInputPart::Text { text } => MessageContent::text(text),
                    MessageInputPart::ImageFile { image_file } => {
                        MessageContent::ImageFile(ImageFileContent { image_file })
                    }
                    MessageInputPart::ImageUrl { image_url } => {
                        MessageContent::ImageUrl(ImageUrlContent { image_url })
                    }
                })
                .collect()
        }
    };
    Ok(Message {
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
    })
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
}
