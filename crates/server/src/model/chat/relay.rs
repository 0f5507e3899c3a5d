//! Chat Completions passed through to the backend: the server's
//! `POST /v1/chat/completions` on a [`ChatCompletions`](super::ChatCompletions)
//! model.
//!
//! The request goes to the backend as the client sent it (its `null`
//! fields left out), with `model` replaced by
//! [`ChatCompletionsBuilder::model`](super::ChatCompletionsBuilder::model)
//! when one is set. A streamed request always asks the backend for usage
//! (`stream_options.include_usage`), and the client gets it only if it
//! asked too: the chunk that carries only usage is dropped, and a `usage`
//! on another chunk is taken out.
//!
//! The answer's chunks are passed on as the backend wrote them, one SSE
//! frame each, as they arrive. Retries happen before the answer's first
//! byte, as for runs; after it, a stall or a broken connection ends the
//! stream with an `{"error": …}` chunk, and so does a body that ends before
//! any `finish_reason` without `[DONE]`. The backend's own `error` frames
//! end it the same way. Dropping the stream (the client went away) closes
//! the backend's connection.
//!
//! A backend that answers a streamed request with a whole completion
//! (`application/json`) has it sent as one chunk per choice.

use super::Inner;
use crate::model::backend::json_error_message;
use crate::model::completions::{BackendError, ChatAnswer, ChatRequest, ChunkStream};
use crate::sse::SseParser;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::Arc;

/// Passes `request` through to the backend.
pub(super) async fn complete(
    inner: Arc<Inner>,
    mut request: ChatRequest,
) -> Result<ChatAnswer, BackendError> {
    let streams = request.streams();
    let include_usage = request.includes_usage();
    let mut body = std::mem::take(&mut request.body);
    if let Some(model) = &inner.model {
        body.insert("model".to_owned(), Value::String(model.clone()));
    }
    if streams {
        let options = body.entry("stream_options").or_insert_with(|| json!({}));
        if let Some(options) = options.as_object_mut() {
            options.insert("include_usage".to_owned(), Value::Bool(true));
        }
    }
    let accept = if streams {
        "text/event-stream"
    } else {
        "application/json"
    };
    let bytes = serde_json::to_vec(&body).map_err(|err| BackendError::Failed {
        message: format!("The request could not be written: {err}"),
    })?;
    let response = inner
        .backend
        .post("chat/completions", Bytes::from(bytes), accept)
        .await?;
    let is_json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !streams || is_json {
        let text = inner.backend.text(response).await?;
        let whole: Value = serde_json::from_str(&text).map_err(|err| BackendError::Failed {
            message: inner.backend.redact(&format!(
                "The model backend answered with a completion that is not JSON: {err}"
            )),
        })?;
        if let Some(message) = whole.get("error").and_then(|_| json_error_message(&whole)) {
            return Err(BackendError::Failed {
                message: inner
                    .backend
                    .redact(&format!("The model backend failed: {message}")),
            });
        }
        if !streams {
            return Ok(ChatAnswer::Whole(whole));
        }
        let chunks = chunks_of_whole(whole, include_usage);
        return Ok(ChatAnswer::Stream(
            futures_util::stream::iter(chunks.into_iter().map(Ok)).boxed(),
        ));
    }
    Ok(ChatAnswer::Stream(relay(inner, response, include_usage)))
}

/// A whole completion as chunks: one per choice, its message the delta,
/// then the usage if asked for.
fn chunks_of_whole(mut whole: Value, include_usage: bool) -> Vec<String> {
    let usage = whole.get_mut("usage").map(Value::take);
    let choices = match whole.get_mut("choices").map(Value::take) {
        Some(Value::Array(choices)) => choices,
        _ => Vec::new(),
    };
    if let Some(fields) = whole.as_object_mut() {
        fields.remove("usage");
        fields.insert("object".to_owned(), json!("chat.completion.chunk"));
    }
    let mut chunks = Vec::new();
    for mut choice in choices {
        if let Some(message) = choice.get_mut("message").map(Value::take) {
            let mut message = message;
            if let Some(calls) = message.get_mut("tool_calls").and_then(Value::as_array_mut) {
                for (index, call) in calls.iter_mut().enumerate() {
                    call["index"] = json!(index);
                }
            }
            if let Some(fields) = choice.as_object_mut() {
                fields.remove("message");
                fields.insert("delta".to_owned(), message);
            }
        }
        let mut chunk = whole.clone();
        chunk["choices"] = json!([choice]);
        chunks.push(chunk.to_string());
    }
    if include_usage && let Some(usage) = usage.filter(|usage| !usage.is_null()) {
        let mut chunk = whole;
        chunk["choices"] = json!([]);
        chunk["usage"] = usage;
        chunks.push(chunk.to_string());
    }
    chunks
}

/// What the relay holds between chunks.
struct State {
    inner: Arc<Inner>,
    body: futures_util::stream::BoxStream<'static, reqwest::Result<Bytes>>,
    parser: SseParser,
    out: VecDeque<Result<String, BackendError>>,
    include_usage: bool,
    /// A chunk with a `finish_reason` was read.
    finished: bool,
    /// `[DONE]`, an error or the body's end was read.
    ended: bool,
}

/// The backend's chunks, passed on as they arrive.
fn relay(inner: Arc<Inner>, response: reqwest::Response, include_usage: bool) -> ChunkStream {
    let state = State {
        inner,
        body: response.bytes_stream().boxed(),
        parser: SseParser::new(),
        out: VecDeque::new(),
        include_usage,
        finished: false,
        ended: false,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(item) = state.out.pop_front() {
                return Some((item, state));
            }
            if state.ended {
                return None;
            }
            let next =
                tokio::time::timeout(state.inner.backend.stall_timeout, state.body.next()).await;
            match next {
                Err(_) => {
                    let message = state.inner.backend.stalled();
                    state.end(Err(BackendError::TimedOut { message }));
                }
                Ok(None) => {
                    if let Some(frame) = state.parser.finish() {
                        state.frame(frame);
                    }
                    if !state.ended && !state.finished {
                        state.end(Err(BackendError::Unreachable {
                            message: "The model backend's answer ended before it was finished."
                                .to_owned(),
                        }));
                    }
                    state.ended = true;
                }
                Ok(Some(Err(err))) => {
                    state.ended = true;
                    if !state.finished {
                        let message = state.inner.backend.broken(err);
                        state
                            .out
                            .push_back(Err(BackendError::Unreachable { message }));
                    }
                }
                Ok(Some(Ok(bytes))) => {
                    state.parser.push(&bytes);
                    while !state.ended
                        && let Some(frame) = state.parser.next_frame()
                    {
                        state.frame(frame);
                    }
                }
            }
        }
    })
    .boxed()
}

impl State {
    fn end(&mut self, last: Result<String, BackendError>) {
        self.out.push_back(last);
        self.ended = true;
    }

    fn frame(&mut self, frame: Result<crate::sse::Frame, crate::sse::SseError>) {
        let frame = match frame {
            Ok(frame) => frame,
            Err(err) => {
                return self.end(Err(BackendError::Failed {
                    message: format!("The model backend sent a broken stream: {err}"),
                }));
            }
        };
        let data = frame.data().trim();
        if data.is_empty() {
            return;
        }
        if data == "[DONE]" {
            self.ended = true;
            return;
        }
        if frame.event() == "error" {
            let message = serde_json::from_str::<Value>(data)
                .ok()
                .and_then(|value| json_error_message(&value))
                .unwrap_or_else(|| data.to_owned());
            let message = self
                .inner
                .backend
                .redact(&format!("The model backend failed: {message}"));
            return self.end(Err(BackendError::Failed { message }));
        }
        if !self.finished && has_finish_reason(data) {
            self.finished = true;
        }
        if !self.include_usage && data.contains("\"usage\"") {
            // Usage the client did not ask for: taken out.
            if let Ok(mut chunk) = serde_json::from_str::<Value>(data)
                && let Some(fields) = chunk.as_object_mut()
                && fields.remove("usage").is_some_and(|usage| !usage.is_null())
            {
                let only_usage = fields
                    .get("choices")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
                    && fields.get("error").is_none_or(Value::is_null);
                if !only_usage {
                    self.out.push_back(Ok(chunk.to_string()));
                }
                return;
            }
        }
        // A key the backend quotes is not passed on.
        self.out.push_back(Ok(self.inner.backend.redact(data)));
    }
}

/// Whether a chunk's JSON text has a `finish_reason` that is not `null`.
fn has_finish_reason(data: &str) -> bool {
    let mut rest = data;
    while let Some(at) = rest.find("\"finish_reason\"") {
        rest = &rest[at + "\"finish_reason\"".len()..];
        let value = rest.trim_start().strip_prefix(':').map(str::trim_start);
        if value.is_some_and(|value| value.starts_with('"')) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reasons_are_found_without_parsing() {
        assert!(has_finish_reason(
            r#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#
        ));
        assert!(has_finish_reason(
            r#"{"choices":[{"finish_reason" : "length"}]}"#
        ));
        assert!(!has_finish_reason(
            r#"{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}"#
        ));
        assert!(!has_finish_reason(r#"{"choices":[]}"#));
    }

    #[test]
    fn a_whole_completion_becomes_chunks() {
        let whole = json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi",
                "tool_calls": [{"id": "x", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}});
        let chunks = chunks_of_whole(whole.clone(), false);
        assert_eq!(chunks.len(), 1);
        let chunk: Value = serde_json::from_str(&chunks[0]).unwrap();
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["choices"][0]["delta"]["content"], "hi");
        assert_eq!(chunk["choices"][0]["delta"]["tool_calls"][0]["index"], 0);
        assert!(chunk.get("usage").is_none());
        let chunks = chunks_of_whole(whole, true);
        let usage: Value = serde_json::from_str(&chunks[1]).unwrap();
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["total_tokens"], 3);
    }
}
