//! The handler behind `say` and `Thread::stream`: forwards every callback to
//! the caller's handler and answers function calls from the Rust tools.

use super::tool::{Tool, ToolResult, call_guarded, error_output};
use crate::error::Error;
use crate::event::AssistantEvent;
use crate::handler::EventHandler;
use crate::types::{
    ImageFile, Message, MessageDelta, Run, RunStep, RunStepDelta, RunToolCall, Text, TextDelta,
    Thread, ToolCall, ToolCallDelta,
};
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
    fn on_event(&mut self, event: &AssistantEvent) -> impl Future<Output = ()> + Send {
        self.user.on_event(event)
    }
    fn on_thread_created(&mut self, thread: &Thread) -> impl Future<Output = ()> + Send {
        self.user.on_thread_created(thread)
    }
    fn on_run(&mut self, run: &Run) -> impl Future<Output = ()> + Send {
        self.user.on_run(run)
    }
    fn on_run_step_created(&mut self, run_step: &RunStep) -> impl Future<Output = ()> + Send {
        self.user.on_run_step_created(run_step)
    }
    fn on_run_step_delta(
        &mut self,
        delta: &RunStepDelta,
        snapshot: &RunStep,
    ) -> impl Future<Output = ()> + Send {
        self.user.on_run_step_delta(delta, snapshot)
    }
    fn on_run_step_done(&mut self, run_step: &RunStep) -> impl Future<Output = ()> + Send {
        self.user.on_run_step_done(run_step)
    }
    fn on_tool_call_created(&mut self, tool_call: &ToolCall) -> impl Future<Output = ()> + Send {
        self.user.on_tool_call_created(tool_call)
    }
    fn on_tool_call_delta(
        &mut self,
        delta: &ToolCallDelta,
        snapshot: &ToolCall,
    ) -> impl Future<Output = ()> + Send {
        self.user.on_tool_call_delta(delta, snapshot)
    }
    fn on_tool_call_done(&mut self, tool_call: &ToolCall) -> impl Future<Output = ()> + Send {
        self.user.on_tool_call_done(tool_call)
    }
    fn on_message_created(&mut self, message: &Message) -> impl Future<Output = ()> + Send {
        self.user.on_message_created(message)
    }
    fn on_message_delta(
        &mut self,
        delta: &MessageDelta,
        snapshot: &Message,
    ) -> impl Future<Output = ()> + Send {
        self.user.on_message_delta(delta, snapshot)
    }
    fn on_message_done(&mut self, message: &Message) -> impl Future<Output = ()> + Send {
        self.user.on_message_done(message)
    }
    fn on_text_created(&mut self, text: &Text) -> impl Future<Output = ()> + Send {
        self.user.on_text_created(text)
    }
    fn on_text_delta(
        &mut self,
        delta: &TextDelta,
        snapshot: &Text,
    ) -> impl Future<Output = ()> + Send {
        self.user.on_text_delta(delta, snapshot)
    }
    fn on_text_done(&mut self, text: &Text) -> impl Future<Output = ()> + Send {
        self.user.on_text_done(text)
    }
    fn on_image_file_done(&mut self, image_file: &ImageFile) -> impl Future<Output = ()> + Send {
        self.user.on_image_file_done(image_file)
    }
    fn on_error(&mut self, error: &Error) -> impl Future<Output = ()> + Send {
        self.user.on_error(error)
    }
    fn on_end(&mut self) -> impl Future<Output = ()> + Send {
        self.user.on_end()
    }

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
