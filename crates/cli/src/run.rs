//! `assistant-stream run`: stream a run from any Assistants v2 server and
//! render it live, answering function calls from the command line.

use assistant_stream_client::Client;
use assistant_stream_client::client::ClientBuilder;
use assistant_stream_client::client::RunStream;
use assistant_stream_core::EventHandler;
use assistant_stream_core::handler::TraceHandler;
use assistant_stream_core::types::{
    CreateMessageRequest, CreateRunRequest, CreateThreadAndRunRequest, CreateThreadRequest,
    Message, RunStatus, RunToolCall, Text, TextDelta,
};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

/// Arguments of `assistant-stream run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The assistant to run.
    #[arg(long, value_name = "ID")]
    pub assistant_id: String,

    /// The thread to continue; without it a new thread is created.
    #[arg(long, value_name = "ID")]
    pub thread_id: Option<String>,

    /// The user message to add before the run.
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,

    /// Answers calls of function NAME with OUTPUT (repeatable). A call left
    /// unanswered stops the run at `requires_action`.
    #[arg(long = "tool-output", value_name = "NAME=OUTPUT", value_parser = parse_tool_output)]
    pub tool_outputs: Vec<(String, String)>,

    /// Prints one JSON line per handler callback instead of the text.
    #[arg(long)]
    pub trace: bool,

    /// The server's base URL (default: `OPENAI_BASE_URL`, then the OpenAI API).
    /// The key is read from `OPENAI_API_KEY`.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
}

fn parse_tool_output(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((name, output)) if !name.is_empty() => Ok((name.to_owned(), output.to_owned())),
        _ => Err(format!("expected NAME=OUTPUT, got `{arg}`")),
    }
}

/// Streams a run and renders it on stdout; see [`RunArgs`].
pub async fn run(args: RunArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut builder = ClientBuilder::from_env();
    if let Some(base_url) = &args.base_url {
        builder = builder.base_url(base_url);
    }
    let client = builder.build()?;
    let answers: HashMap<String, String> = args.tool_outputs.iter().cloned().collect();
    let mut stream = start(&client, &args).await?;

    // TODO(lead): use trace::TraceHandler when --trace if the binary gets its own;
    // the library's TraceHandler writes the same JSON lines today.
    let (driven, unanswered) = if args.trace {
        let mut handler = TraceHandler::new(std::io::stdout()).with_tool_outputs(answers.clone());
        let driven = stream.drive(&mut handler).await;
        crate::report::print_final(&handler, &stream, driven.as_ref().err());
        (driven, unanswered_calls(&stream, &answers))
    } else {
        let mut handler = LiveText::new(answers.clone());
        let driven = stream.drive(&mut handler).await;
        (driven, handler.take_unanswered())
    };
    driven?;
    finish(&stream, &unanswered)
}

/// Opens the run's stream: a new thread, or a message posted to the thread given.
async fn start(client: &Client, args: &RunArgs) -> Result<RunStream, assistant_stream_core::Error> {
    match &args.thread_id {
        None => {
            let mut thread = CreateThreadRequest::new();
            if let Some(message) = &args.message {
                thread = thread.message(CreateMessageRequest::user(message.as_str()));
            }
            let request = CreateThreadAndRunRequest::new(&args.assistant_id).thread(thread);
            client.threads().create_and_run_stream(request).await
        }
        Some(thread_id) => {
            if let Some(message) = &args.message {
                client
                    .messages()
                    .create(thread_id, CreateMessageRequest::user(message.as_str()))
                    .await?;
            }
            client
                .runs()
                .create_and_stream(thread_id, CreateRunRequest::new(&args.assistant_id))
                .await
        }
    }
}

/// The function calls a stopped run still waits for that no `--tool-output` answers.
fn unanswered_calls(stream: &RunStream, answers: &HashMap<String, String>) -> Vec<RunToolCall> {
    stream
        .final_run()
        .map(|run| {
            run.required_tool_calls()
                .iter()
                .filter(|call| !answers.contains_key(&call.function.name))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Reports how the run ended: success, or a clear error.
fn finish(
    stream: &RunStream,
    unanswered: &[RunToolCall],
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let Some(run) = stream.final_run() else {
        return Err("the stream ended before the run did".into());
    };
    eprintln!("thread {} run {}: {}", run.thread_id, run.id, run.status);
    match &run.status {
        RunStatus::Completed => Ok(()),
        RunStatus::RequiresAction => {
            let calls: Vec<String> = unanswered
                .iter()
                .map(|call| {
                    format!(
                        "{} ({}, arguments {})",
                        call.function.name, call.id, call.function.arguments
                    )
                })
                .collect();
            let names: Vec<&str> = unanswered
                .iter()
                .map(|call| call.function.name.as_str())
                .collect();
            Err(format!(
                "the run stopped at requires_action: no --tool-output for {}; pass {} to answer",
                calls.join(", "),
                names
                    .iter()
                    .map(|name| format!("--tool-output {name}=OUTPUT"))
                    .collect::<Vec<_>>()
                    .join(" "),
            )
            .into())
        }
        other => {
            let reason = run
                .last_error
                .as_ref()
                .map(|e| format!(": {} {}", e.code, e.message))
                .or_else(|| {
                    run.incomplete_details
                        .as_ref()
                        .map(|d| format!(": {}", d.reason))
                })
                .unwrap_or_default();
            Err(format!("the run ended {other}{reason}").into())
        }
    }
}

/// Renders text as it streams and answers calls from `--tool-output`.
struct LiveText {
    answers: HashMap<String, String>,
    unanswered: Mutex<Vec<RunToolCall>>,
    wrote_text: bool,
}

impl LiveText {
    fn new(answers: HashMap<String, String>) -> Self {
        LiveText {
            answers,
            unanswered: Mutex::new(Vec::new()),
            wrote_text: false,
        }
    }

    fn take_unanswered(&mut self) -> Vec<RunToolCall> {
        std::mem::take(
            self.unanswered
                .get_mut()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }
}

impl EventHandler for LiveText {
    async fn on_text_delta(&mut self, delta: &TextDelta, _snapshot: &Text) {
        if let Some(value) = &delta.value {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) must not stop the run.
            let _ = out.write_all(value.as_bytes());
            let _ = out.flush();
            self.wrote_text = true;
        }
    }

    async fn on_message_done(&mut self, _message: &Message) {
        if self.wrote_text {
            println!();
            self.wrote_text = false;
        }
    }

    async fn on_error(&mut self, error: &assistant_stream_core::Error) {
        eprintln!("error: {}", crate::report::error_chain(error));
    }

    async fn on_tool_call(&self, call: &RunToolCall) -> Option<String> {
        let answer = self.answers.get(&call.function.name).cloned();
        match &answer {
            Some(output) => eprintln!(
                "tool call {}({}) -> {output}",
                call.function.name, call.function.arguments
            ),
            None => self
                .unanswered
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(call.clone()),
        }
        answer
    }
}
