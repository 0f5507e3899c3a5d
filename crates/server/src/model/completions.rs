//! Chat Completions (`POST /v1/chat/completions`) as a [`Model`] answers
//! them: the request ([`ChatRequest`]), the answer ([`ChatAnswer`]: a whole
//! `chat.completion`, or the JSON of its `chat.completion.chunk`s) and its
//! failures ([`BackendError`]).
//!
//! A model answers with [`Model::complete`]. Its default, used by
//! [`Scripted`](super::Scripted) and by any model of your own, asks the model
//! for a run's turn built from the request ([`turn_of`]) and writes the
//! events it answers as the API shapes a completion:
//!
//! | Chat Completions request | the turn |
//! |---|---|
//! | `system` and `developer` messages | the run's `instructions`, joined by a blank line |
//! | `user` and `assistant` messages (text parts joined by a line break) | the thread's messages |
//! | `assistant` `tool_calls` after the last `user` message, and the `tool` messages answering them | the run's calls so far with their outputs (`Turn::tool_outputs`; `Turn::index` counts the rounds) |
//! | `tools` (`function`), `tool_choice`, `parallel_tool_calls`, `response_format`, `temperature`, `top_p` | the run's |
//! | `functions` and `function_call` (`"none"`, `"auto"`, `{"name"}`), the older form, with `assistant` `function_call` and `function` messages | the run's tools and `tool_choice`, one call a turn; the answer calls with `function_call` and `finish_reason: "function_call"` |
//! | `max_completion_tokens` (or `max_tokens`) | the run's `max_completion_tokens` |
//!
//! | the turn's events | the completion |
//! |---|---|
//! | text | `message.content` (streamed: one `delta.content` each) |
//! | tool calls | `message.tool_calls`, ids `call_…` of the server's own (streamed: the call's name, then its arguments in pieces) |
//! | usage | `usage`: completion tokens summed over the `n` choices, the prompt counted once (streamed: a last chunk with `choices: []` when `stream_options.include_usage` is set) |
//! | the reply cut at the token limit, or `Incomplete` | `finish_reason: "length"` |
//! | a content filter | `finish_reason: "content_filter"` |
//! | calls, and no other reason | `finish_reason: "tool_calls"` |
//! | a failure | a 500 before anything was sent, else a `data: {"error": …}` chunk ending the stream |
//!
//! `n` asks the model `n` times (choices `0..n`), streamed one choice
//! after another (each `respond` is called at once; the scripted model
//! makes its answer when first read, so one choice's answer is held at a
//! time). Each text event and each argument piece counts one completion
//! token against the limit, as in runs.

use super::{FinishReason, Model, ModelEvent, Turn, argument_chunks};
use crate::ids::{new_id, now};
use crate::types::{
    FunctionCall, FunctionDefinition, FunctionToolCall, Message, MessageContent, ResponseFormat,
    Role, Run, Tool, ToolChoice, Usage,
};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::VecDeque;
use std::fmt;

/// The JSON texts of a streamed completion's chunks, in order (without the
/// `data: ` framing or the closing `[DONE]`, which the server adds). An
/// error ends the stream: the server sends it as a last `{"error": …}`
/// chunk.
pub type ChunkStream = BoxStream<'static, Result<String, BackendError>>;

/// What a model answers a Chat Completions request with.
#[non_exhaustive]
pub enum ChatAnswer {
    /// The whole `chat.completion` object (`stream` false).
    Whole(Value),
    /// The chunks (`stream` true).
    Stream(ChunkStream),
}

impl fmt::Debug for ChatAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChatAnswer::Whole(value) => f.debug_tuple("Whole").field(value).finish(),
            ChatAnswer::Stream(_) => f.write_str("Stream(..)"),
        }
    }
}

/// Why a backend could not answer a Chat Completions or embeddings request.
///
/// The server answers each with the API's error envelope: `Invalid` with a
/// 400, `Refused` with the backend's own status and message, `Unreachable`
/// with a 502, `TimedOut` with a 504, `Failed` with a 500 and
/// `NotConfigured` with a 400 (not a 5xx: the SDKs would try it again, and
/// it cannot change until the server is restarted).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum BackendError {
    /// The request cannot be answered as it is.
    Invalid {
        /// The parameter at fault, if one is.
        param: Option<String>,
        /// What is wrong with it.
        message: String,
    },
    /// The backend answered with an error status (after the retries that
    /// apply to it).
    Refused {
        /// The backend's status (400, 404, 429, ...).
        status: u16,
        /// The backend's message, with any key redacted.
        message: String,
        /// The backend's error `type`, if it gave one.
        kind: Option<String>,
        /// The backend's error `code`, if it gave one.
        code: Option<String>,
        /// The backend's `Retry-After`, passed on with a 429 or 503.
        retry_after: Option<String>,
    },
    /// The backend could not be reached or cut its answer off.
    Unreachable {
        /// What happened.
        message: String,
    },
    /// The backend sent nothing for the stall timeout.
    TimedOut {
        /// What happened.
        message: String,
    },
    /// The model failed to answer.
    Failed {
        /// The model's message.
        message: String,
    },
    /// The server has no backend for this (no `--embeddings-url`).
    NotConfigured {
        /// What is missing, naming the flag that sets it.
        message: String,
    },
}

impl BackendError {
    /// The error's message.
    pub fn message(&self) -> &str {
        match self {
            BackendError::Invalid { message, .. }
            | BackendError::Refused { message, .. }
            | BackendError::Unreachable { message }
            | BackendError::TimedOut { message }
            | BackendError::Failed { message }
            | BackendError::NotConfigured { message } => message,
        }
    }

    /// The API's `{"error": {...}}` object for this error, as a stream's
    /// last chunk carries it.
    pub fn to_json(&self) -> Value {
        let (kind, code, param) = match self {
            BackendError::Invalid { param, .. } => ("invalid_request_error", None, param.clone()),
            BackendError::Refused { kind, code, .. } => (
                kind.as_deref().unwrap_or("server_error"),
                code.clone(),
                None,
            ),
            BackendError::NotConfigured { .. } => (
                "invalid_request_error",
                Some("backend_not_configured".to_owned()),
                None,
            ),
            BackendError::TimedOut { .. } => ("server_error", Some("timeout".to_owned()), None),
            BackendError::Unreachable { .. } | BackendError::Failed { .. } => {
                ("server_error", None, None)
            }
        };
        json!({"error": {"message": self.message(), "type": kind, "param": param, "code": code}})
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for BackendError {}

/// A Chat Completions request, checked against the API's shapes: the fields
/// the server reads, typed, and the whole body as it was sent
/// ([`body`](Self::body)), which a backend is given as is (other fields
/// included).
#[derive(Clone, Debug, Deserialize)]
#[non_exhaustive]
pub struct ChatRequest {
    /// The model name.
    pub model: String,
    /// The conversation, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Whether to stream chunks.
    #[serde(default)]
    pub stream: Option<bool>,
    /// The stream's options.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// How many choices to answer (1 by default).
    #[serde(default)]
    pub n: Option<u32>,
    /// The completion's token limit (the older name).
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// The completion's token limit.
    #[serde(default)]
    pub max_completion_tokens: Option<u64>,
    /// The tools the model may call.
    #[serde(default)]
    pub tools: Option<Vec<ChatTool>>,
    /// Which tool the model must call, if any.
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    /// Whether several calls may come in one answer.
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// The format of the answer.
    #[serde(default)]
    pub response_format: Option<ResponseFormat>,
    /// The sampling temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// The functions the model may call (the older form of `tools`).
    #[serde(default)]
    pub functions: Option<Vec<FunctionDefinition>>,
    /// Which function the model must call (the older form of
    /// `tool_choice`): `"none"`, `"auto"` or `{"name": NAME}`.
    #[serde(default)]
    pub function_call: Option<Value>,
    /// The body as sent, without its `null` fields.
    #[serde(skip)]
    pub body: Map<String, Value>,
}

impl ChatRequest {
    /// A request from its JSON body (the typed fields read from it, the
    /// body kept whole without its `null` fields).
    pub fn from_json(body: Map<String, Value>) -> Result<Self, serde_json::Error> {
        let mut request: ChatRequest = serde_json::from_value(Value::Object(body.clone()))?;
        request.set_body(body);
        Ok(request)
    }

    /// Keeps `body` as the request's whole body, without its `null` fields
    /// (a `null` is the field's default: some backends refuse it).
    pub fn set_body(&mut self, mut body: Map<String, Value>) {
        body.retain(|_, value| !value.is_null());
        self.body = body;
    }

    /// Whether chunks are streamed.
    pub fn streams(&self) -> bool {
        self.stream == Some(true)
    }

    /// Whether a streamed answer ends with a usage chunk.
    pub fn includes_usage(&self) -> bool {
        self.streams()
            && self
                .stream_options
                .as_ref()
                .and_then(|options| options.include_usage)
                == Some(true)
    }

    /// The completion's token limit: `max_completion_tokens`, else
    /// `max_tokens`.
    pub fn token_limit(&self) -> Option<u64> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// How many choices are asked for.
    pub fn choices(&self) -> u32 {
        self.n.unwrap_or(1).max(1)
    }

    /// Whether the request uses the older `functions` instead of `tools`:
    /// the answer then calls with `function_call`, one call at most.
    pub fn uses_functions(&self) -> bool {
        self.tools.is_none() && self.functions.is_some()
    }
}

/// `stream_options`.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct StreamOptions {
    /// Whether a last chunk carries the usage.
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// Who wrote a message of a Chat Completions conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ChatRole {
    /// Instructions.
    System,
    /// Instructions (the newer name).
    Developer,
    /// The user.
    User,
    /// The model.
    Assistant,
    /// A tool's output.
    Tool,
    /// A function's output (the older form of `tool`).
    Function,
}

/// A message of the conversation. `content` is kept as sent (a string, an
/// array of parts, or absent); [`text`](Self::text) reads it.
#[derive(Clone, Debug, Deserialize)]
#[non_exhaustive]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: ChatRole,
    /// A string or an array of content parts (`Some(Value::Null)` when
    /// sent as `null`, which a `function` message may be).
    #[serde(default, deserialize_with = "present")]
    pub content: Option<Value>,
    /// The author's name.
    #[serde(default)]
    pub name: Option<String>,
    /// An assistant message's calls.
    #[serde(default)]
    pub tool_calls: Option<Vec<ChatToolCall>>,
    /// A tool message's call.
    #[serde(default)]
    pub tool_call_id: Option<String>,
    /// An assistant message's call, in the older form of `tool_calls`.
    #[serde(default)]
    pub function_call: Option<CalledFunction>,
}

impl ChatMessage {
    /// The text: the string content, or the `text` (and `refusal`) parts
    /// joined by a line break.
    pub fn text(&self) -> String {
        match &self.content {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|part| part.get("text").or_else(|| part.get("refusal")))
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        }
    }
}

/// A field that was sent, `null` included (absent: `None`, by `default`).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// A call in an assistant message.
#[derive(Clone, Debug, Deserialize)]
#[non_exhaustive]
pub struct ChatToolCall {
    /// The call's id, which the `tool` message answering it repeats.
    pub id: String,
    /// `function` or `custom`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The function called (a `function` call's).
    #[serde(default)]
    pub function: Option<CalledFunction>,
    /// A `custom` call's tool and input, kept as sent (only a backend
    /// reads them).
    #[serde(default)]
    pub custom: Option<Value>,
}

/// The function of a [`ChatToolCall`].
#[derive(Clone, Debug, Deserialize)]
#[non_exhaustive]
pub struct CalledFunction {
    /// Its name.
    pub name: String,
    /// Its arguments, a JSON string.
    pub arguments: String,
}

/// A tool the model may call.
#[derive(Clone, Debug, Deserialize)]
#[non_exhaustive]
pub struct ChatTool {
    /// `function` (or `custom`, which only a backend may run).
    #[serde(rename = "type")]
    pub kind: String,
    /// A function tool's function.
    #[serde(default)]
    pub function: Option<FunctionDefinition>,
}

/// The run's turn a request asks for (see the [module docs](self)).
pub fn turn_of(request: &ChatRequest) -> Turn {
    let mut run = Run::default();
    run.object = "thread.run".to_owned();
    run.model = request.model.clone();
    let instructions: Vec<String> = request
        .messages
        .iter()
        .filter(|m| matches!(m.role, ChatRole::System | ChatRole::Developer))
        .map(ChatMessage::text)
        .filter(|text| !text.is_empty())
        .collect();
    if !instructions.is_empty() {
        run.instructions = Some(instructions.join("\n\n"));
    }
    run.tools = request
        .tools
        .iter()
        .flatten()
        .filter_map(|tool| tool.function.clone())
        .map(Tool::function)
        .collect();
    run.tool_choice = request.tool_choice.clone();
    run.parallel_tool_calls = request.parallel_tool_calls;
    if request.uses_functions() {
        run.tools = request
            .functions
            .iter()
            .flatten()
            .cloned()
            .map(Tool::function)
            .collect();
        run.tool_choice = match &request.function_call {
            Some(Value::String(choice)) if choice == "none" => Some(ToolChoice::None),
            Some(Value::Object(choice)) => choice
                .get("name")
                .and_then(Value::as_str)
                .map(|name| ToolChoice::Function(name.to_owned())),
            _ => None,
        };
        // One call an answer, as `function_call` carries one.
        run.parallel_tool_calls = Some(false);
    }
    run.response_format = request.response_format.clone();
    run.temperature = request.temperature;
    run.top_p = request.top_p;
    run.max_completion_tokens = request.token_limit();

    let mut messages = Vec::new();
    for (i, message) in request.messages.iter().enumerate() {
        let role = match message.role {
            ChatRole::User => Role::User,
            ChatRole::Assistant => Role::Assistant,
            _ => continue,
        };
        let text = message.text();
        if role == Role::Assistant
            && text.is_empty()
            && (message.tool_calls.is_some() || message.function_call.is_some())
        {
            continue;
        }
        messages.push(text_message(i, role, text));
    }

    // The calls after the last user message, with their outputs.
    let last_user = request
        .messages
        .iter()
        .rposition(|m| m.role == ChatRole::User)
        .map_or(0, |i| i + 1);
    let after = &request.messages[last_user.min(request.messages.len())..];
    let mut index = 0;
    let mut tool_outputs: Vec<FunctionToolCall> = Vec::new();
    for (i, message) in after.iter().enumerate() {
        match message.role {
            ChatRole::Assistant => {
                let calls = message.tool_calls.as_deref().unwrap_or_default();
                if let Some(call) = message.function_call.as_ref().filter(|_| calls.is_empty()) {
                    index += 1;
                    tool_outputs.push(call_made(format!("function_call_{i}"), call));
                }
                if !calls.is_empty() {
                    index += 1;
                }
                for call in calls {
                    let Some(called) = &call.function else {
                        continue;
                    };
                    tool_outputs.push(call_made(call.id.clone(), called));
                }
            }
            ChatRole::Tool => {
                let id = message.tool_call_id.as_deref().unwrap_or_default();
                if let Some(call) = tool_outputs.iter_mut().find(|call| call.id == id) {
                    call.function.output = Some(message.text());
                }
            }
            ChatRole::Function => {
                let name = message.name.as_deref().unwrap_or_default();
                if let Some(call) = tool_outputs
                    .iter_mut()
                    .find(|call| call.function.name == name && call.function.output.is_none())
                {
                    call.function.output = Some(message.text());
                }
            }
            _ => {}
        }
    }
    let mut turn = Turn::new(run);
    turn.messages = messages;
    turn.tool_outputs = tool_outputs;
    turn.index = index;
    turn
}

/// A call of the conversation, its output still to be found.
fn call_made(id: String, called: &CalledFunction) -> FunctionToolCall {
    let mut function = FunctionCall::default();
    function.name = called.name.clone();
    function.arguments = called.arguments.clone();
    let mut made = FunctionToolCall::default();
    made.id = id;
    made.function = function;
    made
}

fn text_message(index: usize, role: Role, text: String) -> Message {
    let mut value = json!({
        "id": format!("msg_chat{index}"),
        "object": "thread.message",
        "role": role,
        "status": "completed",
    });
    value["content"] = json!([MessageContent::text(text)]);
    serde_json::from_value(value).expect("a message of known fields")
}

/// Answers a request by asking `model` for the turn it describes, `n`
/// times: [`Model::complete`]'s default.
pub(crate) async fn complete_by_turns<M: Model + ?Sized>(
    model: &M,
    request: ChatRequest,
) -> Result<ChatAnswer, BackendError> {
    let turn = turn_of(&request);
    let choices = request.choices();
    // The choices one after another: a model that makes its answer when
    // first read (as the scripted model does) holds one at a time, so `n`
    // up to 128 of long answers stays bounded. Each model's `respond` is
    // called now, so a model that starts work there still works on all at
    // once.
    let streams: Vec<_> = (0..choices)
        .map(|index| {
            model
                .respond(turn.clone())
                .map(move |event| (index, Some(event)))
                .chain(futures_util::stream::iter([(index, None)]))
        })
        .collect();
    let events = futures_util::stream::iter(streams).flatten().boxed();
    let writer = Writer::new(&request, choices);
    if request.streams() {
        Ok(ChatAnswer::Stream(writer.stream(events)))
    } else {
        writer.whole(events).await.map(ChatAnswer::Whole)
    }
}

/// A call of a choice, as the completion numbers it.
struct CallState {
    /// The model's index for it (calls given whole have none).
    model_index: Option<u32>,
    id: String,
    name: String,
    arguments: String,
}

/// One choice being written.
#[derive(Default)]
struct Choice {
    started: bool,
    ended: bool,
    text: String,
    calls: Vec<CallState>,
    finish: Option<&'static str>,
    usage: Option<Usage>,
    tokens: u64,
}

/// Turns the events of `n` choices into chunks, or one whole completion.
struct Writer {
    id: String,
    created: i64,
    model: String,
    streams: bool,
    include_usage: bool,
    limit: Option<u64>,
    /// Calls go in `function_call` (the request used `functions`).
    legacy: bool,
    choices: Vec<Choice>,
    out: VecDeque<String>,
    failed: bool,
}

impl Writer {
    fn new(request: &ChatRequest, choices: u32) -> Self {
        Writer {
            // `chatcmpl-…`, as the API spells a completion's id.
            id: new_id("chatcmpl").replacen('_', "-", 1),
            created: now(),
            model: request.model.clone(),
            streams: request.streams(),
            include_usage: request.includes_usage(),
            limit: request.token_limit(),
            legacy: request.uses_functions(),
            choices: (0..choices).map(|_| Choice::default()).collect(),
            out: VecDeque::new(),
            failed: false,
        }
    }

    fn stream(
        self,
        events: impl futures_util::Stream<Item = (u32, Option<ModelEvent>)> + Send + Unpin + 'static,
    ) -> ChunkStream {
        futures_util::stream::unfold((self, events), |(mut writer, mut events)| async move {
            loop {
                if let Some(chunk) = writer.out.pop_front() {
                    return Some((Ok(chunk), (writer, events)));
                }
                if writer.failed {
                    return None;
                }
                match events.next().await {
                    Some((index, event)) => {
                        if let Err(error) = writer.event(index as usize, event) {
                            writer.failed = true;
                            writer.out.clear();
                            return Some((Err(error), (writer, events)));
                        }
                    }
                    None if writer.include_usage => {
                        writer.include_usage = false;
                        let usage = writer.usage();
                        let mut chunk = writer.chunk_head();
                        chunk["choices"] = json!([]);
                        chunk["usage"] = usage;
                        writer.out.push_back(chunk.to_string());
                    }
                    None => return None,
                }
            }
        })
        .boxed()
    }

    async fn whole(
        mut self,
        mut events: impl futures_util::Stream<Item = (u32, Option<ModelEvent>)> + Send + Unpin,
    ) -> Result<Value, BackendError> {
        while let Some((index, event)) = events.next().await {
            self.event(index as usize, event)?;
        }
        let usage = self.usage();
        let legacy = self.legacy;
        let choices: Vec<Value> = std::mem::take(&mut self.choices)
            .into_iter()
            .enumerate()
            .map(|(index, mut choice)| {
                let mut message = json!({
                    "role": "assistant",
                    "content": if choice.text.is_empty() && !choice.calls.is_empty() {
                        Value::Null
                    } else {
                        Value::String(std::mem::take(&mut choice.text))
                    },
                    "refusal": null,
                    "annotations": [],
                });
                if let Some(call) = choice.calls.first().filter(|_| legacy) {
                    message["function_call"] =
                        json!({"name": call.name, "arguments": call.arguments});
                } else if !choice.calls.is_empty() {
                    message["tool_calls"] = choice
                        .calls
                        .iter()
                        .map(|call| {
                            json!({"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}})
                        })
                        .collect();
                }
                json!({
                    "index": index,
                    "message": message,
                    "logprobs": null,
                    "finish_reason": choice.finish.unwrap_or("stop"),
                })
            })
            .collect();
        let mut whole = json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "service_tier": "default",
        });
        if !usage.is_null() {
            whole["usage"] = usage;
        }
        Ok(whole)
    }

    /// The usage of all choices: the prompt once, their completions summed
    /// (`null` if a choice's model reported none).
    fn usage(&self) -> Value {
        let mut prompt = 0;
        let mut completion = 0;
        for choice in &self.choices {
            let Some(usage) = &choice.usage else {
                return Value::Null;
            };
            prompt = prompt.max(usage.prompt_tokens);
            completion += usage.completion_tokens;
        }
        json!({
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        })
    }

    fn chunk_head(&self) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
        })
    }

    /// Queues a chunk of choice `index` with this delta.
    fn push(&mut self, index: usize, delta: Value, finish: Option<&str>) {
        if !self.streams {
            return;
        }
        let mut chunk = self.chunk_head();
        chunk["choices"] =
            json!([{"index": index, "delta": delta, "logprobs": null, "finish_reason": finish}]);
        if self.include_usage {
            chunk["usage"] = Value::Null;
        }
        self.out.push_back(chunk.to_string());
    }

    fn start(&mut self, index: usize) {
        if !self.choices[index].started {
            self.choices[index].started = true;
            self.push(
                index,
                json!({"role": "assistant", "content": "", "refusal": null}),
                None,
            );
        }
    }

    /// Whether one more completion token is within the limit (counted).
    fn spend(&mut self, index: usize) -> bool {
        let choice = &mut self.choices[index];
        if self.limit.is_some_and(|limit| choice.tokens >= limit) {
            if choice.finish.is_none() {
                choice.finish = Some("length");
            }
            return false;
        }
        choice.tokens += 1;
        true
    }

    fn event(&mut self, index: usize, event: Option<ModelEvent>) -> Result<(), BackendError> {
        if index >= self.choices.len() || self.choices[index].ended {
            return Ok(());
        }
        let Some(event) = event else {
            return self.end(index);
        };
        self.start(index);
        match event {
            ModelEvent::Text(text) => {
                if text.is_empty() || self.choices[index].finish == Some("length") {
                    return Ok(());
                }
                if !self.spend(index) {
                    return Ok(());
                }
                if !self.streams {
                    self.choices[index].text.push_str(&text);
                }
                self.push(index, json!({"content": text}), None);
            }
            ModelEvent::ToolCall { name, arguments } => {
                let number = self.open_call(index, None, name);
                self.arguments(index, number, &arguments, true);
            }
            ModelEvent::ToolCallStart {
                index: model_index,
                name,
            } => {
                self.open_call(index, Some(model_index), name);
            }
            ModelEvent::ToolCallArguments {
                index: model_index,
                fragment,
            } => {
                let found = self.choices[index]
                    .calls
                    .iter()
                    .position(|call| call.model_index == Some(model_index));
                match found {
                    Some(number) => self.arguments(index, number, &fragment, false),
                    None => tracing::warn!(
                        index = model_index,
                        "arguments for a call never started are dropped"
                    ),
                }
            }
            ModelEvent::Usage(usage) => self.choices[index].usage = Some(usage),
            ModelEvent::Finish(reason) => {
                let choice = &mut self.choices[index];
                match reason {
                    FinishReason::Length => choice.finish = Some("length"),
                    FinishReason::ContentFilter => choice.finish = Some("content_filter"),
                    _ => {}
                }
            }
            ModelEvent::Incomplete { .. } => self.choices[index].finish = Some("length"),
            ModelEvent::Fail(error) => {
                return Err(BackendError::Failed {
                    message: error.message,
                });
            }
        }
        Ok(())
    }

    /// Starts a call of choice `index`: its number in the choice.
    fn open_call(&mut self, index: usize, model_index: Option<u32>, name: String) -> usize {
        let id = new_id("call");
        let number = self.choices[index].calls.len();
        let delta = if self.legacy {
            json!({"function_call": {"name": name, "arguments": ""}})
        } else {
            json!({"tool_calls": [{"index": number, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]})
        };
        if !self.legacy || number == 0 {
            self.push(index, delta, None);
        }
        self.choices[index].calls.push(CallState {
            model_index,
            id,
            name,
            arguments: String::new(),
        });
        number
    }

    /// A call's arguments: streamed in pieces of about 8 bytes when given
    /// whole (`split`), each piece one completion token.
    fn arguments(&mut self, index: usize, number: usize, arguments: &str, split: bool) {
        let pieces = if split {
            argument_chunks(arguments)
        } else {
            vec![arguments]
        };
        for piece in pieces {
            if piece.is_empty() {
                continue;
            }
            // A call is never cut: its pieces count, past the limit too.
            self.choices[index].tokens += 1;
            if !self.streams {
                self.choices[index].calls[number].arguments.push_str(piece);
            }
            let delta = if self.legacy {
                json!({"function_call": {"arguments": piece}})
            } else {
                json!({"tool_calls": [{"index": number, "function": {"arguments": piece}}]})
            };
            // `function_call` carries one call: the others are left out.
            if !self.legacy || number == 0 {
                self.push(index, delta, None);
            }
        }
    }

    fn end(&mut self, index: usize) -> Result<(), BackendError> {
        self.start(index);
        let choice = &mut self.choices[index];
        choice.ended = true;
        let reason = match choice.finish {
            Some(reason) => reason,
            None if !choice.calls.is_empty() && self.legacy => "function_call",
            None if !choice.calls.is_empty() => "tool_calls",
            None => "stop",
        };
        choice.finish = Some(reason);
        self.push(index, json!({}), Some(reason));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: Value) -> ChatRequest {
        let Value::Object(body) = body else {
            panic!("an object")
        };
        ChatRequest::from_json(body).unwrap()
    }

    #[test]
    fn a_request_becomes_a_turn() {
        let request = request(json!({
            "model": "m",
            "max_tokens": 9,
            "temperature": null,
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Be kind."}]},
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "one"},
                {"role": "assistant", "content": "", "tool_calls": [
                    {"id": "c2", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}}]},
                {"role": "tool", "tool_call_id": "c2", "content": "two"},
            ],
        }));
        assert!(!request.body.contains_key("temperature"), "nulls left out");
        let turn = turn_of(&request);
        assert_eq!(
            turn.run.instructions.as_deref(),
            Some("Be brief.\n\nBe kind.")
        );
        assert_eq!(turn.run.max_completion_tokens, Some(9));
        assert_eq!(turn.completion_tokens_left, Some(9));
        assert!(turn.has_function("f"));
        let texts: Vec<String> = turn.messages.iter().map(Message::text).collect();
        assert_eq!(texts, ["first", "ok", "a\nb"]);
        assert_eq!(turn.last_user_text().as_deref(), Some("a\nb"));
        // Two rounds of calls after the last user message, with outputs.
        assert_eq!(turn.index, 2);
        let outputs: Vec<(&str, Option<&str>)> = turn
            .tool_outputs
            .iter()
            .map(|c| (c.id.as_str(), c.function.output.as_deref()))
            .collect();
        assert_eq!(outputs, [("c1", Some("one")), ("c2", Some("two"))]);
    }

    #[test]
    fn usage_is_null_unless_every_choice_reported_one() {
        let request =
            request(json!({"model": "m", "n": 2, "messages": [{"role": "user", "content": "x"}]}));
        let mut writer = Writer::new(&request, 2);
        writer.choices[0].usage = Some(Usage::new(3, 4));
        assert!(writer.usage().is_null());
        writer.choices[1].usage = Some(Usage::new(3, 5));
        let usage = writer.usage();
        assert_eq!(usage["prompt_tokens"], 3);
        assert_eq!(usage["completion_tokens"], 9);
        assert_eq!(usage["total_tokens"], 12);
    }

    #[test]
    fn backend_errors_say_their_message_once() {
        let error = BackendError::TimedOut {
            message: "The model backend sent nothing for 1 s.".into(),
        };
        assert_eq!(error.to_string(), "The model backend sent nothing for 1 s.");
        assert_eq!(error.to_json()["error"]["code"], "timeout");
        assert_eq!(error.to_json()["error"]["type"], "server_error");
    }
}
