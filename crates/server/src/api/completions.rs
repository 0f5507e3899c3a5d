//! `POST /chat/completions` and `POST /embeddings`: checked as the API
//! checks them, answered by the model and the embeddings backend
//! (`services::completions`).
//!
//! A streamed completion is `text/event-stream`: one `data: {chunk}` frame
//! per chunk, then `data: [DONE]`. A failure before the first chunk is an
//! error status, as for a completion not streamed; after it, it ends the
//! stream with a `data: {"error": …}` frame instead, which openai-python
//! and openai-node raise as an `APIError`.

use super::error::{ApiError, ApiResult};
use super::extract::JsonWithBody;
use super::validate;
use crate::model::completions::{ChatMessage, ChatRole};
use crate::model::{ChatAnswer, ChatRequest};
use crate::services::{Services, completions};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use std::convert::Infallible;
use std::sync::Arc;

/// At most this many choices (`n`), as the API bounds them.
const MAX_CHOICES: u32 = 128;

/// At most this many tools on a completion.
const MAX_CHAT_TOOLS: usize = 128;

/// At most this many inputs in one embeddings request.
const MAX_INPUTS: usize = 2048;

pub(crate) async fn chat(
    State(app): State<Arc<Services>>,
    JsonWithBody(mut request, body): JsonWithBody<ChatRequest>,
) -> ApiResult<Response> {
    check_chat(&request)?;
    request.set_body(body);
    let streams = request.streams();
    match completions::complete(&app, request).await? {
        ChatAnswer::Whole(whole) => Ok(Json(whole).into_response()),
        ChatAnswer::Stream(mut chunks) if streams => {
            // A failure before the first chunk is an error status, as for
            // a request not streamed; after it, the stream's last chunk.
            let first = match chunks.next().await {
                Some(Err(error)) => return Err(error.into()),
                first => first,
            };
            Ok(event_stream(
                futures_util::stream::iter(first).chain(chunks).boxed(),
            ))
        }
        // A model that streamed a whole answer: its chunks are not what
        // the client asked for.
        ChatAnswer::Stream(_) => Err(ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "The model streamed an answer to a request for a whole completion.",
        )),
    }
}

/// The chunks as SSE frames, then `[DONE]`; an error is the last frame.
fn event_stream(chunks: crate::model::ChunkStream) -> Response {
    let frames = futures_util::stream::unfold((chunks, false), |(mut chunks, ended)| async move {
        if ended {
            return None;
        }
        match chunks.next().await {
            Some(Ok(text)) => Some((frame(&text), (chunks, false))),
            Some(Err(error)) => {
                tracing::warn!(error = %error, "a streamed completion failed");
                Some((frame(&error.to_json().to_string()), (chunks, true)))
            }
            None => Some((Bytes::from_static(b"data: [DONE]\n\n"), (chunks, true))),
        }
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(frames.map(Ok::<_, Infallible>)),
    )
        .into_response()
}

fn frame(data: &str) -> Bytes {
    let mut frame = Vec::with_capacity(data.len() + 8);
    frame.extend_from_slice(b"data: ");
    frame.extend_from_slice(data.as_bytes());
    frame.extend_from_slice(b"\n\n");
    Bytes::from(frame)
}

pub(crate) async fn embeddings(
    State(app): State<Arc<Services>>,
    JsonWithBody(request, body): JsonWithBody<EmbeddingsRequest>,
) -> ApiResult<Json<Value>> {
    check_embeddings(&request)?;
    Ok(Json(completions::embed(&app, body).await?))
}

/// What the server checks of an embeddings request (the backend gets it
/// whole).
#[derive(Debug, Deserialize)]
pub(crate) struct EmbeddingsRequest {
    model: String,
    input: Value,
    #[serde(default)]
    encoding_format: Option<String>,
    #[serde(default)]
    dimensions: Option<u64>,
}

fn check_embeddings(request: &EmbeddingsRequest) -> ApiResult<()> {
    if request.model.trim().is_empty() {
        return Err(ApiError::invalid_param(
            "model",
            "Missing required parameter: 'model'.",
        ));
    }
    let invalid_input = || {
        ApiError::invalid_param(
            "input",
            "Invalid 'input': expected a non-empty string, an array of non-empty strings, an array of integers (tokens) or an array of arrays of integers.",
        )
    };
    match &request.input {
        Value::String(text) if !text.is_empty() => {}
        Value::Array(items) if items.is_empty() => {
            return Err(ApiError::invalid_param(
                "input",
                "Invalid 'input': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            ));
        }
        Value::Array(items) if items.len() > MAX_INPUTS => {
            return Err(ApiError::invalid_param(
                "input",
                format!(
                    "Invalid 'input': array too long. Expected an array with maximum length {MAX_INPUTS}, but got an array with length {} instead.",
                    items.len()
                ),
            ));
        }
        Value::Array(items) => {
            let tokens = |item: &Value| item.as_u64().is_some();
            let valid = items.iter().all(tokens)
                || items.iter().all(|item| match item {
                    Value::String(text) => !text.is_empty(),
                    Value::Array(ids) => !ids.is_empty() && ids.iter().all(tokens),
                    _ => false,
                });
            if !valid {
                return Err(invalid_input());
            }
        }
        _ => return Err(invalid_input()),
    }
    if let Some(format) = &request.encoding_format
        && format != "float"
        && format != "base64"
    {
        return Err(ApiError::invalid_param(
            "encoding_format",
            format!("Invalid value: '{format}'. Supported values are: 'float' and 'base64'."),
        ));
    }
    if request.dimensions == Some(0) {
        return Err(ApiError::invalid_param(
            "dimensions",
            "Invalid 'dimensions': integer below minimum value. Expected a value >= 1, but got 0 instead.",
        ));
    }
    Ok(())
}

/// The checks the API makes of a completion request beyond its shape.
fn check_chat(request: &ChatRequest) -> ApiResult<()> {
    if request.model.trim().is_empty() {
        return Err(ApiError::invalid_param(
            "model",
            "Missing required parameter: 'model'.",
        ));
    }
    if request.messages.is_empty() {
        return Err(ApiError::invalid_param(
            "messages",
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
        ));
    }
    for (i, message) in request.messages.iter().enumerate() {
        check_message(i, message)?;
    }
    if let Some(n) = request.n
        && !(1..=MAX_CHOICES).contains(&n)
    {
        return Err(ApiError::invalid_param(
            "n",
            format!(
                "Invalid 'n': integer out of range. Expected a value between 1 and {MAX_CHOICES}, but got {n} instead."
            ),
        ));
    }
    validate::sampling(request.temperature, request.top_p)?;
    for (param, limit) in [
        ("max_tokens", request.max_tokens),
        ("max_completion_tokens", request.max_completion_tokens),
    ] {
        if limit == Some(0) {
            return Err(ApiError::invalid_param(
                param,
                format!(
                    "Invalid '{param}': integer below minimum value. Expected a value >= 1, but got 0 instead."
                ),
            ));
        }
    }
    if request.stream_options.is_some() && !request.streams() {
        return Err(ApiError::invalid_param(
            "stream_options",
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        ));
    }
    let tools = request.tools.as_deref().unwrap_or_default();
    if tools.len() > MAX_CHAT_TOOLS {
        return Err(ApiError::invalid_param(
            "tools",
            format!(
                "Invalid 'tools': array too long. Expected an array with maximum length {MAX_CHAT_TOOLS}, but got an array with length {} instead.",
                tools.len()
            ),
        ));
    }
    for (i, tool) in tools.iter().enumerate() {
        match (tool.kind.as_str(), &tool.function) {
            ("function", Some(function)) => {
                validate::function_name(&format!("tools[{i}].function.name"), &function.name)?
            }
            ("function", None) => {
                let param = format!("tools[{i}].function");
                return Err(ApiError::invalid_param(
                    &param,
                    format!("Missing required parameter: '{param}'."),
                ));
            }
            ("custom", _) => {}
            (other, _) => {
                return Err(validate::unsupported_value(
                    &format!("tools[{i}].type"),
                    other,
                    &["function", "custom"],
                ));
            }
        }
    }
    for (i, function) in request.functions.iter().flatten().enumerate() {
        validate::function_name(&format!("functions[{i}].name"), &function.name)?;
    }
    if request.function_call.is_some() && request.functions.is_none() {
        return Err(ApiError::invalid_param(
            "function_call",
            "Invalid value for 'function_call': 'function_call' is only allowed when 'functions' are specified.",
        ));
    }
    if tools.is_empty() {
        if request.tool_choice.is_some() {
            return Err(ApiError::invalid_param(
                "tool_choice",
                "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
            ));
        }
        if request.parallel_tool_calls.is_some() {
            return Err(ApiError::invalid_param(
                "parallel_tool_calls",
                "Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when 'tools' are specified.",
            ));
        }
    }
    if let Some(crate::types::ResponseFormat::JsonObject) = request.response_format {
        let mentions_json = request
            .messages
            .iter()
            .any(|message| message.text().to_lowercase().contains("json"));
        if !mentions_json {
            return Err(ApiError::invalid_param(
                "messages",
                "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
            ));
        }
    }
    Ok(())
}

/// A message's content as its role takes it.
fn check_message(i: usize, message: &ChatMessage) -> ApiResult<()> {
    let param = format!("messages[{i}].content");
    match (&message.content, message.role) {
        (Some(Value::String(_)), _) => {}
        (Some(Value::Array(parts)), _) => {
            for (j, part) in parts.iter().enumerate() {
                let part_param = format!("{param}[{j}].type");
                match part.get("type").and_then(Value::as_str) {
                    None => {
                        return Err(ApiError::invalid_param(
                            &part_param,
                            format!("Missing required parameter: '{part_param}'."),
                        ));
                    }
                    Some("text") if part.get("text").is_some_and(Value::is_string) => {}
                    Some("text") => {
                        let text_param = format!("{param}[{j}].text");
                        return Err(ApiError::invalid_param(
                            &text_param,
                            format!("Missing required parameter: '{text_param}'."),
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        (None | Some(Value::Null), ChatRole::Assistant)
            if message
                .tool_calls
                .as_ref()
                .is_some_and(|calls| !calls.is_empty())
                || message.function_call.is_some() => {}
        (None | Some(Value::Null), ChatRole::Assistant) => {
            return Err(ApiError::invalid_param(
                &param,
                format!(
                    "Invalid value for '{param}': expected a string, got null. An assistant message needs 'content' or 'tool_calls'."
                ),
            ));
        }
        // A function message's content is required, and may be `null`.
        (Some(Value::Null), ChatRole::Function) => {}
        (None, _) => {
            return Err(ApiError::invalid_param(
                &param,
                format!("Missing required parameter: '{param}'."),
            ));
        }
        (Some(other), _) => {
            return Err(ApiError::invalid_param(
                &param,
                format!(
                    "Invalid type for '{param}': expected one of a string or array of objects, but got {} instead.",
                    super::extract::json_kind(other)
                ),
            ));
        }
    }
    for (j, call) in message.tool_calls.iter().flatten().enumerate() {
        let missing = match call.kind.as_deref() {
            Some("custom") => call.custom.is_none().then_some("custom"),
            _ => call.function.is_none().then_some("function"),
        };
        if let Some(field) = missing {
            let param = format!("messages[{i}].tool_calls[{j}].{field}");
            return Err(ApiError::invalid_param(
                &param,
                format!("Missing required parameter: '{param}'."),
            ));
        }
    }
    if message.role == ChatRole::Tool && message.tool_call_id.is_none() {
        let param = format!("messages[{i}].tool_call_id");
        return Err(ApiError::invalid_param(
            &param,
            format!("Missing required parameter: '{param}'."),
        ));
    }
    Ok(())
}
