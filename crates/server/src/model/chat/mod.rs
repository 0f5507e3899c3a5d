//! The Chat Completions model: runs executed by any
//! `/v1/chat/completions`-compatible endpoint (vLLM, Ollama, llama.cpp,
//! LiteLLM, OpenAI, Azure, ...). It owns the mapping from a run's turn to a
//! chat request, the reading of the streamed answer, and the retries and
//! timeouts of the backend's HTTP.
//!
//! # The mapping
//!
//! Each turn of a run is one streamed `POST {backend}/chat/completions`:
//!
//! | Assistants | Chat Completions request |
//! |---|---|
//! | the run's `model` | `model`, or the one name given with [`ChatCompletionsBuilder::model`] (`--backend-model`) |
//! | `instructions` (the run's override, or the assistant's), then `additional_instructions` | the first message, `role: "system"` (none when both are empty) |
//! | the thread's messages, oldest first (cut to `truncation_strategy` `last_messages`) | one message each, `role` `user` or `assistant`; text parts joined by a blank line into `content`, or, with `image_url` parts (user messages), a `content` array of `text` and `image_url` parts |
//! | `image_file` parts | left out, with a warning in the log (the server holds no files) |
//! | the run's earlier `tool_calls` steps, every round | an `assistant` message with `tool_calls` (`id`, `type: "function"`, `name`, `arguments`), then one `role: "tool"` message per output (`tool_call_id`, `content`); text the run wrote before the calls, in the same turn, is that assistant message's `content` (else `""`: llama-cpp-python refuses `null`) |
//! | the run's earlier messages | `assistant` messages, in step order |
//! | `function` tools | `tools` (`name`, `description`, `parameters`, `strict`) |
//! | `code_interpreter`, `file_search` tools, or a `tool_choice` naming one | not sent: the run fails at once, `last_error.code` `invalid_prompt`, with a message naming the tool (a chat backend cannot run them) |
//! | `tool_choice` `auto`, `none`, `required`, `{"type": "function", ...}` | `tool_choice`, as is (only with tools: backends refuse it without). `required` and a named function force the run's first turn only: the turns after its tool outputs send `none`, so the model answers with the outputs (as the scripted model does), where forcing again would loop forever with a client that answers every call |
//! | `parallel_tool_calls` | `parallel_tool_calls` (only with tools: backends refuse it without) |
//! | `response_format` `json_object`, `json_schema`, `text` | `response_format`, as is (`auto`: left out) |
//! | `temperature`, `top_p` | as is (a run that set none has the API's default, 1, and that is sent) |
//! | `max_completion_tokens` | `max_tokens`: what the run has left of it after its earlier turns |
//! | `max_prompt_tokens`, with `truncation_strategy` `auto` or `last_messages` | the oldest messages are dropped until the estimate (4 characters a token, plus 4 a message) fits; a tool message never stays without its call. If the last message alone does not fit, the run ends `incomplete`, `max_prompt_tokens` |
//! | usage | `stream: true` with `stream_options.include_usage`; the backend's usage becomes the turn's (step and run usage). A backend that sends none leaves the usage `null`: it is never guessed |
//!
//! And the answer back:
//!
//! | Chat Completions stream | Assistants run |
//! |---|---|
//! | `delta.content` (a string, or an array's `text` parts) and `delta.refusal` | text deltas of the turn's message (made at the first token) |
//! | `reasoning_content`, `reasoning`, `thinking` parts | dropped: never mixed into the message |
//! | `delta.tool_calls[]` | one call per `index`, with an id of the server's own (the backend's ids are not used: some repeat them); its `arguments` fragments stream as step deltas |
//! | `finish_reason: "length"` | the message ends `incomplete` (`max_tokens`), the run `incomplete` (`max_completion_tokens`) |
//! | `finish_reason: "content_filter"` | the message and the run end `incomplete` (`content_filter`) |
//! | `usage` (on any chunk, `choices: []` included) | the turn's usage |
//! | an `error` (an `event: error` frame, or an `error` field) before any `finish_reason` | the run fails, `server_error`, with the backend's message; after a `finish_reason` it is logged and the finish stands |
//! | choices other than index 0, Azure's filter results, empty deltas, the legacy `text` field | ignored |
//! | the body ends without `[DONE]` | fine after a `finish_reason`; else the run fails (`server_error`) |
//! | a whole completion (`application/json`: a backend that does not stream) | read as one chunk: its text, calls and usage as above, sent as they arrive (at once) |
//!
//! # HTTP
//!
//! Answers 429, 408 and 5xx, and failed connections, are tried again before
//! the answer's first byte, up to [`max_retries`](ChatCompletionsBuilder::max_retries)
//! times with exponential backoff, or after the backend's `Retry-After`
//! (`retry-after-ms`) when it asks for at most a minute. Then the run fails,
//! `last_error.code` `rate_limit_exceeded` (429) or `server_error`, with the
//! backend's message. A backend that sends nothing for
//! [`stall_timeout`](ChatCompletionsBuilder::stall_timeout) fails the run.
//! Dropping a turn's stream (the run was cancelled or expired) aborts its
//! request. The key is sent as `Authorization: Bearer` and never logged; a
//! backend message that quotes it has it replaced by `<redacted>`.

mod relay;

use super::backend::{Backend, Failure, Settings, json_error_message};
use super::completions::{BackendError, ChatAnswer, ChatRequest};
use super::{BoxFuture, FinishReason, Model, ModelEvent, ModelStream, Turn, built_in_tool};
use crate::sse::{Frame, SseParser};
use crate::types::{
    LastError, LastErrorCode, Message, MessageContent, ResponseFormat, Role, StepDetails, Tool,
    ToolCall, ToolChoice, Usage,
};
use assistant_stream_core::error::Error;
use bytes::Bytes;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// Runs answered by a Chat Completions backend (see the [module
/// docs](self) for the mapping). Each turn's request runs in a task of its
/// own on the Tokio runtime that asks for the turn.
///
/// ```no_run
/// use assistant_stream::server::{ChatCompletions, Server};
///
/// # async fn demo() -> Result<(), assistant_stream::Error> {
/// let model = ChatCompletions::builder("http://127.0.0.1:11434/v1")
///     .api_key("sk-backend")
///     .model("llama3.2")
///     .build()?;
/// let server = Server::builder().model(model).spawn().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ChatCompletions {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    model: Option<String>,
}

impl fmt::Debug for ChatCompletions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatCompletions")
            .field("base_url", &self.inner.backend.base_url)
            .field(
                "api_key",
                &self.inner.backend.has_key().then_some("<redacted>"),
            )
            .field("model", &self.inner.model)
            .field("max_retries", &self.inner.backend.max_retries())
            .field("stall_timeout", &self.inner.backend.stall_timeout)
            .finish()
    }
}

/// Settings of a [`ChatCompletions`] model.
#[must_use = "a builder does nothing until built"]
#[derive(Clone, Debug)]
pub struct ChatCompletionsBuilder {
    settings: Settings,
    model: Option<String>,
}

impl ChatCompletions {
    /// A builder for the backend at `base_url`, the URL its
    /// `/chat/completions` and `/models` hang off (`http://HOST:PORT/v1`).
    pub fn builder(base_url: impl Into<String>) -> ChatCompletionsBuilder {
        ChatCompletionsBuilder {
            settings: Settings::new(base_url.into(), Duration::from_secs(120)),
            model: None,
        }
    }
}

impl ChatCompletionsBuilder {
    /// The backend's key, sent as `Authorization: Bearer KEY`.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.settings.api_key = Some(key.into());
        self
    }

    /// The backend model every run and completion uses, whatever its
    /// `model` says (by default the request's `model` is passed through).
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// How many times a request is tried again after a 429, 408 or 5xx
    /// answer or a failed connection (default 3).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.settings.max_retries = retries;
        self
    }

    /// The first wait before a retry, doubled for each next one (default
    /// 500 ms), unless the backend asks for another in `Retry-After`.
    pub fn initial_backoff(mut self, wait: Duration) -> Self {
        self.settings.initial_backoff = wait;
        self
    }

    /// How long the backend may send nothing, before its answer starts or
    /// within it, before the run fails (default 120 s: a model on a CPU can
    /// take long to read a prompt).
    pub fn stall_timeout(mut self, timeout: Duration) -> Self {
        self.settings.stall_timeout = timeout;
        self
    }

    /// The model. Fails if the URL is not `http(s)://...` or the HTTP client
    /// cannot be made.
    pub fn build(self) -> Result<ChatCompletions, Error> {
        Ok(ChatCompletions {
            inner: Arc::new(Inner {
                backend: Backend::new(self.settings, "model backend")?,
                model: self.model.filter(|model| !model.is_empty()),
            }),
        })
    }
}

impl Model for ChatCompletions {
    fn respond(&self, turn: Turn) -> ModelStream {
        let body = match request_body(&turn, self.inner.model.as_deref()) {
            Ok(body) => Bytes::from(body.to_string()),
            Err(Unfit::Fail(error)) => {
                return Box::pin(futures_util::stream::iter([ModelEvent::Fail(error)]));
            }
            Err(Unfit::Incomplete(reason)) => {
                return Box::pin(futures_util::stream::iter([ModelEvent::Incomplete {
                    reason,
                }]));
            }
        };
        let (sender, receiver) = mpsc::channel(64);
        let inner = Arc::clone(&self.inner);
        let task = tokio::spawn(async move {
            let out = Sender(sender);
            if let Err(error) = inner.answer(body, &out).await {
                out.send(ModelEvent::Fail(error)).await;
            }
        });
        Box::pin(Answer {
            receiver,
            task: task.abort_handle(),
        })
    }

    fn models(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(async move {
            match self.inner.backend.list_models().await {
                Ok(names) => names,
                Err(message) => {
                    tracing::warn!(error = %message, "the backend's models could not be listed");
                    self.inner.model.iter().cloned().collect()
                }
            }
        })
    }

    fn complete(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatAnswer, BackendError>> {
        Box::pin(relay::complete(Arc::clone(&self.inner), request))
    }
}

/// The events of a turn as the request task sends them. Dropping it aborts
/// the task, and with it the backend request.
struct Answer {
    receiver: mpsc::Receiver<ModelEvent>,
    task: tokio::task::AbortHandle,
}

impl futures_util::Stream for Answer {
    type Item = ModelEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ModelEvent>> {
        self.receiver.poll_recv(cx)
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Sender(mpsc::Sender<ModelEvent>);

impl Sender {
    /// Sends an event; false once the turn's reader is gone.
    async fn send(&self, event: ModelEvent) -> bool {
        self.0.send(event).await.is_ok()
    }
}

impl Inner {
    fn redact(&self, text: &str) -> String {
        self.backend.redact(text)
    }

    fn stalled(&self) -> LastError {
        LastError::new(LastErrorCode::ServerError, self.backend.stalled())
    }

    /// Sends a turn's request and streams its answer as events.
    async fn answer(&self, body: Bytes, out: &Sender) -> Result<(), LastError> {
        let response = self.open(body).await?;
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if is_json {
            // A backend that does not stream answers the whole completion.
            let text = self.backend.text(response).await.map_err(run_error)?;
            let mut events = Vec::new();
            whole_completion(&text, &mut events).map_err(|error| self.redact_error(error))?;
            for event in events {
                if !out.send(event).await {
                    break;
                }
            }
            return Ok(());
        }
        let mut parser = SseParser::new();
        let mut decoder = Decoder::default();
        let mut events = Vec::new();
        let mut bytes = response.bytes_stream();
        loop {
            let next = tokio::time::timeout(self.backend.stall_timeout, bytes.next()).await;
            let chunk = match next {
                Err(_) => return Err(self.stalled()),
                Ok(None) => break,
                Ok(Some(Err(err))) => {
                    if decoder.finished() {
                        // The answer is whole; a connection closed roughly
                        // after it changes nothing.
                        break;
                    }
                    return Err(LastError::new(
                        LastErrorCode::ServerError,
                        self.backend.broken(err),
                    ));
                }
                Ok(Some(Ok(chunk))) => chunk,
            };
            parser.push(&chunk);
            while let Some(frame) = parser.next_frame() {
                self.decode(&mut decoder, frame, &mut events)?;
            }
            for event in events.drain(..) {
                if !out.send(event).await {
                    return Ok(());
                }
            }
            if decoder.done {
                // What follows `[DONE]` is not the answer's.
                break;
            }
        }
        if !decoder.done
            && let Some(frame) = parser.finish()
        {
            self.decode(&mut decoder, frame, &mut events)?;
        }
        decoder.finish().map_err(|error| self.redact_error(error))?;
        for event in events {
            if !out.send(event).await {
                break;
            }
        }
        Ok(())
    }

    fn decode(
        &self,
        decoder: &mut Decoder,
        frame: Result<Frame, crate::sse::SseError>,
        events: &mut Vec<ModelEvent>,
    ) -> Result<(), LastError> {
        let frame = frame.map_err(|err| {
            LastError::new(
                LastErrorCode::ServerError,
                format!("The model backend sent a broken stream: {err}"),
            )
        })?;
        decoder
            .frame(frame.event(), frame.data(), events)
            .map_err(|error| self.redact_error(error))
    }

    fn redact_error(&self, mut error: LastError) -> LastError {
        error.message = self.redact(&error.message);
        error
    }

    /// Sends a turn's request (with the backend's retries), and answers the
    /// response once it is a 2xx, or the run's error.
    async fn open(&self, body: Bytes) -> Result<reqwest::Response, LastError> {
        self.backend
            .post("chat/completions", body, "text/event-stream")
            .await
            .map_err(run_error)
    }
}

/// A backend failure as a run's `last_error`: `rate_limit_exceeded` for a
/// 429, else `server_error`.
fn run_error(failure: Failure) -> LastError {
    match failure {
        Failure::Status {
            status,
            status_text,
            message,
            ..
        } => LastError::new(
            if status == 429 {
                LastErrorCode::RateLimitExceeded
            } else {
                LastErrorCode::ServerError
            },
            format!("The model backend answered {status_text}: {message}"),
        ),
        Failure::Unreachable(message) | Failure::Stalled(message) => {
            LastError::new(LastErrorCode::ServerError, message)
        }
    }
}

/// The events of a completion answered whole (`stream` ignored): its
/// message read as one chunk whose delta is the message.
fn whole_completion(body: &str, out: &mut Vec<ModelEvent>) -> Result<(), LastError> {
    let mut value: Value = serde_json::from_str(body).map_err(|err| {
        LastError::new(
            LastErrorCode::ServerError,
            format!("The model backend answered JSON that does not parse: {err}"),
        )
    })?;
    if let Some(choices) = value.get_mut("choices").and_then(Value::as_array_mut) {
        for choice in choices {
            if let Some(message) = choice.get_mut("message").map(Value::take) {
                let mut message = message;
                // A whole message's calls have no index: their order is it.
                if let Some(calls) = message.get_mut("tool_calls").and_then(Value::as_array_mut) {
                    for (index, call) in calls.iter_mut().enumerate() {
                        call["index"] = json!(index);
                    }
                }
                choice["delta"] = message;
            }
        }
    }
    let mut decoder = Decoder::default();
    decoder.frame("", &value.to_string(), out)?;
    decoder.finish()
}

// ---- the request ----

/// Why a turn cannot be asked of a chat backend.
#[derive(Debug, PartialEq)]
enum Unfit {
    /// The run fails with this error.
    Fail(LastError),
    /// The run ends `incomplete` with this reason.
    Incomplete(String),
}

/// The chat request for a turn (see the [module docs](self)).
fn request_body(turn: &Turn, model: Option<&str>) -> Result<Value, Unfit> {
    let run = &turn.run;
    let mut body = Map::new();
    body.insert(
        "model".into(),
        Value::String(model.unwrap_or(&run.model).to_owned()),
    );
    let mut tools = Vec::new();
    for tool in &run.tools {
        match tool {
            Tool::Function(function) => {
                tools.push(json!({"type": "function", "function": function.function}));
            }
            other => return Err(Unfit::Fail(built_in_tool(other.type_name()))),
        }
    }
    let system = run
        .instructions
        .as_deref()
        .filter(|text| !text.is_empty())
        .map(|text| json!({"role": "system", "content": text}));
    let mut conversation = history(turn);
    if let Some(max) = run.max_prompt_tokens {
        fit_prompt(system.as_ref(), &mut conversation, max)?;
    }
    let messages: Vec<Value> = system.into_iter().chain(conversation).collect();
    body.insert("messages".into(), Value::Array(messages));
    let has_tools = !tools.is_empty();
    if has_tools {
        body.insert("tools".into(), Value::Array(tools));
    }
    match &run.tool_choice {
        None => {}
        Some(ToolChoice::Tool(kind)) => return Err(Unfit::Fail(built_in_tool(kind))),
        // A forced call is the first turn's: after its outputs the model
        // answers (as the scripted model does), or a client that answers
        // every call would loop.
        Some(ToolChoice::Required | ToolChoice::Function(_)) if has_tools && turn.index > 0 => {
            body.insert("tool_choice".into(), json!("none"));
        }
        // Backends refuse a tool choice without tools.
        Some(choice) if has_tools => {
            body.insert("tool_choice".into(), json!(choice));
        }
        Some(_) => {}
    }
    if has_tools && let Some(parallel) = run.parallel_tool_calls {
        body.insert("parallel_tool_calls".into(), Value::Bool(parallel));
    }
    match &run.response_format {
        None | Some(ResponseFormat::Auto) => {}
        Some(format) => {
            body.insert("response_format".into(), json!(format));
        }
    }
    if let Some(temperature) = run.temperature {
        body.insert("temperature".into(), json!(temperature));
    }
    if let Some(top_p) = run.top_p {
        body.insert("top_p".into(), json!(top_p));
    }
    if let Some(left) = turn.completion_tokens_left {
        body.insert("max_tokens".into(), json!(left));
    }
    body.insert("stream".into(), Value::Bool(true));
    body.insert("stream_options".into(), json!({"include_usage": true}));
    Ok(Value::Object(body))
}

/// The conversation: the thread's messages, then the run's own, in step
/// order, with its tool calls and their outputs.
fn history(turn: &Turn) -> Vec<Value> {
    let run_id = turn.run.id.as_str();
    let mut out: Vec<Value> = turn
        .messages
        .iter()
        .filter(|message| message.run_id.as_deref() != Some(run_id) || run_id.is_empty())
        .filter_map(chat_message)
        .collect();
    // Whether the last message is the run's text of the turn being rebuilt,
    // to which the turn's calls belong.
    let mut open_text = false;
    for step in &turn.steps {
        match &step.step_details {
            StepDetails::MessageCreation(details) => {
                let id = &details.message_creation.message_id;
                let Some(message) = turn.messages.iter().find(|m| &m.id == id) else {
                    open_text = false;
                    continue;
                };
                out.push(json!({"role": "assistant", "content": message.text()}));
                open_text = true;
            }
            StepDetails::ToolCalls(details) => {
                let calls: Vec<(&str, &str, &str, &str)> = details
                    .tool_calls
                    .iter()
                    .filter_map(|call| match call {
                        ToolCall::Function(call) => Some((
                            call.id.as_str(),
                            call.function.name.as_str(),
                            call.function.arguments.as_str(),
                            call.function.output.as_deref().unwrap_or(""),
                        )),
                        _ => None,
                    })
                    .collect();
                if calls.is_empty() {
                    open_text = false;
                    continue;
                }
                let tool_calls: Vec<Value> = calls
                    .iter()
                    .map(|(id, name, arguments, _)| {
                        json!({
                            "id": id,
                            "type": "function",
                            "function": {"name": name, "arguments": arguments},
                        })
                    })
                    .collect();
                match out.last_mut() {
                    Some(last) if open_text => {
                        last["tool_calls"] = Value::Array(tool_calls);
                    }
                    // `""`, not `null`: llama-cpp-python's server refuses a
                    // null content (a 500), and every backend takes `""`.
                    _ => out.push(json!({
                        "role": "assistant",
                        "content": "",
                        "tool_calls": tool_calls,
                    })),
                }
                for (id, _, _, output) in calls {
                    out.push(json!({"role": "tool", "tool_call_id": id, "content": output}));
                }
                open_text = false;
            }
            _ => open_text = false,
        }
    }
    out
}

/// A thread message as a chat message (`None` when nothing of it can be
/// sent).
fn chat_message(message: &Message) -> Option<Value> {
    let role = match message.role {
        Role::Assistant => "assistant",
        _ => "user",
    };
    let mut texts: Vec<&str> = Vec::new();
    let mut parts: Vec<Value> = Vec::new();
    let mut images = false;
    for part in &message.content {
        match part {
            MessageContent::Text(text) => {
                texts.push(&text.text.value);
                parts.push(json!({"type": "text", "text": text.text.value}));
            }
            MessageContent::ImageUrl(image) if role == "user" => {
                images = true;
                let mut url = json!({"url": image.image_url.url});
                if let Some(detail) = &image.image_url.detail {
                    url["detail"] = json!(detail);
                }
                parts.push(json!({"type": "image_url", "image_url": url}));
            }
            MessageContent::Refusal(refusal) => {
                texts.push(&refusal.refusal);
                parts.push(json!({"type": "text", "text": refusal.refusal}));
            }
            _ => {
                tracing::warn!(
                    message = %message.id,
                    "a message part a chat backend cannot take (an image file) is left out"
                );
            }
        }
    }
    if images {
        return Some(json!({"role": role, "content": parts}));
    }
    if texts.is_empty() && !message.content.is_empty() {
        return None;
    }
    Some(json!({"role": role, "content": texts.join("\n\n")}))
}

/// A rough token count of a chat message: 4 characters a token, plus 4.
fn estimate(message: &Value) -> u64 {
    let mut chars = 0usize;
    count_chars(message, &mut chars);
    (chars as u64).div_ceil(4) + 4
}

fn count_chars(value: &Value, chars: &mut usize) {
    match value {
        Value::String(text) => *chars += text.chars().count(),
        Value::Array(items) => items.iter().for_each(|item| count_chars(item, chars)),
        Value::Object(fields) => fields.values().for_each(|field| count_chars(field, chars)),
        _ => {}
    }
}

/// Drops the oldest messages until the prompt's estimate fits `max`.
fn fit_prompt(
    system: Option<&Value>,
    conversation: &mut Vec<Value>,
    max: u64,
) -> Result<(), Unfit> {
    let fixed = system.map_or(0, estimate);
    let sizes: Vec<u64> = conversation.iter().map(estimate).collect();
    let mut total = fixed + sizes.iter().sum::<u64>();
    let mut drop = 0;
    while total > max && drop + 1 < conversation.len() {
        total -= sizes[drop];
        drop += 1;
        // A tool output never stays without its call.
        while drop + 1 < conversation.len() && conversation[drop]["role"] == "tool" {
            total -= sizes[drop];
            drop += 1;
        }
    }
    if total > max {
        return Err(Unfit::Incomplete("max_prompt_tokens".to_owned()));
    }
    conversation.drain(..drop);
    Ok(())
}

// ---- the answer ----

/// A chunk of a streamed completion: only what the server reads.
#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    /// A string, or (Mistral) an array of parts.
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    refusal: Option<String>,
    #[serde(default)]
    tool_calls: Option<Vec<ToolCallDelta>>,
}

#[derive(Deserialize)]
struct ToolCallDelta {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct ChunkUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    total_tokens: Option<u64>,
}

/// A call being read: its arguments wait for its name.
struct CallState {
    index: u32,
    started: bool,
    pending: String,
}

/// Turns the frames of a streamed completion into model events.
#[derive(Default)]
struct Decoder {
    calls: Vec<CallState>,
    finish: Option<FinishReason>,
    /// `[DONE]` was read.
    done: bool,
}

impl Decoder {
    fn finished(&self) -> bool {
        self.done || self.finish.is_some()
    }

    fn frame(
        &mut self,
        event: &str,
        data: &str,
        out: &mut Vec<ModelEvent>,
    ) -> Result<(), LastError> {
        let data = data.trim();
        if self.done || data.is_empty() {
            return Ok(());
        }
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        let value: Value = match serde_json::from_str(data) {
            Ok(value) => value,
            Err(err) if event == "error" => {
                return self.error(format!("{data} ({err})"));
            }
            Err(err) => {
                return Err(LastError::new(
                    LastErrorCode::ServerError,
                    format!("The model backend sent a chunk that is not JSON: {err}"),
                ));
            }
        };
        if event == "error" {
            let message = json_error_message(&value).unwrap_or_else(|| data.to_owned());
            return self.error(message);
        }
        let chunk: Chunk = serde_json::from_value(value).map_err(|err| {
            LastError::new(
                LastErrorCode::ServerError,
                format!("The model backend sent a chunk of an unknown shape: {err}"),
            )
        })?;
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(delta) = choice.delta {
                self.delta(delta, out)?;
            }
            if let Some(reason) = choice.finish_reason.filter(|r| !r.is_empty())
                && self.finish.is_none()
            {
                let reason = FinishReason::parse(&reason);
                self.finish = Some(reason.clone());
                out.push(ModelEvent::Finish(reason));
            }
        }
        if let Some(usage) = chunk.usage {
            let mut reported = Usage::new(usage.prompt_tokens, usage.completion_tokens);
            if let Some(total) = usage.total_tokens {
                reported.total_tokens = total;
            }
            out.push(ModelEvent::Usage(reported));
        }
        if let Some(error) = chunk.error.filter(|error| !error.is_null()) {
            let message =
                json_error_message(&json!({ "error": error })).unwrap_or_else(|| error.to_string());
            return self.error(message);
        }
        Ok(())
    }

    /// An error the backend sent in its stream: the run fails, unless the
    /// answer had already finished.
    fn error(&self, message: String) -> Result<(), LastError> {
        if self.finish.is_some() {
            tracing::warn!(error = %message, "the model backend sent an error after its answer");
            return Ok(());
        }
        Err(LastError::new(
            LastErrorCode::ServerError,
            format!("The model backend failed: {message}"),
        ))
    }

    fn delta(&mut self, delta: Delta, out: &mut Vec<ModelEvent>) -> Result<(), LastError> {
        match delta.content {
            Some(Value::String(text)) if !text.is_empty() => out.push(ModelEvent::Text(text)),
            Some(Value::Array(parts)) => {
                for part in parts {
                    // Only text parts: thinking parts are not the message.
                    if part["type"] == "text"
                        && let Some(text) = part["text"].as_str().filter(|t| !t.is_empty())
                    {
                        out.push(ModelEvent::Text(text.to_owned()));
                    }
                }
            }
            _ => {}
        }
        if let Some(refusal) = delta.refusal.filter(|r| !r.is_empty()) {
            out.push(ModelEvent::Text(refusal));
        }
        for call in delta.tool_calls.unwrap_or_default() {
            let function = call.function.unwrap_or(FunctionDelta {
                name: None,
                arguments: None,
            });
            let name = function.name.filter(|name| !name.is_empty());
            let index = match call.index {
                Some(index) => index,
                // No index: a named call is a new one, else the last one.
                None => match (&name, self.calls.last()) {
                    (None, Some(last)) => last.index,
                    _ => self.calls.iter().map(|c| c.index + 1).max().unwrap_or(0),
                },
            };
            let position = match self.calls.iter().position(|c| c.index == index) {
                Some(position) => position,
                None => {
                    self.calls.push(CallState {
                        index,
                        started: false,
                        pending: String::new(),
                    });
                    self.calls.len() - 1
                }
            };
            let state = &mut self.calls[position];
            if !state.started
                && let Some(name) = name
            {
                state.started = true;
                out.push(ModelEvent::ToolCallStart { index, name });
                if !state.pending.is_empty() {
                    out.push(ModelEvent::ToolCallArguments {
                        index,
                        fragment: std::mem::take(&mut state.pending),
                    });
                }
            }
            if let Some(fragment) = function.arguments.filter(|a| !a.is_empty()) {
                if state.started {
                    out.push(ModelEvent::ToolCallArguments { index, fragment });
                } else {
                    state.pending.push_str(&fragment);
                }
            }
        }
        Ok(())
    }

    /// The end of the body: whole if it finished or said `[DONE]`.
    fn finish(&self) -> Result<(), LastError> {
        if self.calls.iter().any(|call| !call.started) {
            return Err(LastError::new(
                LastErrorCode::ServerError,
                "The model backend sent a tool call without a name.",
            ));
        }
        if !self.finished() {
            return Err(LastError::new(
                LastErrorCode::ServerError,
                "The model backend's answer ended before it was finished.",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(body: &str) -> (Vec<ModelEvent>, Result<(), LastError>) {
        let mut parser = SseParser::new();
        parser.push(body.as_bytes());
        let mut decoder = Decoder::default();
        let mut out = Vec::new();
        let mut frames = Vec::new();
        while let Some(frame) = parser.next_frame() {
            frames.push(frame.unwrap());
        }
        if let Some(frame) = parser.finish() {
            frames.push(frame.unwrap());
        }
        for frame in frames {
            if let Err(err) = decoder.frame(frame.event(), frame.data(), &mut out) {
                return (out, Err(err));
            }
        }
        let end = decoder.finish();
        (out, end)
    }

    #[test]
    fn arguments_before_the_name_wait_for_it() {
        let body = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":3,\"function\":{\"arguments\":\"{\\\"a\"}}]}}]}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":3,\"function\":{\"name\":\"f\",\"arguments\":\"\\\":1}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
        );
        let (events, end) = decode(body);
        end.unwrap();
        assert_eq!(
            events,
            [
                ModelEvent::ToolCallStart {
                    index: 3,
                    name: "f".into()
                },
                ModelEvent::ToolCallArguments {
                    index: 3,
                    fragment: "{\"a".into()
                },
                ModelEvent::ToolCallArguments {
                    index: 3,
                    fragment: "\":1}".into()
                },
                ModelEvent::Finish(FinishReason::ToolCalls),
            ]
        );
    }

    #[test]
    fn a_cut_stream_fails_and_a_nameless_call_fails() {
        let (_, end) =
            decode("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n");
        assert!(end.unwrap_err().message.contains("ended before"));
        // llama-cpp-python's empty body (tool_choice auto, streamed).
        let (events, end) = decode("");
        assert!(events.is_empty());
        assert!(end.unwrap_err().message.contains("ended before"));
        let (_, end) = decode(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
        );
        assert!(end.unwrap_err().message.contains("without a name"));
    }

    #[test]
    fn a_whole_completion_is_read_as_one_chunk() {
        let body = json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi", "tool_calls": [
            {"id": "x", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "x", "type": "function", "function": {"name": "g", "arguments": "{\"a\":1}"}},
        ]}, "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}});
        let mut out = Vec::new();
        whole_completion(&body.to_string(), &mut out).unwrap();
        assert_eq!(
            out,
            [
                ModelEvent::Text("Hi".into()),
                ModelEvent::ToolCallStart {
                    index: 0,
                    name: "f".into()
                },
                ModelEvent::ToolCallArguments {
                    index: 0,
                    fragment: "{}".into()
                },
                ModelEvent::ToolCallStart {
                    index: 1,
                    name: "g".into()
                },
                ModelEvent::ToolCallArguments {
                    index: 1,
                    fragment: "{\"a\":1}".into()
                },
                ModelEvent::Finish(FinishReason::ToolCalls),
                ModelEvent::Usage(Usage::new(3, 4)),
            ]
        );
    }

    #[test]
    fn the_prompt_is_cut_to_max_prompt_tokens() {
        let system = json!({"role": "system", "content": "be brief"});
        let mut conversation = vec![
            json!({"role": "user", "content": "a".repeat(400)}),
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "c"}]}),
            json!({"role": "tool", "tool_call_id": "c", "content": "x".repeat(40)}),
            json!({"role": "user", "content": "last"}),
        ];
        fit_prompt(Some(&system), &mut conversation, 20).unwrap();
        // The call went, and its output with it.
        assert_eq!(conversation, [json!({"role": "user", "content": "last"})]);
        let mut conversation = vec![json!({"role": "user", "content": "b".repeat(400)})];
        assert_eq!(
            fit_prompt(Some(&system), &mut conversation, 20),
            Err(Unfit::Incomplete("max_prompt_tokens".into()))
        );
    }
}
