//! [`TraceHandler`]: one JSON line per callback, for debugging and for
//! comparing implementations callback by callback.

use super::EventHandler;
use crate::error::Error;
use crate::event::AssistantEvent;
use crate::types::{
    ImageFile, Message, MessageDelta, Run, RunStep, RunStepDelta, RunToolCall, Text, TextDelta,
    Thread, ToolCall, ToolCallDelta,
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

/// Writes `{"callback": NAME, ...arguments}` as one JSON line per callback.
///
/// Argument keys: `on_event` {`event`}; `on_run` {`run`}; `on_run_step_created` /
/// `on_run_step_done` {`run_step`}; `on_run_step_delta`, `on_tool_call_delta`,
/// `on_message_delta`, `on_text_delta` {`delta`, `snapshot`};
/// `on_tool_call_created` / `on_tool_call_done` / `on_tool_call` {`tool_call`};
/// `on_message_created` / `on_message_done` {`message`}; `on_text_created` /
/// `on_text_done` {`text`}; `on_image_file_done` {`image_file`};
/// `on_thread_created` {`thread`}; `on_error` {`error`}; `on_end` {}.
/// Objects are in the API's JSON form.
///
/// ```
/// use assistant_stream::AssistantStream;
/// use assistant_stream::handler::TraceHandler;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut trace = TraceHandler::new(Vec::new());
/// let body = "event: thread.run.completed\ndata: {\"id\":\"run_1\",\"status\":\"completed\"}\n\n";
/// AssistantStream::from_bytes(body).drive(&mut trace).await?;
/// let out = String::from_utf8(trace.into_inner())?;
/// assert!(out.starts_with(r#"{"callback":"on_event","event":"thread.run.completed"}"#));
/// assert!(out.ends_with("{\"callback\":\"on_end\"}\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct TraceHandler<W> {
    out: Mutex<W>,
    answers: HashMap<String, String>,
}

impl<W: Write + Send> TraceHandler<W> {
    /// Traces to `out`.
    pub fn new(out: W) -> Self {
        TraceHandler {
            out: Mutex::new(out),
            answers: HashMap::new(),
        }
    }

    /// Answers calls of these functions (by name) with these outputs.
    #[must_use]
    pub fn with_tool_outputs(mut self, answers: HashMap<String, String>) -> Self {
        self.answers = answers;
        self
    }

    /// Gives back the writer.
    pub fn into_inner(self) -> W {
        self.out
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes one line: the callback name and its arguments.
    pub fn line<'a>(&self, callback: &str, args: impl IntoIterator<Item = (&'a str, Value)>) {
        let mut object = Map::new();
        object.insert("callback".to_owned(), Value::String(callback.to_owned()));
        for (key, value) in args {
            object.insert(key.to_owned(), strip_nulls(value));
        }
        let mut out = self
            .out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // A closed pipe (`| head`) must not panic the stream.
        let _ = serde_json::to_writer(&mut *out, &Value::Object(object));
        let _ = out.write_all(b"\n");
    }
}

fn to_json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Null fields may be left out; leaving them out keeps traces short and comparable.
fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

impl<W: Write + Send> EventHandler for TraceHandler<W> {
    async fn on_event(&mut self, event: &AssistantEvent) {
        self.line("on_event", [("event", json!(event.name()))]);
    }
    async fn on_thread_created(&mut self, thread: &Thread) {
        self.line("on_thread_created", [("thread", to_json(thread))]);
    }
    async fn on_run(&mut self, run: &Run) {
        self.line("on_run", [("run", to_json(run))]);
    }
    async fn on_run_step_created(&mut self, run_step: &RunStep) {
        self.line("on_run_step_created", [("run_step", to_json(run_step))]);
    }
    async fn on_run_step_delta(&mut self, delta: &RunStepDelta, snapshot: &RunStep) {
        self.line(
            "on_run_step_delta",
            [("delta", to_json(delta)), ("snapshot", to_json(snapshot))],
        );
    }
    async fn on_run_step_done(&mut self, run_step: &RunStep) {
        self.line("on_run_step_done", [("run_step", to_json(run_step))]);
    }
    async fn on_tool_call_created(&mut self, tool_call: &ToolCall) {
        self.line("on_tool_call_created", [("tool_call", to_json(tool_call))]);
    }
    async fn on_tool_call_delta(&mut self, delta: &ToolCallDelta, snapshot: &ToolCall) {
        self.line(
            "on_tool_call_delta",
            [("delta", to_json(delta)), ("snapshot", to_json(snapshot))],
        );
    }
    async fn on_tool_call_done(&mut self, tool_call: &ToolCall) {
        self.line("on_tool_call_done", [("tool_call", to_json(tool_call))]);
    }
    async fn on_message_created(&mut self, message: &Message) {
        self.line("on_message_created", [("message", to_json(message))]);
    }
    async fn on_message_delta(&mut self, delta: &MessageDelta, snapshot: &Message) {
        self.line(
            "on_message_delta",
            [("delta", to_json(delta)), ("snapshot", to_json(snapshot))],
        );
    }
    async fn on_message_done(&mut self, message: &Message) {
        self.line("on_message_done", [("message", to_json(message))]);
    }
    async fn on_text_created(&mut self, text: &Text) {
        self.line("on_text_created", [("text", to_json(text))]);
    }
    async fn on_text_delta(&mut self, delta: &TextDelta, snapshot: &Text) {
        self.line(
            "on_text_delta",
            [("delta", to_json(delta)), ("snapshot", to_json(snapshot))],
        );
    }
    async fn on_text_done(&mut self, text: &Text) {
        self.line("on_text_done", [("text", to_json(text))]);
    }
    async fn on_image_file_done(&mut self, image_file: &ImageFile) {
        self.line("on_image_file_done", [("image_file", to_json(image_file))]);
    }
    async fn on_error(&mut self, error: &Error) {
        // `{:#}`: the error and its causes, which its `Display` leaves out.
        self.line("on_error", [("error", json!(format!("{error:#}")))]);
    }
    async fn on_end(&mut self) {
        self.line("on_end", []);
    }
    async fn on_tool_call(&self, call: &RunToolCall) -> Option<String> {
        self.line("on_tool_call", [("tool_call", to_json(call))]);
        self.answers.get(&call.function.name).cloned()
    }
}
