//! The handler behind `say` and `Thread::stream`: forwards every callback to
//! the caller's handler and answers function calls from the Rust tools.

use super::tool::{Tool, ToolResult, call_guarded, error_output};
use crate::handler::EventHandler;
use crate::types::RunToolCall;
use serde_json::Value;
use std::future::Future;
use std::sync::{Arc, Mutex};

pub(crate) struct ToolDispatcher<H> {
    user: H,
    tools: Vec<Arc<dyn Tool>>,
    ended: Mutex<Option<Value>>,
}

impl<H: EventHandler> ToolDispatcher<H> {
    pub(crate) fn new(user: H, tools: Vec<Arc<dyn Tool>>) -> Self {
        ToolDispatcher {
            user,
            tools,
            ended: Mutex::new(None),
        }
    }

    /// The value of the first tool that ended the run, if one did.
    pub(crate) fn take_end_run(&self) -> Option<Value> {
        self.ended.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl<H: EventHandler> EventHandler for ToolDispatcher<H> {
    crate::handler::forward_event_callbacks!(field user);

    /// A call of a Rust tool runs it; any other call goes to the caller's
    /// handler, and if that does not answer either, the model is told so
    /// (an unanswered call would leave the run waiting until it expires).
    /// A tool that ends the run leaves its call unanswered: the stream stops
    /// at `requires_action` and the caller cancels the run.
    fn on_tool_call(&self, call: &RunToolCall) -> impl Future<Output = Option<String>> + Send {
        let name = call.function.name.clone();
        let tool = self
            .tools
            .iter()
            .find(|tool| tool.is_callable() && tool.name() == name)
            .cloned();
        let fallback = tool.is_none().then(|| self.user.on_tool_call(call));
        let arguments = call.function.arguments.clone();
        let ended = &self.ended;
        async move {
            let result = match (tool, fallback) {
                (Some(tool), _) => call_guarded(&*tool, &arguments).await,
                (None, Some(fallback)) => match fallback.await {
                    Some(output) => ToolResult::Output(output),
                    None => ToolResult::Error("no Rust tool of this name".to_owned()),
                },
                (None, None) => ToolResult::Error("no Rust tool of this name".to_owned()),
            };
            match result {
                ToolResult::Output(output) => Some(output),
                ToolResult::Error(message) => Some(error_output(&name, &message)),
                ToolResult::EndRun(value) => {
                    let mut ended = ended.lock().unwrap_or_else(|e| e.into_inner());
                    ended.get_or_insert(value);
                    None
                }
            }
        }
    }
}
