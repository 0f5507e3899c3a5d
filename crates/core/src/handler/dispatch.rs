//! From events (plus the snapshots they built) to handler callbacks.
//!
//! The dispatcher remembers which text parts and tool calls it has announced
//! as created and done, keyed by message or step id, so every part gets one
//! `created` and one `done` even when deltas interleave, when a message ends
//! without further deltas, or when a continuation stream (after tool outputs)
//! starts with the final object of a step streamed earlier.

use super::EventHandler;
use crate::accumulate::{Placed, Snapshots};
use crate::event::AssistantEvent;
use crate::types::{MessageContent, RunStep, StepDetailsDelta};
use std::collections::HashSet;

#[derive(Clone, Debug, Default)]
pub(crate) struct Dispatch {
    /// The message part being streamed: (message id, content index).
    current_content: Option<(String, u64)>,
    /// Tool calls created and not yet done, in order: (step id, call index).
    /// Parallel calls may interleave their fragments, so a call is done only
    /// when its step ends or the run stops, never when another call starts.
    open_tool_calls: Vec<(String, u64)>,
    created: HashSet<(String, u64)>,
    done: HashSet<(String, u64)>,
}

impl Dispatch {
    pub(crate) async fn dispatch<H: EventHandler + ?Sized>(
        &mut self,
        handler: &mut H,
        event: &AssistantEvent,
        snapshots: &Snapshots,
        placed: Placed,
    ) {
        handler.on_event(event).await;
        match event {
            AssistantEvent::ThreadCreated(thread) => handler.on_thread_created(thread).await,
            AssistantEvent::RunStepCreated(step) => {
                handler.on_run_step_created(step).await;
                if let Some(snapshot) = snapshots.run_step(&step.id) {
                    for (index, call) in snapshot.tool_calls().iter().enumerate() {
                        let key = (step.id.clone(), index as u64);
                        if self.created.insert(key.clone()) {
                            self.open_tool_calls.push(key);
                            handler.on_tool_call_created(call).await;
                        }
                    }
                }
            }
            AssistantEvent::RunStepDelta(delta) => {
                // `apply` placed the delta: no search for the step.
                let Placed::Step(position) = placed else {
                    return;
                };
                let Some(snapshot) = snapshots.run_step_at(position) else {
                    return;
                };
                handler.on_run_step_delta(&delta.delta, snapshot).await;
                let Some(StepDetailsDelta::ToolCalls(details)) = &delta.delta.step_details else {
                    return;
                };
                for call_delta in &details.tool_calls {
                    let Some(index) = call_delta.index() else {
                        continue;
                    };
                    let Some(call) = snapshots.tool_call_at(position, index) else {
                        continue;
                    };
                    // Fragments of the call announced last need no set lookup.
                    let is_last = self
                        .open_tool_calls
                        .last()
                        .is_some_and(|(id, i)| *i == index && *id == delta.id);
                    if !is_last {
                        let key = (delta.id.clone(), index);
                        if self.created.insert(key.clone()) {
                            self.open_tool_calls.push(key);
                            handler.on_tool_call_created(call).await;
                        }
                    }
                    handler.on_tool_call_delta(call_delta, call).await;
                }
            }
            AssistantEvent::RunStepCompleted(step)
            | AssistantEvent::RunStepFailed(step)
            | AssistantEvent::RunStepCancelled(step)
            | AssistantEvent::RunStepExpired(step) => {
                self.finish_step(handler, step).await;
                handler.on_run_step_done(step).await;
            }
            AssistantEvent::MessageCreated(message) => {
                handler.on_message_created(message).await;
            }
            AssistantEvent::MessageDelta(delta) => {
                // `apply` placed the delta: no search for the message.
                let Placed::Message(position) = placed else {
                    return;
                };
                let Some(snapshot) = snapshots.message_at(position) else {
                    return;
                };
                handler.on_message_delta(&delta.delta, snapshot).await;
                for part in &delta.delta.content {
                    let Some(index) = part.index() else { continue };
                    let is_current = self
                        .current_content
                        .as_ref()
                        .is_some_and(|(id, i)| *i == index && *id == delta.id);
                    if !is_current {
                        if let Some(previous) = self.current_content.take() {
                            self.finish_content(handler, snapshots, previous).await;
                        }
                        self.current_content = Some((delta.id.clone(), index));
                    }
                    let Some(content) = snapshots.message_content_at(position, index) else {
                        continue;
                    };
                    let newly_created =
                        !is_current && self.created.insert((delta.id.clone(), index));
                    if let MessageContent::Text(text) = content {
                        if newly_created {
                            handler.on_text_created(&text.text).await;
                        }
                        if let crate::types::MessageContentDelta::Text(d) = part
                            && let Some(d) = &d.text
                        {
                            handler.on_text_delta(d, &text.text).await;
                        }
                    }
                }
            }
            AssistantEvent::MessageCompleted(message)
            | AssistantEvent::MessageIncomplete(message) => {
                if self
                    .current_content
                    .as_ref()
                    .is_some_and(|(id, _)| *id == message.id)
                {
                    self.current_content = None;
                }
                for (index, part) in message.content.iter().enumerate() {
                    let key = (message.id.clone(), index as u64);
                    match part {
                        MessageContent::Text(text) => {
                            if self.created.insert(key.clone()) {
                                handler.on_text_created(&text.text).await;
                            }
                            if self.done.insert(key) {
                                handler.on_text_done(&text.text).await;
                            }
                        }
                        MessageContent::ImageFile(image) => {
                            self.created.insert(key.clone());
                            if self.done.insert(key) {
                                handler.on_image_file_done(&image.image_file).await;
                            }
                        }
                        _ => {
                            self.created.insert(key.clone());
                            self.done.insert(key);
                        }
                    }
                }
                handler.on_message_done(message).await;
            }
            AssistantEvent::Error(error) => {
                handler
                    .on_error(&crate::Error::server_event(error.clone()))
                    .await;
            }
            other => {
                if let Some(run) = other.run() {
                    if run.status.ends_stream() {
                        // The run stopped: calls still open are as complete as they get.
                        for key in std::mem::take(&mut self.open_tool_calls) {
                            self.finish_tool_call(handler, snapshots, key).await;
                        }
                    }
                    handler.on_run(run).await;
                }
            }
        }
    }

    async fn finish_tool_call<H: EventHandler + ?Sized>(
        &mut self,
        handler: &mut H,
        snapshots: &Snapshots,
        key: (String, u64),
    ) {
        if self.done.contains(&key) {
            return;
        }
        if let Some(call) = snapshots.tool_call(&key.0, key.1) {
            self.done.insert(key);
            handler.on_tool_call_done(call).await;
        }
    }

    async fn finish_step<H: EventHandler + ?Sized>(&mut self, handler: &mut H, step: &RunStep) {
        self.open_tool_calls.retain(|(id, _)| *id != step.id);
        for (index, call) in step.tool_calls().iter().enumerate() {
            let key = (step.id.clone(), index as u64);
            if self.created.insert(key.clone()) {
                handler.on_tool_call_created(call).await;
            }
            if self.done.insert(key) {
                handler.on_tool_call_done(call).await;
            }
        }
    }

    async fn finish_content<H: EventHandler + ?Sized>(
        &mut self,
        handler: &mut H,
        snapshots: &Snapshots,
        key: (String, u64),
    ) {
        if self.done.contains(&key) {
            return;
        }
        match snapshots.message_content(&key.0, key.1) {
            Some(MessageContent::Text(text)) => {
                self.done.insert(key);
                handler.on_text_done(&text.text).await;
            }
            Some(MessageContent::ImageFile(image)) => {
                self.done.insert(key);
                handler.on_image_file_done(&image.image_file).await;
            }
            _ => {}
        }
    }
}
