//! Runs: one execution of an assistant on a thread.

use super::common::{
    IncompleteDetails, LastError, Metadata, ResponseFormat, Tool, ToolChoice, ToolResources,
    TruncationStrategy, Usage,
};
use super::tagged::null_as_default;
use serde::{Deserialize, Serialize};

string_enum! {
    /// Where a run is in its life.
    pub enum RunStatus {
        /// Waiting to start.
        Queued = "queued",
        /// Running.
        InProgress = "in_progress",
        /// Waiting for tool outputs.
        RequiresAction = "requires_action",
        /// Cancellation was asked for.
        Cancelling = "cancelling",
        /// Cancelled.
        Cancelled = "cancelled",
        /// Failed; see `last_error`.
        Failed = "failed",
        /// Finished.
        Completed = "completed",
        /// Ended early; see `incomplete_details`.
        Incomplete = "incomplete",
        /// Passed its `expires_at`.
        Expired = "expired",
    }
}

// `string_enum!` declares the enum, so `#[derive(Default)]` cannot be used.
#[allow(clippy::derivable_impls)]
impl Default for RunStatus {
    fn default() -> Self {
        RunStatus::Queued
    }
}

impl RunStatus {
    /// Whether the run can no longer change: completed, failed, cancelled, expired or incomplete.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            RunStatus::Completed
                | RunStatus::Failed
                | RunStatus::Cancelled
                | RunStatus::Expired
                | RunStatus::Incomplete
        )
    }

    /// Whether a stream of this run has reached a point where it ends:
    /// a terminal status or `requires_action`.
    pub fn ends_stream(&self) -> bool {
        self.is_terminal() || *self == RunStatus::RequiresAction
    }
}

/// A run: one execution of an assistant on a thread.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Run {
    /// The run's id (`run_...`).
    pub id: String,
    /// Always `thread.run`.
    #[serde(default)]
    pub object: String,
    /// Unix time of creation, in seconds.
    #[serde(default)]
    pub created_at: i64,
    /// The thread it runs on.
    #[serde(default)]
    pub thread_id: String,
    /// The assistant it runs.
    #[serde(default)]
    pub assistant_id: String,
    /// Where the run is in its life.
    pub status: RunStatus,
    /// What the run waits for, in `requires_action`.
    #[serde(default)]
    pub required_action: Option<RequiredAction>,
    /// Why the run failed.
    #[serde(default)]
    pub last_error: Option<LastError>,
    /// When the run expires.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// When the run started.
    #[serde(default)]
    pub started_at: Option<i64>,
    /// When the run was cancelled.
    #[serde(default)]
    pub cancelled_at: Option<i64>,
    /// When the run failed.
    #[serde(default)]
    pub failed_at: Option<i64>,
    /// When the run completed.
    #[serde(default)]
    pub completed_at: Option<i64>,
    /// Why the run is incomplete.
    #[serde(default)]
    pub incomplete_details: Option<IncompleteDetails>,
    /// The model used.
    #[serde(default)]
    pub model: String,
    /// The instructions used (real servers send `null` here at times).
    #[serde(default)]
    pub instructions: Option<String>,
    /// The tools available to the run.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tools: Vec<Tool>,
    /// Resources for the tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_resources: Option<ToolResources>,
    /// Metadata.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// Token usage, once the run is terminal.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// The most prompt tokens the run may use.
    #[serde(default)]
    pub max_prompt_tokens: Option<u64>,
    /// The most completion tokens the run may use.
    #[serde(default)]
    pub max_completion_tokens: Option<u64>,
    /// How the thread was truncated.
    #[serde(default)]
    pub truncation_strategy: Option<TruncationStrategy>,
    /// Which tool the model had to call.
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may call several functions at once.
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// The answer format.
    #[serde(default)]
    pub response_format: Option<ResponseFormat>,
    /// Reasoning effort, for reasoning models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
}

impl Run {
    /// The function calls a `requires_action` run waits for (empty otherwise).
    pub fn required_tool_calls(&self) -> &[RunToolCall] {
        match &self.required_action {
            Some(action) => action
                .submit_tool_outputs
                .as_ref()
                .map(|s| s.tool_calls.as_slice())
                .unwrap_or_default(),
            None => &[],
        }
    }
}

/// What a `requires_action` run waits for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RequiredAction {
    /// Always `submit_tool_outputs` for now.
    #[serde(rename = "type", default = "submit_tool_outputs")]
    pub kind: String,
    /// The tool calls to answer.
    #[serde(default)]
    pub submit_tool_outputs: Option<SubmitToolOutputsAction>,
}

fn submit_tool_outputs() -> String {
    "submit_tool_outputs".to_owned()
}

impl RequiredAction {
    /// A `submit_tool_outputs` action for these calls.
    pub fn submit_tool_outputs(tool_calls: Vec<RunToolCall>) -> Self {
        RequiredAction {
            kind: submit_tool_outputs(),
            submit_tool_outputs: Some(SubmitToolOutputsAction { tool_calls }),
        }
    }
}

/// The tool calls a run waits for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SubmitToolOutputsAction {
    /// The calls.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tool_calls: Vec<RunToolCall>,
}

/// A function call a run waits for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunToolCall {
    /// The call's id (`call_...`), to answer with.
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    /// The function and its arguments.
    pub function: RunToolCallFunction,
}

fn function_type() -> String {
    "function".to_owned()
}

impl RunToolCall {
    /// A function call.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        arguments: impl Into<String>,
    ) -> Self {
        RunToolCall {
            id: id.into(),
            kind: function_type(),
            function: RunToolCallFunction {
                name: name.into(),
                arguments: arguments.into(),
            },
        }
    }
}

/// The function and arguments of a [`RunToolCall`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunToolCallFunction {
    /// The function's name.
    pub name: String,
    /// The arguments as a JSON string, as the model wrote them.
    #[serde(default)]
    pub arguments: String,
}

/// The output of one tool call, to submit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolOutput {
    /// The id of the call answered.
    pub tool_call_id: String,
    /// The output (empty when sent as `null` or left out, as the API allows).
    #[serde(default, deserialize_with = "null_as_default")]
    pub output: String,
}

impl ToolOutput {
    /// The output of a call.
    pub fn new(tool_call_id: impl Into<String>, output: impl Into<String>) -> Self {
        ToolOutput {
            tool_call_id: tool_call_id.into(),
            output: output.into(),
        }
    }
}
