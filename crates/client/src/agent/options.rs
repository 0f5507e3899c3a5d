//! [`RunOptions`]: what one run changes of its assistant.

use super::tool::Tool;
use crate::types::{CreateMessageRequest, CreateRunRequest, Metadata, ToolChoice};
use std::sync::Arc;

/// Per-run overrides of an [`Assistant`](super::Assistant)'s settings.
///
/// ```
/// use assistant_stream::agent::{CodeInterpreter, RunOptions};
/// use assistant_stream::types::ToolChoice;
///
/// let options = RunOptions::new()
///     .additional_instructions("Be brief.")
///     .tool(CodeInterpreter)
///     .tool_choice(ToolChoice::Required)
///     .model("gpt-4o-mini");
/// assert_eq!(options.tools.as_ref().map(Vec::len), Some(1));
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct RunOptions {
    /// Replaces the assistant's instructions.
    pub instructions: Option<String>,
    /// Appended to the instructions.
    pub additional_instructions: Option<String>,
    /// Replaces the assistant's tools, for the model and for answering calls.
    pub tools: Option<Vec<Arc<dyn Tool>>>,
    /// Which tool the model must call, if any.
    pub tool_choice: Option<ToolChoice>,
    /// Replaces the assistant's model.
    pub model: Option<String>,
    /// Messages added to the thread when the run starts.
    pub additional_messages: Vec<CreateMessageRequest>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Allows or forbids parallel function calls.
    pub parallel_tool_calls: Option<bool>,
    /// Metadata of the run.
    pub metadata: Option<Metadata>,
}

impl RunOptions {
    /// No overrides.
    pub fn new() -> Self {
        RunOptions::default()
    }

    /// Replaces the instructions.
    #[must_use]
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = Some(instructions.into());
        self
    }

    /// Appends to the instructions.
    #[must_use]
    pub fn additional_instructions(mut self, instructions: impl Into<String>) -> Self {
        self.additional_instructions = Some(instructions.into());
        self
    }

    /// Adds a tool to this run's tools (which then replace the assistant's).
    #[must_use]
    pub fn tool(mut self, tool: impl Tool) -> Self {
        self.tools.get_or_insert_with(Vec::new).push(Arc::new(tool));
        self
    }

    /// Replaces the tools.
    #[must_use]
    pub fn tools(mut self, tools: Vec<Arc<dyn Tool>>) -> Self {
        self.tools = Some(tools);
        self
    }

    /// Sets the tool choice.
    #[must_use]
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.tool_choice = Some(choice);
        self
    }

    /// Replaces the model.
    #[must_use]
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Adds a message when the run starts.
    #[must_use]
    pub fn additional_message(mut self, message: CreateMessageRequest) -> Self {
        self.additional_messages.push(message);
        self
    }

    /// Sets the temperature.
    #[must_use]
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Sets top_p.
    #[must_use]
    pub fn top_p(mut self, top_p: f64) -> Self {
        self.top_p = Some(top_p);
        self
    }

    /// Allows or forbids parallel function calls.
    #[must_use]
    pub fn parallel_tool_calls(mut self, parallel: bool) -> Self {
        self.parallel_tool_calls = Some(parallel);
        self
    }

    /// Sets the run's metadata.
    #[must_use]
    pub fn metadata(mut self, metadata: Metadata) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// The request that starts the run.
    pub(crate) fn request(&self, assistant_id: String) -> CreateRunRequest {
        let mut request = CreateRunRequest::new(assistant_id);
        request.instructions = self.instructions.clone();
        request.additional_instructions = self.additional_instructions.clone();
        request.tools = self
            .tools
            .as_ref()
            .map(|tools| tools.iter().map(|tool| tool.spec()).collect());
        request.tool_choice = self.tool_choice.clone();
        request.model = self.model.clone();
        if !self.additional_messages.is_empty() {
            request.additional_messages = Some(self.additional_messages.clone());
        }
        request.temperature = self.temperature;
        request.top_p = self.top_p;
        request.parallel_tool_calls = self.parallel_tool_calls;
        request.metadata = self.metadata.clone();
        request
    }
}
