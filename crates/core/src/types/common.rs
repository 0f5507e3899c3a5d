//! Shapes shared by assistants, threads, runs and messages.

use super::tagged::null_as_default;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Up to 16 key-value pairs attached to an object (keys ≤ 64 chars, values ≤ 512 chars).
pub type Metadata = BTreeMap<String, String>;

/// The error object of the API: in error responses (`{"error": {...}}`),
/// in `error` stream events, and in `last_error` fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorObject {
    /// A human-readable description.
    #[serde(default)]
    pub message: String,
    /// The error type, such as `invalid_request_error` or `server_error`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The request parameter at fault, if any.
    #[serde(default)]
    pub param: Option<String>,
    /// A machine-readable code, if any.
    #[serde(default)]
    pub code: Option<String>,
}

impl ErrorObject {
    /// An error object with a message and a type.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorObject {
            message: message.into(),
            kind: kind.into(),
            param: None,
            code: None,
        }
    }

    /// Sets the `code`.
    #[must_use]
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets the `param`.
    #[must_use]
    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }
}

impl std::fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.kind.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "{}: {}", self.kind, self.message)?;
        }
        if let Some(code) = &self.code {
            write!(f, " (code {code})")?;
        }
        Ok(())
    }
}

string_enum! {
    /// Why a run or run step failed (`last_error.code`).
    pub enum LastErrorCode {
        /// The server failed.
        ServerError = "server_error",
        /// A rate limit was hit.
        RateLimitExceeded = "rate_limit_exceeded",
        /// The prompt was refused.
        InvalidPrompt = "invalid_prompt",
    }
}

/// The last error of a run or run step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LastError {
    /// What kind of error.
    pub code: LastErrorCode,
    /// A human-readable description.
    #[serde(default)]
    pub message: String,
}

impl LastError {
    /// A last error with a code and a message.
    pub fn new(code: LastErrorCode, message: impl Into<String>) -> Self {
        LastError {
            code,
            message: message.into(),
        }
    }
}

/// Why a run or message is incomplete.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct IncompleteDetails {
    /// For runs `max_completion_tokens` or `max_prompt_tokens`; for messages
    /// `content_filter`, `max_tokens`, `run_cancelled`, `run_expired` or `run_failed`.
    pub reason: String,
}

impl IncompleteDetails {
    /// Details with a reason.
    pub fn new(reason: impl Into<String>) -> Self {
        IncompleteDetails {
            reason: reason.into(),
        }
    }
}

/// Token usage of a run or run step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// Tokens in the prompt.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Tokens in the completion.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Both together.
    #[serde(default)]
    pub total_tokens: u64,
}

impl Usage {
    /// Usage from prompt and completion token counts.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
        }
    }
}

/// A function the model may call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionDefinition {
    /// The function's name (a-z, A-Z, 0-9, underscores and dashes; at most 64).
    pub name: String,
    /// What the function does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The parameters as a JSON Schema object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Whether the model must follow the schema exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

impl FunctionDefinition {
    /// A function with a name and no parameters.
    pub fn new(name: impl Into<String>) -> Self {
        FunctionDefinition {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Sets the description.
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets the JSON Schema of the parameters.
    #[must_use]
    pub fn parameters(mut self, parameters: Value) -> Self {
        self.parameters = Some(parameters);
        self
    }
}

/// The `function` tool.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionTool {
    /// The function.
    pub function: FunctionDefinition,
}

/// The `code_interpreter` tool.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CodeInterpreterTool {}

/// The `file_search` tool.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileSearchTool {
    /// Overrides for the search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_search: Option<FileSearchSettings>,
}

/// Overrides for the `file_search` tool.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileSearchSettings {
    /// At most this many results (1 to 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_num_results: Option<u32>,
    /// How results are ranked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranking_options: Option<FileSearchRankingOptions>,
}

/// Ranking options of a file search.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileSearchRankingOptions {
    /// `auto` or `default_2024_08_21`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranker: Option<String>,
    /// Results below this score (0 to 1) are dropped.
    #[serde(default, deserialize_with = "null_as_default")]
    pub score_threshold: f64,
}

tagged_enum! {
    /// A tool an assistant or run may use.
    pub enum Tool {
        /// Runs Python code.
        CodeInterpreter(CodeInterpreterTool) = "code_interpreter",
        /// Searches files.
        FileSearch(FileSearchTool) = "file_search",
        /// Calls a function of yours.
        Function(FunctionTool) = "function",
    }
}

impl Tool {
    /// The `code_interpreter` tool.
    pub fn code_interpreter() -> Self {
        Tool::CodeInterpreter(CodeInterpreterTool {})
    }

    /// The `file_search` tool with default settings.
    pub fn file_search() -> Self {
        Tool::FileSearch(FileSearchTool::default())
    }

    /// A `function` tool.
    pub fn function(function: FunctionDefinition) -> Self {
        Tool::Function(FunctionTool { function })
    }

    /// The function definition, for a `function` tool.
    pub fn as_function(&self) -> Option<&FunctionDefinition> {
        match self {
            Tool::Function(tool) => Some(&tool.function),
            _ => None,
        }
    }
}

/// Files for the `code_interpreter` tool.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CodeInterpreterResources {
    /// Up to 20 file ids.
    #[serde(default, deserialize_with = "null_as_default")]
    pub file_ids: Vec<String>,
}

/// Vector stores for the `file_search` tool.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileSearchResources {
    /// Attached vector store ids.
    #[serde(default, deserialize_with = "null_as_default")]
    pub vector_store_ids: Vec<String>,
    /// Vector stores to create with the object (requests only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector_stores: Option<Value>,
}

/// Resources made available to the tools.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolResources {
    /// For `code_interpreter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_interpreter: Option<CodeInterpreterResources>,
    /// For `file_search`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_search: Option<FileSearchResources>,
}

/// Which tool, if any, the model must call.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ToolChoice {
    /// `"none"`: no tool; the model writes a message.
    None,
    /// `"auto"`: the model decides.
    Auto,
    /// `"required"`: at least one tool.
    Required,
    /// `{"type": "function", "function": {"name": ...}}`: this function.
    Function(String),
    /// `{"type": TYPE}`: this built-in tool (`file_search`, `code_interpreter`).
    Tool(String),
    /// Any other shape, kept as sent.
    Unknown(Value),
}

impl Serialize for ToolChoice {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ToolChoice::None => serializer.serialize_str("none"),
            ToolChoice::Auto => serializer.serialize_str("auto"),
            ToolChoice::Required => serializer.serialize_str("required"),
            ToolChoice::Function(name) => {
                serde_json::json!({"type": "function", "function": {"name": name}})
                    .serialize(serializer)
            }
            ToolChoice::Tool(kind) => serde_json::json!({ "type": kind }).serialize(serializer),
            ToolChoice::Unknown(raw) => raw.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ToolChoice {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(deserializer)?;
        Ok(match &raw {
            Value::String(s) if s == "none" => ToolChoice::None,
            Value::String(s) if s == "auto" => ToolChoice::Auto,
            Value::String(s) if s == "required" => ToolChoice::Required,
            Value::Object(map) => match map.get("type").and_then(Value::as_str) {
                Some("function") => match map
                    .get("function")
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                {
                    Some(name) => ToolChoice::Function(name.to_owned()),
                    None => ToolChoice::Unknown(raw),
                },
                Some(kind) if map.len() == 1 => ToolChoice::Tool(kind.to_owned()),
                _ => ToolChoice::Unknown(raw),
            },
            _ => ToolChoice::Unknown(raw),
        })
    }
}

/// The JSON schema of a `json_schema` response format.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JsonSchemaFormat {
    /// The schema's name.
    pub name: String,
    /// What the format is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON Schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Whether the output must follow the schema exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

/// The format the model must answer in.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ResponseFormat {
    /// `"auto"`.
    Auto,
    /// `{"type": "text"}`.
    Text,
    /// `{"type": "json_object"}`: JSON mode.
    JsonObject,
    /// `{"type": "json_schema", "json_schema": {...}}`: structured outputs.
    JsonSchema(JsonSchemaFormat),
    /// Any other shape, kept as sent.
    Unknown(Value),
}

impl Serialize for ResponseFormat {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ResponseFormat::Auto => serializer.serialize_str("auto"),
            ResponseFormat::Text => serde_json::json!({"type": "text"}).serialize(serializer),
            ResponseFormat::JsonObject => {
                serde_json::json!({"type": "json_object"}).serialize(serializer)
            }
            ResponseFormat::JsonSchema(schema) => {
                serde_json::json!({"type": "json_schema", "json_schema": schema})
                    .serialize(serializer)
            }
            ResponseFormat::Unknown(raw) => raw.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ResponseFormat {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(deserializer)?;
        Ok(match raw.as_str() {
            Some("auto") => ResponseFormat::Auto,
            _ => match raw.get("type").and_then(Value::as_str) {
                Some("text") => ResponseFormat::Text,
                Some("json_object") => ResponseFormat::JsonObject,
                Some("json_schema") => match raw
                    .get("json_schema")
                    .map(|s| JsonSchemaFormat::deserialize(s.clone()))
                {
                    Some(Ok(schema)) => ResponseFormat::JsonSchema(schema),
                    _ => ResponseFormat::Unknown(raw),
                },
                _ => ResponseFormat::Unknown(raw),
            },
        })
    }
}

string_enum! {
    /// How a thread is truncated before a run.
    pub enum TruncationType {
        /// Drop messages in the middle to fit the context.
        Auto = "auto",
        /// Keep the last `last_messages` messages.
        LastMessages = "last_messages",
    }
}

/// How a thread is truncated before a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TruncationStrategy {
    /// The strategy.
    #[serde(rename = "type")]
    pub kind: TruncationType,
    /// How many recent messages to keep, for `last_messages`.
    #[serde(default)]
    pub last_messages: Option<u32>,
}

impl TruncationStrategy {
    /// The `auto` strategy.
    pub fn auto() -> Self {
        TruncationStrategy {
            kind: TruncationType::Auto,
            last_messages: None,
        }
    }

    /// Keep the last `n` messages.
    pub fn last_messages(n: u32) -> Self {
        TruncationStrategy {
            kind: TruncationType::LastMessages,
            last_messages: Some(n),
        }
    }
}

/// The answer to `DELETE` on an object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Deleted {
    /// The id of the deleted object.
    pub id: String,
    /// `assistant.deleted`, `thread.deleted` or `thread.message.deleted`.
    pub object: String,
    /// Whether it was deleted.
    pub deleted: bool,
}

impl Deleted {
    /// A deletion answer.
    pub fn new(id: impl Into<String>, object: impl Into<String>) -> Self {
        Deleted {
            id: id.into(),
            object: object.into(),
            deleted: true,
        }
    }
}

/// One page of a list endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
#[non_exhaustive]
pub struct ListResponse<T> {
    /// Always `list`.
    #[serde(default = "list_object")]
    pub object: String,
    /// The items of this page.
    #[serde(default = "Vec::new", deserialize_with = "null_as_default")]
    pub data: Vec<T>,
    /// The id of the first item.
    #[serde(default)]
    pub first_id: Option<String>,
    /// The id of the last item.
    #[serde(default)]
    pub last_id: Option<String>,
    /// Whether more items follow.
    #[serde(default)]
    pub has_more: bool,
}

fn list_object() -> String {
    "list".to_owned()
}

impl<T> ListResponse<T> {
    /// A page of items; `first_id` and `last_id` are filled by the caller.
    pub fn new(
        data: Vec<T>,
        first_id: Option<String>,
        last_id: Option<String>,
        has_more: bool,
    ) -> Self {
        ListResponse {
            object: list_object(),
            data,
            first_id,
            last_id,
            has_more,
        }
    }
}
