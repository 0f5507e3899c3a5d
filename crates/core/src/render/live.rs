//! [`LiveRenderer`]: an [`EventHandler`] that renders a run as it streams.

use super::Style;
use crate::error::Error;
use crate::handler::EventHandler;
use crate::types::{
    CodeInterpreterOutput, ImageFile, Message, Run, RunStatus, RunStep, Text, TextDelta, ToolCall,
    ToolCallDelta,
};
use std::io::Write;

/// Counts of what a rendered stream held, for a closing summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RenderSummary {
    /// Messages completed.
    pub messages: usize,
    /// Run steps completed.
    pub run_steps: usize,
    /// Tool calls completed.
    pub tool_calls: usize,
    /// Text bytes rendered.
    pub text_bytes: usize,
    /// Errors seen.
    pub errors: usize,
    /// The last run status seen.
    pub status: Option<RunStatus>,
    /// Total tokens of the run, when the server reported usage.
    pub total_tokens: Option<u64>,
}

/// Writes the assistant's text as it arrives, code interpreter input and
/// logs, function calls with their arguments, images and errors, each set
/// apart from the answer.
///
/// ```
/// use assistant_stream::AssistantStream;
/// use assistant_stream::render::{LiveRenderer, Style};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let body = concat!(
///     "event: thread.message.created\n",
///     "data: {\"id\":\"msg_1\",\"role\":\"assistant\",\"content\":[]}\n\n",
///     "event: thread.message.delta\n",
///     "data: {\"id\":\"msg_1\",\"delta\":{\"content\":[{\"index\":0,\"type\":\"text\",\"text\":{\"value\":\"Hi!\"}}]}}\n\n",
///     "event: thread.run.completed\n",
///     "data: {\"id\":\"run_1\",\"status\":\"completed\"}\n\n",
/// );
/// let mut renderer = LiveRenderer::new(Vec::new(), Style::plain());
/// AssistantStream::from_bytes(body).drive(&mut renderer).await?;
/// assert_eq!(String::from_utf8(renderer.into_inner())?, "assistant: Hi!\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct LiveRenderer<W> {
    out: W,
    style: Style,
    summary: RenderSummary,
    at_line_start: bool,
}

impl LiveRenderer<std::io::Stdout> {
    /// Renders to standard output, in colour when it is a terminal.
    pub fn stdout() -> Self {
        LiveRenderer::new(std::io::stdout(), Style::for_stdout())
    }
}

impl<W: Write + Send> LiveRenderer<W> {
    /// Renders to `out` in `style`.
    pub fn new(out: W, style: Style) -> Self {
        LiveRenderer {
            out,
            style,
            summary: RenderSummary::default(),
            at_line_start: true,
        }
    }

    /// What was rendered so far.
    pub fn summary(&self) -> &RenderSummary {
        &self.summary
    }

    /// Gives back the writer.
    pub fn into_inner(self) -> W {
        self.out
    }

    fn write(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        // A closed pipe must not end the stream; rendering is best effort.
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
        self.at_line_start = text.ends_with('\n');
    }

    fn line_break(&mut self) {
        if !self.at_line_start {
            self.write("\n");
        }
    }
}

impl<W: Write + Send> EventHandler for LiveRenderer<W> {
    async fn on_message_created(&mut self, message: &Message) {
        self.line_break();
        let label = self.style.bold(&format!("{}:", message.role));
        self.write(&format!("{label} "));
    }

    async fn on_text_delta(&mut self, delta: &TextDelta, _snapshot: &Text) {
        if let Some(value) = &delta.value {
            self.summary.text_bytes += value.len();
            self.write(value);
        }
    }

    async fn on_text_done(&mut self, _text: &Text) {
        self.line_break();
    }

    async fn on_message_done(&mut self, _message: &Message) {
        self.summary.messages += 1;
    }

    async fn on_image_file_done(&mut self, image_file: &ImageFile) {
        self.line_break();
        let text = self.style.cyan(&format!("[image {}]", image_file.file_id));
        self.write(&format!("{text}\n"));
    }

    async fn on_tool_call_created(&mut self, tool_call: &ToolCall) {
        self.line_break();
        let header = match tool_call {
            ToolCall::CodeInterpreter(_) => "▶ code_interpreter".to_owned(),
            ToolCall::FileSearch(_) => "▶ file_search".to_owned(),
            ToolCall::Function(call) => format!("▶ {}(", call.function.name),
            other => format!("▶ {}", other.type_name()),
        };
        let header = self.style.yellow(&header);
        self.write(&header);
        if matches!(tool_call, ToolCall::CodeInterpreter(_)) {
            self.write("\n");
        }
    }

    async fn on_tool_call_delta(&mut self, delta: &ToolCallDelta, _snapshot: &ToolCall) {
        match delta {
            ToolCallDelta::CodeInterpreter(d) => {
                if let Some(input) = d.code_interpreter.as_ref().and_then(|c| c.input.as_deref()) {
                    let code = self.style.dim(input);
                    self.write(&code);
                }
            }
            ToolCallDelta::Function(d) => {
                if let Some(arguments) = d.function.as_ref().and_then(|f| f.arguments.as_deref()) {
                    let args = self.style.dim(arguments);
                    self.write(&args);
                }
            }
            _ => {}
        }
    }

    async fn on_tool_call_done(&mut self, tool_call: &ToolCall) {
        self.summary.tool_calls += 1;
        match tool_call {
            ToolCall::CodeInterpreter(call) => {
                self.line_break();
                for output in &call.code_interpreter.outputs {
                    let text = match output {
                        CodeInterpreterOutput::Logs(logs) => {
                            self.style.dim(&format!("  │ {}", logs.logs.trim_end()))
                        }
                        CodeInterpreterOutput::Image(image) => self
                            .style
                            .cyan(&format!("  [image {}]", image.image.file_id)),
                        other => self.style.dim(&format!("  [{} output]", other.type_name())),
                    };
                    self.write(&format!("{text}\n"));
                }
            }
            ToolCall::Function(call) => {
                let close = self.style.yellow(")");
                self.write(&close);
                if let Some(output) = &call.function.output {
                    let text = self.style.green(&format!(" → {output}"));
                    self.write(&text);
                }
                self.write("\n");
            }
            ToolCall::FileSearch(call) => {
                let text = self
                    .style
                    .dim(&format!(" ({} results)", call.file_search.results.len()));
                self.write(&format!("{text}\n"));
            }
            _ => self.line_break(),
        }
    }

    async fn on_run_step_done(&mut self, _run_step: &RunStep) {
        self.summary.run_steps += 1;
    }

    async fn on_run(&mut self, run: &Run) {
        self.summary.status = Some(run.status.clone());
        if let Some(usage) = &run.usage {
            self.summary.total_tokens = Some(usage.total_tokens);
        }
        match run.status {
            RunStatus::Failed => {
                self.line_break();
                let reason = run
                    .last_error
                    .as_ref()
                    .map(|e| format!("{}: {}", e.code, e.message))
                    .unwrap_or_else(|| "no reason given".to_owned());
                let text = self.style.red(&format!("✗ run failed ({reason})"));
                self.write(&format!("{text}\n"));
            }
            RunStatus::RequiresAction => {
                self.line_break();
                let names: Vec<&str> = run
                    .required_tool_calls()
                    .iter()
                    .map(|c| c.function.name.as_str())
                    .collect();
                let text = self
                    .style
                    .yellow(&format!("… waiting for tool outputs: {}", names.join(", ")));
                self.write(&format!("{text}\n"));
            }
            RunStatus::Cancelled | RunStatus::Expired | RunStatus::Incomplete => {
                self.line_break();
                let text = self.style.yellow(&format!("run {}", run.status));
                self.write(&format!("{text}\n"));
            }
            _ => {}
        }
    }

    async fn on_error(&mut self, error: &Error) {
        self.summary.errors += 1;
        self.line_break();
        // `{:#}`: the error and its causes, which its `Display` leaves out.
        let text = self.style.red(&format!("✗ {error:#}"));
        self.write(&format!("{text}\n"));
    }

    async fn on_end(&mut self) {
        self.line_break();
    }
}
