//! The model behind runs: a trait, and the two models that come with the
//! server ([`Scripted`] and [`Replay`]).
//!
//! A model answers one *turn* of a run: the run's first turn, or the turn
//! after its tool outputs were submitted. It sees the run (model name,
//! instructions, tools and the other run options), the thread's messages (cut
//! to the run's `truncation_strategy`), the run's steps so far and the
//! submitted outputs, and answers with a stream of [`ModelEvent`]s. The server
//! turns those into run steps, messages and stream events, paces them, stores
//! the results, and ends the run `incomplete` when its reply reaches the run's
//! `max_completion_tokens`.

mod replay;
mod scripted;

pub use replay::Replay;
pub use scripted::Scripted;

use crate::types::{FunctionToolCall, Message, Role, Run, RunStep};
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
    /// stops reading it when the run is cancelled or expires.
    fn respond(&self, turn: Turn) -> ModelStream;

    /// Whether this model answers with [`ModelEvent::Recorded`] events that
    /// carry a turn's whole event sequence (the default is no: the server
    /// makes the events).
    fn replays_streams(&self) -> bool {
        false
    }

    /// The model names listed by `GET /v1/models`, for clients and UIs
    /// that pick a model there. Runs accept any name whatever this says.
    /// The default is `["scripted"]`, the name the docs use.
    fn models(&self) -> Vec<String> {
        vec!["scripted".to_owned()]
    }
}

/// One event of a model's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelEvent {
    /// A token of the reply text (appended to the turn's message). Each
    /// counts as one completion token: when the run's
    /// `max_completion_tokens` are used up, the server stops reading the
    /// model and ends the run as for [`Incomplete`](Self::Incomplete) with
    /// the reason `max_completion_tokens`.
    Text(String),
    /// A call of a function tool. Calls of one turn go in one `tool_calls`
    /// step, and the run then waits for their outputs (`requires_action`).
    ToolCall {
        /// The function's name.
        name: String,
        /// The arguments, a JSON string.
        arguments: String,
    },
    /// The model failed: the run fails with `last_error.code` `server_error`
    /// and this message.
    Fail(String),
    /// The model stopped at a limit (for a backend that enforces its own,
    /// such as a completion's `finish_reason: "length"`). The turn's message
    /// ends `incomplete` (`incomplete_details.reason` `max_tokens`), its steps
    /// complete, and the run ends `incomplete` with this reason, as the real
    /// API does: `thread.message.incomplete`, `thread.run.step.completed`,
    /// `thread.run.incomplete`.
    Incomplete {
        /// The run's `incomplete_details.reason`: `max_completion_tokens` or
        /// `max_prompt_tokens`.
        reason: String,
    },
    /// An event of a recorded stream, sent as it is. A model that answers with
    /// these drives the whole event sequence of the turn itself: the server
    /// adds no run, step or message events of its own (see [`Replay`]), and
    /// only reads the run, steps and messages out of them to store them.
    Recorded {
        /// The event name (`thread.run.created`, ...).
        event: String,
        /// The event data, ids already those of this run.
        data: String,
    },
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
}

impl Turn {
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
