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
    /// Makes `self` equal to `from`, keeping the allocations of what did not
    /// change: a run is sent four or five times a stream (created, queued,
    /// in progress, ended), each time with the same tools, parameter schemas
    /// and instructions, and the snapshot takes each one. Comparing a field
    /// is cheaper than dropping it and cloning it anew.
    ///
    /// Every field is named (a field added to `Run` fails to compile here).
    /// Floats are copied, never compared, so that `-0.0` replaces `0.0`; in
    /// the JSON values of the tools' schemas `serde_json` numbers compare
    /// `0.0` and `-0.0` equal, the one case where the kept value could differ
    /// from `from` (in the sign of a zero a schema repeats).
    pub(crate) fn refresh_from(&mut self, from: &Run) {
        fn refresh<T: Clone + PartialEq>(target: &mut T, from: &T) {
            if target != from {
                target.clone_from(from);
            }
        }
        let Run {
            id,
            object,
            created_at,
            thread_id,
            assistant_id,
            status,
            required_action,
            last_error,
            expires_at,
            started_at,
            cancelled_at,
            failed_at,
            completed_at,
            incomplete_details,
            model,
            instructions,
            tools,
            tool_resources,
            metadata,
            usage,
            temperature,
            top_p,
            max_prompt_tokens,
            max_completion_tokens,
            truncation_strategy,
            tool_choice,
            parallel_tool_calls,
            response_format,
            reasoning_effort,
        } = from;
        self.id.clone_from(id);
        self.object.clone_from(object);
        self.created_at = *created_at;
        self.thread_id.clone_from(thread_id);
        self.assistant_id.clone_from(assistant_id);
        refresh(&mut self.status, status);
        refresh(&mut self.required_action, required_action);
        refresh(&mut self.last_error, last_error);
        self.expires_at = *expires_at;
        self.started_at = *started_at;
        self.cancelled_at = *cancelled_at;
        self.failed_at = *failed_at;
        self.completed_at = *completed_at;
        refresh(&mut self.incomplete_details, incomplete_details);
        self.model.clone_from(model);
        self.instructions.clone_from(instructions);
        refresh(&mut self.tools, tools);
        refresh(&mut self.tool_resources, tool_resources);
        refresh(&mut self.metadata, metadata);
        refresh(&mut self.usage, usage);
        self.temperature = *temperature;
        self.top_p = *top_p;
        self.max_prompt_tokens = *max_prompt_tokens;
        self.max_completion_tokens = *max_completion_tokens;
        refresh(&mut self.truncation_strategy, truncation_strategy);
        refresh(&mut self.tool_choice, tool_choice);
        self.parallel_tool_calls = *parallel_tool_calls;
        refresh(&mut self.response_format, response_format);
        self.reasoning_effort.clone_from(reasoning_effort);
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A refreshed run equals (and serializes as) the run it was refreshed
    /// from, whatever it held before.
    #[test]
    fn refresh_from_gives_the_run() {
        let runs = [
            r#"{"id":"run_1","object":"thread.run","created_at":1,"thread_id":"t","assistant_id":"a","status":"queued","model":"m","instructions":"Be kind.","tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{"x":{"type":"number","minimum":0.5}}}}},{"type":"file_search"}],"metadata":{"k":"v"},"temperature":1.0,"top_p":1.0,"tool_choice":"auto","response_format":"auto","parallel_tool_calls":true}"#,
            r#"{"id":"run_1","object":"thread.run","created_at":1,"thread_id":"t","assistant_id":"a","status":"in_progress","started_at":2,"model":"m","instructions":"Be kind.","tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{"x":{"type":"number","minimum":0.5}}}}},{"type":"file_search"}],"metadata":{"k":"v"},"temperature":1.0,"top_p":1.0,"tool_choice":"auto","response_format":"auto","parallel_tool_calls":true}"#,
            r#"{"id":"run_1","object":"thread.run","created_at":1,"thread_id":"t","assistant_id":"a","status":"requires_action","required_action":{"type":"submit_tool_outputs","submit_tool_outputs":{"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]}},"model":"m","instructions":null,"tools":[{"type":"code_interpreter"}],"metadata":{},"temperature":-0.0,"tool_choice":{"type":"function","function":{"name":"f"}},"truncation_strategy":{"type":"auto","last_messages":null}}"#,
            r#"{"id":"run_2","status":"completed","usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3},"incomplete_details":{"reason":"max_prompt_tokens"},"last_error":{"code":"server_error","message":"x"},"reasoning_effort":"low","tools":null}"#,
        ];
        let runs: Vec<Run> = runs
            .iter()
            .map(|data| serde_json::from_str(data).unwrap())
            .collect();
        for start in &runs {
            for order in [runs.clone(), runs.iter().rev().cloned().collect()] {
                let mut snapshot = start.clone();
                for run in &order {
                    snapshot.refresh_from(run);
                    assert_eq!(&snapshot, run);
                    assert_eq!(
                        serde_json::to_string(&snapshot).unwrap(),
                        serde_json::to_string(run).unwrap()
                    );
                }
            }
        }
    }
}
