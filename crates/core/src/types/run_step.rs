//! Run steps (message creation or tool calls) and their streamed deltas.

use super::common::{FileSearchRankingOptions, LastError, Metadata, Usage};
use super::tagged::null_as_default;
use serde::{Deserialize, Serialize};

string_enum! {
    /// The kind of a run step.
    pub enum RunStepType {
        /// The step wrote a message.
        MessageCreation = "message_creation",
        /// The step called tools.
        ToolCalls = "tool_calls",
    }
}

string_enum! {
    /// Where a run step is in its life.
    pub enum RunStepStatus {
        /// Running.
        InProgress = "in_progress",
        /// Cancelled.
        Cancelled = "cancelled",
        /// Failed.
        Failed = "failed",
        /// Finished.
        Completed = "completed",
        /// Expired with its run.
        Expired = "expired",
    }
}

/// A step of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunStep {
    /// The step's id (`step_...`).
    pub id: String,
    /// Always `thread.run.step`.
    #[serde(default)]
    pub object: String,
    /// Unix time of creation, in seconds.
    #[serde(default)]
    pub created_at: i64,
    /// The assistant.
    #[serde(default)]
    pub assistant_id: String,
    /// The thread.
    #[serde(default)]
    pub thread_id: String,
    /// The run this step belongs to.
    #[serde(default)]
    pub run_id: String,
    /// The kind of step.
    #[serde(rename = "type")]
    pub kind: RunStepType,
    /// Where the step is in its life.
    pub status: RunStepStatus,
    /// What the step does.
    pub step_details: StepDetails,
    /// Why the step failed.
    #[serde(default)]
    pub last_error: Option<LastError>,
    /// When the step expired.
    #[serde(default)]
    pub expired_at: Option<i64>,
    /// When the step was cancelled.
    #[serde(default)]
    pub cancelled_at: Option<i64>,
    /// When the step failed.
    #[serde(default)]
    pub failed_at: Option<i64>,
    /// When the step completed.
    #[serde(default)]
    pub completed_at: Option<i64>,
    /// When the step expires (real servers send this; the spec does not list it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Metadata.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// Token usage, once the step is done.
    #[serde(default)]
    pub usage: Option<Usage>,
}

/// An empty `message_creation` step, `in_progress`, with no ids; for
/// building one field by field (the type is `#[non_exhaustive]`).
impl Default for RunStep {
    fn default() -> Self {
        RunStep {
            id: String::new(),
            object: String::new(),
            created_at: 0,
            assistant_id: String::new(),
            thread_id: String::new(),
            run_id: String::new(),
            kind: RunStepType::MessageCreation,
            status: RunStepStatus::InProgress,
            step_details: StepDetails::MessageCreation(MessageCreationDetails::default()),
            last_error: None,
            expired_at: None,
            cancelled_at: None,
            failed_at: None,
            completed_at: None,
            expires_at: None,
            metadata: Metadata::default(),
            usage: None,
        }
    }
}

impl RunStep {
    /// The tool calls of a `tool_calls` step (empty otherwise).
    pub fn tool_calls(&self) -> &[ToolCall] {
        match &self.step_details {
            StepDetails::ToolCalls(details) => &details.tool_calls,
            _ => &[],
        }
    }

    /// The id of the message a `message_creation` step writes.
    pub fn message_id(&self) -> Option<&str> {
        match &self.step_details {
            StepDetails::MessageCreation(details) => Some(&details.message_creation.message_id),
            _ => None,
        }
    }
}

tagged_enum! {
    /// What a run step does.
    pub enum StepDetails {
        /// Writes a message.
        MessageCreation(MessageCreationDetails) = "message_creation",
        /// Calls tools.
        ToolCalls(ToolCallsDetails) = "tool_calls",
    }
}

/// Details of a `message_creation` step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessageCreationDetails {
    /// The message written.
    pub message_creation: MessageCreation,
}

/// The message a step writes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessageCreation {
    /// Its id.
    pub message_id: String,
}

/// Details of a `tool_calls` step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolCallsDetails {
    /// The calls, in order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tool_calls: Vec<ToolCall>,
}

tagged_enum! {
    /// A tool call of a run step.
    pub enum ToolCall {
        /// Python run by the code interpreter.
        CodeInterpreter(CodeInterpreterToolCall) = "code_interpreter",
        /// A file search.
        FileSearch(FileSearchToolCall) = "file_search",
        /// A call of one of your functions.
        Function(FunctionToolCall) = "function",
    }
}

impl ToolCall {
    /// The call's id.
    pub fn id(&self) -> Option<&str> {
        match self {
            ToolCall::CodeInterpreter(call) => Some(&call.id),
            ToolCall::FileSearch(call) => Some(&call.id),
            ToolCall::Function(call) => Some(&call.id),
            ToolCall::Unknown(raw) => raw.get("id").and_then(|id| id.as_str()),
        }
    }
}

/// A code interpreter call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CodeInterpreterToolCall {
    /// The call's id.
    #[serde(default)]
    pub id: String,
    /// The code and what it printed.
    #[serde(default)]
    pub code_interpreter: CodeInterpreterCall,
}

/// The code and outputs of a code interpreter call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CodeInterpreterCall {
    /// The code.
    #[serde(default)]
    pub input: String,
    /// Logs and images it produced.
    #[serde(default, deserialize_with = "null_as_default")]
    pub outputs: Vec<CodeInterpreterOutput>,
}

tagged_enum! {
    /// One output of a code interpreter call.
    pub enum CodeInterpreterOutput {
        /// Text it printed.
        Logs(CodeInterpreterLogs) = "logs",
        /// An image it made.
        Image(CodeInterpreterImage) = "image",
    }
}

/// Text printed by the code interpreter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CodeInterpreterLogs {
    /// The text.
    #[serde(default)]
    pub logs: String,
}

/// An image made by the code interpreter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CodeInterpreterImage {
    /// The image file.
    #[serde(default)]
    pub image: CodeInterpreterImageFile,
}

/// The file of a code interpreter image.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CodeInterpreterImageFile {
    /// The file's id.
    #[serde(default)]
    pub file_id: String,
}

/// A file search call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileSearchToolCall {
    /// The call's id.
    #[serde(default)]
    pub id: String,
    /// How it ranked and what it found.
    #[serde(default)]
    pub file_search: FileSearchCall,
}

/// The ranking and results of a file search call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileSearchCall {
    /// How results were ranked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranking_options: Option<FileSearchRankingOptions>,
    /// What it found.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub results: Vec<FileSearchResult>,
}

/// One file search result.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileSearchResult {
    /// The file it was found in.
    #[serde(default)]
    pub file_id: String,
    /// That file's name.
    #[serde(default)]
    pub file_name: String,
    /// The score, 0 to 1.
    #[serde(default)]
    pub score: f64,
    /// The content found, when asked for with `include[]`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub content: Vec<FileSearchResultContent>,
}

/// Content of a file search result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileSearchResultContent {
    /// Always `text`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The text.
    #[serde(default)]
    pub text: Option<String>,
}

/// A call of one of your functions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionToolCall {
    /// The call's id.
    #[serde(default)]
    pub id: String,
    /// The function, its arguments and your output.
    #[serde(default)]
    pub function: FunctionCall,
}

/// The function, arguments and output of a function call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionCall {
    /// The function's name.
    #[serde(default)]
    pub name: String,
    /// The arguments as a JSON string.
    #[serde(default)]
    pub arguments: String,
    /// Your output, once submitted.
    #[serde(default)]
    pub output: Option<String>,
}

/// The payload of `thread.run.step.delta`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunStepDeltaEvent {
    /// The step's id.
    pub id: String,
    /// Always `thread.run.step.delta`.
    #[serde(default)]
    pub object: String,
    /// What changed.
    #[serde(default)]
    pub delta: RunStepDelta,
}

/// What changed in a run step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunStepDelta {
    /// Changed details.
    #[serde(default)]
    pub step_details: Option<StepDetailsDelta>,
}

tagged_enum! {
    /// Changed details of a run step.
    pub enum StepDetailsDelta {
        /// Of a `message_creation` step.
        MessageCreation(MessageCreationDetailsDelta) = "message_creation",
        /// Of a `tool_calls` step.
        ToolCalls(ToolCallsDetailsDelta) = "tool_calls",
    }
}

/// Changed details of a `message_creation` step.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessageCreationDetailsDelta {
    /// The message.
    #[serde(default)]
    pub message_creation: Option<MessageCreationDelta>,
}

/// The message of a `message_creation` step delta.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessageCreationDelta {
    /// Its id.
    #[serde(default)]
    pub message_id: Option<String>,
}

/// Changed tool calls of a `tool_calls` step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolCallsDetailsDelta {
    /// Fragments of calls, each placed by its `index`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tool_calls: Vec<ToolCallDelta>,
}

tagged_enum! {
    /// A fragment of a tool call.
    pub enum ToolCallDelta {
        /// Of a code interpreter call.
        CodeInterpreter(CodeInterpreterToolCallDelta) = "code_interpreter",
        /// Of a file search call.
        FileSearch(FileSearchToolCallDelta) = "file_search",
        /// Of a function call.
        Function(FunctionToolCallDelta) = "function",
    }
}

impl ToolCallDelta {
    /// The position of the call in the step's `tool_calls`.
    pub fn index(&self) -> Option<u64> {
        match self {
            ToolCallDelta::CodeInterpreter(d) => Some(d.index),
            ToolCallDelta::FileSearch(d) => Some(d.index),
            ToolCallDelta::Function(d) => Some(d.index),
            ToolCallDelta::Unknown(raw) => raw.get("index").and_then(|i| i.as_u64()),
        }
    }
}

/// A fragment of a code interpreter call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CodeInterpreterToolCallDelta {
    /// Position in the step's `tool_calls`.
    #[serde(default)]
    pub index: u64,
    /// The call's id, in its first fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// More code or outputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_interpreter: Option<CodeInterpreterCallDelta>,
}

/// More code or outputs of a code interpreter call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CodeInterpreterCallDelta {
    /// Code to append.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Output fragments, each placed by its `index`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub outputs: Vec<CodeInterpreterOutputDelta>,
}

tagged_enum! {
    /// A fragment of a code interpreter output.
    pub enum CodeInterpreterOutputDelta {
        /// Of printed text.
        Logs(CodeInterpreterLogsDelta) = "logs",
        /// Of an image.
        Image(CodeInterpreterImageDelta) = "image",
    }
}

/// A fragment of printed text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CodeInterpreterLogsDelta {
    /// Position in the call's `outputs`.
    #[serde(default)]
    pub index: u64,
    /// Text to append.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<String>,
}

/// A fragment of an image output.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CodeInterpreterImageDelta {
    /// Position in the call's `outputs`.
    #[serde(default)]
    pub index: u64,
    /// The image file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<CodeInterpreterImageFileDelta>,
}

/// The file of an image output fragment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CodeInterpreterImageFileDelta {
    /// The file's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
}

/// A fragment of a file search call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileSearchToolCallDelta {
    /// Position in the step's `tool_calls`.
    #[serde(default)]
    pub index: u64,
    /// The call's id, in its first fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Ranking and results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_search: Option<FileSearchCall>,
}

/// A fragment of a function call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionToolCallDelta {
    /// Position in the step's `tool_calls`.
    #[serde(default)]
    pub index: u64,
    /// The call's id, in its first fragment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name, arguments or output to append.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<FunctionCallDelta>,
}

/// Name, arguments or output fragments of a function call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FunctionCallDelta {
    /// The name (or a part of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A part of the arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
    /// A part of the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

impl RunStepDeltaEvent {
    /// The delta of one function call of a tool-calls step.
    #[doc(hidden)]
    pub fn function_call(step_id: &str, call: FunctionToolCallDelta) -> Self {
        RunStepDeltaEvent {
            id: step_id.to_owned(),
            object: "thread.run.step.delta".to_owned(),
            delta: RunStepDelta {
                step_details: Some(StepDetailsDelta::ToolCalls(ToolCallsDetailsDelta {
                    tool_calls: vec![ToolCallDelta::Function(call)],
                })),
            },
        }
    }
}
