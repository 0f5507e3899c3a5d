//! Snapshot accumulation: the state of the run, its steps and its messages,
//! built in place from the events of one or more streams.
//!
//! Deltas merge into typed snapshots (no JSON tree on the hot path). The
//! server's final objects (`thread.message.completed` / `incomplete`,
//! `thread.run.step.completed` / `failed` / `cancelled` / `expired`) replace
//! the snapshots, so [`Snapshots::final_messages`] returns what the server
//! said, not what was pieced together.
//!
//! ```
//! use assistant_stream::{AssistantEvent, Snapshots};
//!
//! let mut snapshots = Snapshots::new();
//! for (name, data) in [
//!     ("thread.message.created", r#"{"id":"msg_1","role":"assistant","content":[]}"#),
//!     ("thread.message.delta", r#"{"id":"msg_1","delta":{"content":[{"index":0,"type":"text","text":{"value":"Hel"}}]}}"#),
//!     ("thread.message.delta", r#"{"id":"msg_1","delta":{"content":[{"index":0,"type":"text","text":{"value":"lo"}}]}}"#),
//! ] {
//!     snapshots.apply(&AssistantEvent::decode(name, data)?)?;
//! }
//! assert_eq!(snapshots.message("msg_1").unwrap().text(), "Hello");
//! assert!(snapshots.final_messages().next().is_none()); // not completed yet
//! # Ok::<(), assistant_stream::Error>(())
//! ```

mod merge;
mod slots;

pub use slots::MAX_INDEX;

use crate::error::Error;
use crate::event::AssistantEvent;
use crate::types::{
    Message, MessageContent, Role, Run, RunStep, RunStepStatus, RunStepType, StepDetails, Thread,
    ToolCall,
};
use slots::Slots;

/// Where [`Snapshots::apply_placed`] put an event: the position of the
/// message or run step it changed, so that the dispatcher reads the snapshot
/// without searching for it again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Placed {
    /// The message at this position (`messages`).
    Message(usize),
    /// The run step at this position (`steps`).
    Step(usize),
    /// The run, the thread, or nothing.
    #[default]
    Elsewhere,
}

/// Accumulated state of the run, its steps and its messages.
#[derive(Clone, Debug, Default)]
pub struct Snapshots {
    thread: Option<Thread>,
    run: Option<Run>,
    messages: Vec<MessageEntry>,
    steps: Vec<StepEntry>,
    current_message: Option<usize>,
    current_step: Option<usize>,
}

#[derive(Clone, Debug)]
struct MessageEntry {
    message: Message,
    slots: Slots,
    is_final: bool,
}

#[derive(Clone, Debug)]
struct StepEntry {
    step: RunStep,
    slots: Slots,
    is_final: bool,
}

fn message_slots(message: &Message) -> Slots {
    Slots::dense(message.content.len(), |i| match &message.content[i] {
        MessageContent::Text(text) => {
            Slots::dense(text.text.annotations.len(), |_| Slots::default())
        }
        _ => Slots::default(),
    })
}

fn step_slots(step: &RunStep) -> Slots {
    let calls = step.tool_calls();
    Slots::dense(calls.len(), |i| match &calls[i] {
        ToolCall::CodeInterpreter(call) => {
            Slots::dense(call.code_interpreter.outputs.len(), |_| Slots::default())
        }
        _ => Slots::default(),
    })
}

impl Snapshots {
    /// Empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one event. Deltas merge into the snapshots; created events add
    /// them; final events replace them.
    ///
    /// An error (an absurd `index`, a fragment without `index`) leaves the
    /// snapshots as they were before the offending fragment.
    pub fn apply(&mut self, event: &AssistantEvent) -> Result<(), Error> {
        self.apply_placed(event).map(drop)
    }

    /// [`apply`](Self::apply), saying where the event went.
    pub(crate) fn apply_placed(&mut self, event: &AssistantEvent) -> Result<Placed, Error> {
        match event {
            AssistantEvent::ThreadCreated(thread) => self.thread = Some(thread.clone()),
            AssistantEvent::MessageDelta(delta) => {
                let position =
                    self.message_position_or_insert(&delta.id, delta.delta.role.as_ref());
                let entry = &mut self.messages[position];
                self.current_message = Some(position);
                merge::merge_message_delta(&mut entry.message, &mut entry.slots, &delta.delta)?;
                return Ok(Placed::Message(position));
            }
            AssistantEvent::RunStepDelta(delta) => {
                let position = self.step_position_or_insert(&delta.id);
                let entry = &mut self.steps[position];
                self.current_step = Some(position);
                merge::merge_step_delta(&mut entry.step, &mut entry.slots, &delta.delta)?;
                return Ok(Placed::Step(position));
            }
            AssistantEvent::MessageCreated(message)
            | AssistantEvent::MessageInProgress(message) => self.upsert_message(message, false),
            AssistantEvent::MessageCompleted(message)
            | AssistantEvent::MessageIncomplete(message) => self.upsert_message(message, true),
            AssistantEvent::RunStepCreated(step) | AssistantEvent::RunStepInProgress(step) => {
                self.upsert_step(step, false)
            }
            AssistantEvent::RunStepCompleted(step)
            | AssistantEvent::RunStepFailed(step)
            | AssistantEvent::RunStepCancelled(step)
            | AssistantEvent::RunStepExpired(step) => self.upsert_step(step, true),
            other => {
                if let Some(run) = other.run() {
                    // The run's allocations are kept where nothing changed
                    // (the tools and their schemas, sent with every run event).
                    match &mut self.run {
                        Some(snapshot) => snapshot.refresh_from(run),
                        None => self.run = Some(run.clone()),
                    }
                }
            }
        }
        Ok(Placed::Elsewhere)
    }

    fn upsert_message(&mut self, message: &Message, is_final: bool) {
        let position = match self
            .messages
            .iter()
            .rposition(|e| e.message.id == message.id)
        {
            Some(position) => {
                let entry = &mut self.messages[position];
                if entry.is_final && !is_final {
                    // A late `in_progress` must not undo the server's final object.
                    return;
                }
                // `in_progress` repeats `created`: keep content streamed so far.
                if is_final || entry.message.content.is_empty() {
                    entry.message = message.clone();
                    entry.slots = message_slots(message);
                } else {
                    let content = std::mem::take(&mut entry.message.content);
                    entry.message = Message {
                        content,
                        ..message.clone()
                    };
                }
                entry.is_final = is_final;
                position
            }
            None => {
                self.messages.push(MessageEntry {
                    message: message.clone(),
                    slots: message_slots(message),
                    is_final,
                });
                self.messages.len() - 1
            }
        };
        self.current_message = Some(position);
    }

    fn upsert_step(&mut self, step: &RunStep, is_final: bool) {
        let position = match self.steps.iter().rposition(|e| e.step.id == step.id) {
            Some(position) => {
                let entry = &mut self.steps[position];
                if entry.is_final && !is_final {
                    return;
                }
                if is_final || entry.step.tool_calls().is_empty() {
                    entry.step = step.clone();
                    entry.slots = step_slots(step);
                } else {
                    let details = std::mem::replace(
                        &mut entry.step.step_details,
                        StepDetails::Unknown(serde_json::Value::Null),
                    );
                    entry.step = RunStep {
                        step_details: details,
                        ..step.clone()
                    };
                }
                entry.is_final = is_final;
                position
            }
            None => {
                self.steps.push(StepEntry {
                    step: step.clone(),
                    slots: step_slots(step),
                    is_final,
                });
                self.steps.len() - 1
            }
        };
        self.current_step = Some(position);
    }

    fn message_position_or_insert(&mut self, id: &str, role: Option<&Role>) -> usize {
        if let Some(current) = self.current_message
            && self.messages[current].message.id == id
        {
            return current;
        }
        if let Some(position) = self.messages.iter().rposition(|e| e.message.id == id) {
            return position;
        }
        // A delta for a message whose `created` event we never saw.
        let message = Message {
            id: id.to_owned(),
            object: "thread.message".to_owned(),
            created_at: 0,
            thread_id: self
                .run
                .as_ref()
                .map(|r| r.thread_id.clone())
                .unwrap_or_default(),
            status: Some(crate::types::MessageStatus::InProgress),
            incomplete_details: None,
            completed_at: None,
            incomplete_at: None,
            role: role.cloned().unwrap_or(Role::Assistant),
            content: Vec::new(),
            assistant_id: self.run.as_ref().map(|r| r.assistant_id.clone()),
            run_id: self.run.as_ref().map(|r| r.id.clone()),
            attachments: Vec::new(),
            metadata: Default::default(),
        };
        self.messages.push(MessageEntry {
            message,
            slots: Slots::default(),
            is_final: false,
        });
        self.messages.len() - 1
    }

    fn step_position_or_insert(&mut self, id: &str) -> usize {
        if let Some(current) = self.current_step
            && self.steps[current].step.id == id
        {
            return current;
        }
        if let Some(position) = self.steps.iter().rposition(|e| e.step.id == id) {
            return position;
        }
        let step = RunStep {
            id: id.to_owned(),
            object: "thread.run.step".to_owned(),
            created_at: 0,
            assistant_id: self
                .run
                .as_ref()
                .map(|r| r.assistant_id.clone())
                .unwrap_or_default(),
            thread_id: self
                .run
                .as_ref()
                .map(|r| r.thread_id.clone())
                .unwrap_or_default(),
            run_id: self.run.as_ref().map(|r| r.id.clone()).unwrap_or_default(),
            kind: RunStepType::Unknown(String::new()),
            status: RunStepStatus::InProgress,
            step_details: StepDetails::Unknown(serde_json::Value::Object(Default::default())),
            last_error: None,
            expired_at: None,
            cancelled_at: None,
            failed_at: None,
            completed_at: None,
            expires_at: None,
            metadata: Default::default(),
            usage: None,
        };
        self.steps.push(StepEntry {
            step,
            slots: Slots::default(),
            is_final: false,
        });
        self.steps.len() - 1
    }

    /// The thread, when the stream created one (`thread.created`).
    pub fn thread(&self) -> Option<&Thread> {
        self.thread.as_ref()
    }

    /// The latest run object seen.
    pub fn run(&self) -> Option<&Run> {
        self.run.as_ref()
    }

    /// Every message seen, in order of first appearance: final objects where
    /// the server sent them, snapshots otherwise.
    pub fn messages(&self) -> impl ExactSizeIterator<Item = &Message> + DoubleEndedIterator {
        self.messages.iter().map(|e| &e.message)
    }

    /// The messages the server finished (`completed` or `incomplete`), as it sent them.
    pub fn final_messages(&self) -> impl DoubleEndedIterator<Item = &Message> {
        self.messages
            .iter()
            .filter(|e| e.is_final)
            .map(|e| &e.message)
    }

    /// The message with this id.
    pub fn message(&self, id: &str) -> Option<&Message> {
        self.messages
            .iter()
            .rev()
            .find(|e| e.message.id == id)
            .map(|e| &e.message)
    }

    /// Whether the server sent its final object for this message.
    pub fn is_message_final(&self, id: &str) -> bool {
        self.messages
            .iter()
            .rev()
            .any(|e| e.message.id == id && e.is_final)
    }

    /// The message most recently created or changed.
    pub fn current_message(&self) -> Option<&Message> {
        self.current_message.map(|p| &self.messages[p].message)
    }

    /// Every run step seen, in order of first appearance.
    pub fn run_steps(&self) -> impl ExactSizeIterator<Item = &RunStep> + DoubleEndedIterator {
        self.steps.iter().map(|e| &e.step)
    }

    /// The run steps the server finished, as it sent them.
    pub fn final_run_steps(&self) -> impl DoubleEndedIterator<Item = &RunStep> {
        self.steps.iter().filter(|e| e.is_final).map(|e| &e.step)
    }

    /// The run step with this id.
    pub fn run_step(&self, id: &str) -> Option<&RunStep> {
        self.steps
            .iter()
            .rev()
            .find(|e| e.step.id == id)
            .map(|e| &e.step)
    }

    /// The run step most recently created or changed.
    pub fn current_run_step(&self) -> Option<&RunStep> {
        self.current_step.map(|p| &self.steps[p].step)
    }

    /// The content part at `index` (the delta's index) of a message.
    pub fn message_content(&self, message_id: &str, index: u64) -> Option<&MessageContent> {
        let entry = self
            .messages
            .iter()
            .rev()
            .find(|e| e.message.id == message_id)?;
        entry.content(index)
    }

    /// The tool call at `index` (the delta's index) of a run step.
    pub fn tool_call(&self, step_id: &str, index: u64) -> Option<&ToolCall> {
        let entry = self.steps.iter().rev().find(|e| e.step.id == step_id)?;
        entry.tool_call(index)
    }

    /// The message `apply_placed` said it put at `position`.
    pub(crate) fn message_at(&self, position: usize) -> Option<&Message> {
        self.messages.get(position).map(|e| &e.message)
    }

    /// The content part at `index` of the message at `position`.
    pub(crate) fn message_content_at(
        &self,
        position: usize,
        index: u64,
    ) -> Option<&MessageContent> {
        self.messages.get(position)?.content(index)
    }

    /// The run step `apply_placed` said it put at `position`.
    pub(crate) fn run_step_at(&self, position: usize) -> Option<&RunStep> {
        self.steps.get(position).map(|e| &e.step)
    }

    /// The tool call at `index` of the run step at `position`.
    pub(crate) fn tool_call_at(&self, position: usize, index: u64) -> Option<&ToolCall> {
        self.steps.get(position)?.tool_call(index)
    }
}

impl MessageEntry {
    fn content(&self, index: u64) -> Option<&MessageContent> {
        let position = self
            .slots
            .position(index)
            .or_else(|| usize::try_from(index).ok())?;
        self.message.content.get(position)
    }
}

impl StepEntry {
    fn tool_call(&self, index: u64) -> Option<&ToolCall> {
        let position = self
            .slots
            .position(index)
            .or_else(|| usize::try_from(index).ok())?;
        self.step.tool_calls().get(position)
    }
}
