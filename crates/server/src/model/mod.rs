//! The model behind runs: the [`Model`] trait, the events a model answers
//! with, and the models that come with the server ([`Scripted`], the
//! default, and `ChatCompletions` in [`chat`], a real backend). Recorded streams are
//! not a model: [`Replay`] plays whole event sequences, and the server
//! drives it on its own path.
//!
//! A model answers one *turn* of a run: the run's first turn, or the turn
//! after its tool outputs were submitted. It sees the run (model name,
//! instructions, tools and the other run options), the thread's messages (cut
//! to the run's `truncation_strategy`), the run's steps so far (every earlier
//! turn's tool calls with their outputs, and the messages the run wrote) and
//! the completion tokens the run may still use, and answers with a stream of
//! [`ModelEvent`]s: text, tool calls (whole or in argument fragments), usage,
//! a finish reason or a typed failure. The server turns those into run steps,
//! messages and stream events, paces them, stores the results, and ends the
//! run `incomplete` when its reply reaches the run's `max_completion_tokens`.

#[cfg(feature = "client")]
mod backend;
#[cfg(feature = "client")]
pub mod chat;
pub mod completions;
#[cfg(feature = "client")]
pub mod embeddings;
pub(crate) mod replay;
mod scripted;

pub use completions::{BackendError, ChatAnswer, ChatRequest, ChunkStream};
pub use replay::Replay;
pub use scripted::Scripted;

use crate::types::{FunctionToolCall, LastError, Message, Role, Run, RunStep, Usage};
use futures_util::stream::BoxStream;

/// The events of one turn, as a model answers it.
pub type ModelStream = BoxStream<'static, ModelEvent>;

/// A backend that answers the turns of runs.
///
/// Implement it to put another model behind the server, and install it with
/// [`ServerBuilder::model`](super::ServerBuilder::model).
///
/// ```
/// use assistant_stream::server::{Model, ModelEvent, ModelStream, Turn};
///
/// /// Answers every turn with "Ok".
/// struct Ok;
///
/// impl Model for Ok {
///     fn respond(&self, _turn: Turn) -> ModelStream {
///         Box::pin(futures_util::stream::iter([ModelEvent::Text("Ok".into())]))
///     }
/// }
///
/// let server = assistant_stream::server::Server::builder().model(Ok);
/// # let _ = server;
/// ```
pub trait Model: Send + Sync + 'static {
    /// Answers one turn. The stream may be slow (a real backend); the server
    /// stops reading it, and drops it, when the run is cancelled or expires:
    /// dropping it must abort whatever it waits on.
    fn respond(&self, turn: Turn) -> ModelStream;

    /// The model names listed by `GET /v1/models`, for clients and UIs
    /// that pick a model there. Runs accept any name whatever this says.
    /// The default is `["scripted"]`, the name the docs use.
    fn models(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(std::future::ready(vec!["scripted".to_owned()]))
    }

    /// Answers a Chat Completions request (`POST /v1/chat/completions`),
    /// checked against the API's shapes already.
    ///
    /// The default asks [`respond`](Self::respond) for the run's turn the
    /// request describes, once per choice, and writes its events as a
    /// completion (see [`completions`] for the mapping): any model answers
    /// both APIs. `ChatCompletions` passes the request through to its
    /// backend instead.
    fn complete(&self, request: ChatRequest) -> BoxFuture<'_, Result<ChatAnswer, BackendError>> {
        Box::pin(completions::complete_by_turns(self, request))
    }
}

/// The failure of a run that asks for a built-in tool (`code_interpreter`,
/// `file_search`) this server does not run yet: `invalid_prompt`, naming
/// the tool, for every model.
pub(crate) fn built_in_tool(kind: &str) -> LastError {
    LastError::new(
        crate::types::LastErrorCode::InvalidPrompt,
        format!(
            "This server does not run the {kind} tool yet: remove it from the assistant's or \
             the run's tools (and tool_choice)."
        ),
    )
}

/// A boxed future, as [`Model::models`] answers (a backend may have to be
/// asked).
pub type BoxFuture<'a, T> = futures_util::future::BoxFuture<'a, T>;

/// One event of a model's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelEvent {
    /// A piece of the reply text (appended to the turn's message). Each
    /// counts as one completion token against the run's
    /// `max_completion_tokens`: when they are used up, the server stops
    /// reading the model and ends the run as for
    /// [`Finish(Length)`](FinishReason::Length).
    Text(String),
    /// A whole call of a function tool, streamed by the server in argument
    /// pieces of about 8 bytes (each counts as a completion token). Calls of
    /// one turn go in one `tool_calls` step, and the run then waits for their
    /// outputs (`requires_action`).
    ToolCall {
        /// The function's name.
        name: String,
        /// The arguments, a JSON string.
        arguments: String,
    },
    /// The start of a function call whose arguments follow in
    /// [`ToolCallArguments`](Self::ToolCallArguments) fragments, as a
    /// streaming backend sends them. The server gives the call its own id.
    ToolCallStart {
        /// The model's number for the call within the turn, which its
        /// fragments repeat (any number; calls may interleave).
        index: u32,
        /// The function's name.
        name: String,
    },
    /// A fragment of the arguments of a call started with
    /// [`ToolCallStart`](Self::ToolCallStart) (one completion token). A
    /// fragment for a call never started is dropped, with a warning.
    ToolCallArguments {
        /// The call's `index`, as given in its start.
        index: u32,
        /// The next piece of the arguments' JSON text.
        fragment: String,
    },
    /// The turn's token usage, as the model counted it. The last one of a
    /// turn counts; it goes to the turn's last step, and the run's usage is
    /// the sum over its steps. A turn without one has no usage: the server
    /// never guesses it, and a run with such a turn ends with `usage: null`.
    Usage(Usage),
    /// Why the model stopped. [`Length`](FinishReason::Length) and
    /// [`ContentFilter`](FinishReason::ContentFilter) end the turn's message
    /// `incomplete` and the run `incomplete`; the others change nothing (the
    /// end of the stream ends the turn).
    Finish(FinishReason),
    /// The model stopped at a limit, with the run's
    /// `incomplete_details.reason` (`max_completion_tokens` or
    /// `max_prompt_tokens`). The turn's message ends `incomplete`
    /// (`incomplete_details.reason` `max_tokens`), its steps complete, and
    /// the run ends `incomplete`, as the real API does:
    /// `thread.message.incomplete`, `thread.run.step.completed`,
    /// `thread.run.incomplete`.
    Incomplete {
        /// The run's `incomplete_details.reason`.
        reason: String,
    },
    /// The model failed: the run fails with this `last_error` (its code and
    /// message), and its open steps with it.
    Fail(LastError),
}

/// Why a model stopped answering a turn (a completion's `finish_reason`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FinishReason {
    /// The reply is complete.
    Stop,
    /// The model called tools.
    ToolCalls,
    /// The reply reached a token limit: the run ends `incomplete` with
    /// `incomplete_details.reason` `max_completion_tokens`, its message with
    /// `max_tokens`.
    Length,
    /// A content filter stopped the reply: the run and its message end
    /// `incomplete` with `incomplete_details.reason` `content_filter`.
    ContentFilter,
    /// A reason this server does not know; the turn ends as for `Stop`.
    Other(String),
}

impl FinishReason {
    /// The reason as a completion spells it (`stop`, `length`, ...).
    pub fn parse(reason: &str) -> Self {
        match reason {
            "stop" | "end_turn" => FinishReason::Stop,
            "tool_calls" | "function_call" => FinishReason::ToolCalls,
            "length" | "max_tokens" => FinishReason::Length,
            "content_filter" => FinishReason::ContentFilter,
            other => FinishReason::Other(other.to_owned()),
        }
    }
}

/// What a model is asked to answer: one turn of a run.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Turn {
    /// The run, with its effective model, instructions and tools.
    pub run: Run,
    /// The thread's messages the model sees, oldest first: all of them, or
    /// the last `N` when the run's `truncation_strategy` is
    /// `{"type": "last_messages", "last_messages": N}`.
    pub messages: Vec<Message>,
    /// The run's steps so far, oldest first: the tool calls of earlier turns
    /// with their outputs, and the messages the run wrote.
    pub steps: Vec<RunStep>,
    /// The function calls of the previous turn with the outputs submitted
    /// for them (empty in a run's first turn).
    pub tool_outputs: Vec<FunctionToolCall>,
    /// 0 for the run's first turn, 1 after the first tool outputs, and so on.
    pub index: usize,
    /// The completion tokens the run may still use: its
    /// `max_completion_tokens` less what its earlier turns used (`None`
    /// without a limit). A backend with a limit of its own is given this.
    pub completion_tokens_left: Option<u64>,
}

impl Turn {
    /// The first turn of `run`, with no messages: fill in what the model
    /// should see (for testing a model outside a server).
    pub fn new(run: Run) -> Self {
        Turn {
            completion_tokens_left: run.max_completion_tokens,
            run,
            messages: Vec::new(),
            steps: Vec::new(),
            tool_outputs: Vec::new(),
            index: 0,
        }
    }

    /// The text of the last user message, if there is one.
    pub fn last_user_text(&self) -> Option<String> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(Message::text)
    }

    /// Whether the run may call a function tool of this name.
    pub fn has_function(&self, name: &str) -> bool {
        self.run
            .tools
            .iter()
            .filter_map(|tool| tool.as_function())
            .any(|function| function.name == name)
    }
}

/// Arguments in pieces of about eight bytes, cut at character boundaries:
/// how the server streams a call a model gives whole.
pub(crate) fn argument_chunks(arguments: &str) -> Vec<&str> {
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < arguments.len() {
        let mut end = (start + 8).min(arguments.len());
        while !arguments.is_char_boundary(end) {
            end += 1;
        }
        chunks.push(&arguments[start..end]);
        start = end;
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_chunks_cover_the_text() {
        let args = "{\"city\":\"Zürich\",\"n\":1}";
        let chunks = argument_chunks(args);
        assert!(chunks.len() > 1);
        assert_eq!(chunks.concat(), args);
        assert!(argument_chunks("").is_empty());
    }

    #[test]
    fn finish_reasons_parse() {
        assert_eq!(FinishReason::parse("length"), FinishReason::Length);
        assert_eq!(
            FinishReason::parse("content_filter"),
            FinishReason::ContentFilter
        );
        assert_eq!(FinishReason::parse("tool_calls"), FinishReason::ToolCalls);
        assert_eq!(FinishReason::parse("stop"), FinishReason::Stop);
        assert_eq!(
            FinishReason::parse("eos"),
            FinishReason::Other("eos".into())
        );
    }
}
