//! The task that drives a run: asks the model for a turn, turns its answer
//! into steps, messages and stream events, and stores them as it goes.
//!
//! A run is driven by one task per turn (its start, and each continuation
//! after tool outputs). The task never waits on a client for long: a stream
//! that is not read for the stall timeout is dropped and the run goes on.
//!
//! The run options that are the server's part, not the model's, are applied
//! here for every model: `truncation_strategy` cuts the messages the model
//! sees, and `max_completion_tokens` ends the run `incomplete` when the run's
//! completion tokens (text tokens and function-argument chunks, over all its
//! turns) reach it.

use super::app::App;
use super::ids::{new_id, now};
use super::model::{ModelEvent, Turn};
use super::store::{Collection, Control, RunEntry, ThreadEntry};
use crate::AssistantEvent;
use crate::types::{
    FunctionCall, FunctionCallDelta, FunctionToolCall, FunctionToolCallDelta, IncompleteDetails,
    LastError, LastErrorCode, Message, MessageContent, MessageContentDelta, MessageCreation,
    MessageCreationDetails, MessageDelta, MessageDeltaEvent, MessageStatus, RequiredAction, Role,
    Run, RunStatus, RunStep, RunStepDelta, RunStepDeltaEvent, RunStepStatus, RunStepType,
    RunToolCall, StepDetails, StepDetailsDelta, TextContentDelta, TextDelta, Thread, ToolCall,
    ToolCallDelta, ToolCallsDetails, ToolCallsDetailsDelta, TruncationType, Usage,
};
use axum::body::Bytes;
use futures_util::StreamExt;
use serde::Serialize;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{OwnedSemaphorePermit, mpsc, watch};

/// How a turn starts.
pub(crate) enum Start {
    /// A new run; a thread made with it (thread-and-run) is announced first.
    New { thread: Option<Thread> },
    /// The turn after tool outputs; the completed tool step is announced first.
    Continue { step: Box<RunStep> },
}

/// Why a turn stopped early.
enum Stop {
    Interrupted(Control),
    /// The thread or run was deleted.
    Gone,
}

/// The parts of a thread a run task touches.
struct RunCtx<'a> {
    messages: &'a mut Collection<Message>,
    entry: &'a mut RunEntry,
    active_run: &'a mut Option<String>,
}

struct OpenMessage {
    step: RunStep,
    message: Message,
    tokens: u64,
}

struct OpenTools {
    step: RunStep,
    calls: Vec<RunToolCall>,
    chunks: u64,
}

/// Drives one turn of a run in a background task. The caller has marked the
/// run as driven.
pub(crate) fn spawn_turn(
    app: Arc<App>,
    thread_id: String,
    run_id: String,
    start: Start,
    permit: OwnedSemaphorePermit,
    sink: Option<mpsc::Sender<Bytes>>,
    control: watch::Receiver<Control>,
) {
    let runner = Runner {
        interval: app.config.token_interval,
        stall: app.config.stall_timeout,
        app,
        thread_id,
        run_id,
        sink,
        control,
        _permit: permit,
        run: Run::default(),
        prompt_tokens: 0,
        completion_budget: None,
        open_message: None,
        open_tools: None,
    };
    tokio::spawn(runner.drive(start));
}

struct Runner {
    app: Arc<App>,
    thread_id: String,
    run_id: String,
    sink: Option<mpsc::Sender<Bytes>>,
    control: watch::Receiver<Control>,
    interval: Option<Duration>,
    stall: Duration,
    _permit: OwnedSemaphorePermit,
    /// The run as it was when the turn started.
    run: Run,
    prompt_tokens: u64,
    /// The completion tokens this turn may still use (`max_completion_tokens`
    /// less what the run's earlier turns used); `None` without a limit.
    completion_budget: Option<u64>,
    open_message: Option<OpenMessage>,
    open_tools: Option<OpenTools>,
}

impl Runner {
    async fn drive(mut self, start: Start) {
        let result = if self.app.model.replays_streams() {
            self.replay_turn(start).await
        } else {
            self.turn(start).await
        };
        match result {
            Ok(()) => {}
            Err(Stop::Interrupted(control)) => self.interrupt(control).await,
            Err(Stop::Gone) => {
                let error = crate::types::ErrorObject::new(
                    "server_error",
                    "The thread or run was deleted while running.",
                );
                self.emit("error", &error).await;
            }
        }
        // `Drop` releases the run, also if this task panicked or was aborted.
    }

    // ---- store access ----

    fn with_run<R>(&self, f: impl FnOnce(RunCtx<'_>) -> R) -> Result<R, Stop> {
        let mut store = self.app.store();
        let ThreadEntry {
            messages,
            runs,
            active_run,
            ..
        } = store.threads.get_mut(&self.thread_id).ok_or(Stop::Gone)?;
        let entry = runs.get_mut(&self.run_id).ok_or(Stop::Gone)?;
        Ok(f(RunCtx {
            messages,
            entry,
            active_run,
        }))
    }

    /// Like [`with_run`](Self::with_run), for changes of the run's status:
    /// refused once the run was told to stop, checked under the same lock the
    /// cancel and expiry paths take.
    fn lifecycle<R>(&self, f: impl FnOnce(RunCtx<'_>) -> R) -> Result<R, Stop> {
        self.with_run(|ctx| {
            let control = *ctx.entry.control.borrow();
            if control == Control::Go {
                Ok(f(ctx))
            } else {
                Err(Stop::Interrupted(control))
            }
        })?
    }

    fn check(&self) -> Result<(), Stop> {
        match *self.control.borrow() {
            Control::Go => Ok(()),
            other => Err(Stop::Interrupted(other)),
        }
    }

    /// Awaits `fut` unless the run is told to stop first.
    async fn wait<F: std::future::Future>(&mut self, fut: F) -> Result<F::Output, Stop> {
        self.check()?;
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => return Ok(out),
                changed = self.control.changed() => match changed {
                    Ok(()) => self.check()?,
                    Err(_) => return Err(Stop::Gone),
                },
            }
        }
    }

    async fn pace(&mut self) -> Result<(), Stop> {
        match self.interval {
            Some(interval) => self.wait(tokio::time::sleep(interval)).await,
            None => self.check(),
        }
    }

    // ---- events ----

    async fn emit<T: Serialize>(&mut self, event: &str, data: &T) {
        if self.sink.is_none() {
            return;
        }
        match serde_json::to_string(data) {
            Ok(json) => self.emit_raw(event, &json).await,
            Err(err) => tracing::error!(event, %err, "an event could not be serialized"),
        }
    }

    async fn emit_raw(&mut self, event: &str, data: &str) {
        let Some(tx) = &self.sink else { return };
        let frame = sse_frame(event, data);
        let sent = match tx.try_send(frame) {
            Ok(()) => true,
            Err(TrySendError::Closed(_)) => false,
            Err(TrySendError::Full(frame)) => tx.send_timeout(frame, self.stall).await.is_ok(),
        };
        if !sent {
            tracing::debug!(run = %self.run_id, "the client stopped reading the stream; the run goes on without it");
            self.sink = None;
        }
    }

    async fn emit_done(&mut self) {
        self.emit_raw("done", "[DONE]").await;
    }

    // ---- the scripted-style turn ----

    async fn turn(&mut self, start: Start) -> Result<(), Stop> {
        self.check()?;
        let tool_outputs = match start {
            Start::New { thread } => {
                if let Some(thread) = thread {
                    self.emit("thread.created", &thread).await;
                }
                let run = self.with_run(|ctx| ctx.entry.run.clone())?;
                self.emit("thread.run.created", &run).await;
                self.emit("thread.run.queued", &run).await;
                Vec::new()
            }
            Start::Continue { step } => {
                self.emit("thread.run.step.completed", &step).await;
                let run = self.with_run(|ctx| ctx.entry.run.clone())?;
                self.emit("thread.run.queued", &run).await;
                function_calls(&step)
            }
        };
        let (run, used) = self.lifecycle(|ctx| {
            ctx.entry.run.status = RunStatus::InProgress;
            ctx.entry.run.started_at = Some(now());
            (ctx.entry.run.clone(), ctx.entry.usage.completion_tokens)
        })?;
        self.completion_budget = run
            .max_completion_tokens
            .map(|max| max.saturating_sub(used));
        self.emit("thread.run.in_progress", &run).await;
        self.run = run;
        let turn = self.build_turn(tool_outputs)?;
        self.prompt_tokens = prompt_tokens(&turn);
        let mut events = self.app.model.respond(turn);
        loop {
            self.check()?;
            let Some(event) = self.wait(events.next()).await? else {
                break;
            };
            match event {
                ModelEvent::Text(token) => {
                    if self.open_tools.is_some() {
                        tracing::warn!("text after tool calls in one turn is dropped");
                        continue;
                    }
                    if self.completion_budget == Some(0) {
                        return self.incomplete("max_completion_tokens").await;
                    }
                    if self.open_message.is_none() {
                        self.open_message().await?;
                    }
                    self.pace().await?;
                    self.spend_completion_tokens(1);
                    self.append_text(token).await?;
                }
                ModelEvent::ToolCall { name, arguments } => {
                    if self.open_message.is_some() {
                        self.complete_message().await?;
                    }
                    if self.open_tools.is_none() {
                        self.open_tools().await?;
                    }
                    self.stream_call(name, arguments).await?;
                }
                ModelEvent::Fail(message) => return self.fail(message).await,
                ModelEvent::Incomplete { reason } => return self.incomplete(&reason).await,
                ModelEvent::Recorded { .. } => {
                    tracing::warn!(
                        "a recorded event from a model that does not replay streams is dropped"
                    );
                }
            }
        }
        if let Some(tools) = self.open_tools.take() {
            let usage = Usage::new(self.prompt_tokens, tools.chunks);
            let run = self.lifecycle(|ctx| {
                ctx.entry.run.status = RunStatus::RequiresAction;
                ctx.entry.run.required_action =
                    Some(RequiredAction::submit_tool_outputs(tools.calls));
                ctx.entry.pending_tool_usage = Some(usage);
                ctx.entry.run.clone()
            })?;
            self.emit("thread.run.requires_action", &run).await;
            self.emit_done().await;
            return Ok(());
        }
        if self.open_message.is_some() {
            self.complete_message().await?;
        }
        let run = self.lifecycle(|ctx| {
            ctx.entry.run.status = RunStatus::Completed;
            ctx.entry.run.completed_at = Some(now());
            ctx.entry.run.usage = Some(ctx.entry.usage.clone());
            ctx.entry.run.clone()
        })?;
        self.emit("thread.run.completed", &run).await;
        self.emit_done().await;
        Ok(())
    }

    fn build_turn(&self, tool_outputs: Vec<FunctionToolCall>) -> Result<Turn, Stop> {
        self.with_run(|ctx| {
            let index = ctx.entry.turns;
            ctx.entry.turns += 1;
            let run = ctx.entry.run.clone();
            let hidden = hidden_messages(&run, ctx.messages.values().count());
            Turn {
                messages: ctx.messages.values().skip(hidden).cloned().collect(),
                steps: ctx.entry.steps.values().cloned().collect(),
                run,
                tool_outputs,
                index,
            }
        })
    }

    fn new_step(&self, kind: RunStepType, details: StepDetails) -> RunStep {
        RunStep {
            id: new_id("step"),
            object: "thread.run.step".to_owned(),
            created_at: now(),
            assistant_id: self.run.assistant_id.clone(),
            thread_id: self.thread_id.clone(),
            run_id: self.run_id.clone(),
            kind,
            status: RunStepStatus::InProgress,
            step_details: details,
            last_error: None,
            expired_at: None,
            cancelled_at: None,
            failed_at: None,
            completed_at: None,
            expires_at: self.run.expires_at,
            metadata: Default::default(),
            usage: None,
        }
    }

    async fn open_message(&mut self) -> Result<(), Stop> {
        let message = Message {
            id: new_id("msg"),
            object: "thread.message".to_owned(),
            created_at: now(),
            thread_id: self.thread_id.clone(),
            status: Some(MessageStatus::InProgress),
            incomplete_details: None,
            completed_at: None,
            incomplete_at: None,
            role: Role::Assistant,
            content: Vec::new(),
            assistant_id: Some(self.run.assistant_id.clone()),
            run_id: Some(self.run_id.clone()),
            attachments: Vec::new(),
            metadata: Default::default(),
        };
        let step = self.new_step(
            RunStepType::MessageCreation,
            StepDetails::MessageCreation(MessageCreationDetails {
                message_creation: MessageCreation {
                    message_id: message.id.clone(),
                },
            }),
        );
        self.lifecycle(|ctx| {
            ctx.entry.steps.insert(step.id.clone(), step.clone());
            ctx.messages.insert(message.id.clone(), message.clone());
        })?;
        self.emit("thread.run.step.created", &step).await;
        self.emit("thread.run.step.in_progress", &step).await;
        self.emit("thread.message.created", &message).await;
        self.emit("thread.message.in_progress", &message).await;
        self.open_message = Some(OpenMessage {
            step,
            message,
            tokens: 0,
        });
        Ok(())
    }

    async fn append_text(&mut self, token: String) -> Result<(), Stop> {
        let Some(open) = &mut self.open_message else {
            return Ok(());
        };
        open.tokens += 1;
        push_text(&mut open.message, &token);
        let id = open.message.id.clone();
        self.with_run(|ctx| {
            if let Some(message) = ctx.messages.get_mut(&id) {
                push_text(message, &token);
            }
        })?;
        let delta = MessageDeltaEvent {
            id,
            object: "thread.message.delta".to_owned(),
            delta: MessageDelta {
                role: None,
                content: vec![MessageContentDelta::Text(TextContentDelta {
                    index: 0,
                    text: Some(TextDelta {
                        value: Some(token),
                        annotations: Vec::new(),
                    }),
                })],
            },
        };
        self.emit("thread.message.delta", &delta).await;
        Ok(())
    }

    fn spend_completion_tokens(&mut self, tokens: u64) {
        if let Some(budget) = &mut self.completion_budget {
            *budget = budget.saturating_sub(tokens);
        }
    }

    async fn complete_message(&mut self) -> Result<(), Stop> {
        self.close_message(None).await
    }

    /// Ends the open message: completed, or incomplete for `incomplete` (an
    /// `incomplete_details.reason`). Its step completes either way, as in the
    /// real API's stream of a message cut at `max_tokens`.
    async fn close_message(&mut self, incomplete: Option<&str>) -> Result<(), Stop> {
        let Some(mut open) = self.open_message.take() else {
            return Ok(());
        };
        let at = now();
        match incomplete {
            None => {
                open.message.status = Some(MessageStatus::Completed);
                open.message.completed_at = Some(at);
            }
            Some(reason) => {
                open.message.status = Some(MessageStatus::Incomplete);
                open.message.incomplete_at = Some(at);
                open.message.incomplete_details = Some(IncompleteDetails::new(reason));
            }
        }
        let usage = Usage::new(self.prompt_tokens, open.tokens);
        open.step.status = RunStepStatus::Completed;
        open.step.completed_at = Some(at);
        open.step.usage = Some(usage.clone());
        let (message, step) = (open.message, open.step);
        self.with_run(|ctx| {
            replace(ctx.messages, &message.id, message.clone());
            replace(&mut ctx.entry.steps, &step.id, step.clone());
            add_usage(&mut ctx.entry.usage, &usage);
        })?;
        let event = match incomplete {
            None => "thread.message.completed",
            Some(_) => "thread.message.incomplete",
        };
        self.emit(event, &message).await;
        self.emit("thread.run.step.completed", &step).await;
        Ok(())
    }

    /// Ends the run `incomplete` for `reason` (a limit was reached): the open
    /// message ends `incomplete` (`max_tokens`), the open steps complete (a
    /// tool step with the calls it has, unanswered), and the run ends with
    /// `incomplete_details.reason`, in the real API's order:
    /// `thread.message.incomplete`, `thread.run.step.completed`,
    /// `thread.run.incomplete`.
    async fn incomplete(&mut self, reason: &str) -> Result<(), Stop> {
        self.close_message(Some("max_tokens")).await?;
        if let Some(mut open) = self.open_tools.take() {
            let usage = Usage::new(self.prompt_tokens, open.chunks);
            open.step.status = RunStepStatus::Completed;
            open.step.completed_at = Some(now());
            open.step.usage = Some(usage.clone());
            let step = open.step;
            self.with_run(|ctx| {
                replace(&mut ctx.entry.steps, &step.id, step.clone());
                add_usage(&mut ctx.entry.usage, &usage);
            })?;
            self.emit("thread.run.step.completed", &step).await;
        }
        let run = self.lifecycle(|ctx| {
            let run = &mut ctx.entry.run;
            run.status = RunStatus::Incomplete;
            run.incomplete_details = Some(IncompleteDetails::new(reason));
            run.completed_at = Some(now());
            run.usage = Some(ctx.entry.usage.clone());
            run.clone()
        })?;
        self.emit("thread.run.incomplete", &run).await;
        self.emit_done().await;
        Ok(())
    }

    async fn open_tools(&mut self) -> Result<(), Stop> {
        let step = self.new_step(
            RunStepType::ToolCalls,
            StepDetails::ToolCalls(ToolCallsDetails {
                tool_calls: Vec::new(),
            }),
        );
        self.lifecycle(|ctx| ctx.entry.steps.insert(step.id.clone(), step.clone()))?;
        self.emit("thread.run.step.created", &step).await;
        self.emit("thread.run.step.in_progress", &step).await;
        self.open_tools = Some(OpenTools {
            step,
            calls: Vec::new(),
            chunks: 0,
        });
        Ok(())
    }

    async fn stream_call(&mut self, name: String, arguments: String) -> Result<(), Stop> {
        let Some(open) = &mut self.open_tools else {
            return Ok(());
        };
        let index = open.calls.len() as u64;
        let call_id = new_id("call");
        let step_id = open.step.id.clone();
        if let StepDetails::ToolCalls(details) = &mut open.step.step_details {
            details
                .tool_calls
                .push(ToolCall::Function(FunctionToolCall {
                    id: call_id.clone(),
                    function: FunctionCall {
                        name: name.clone(),
                        arguments: String::new(),
                        output: None,
                    },
                }));
        }
        open.calls.push(RunToolCall::new(
            call_id.clone(),
            name.clone(),
            arguments.clone(),
        ));
        self.store_open_tools()?;
        self.pace().await?;
        let first = step_delta(
            &step_id,
            FunctionToolCallDelta {
                index,
                id: Some(call_id),
                function: Some(FunctionCallDelta {
                    name: Some(name),
                    arguments: Some(String::new()),
                    output: None,
                }),
            },
        );
        self.emit("thread.run.step.delta", &first).await;
        for chunk in argument_chunks(&arguments) {
            self.pace().await?;
            self.spend_completion_tokens(1);
            if let Some(open) = &mut self.open_tools {
                open.chunks += 1;
                if let StepDetails::ToolCalls(details) = &mut open.step.step_details {
                    if let Some(ToolCall::Function(call)) = details.tool_calls.last_mut() {
                        call.function.arguments.push_str(chunk);
                    }
                }
            }
            self.store_open_tools()?;
            let delta = step_delta(
                &step_id,
                FunctionToolCallDelta {
                    index,
                    id: None,
                    function: Some(FunctionCallDelta {
                        name: None,
                        arguments: Some(chunk.to_owned()),
                        output: None,
                    }),
                },
            );
            self.emit("thread.run.step.delta", &delta).await;
        }
        Ok(())
    }

    fn store_open_tools(&self) -> Result<(), Stop> {
        let Some(open) = &self.open_tools else {
            return Ok(());
        };
        let step = open.step.clone();
        self.with_run(|ctx| replace(&mut ctx.entry.steps, &step.id, step.clone()))
    }

    async fn fail(&mut self, message: String) -> Result<(), Stop> {
        let at = now();
        let error = LastError::new(LastErrorCode::ServerError, message);
        let mut changed_steps = Vec::new();
        let mut changed_message = None;
        if let Some(mut open) = self.open_message.take() {
            open.message.status = Some(MessageStatus::Incomplete);
            open.message.incomplete_at = Some(at);
            open.message.incomplete_details = Some(IncompleteDetails::new("run_failed"));
            changed_message = Some(open.message);
            changed_steps.push(open.step);
        }
        if let Some(open) = self.open_tools.take() {
            changed_steps.push(open.step);
        }
        for step in &mut changed_steps {
            step.status = RunStepStatus::Failed;
            step.failed_at = Some(at);
            step.last_error = Some(error.clone());
        }
        let run = self.lifecycle(|ctx| {
            if let Some(message) = &changed_message {
                replace(ctx.messages, &message.id, message.clone());
            }
            for step in &changed_steps {
                replace(&mut ctx.entry.steps, &step.id, step.clone());
            }
            let run = &mut ctx.entry.run;
            run.status = RunStatus::Failed;
            run.failed_at = Some(at);
            run.last_error = Some(error.clone());
            run.usage = Some(ctx.entry.usage.clone());
            run.clone()
        })?;
        if let Some(message) = &changed_message {
            self.emit("thread.message.incomplete", message).await;
        }
        for step in &changed_steps {
            self.emit("thread.run.step.failed", step).await;
        }
        self.emit("thread.run.failed", &run).await;
        self.emit_done().await;
        Ok(())
    }

    /// Ends a run told to stop (cancelled or expired), with its events.
    async fn interrupt(&mut self, control: Control) {
        // What this task had open is settled with everything else of the run.
        self.open_message = None;
        self.open_tools = None;
        let settled = self.with_run(|ctx| {
            let cancelling = ctx.entry.run.clone();
            let settled = settle(ctx.messages, ctx.entry, control);
            (cancelling, settled)
        });
        let Ok((cancelling, Some(settled))) = settled else {
            self.emit_done().await;
            return;
        };
        let (step_event, run_event) = match control {
            Control::Expire => ("thread.run.step.expired", "thread.run.expired"),
            _ => ("thread.run.step.cancelled", "thread.run.cancelled"),
        };
        if control == Control::Cancel {
            self.emit("thread.run.cancelling", &cancelling).await;
        }
        for message in &settled.messages {
            self.emit("thread.message.incomplete", message).await;
        }
        for step in &settled.steps {
            self.emit(step_event, step).await;
        }
        self.emit(run_event, &settled.run).await;
        self.emit_done().await;
    }

    /// Lets go of the run: no longer driven; the thread unlocked if the run
    /// has ended. A stop asked for after the turn's last status change is
    /// settled here.
    fn release(&mut self) {
        let _ = self.with_run(|ctx| {
            ctx.entry.driven = false;
            let control = *ctx.entry.control.borrow();
            if control != Control::Go && !ctx.entry.run.status.is_terminal() {
                settle(ctx.messages, ctx.entry, control);
            }
            finish_if_terminal(ctx.entry, ctx.active_run);
        });
        self.sink = None;
    }

    // ---- replayed turns ----

    async fn replay_turn(&mut self, start: Start) -> Result<(), Stop> {
        self.check()?;
        let (thread, tool_outputs) = match start {
            Start::New { thread } => (thread, Vec::new()),
            Start::Continue { step } => (None, function_calls(&step)),
        };
        self.run = self.with_run(|ctx| ctx.entry.run.clone())?;
        let turn = self.build_turn(tool_outputs)?;
        let mut events = self.app.model.respond(turn);
        let mut first = true;
        loop {
            self.check()?;
            let Some(event) = self.wait(events.next()).await? else {
                break;
            };
            let ModelEvent::Recorded { event, data } = event else {
                continue;
            };
            if first {
                first = false;
                if let Some(thread) = &thread {
                    if event != "thread.created" {
                        self.emit("thread.created", thread).await;
                    }
                }
            }
            if event == "thread.created" && thread.is_none() {
                continue;
            }
            if event.ends_with(".delta") {
                self.pace().await?;
            }
            self.apply_recorded(&event, &data)?;
            self.emit_raw(&event, &data).await;
        }
        self.with_run(|ctx| {
            let run = &mut ctx.entry.run;
            if !run.status.ends_stream() {
                run.status = RunStatus::Failed;
                run.failed_at = Some(now());
                run.last_error = Some(LastError::new(
                    LastErrorCode::ServerError,
                    "The recorded stream ended before its run did.",
                ));
            }
        })
    }

    /// Stores what a recorded event says about the run, its steps and messages.
    fn apply_recorded(&self, event: &str, data: &str) -> Result<(), Stop> {
        // Deltas change nothing stored: what they add to is stored whole by
        // its `completed` event. Decoding them (to drop them) cost the server
        // as much CPU as the client's whole pipeline on a replayed stream.
        if event.ends_with(".delta") {
            return Ok(());
        }
        let Ok(event) = AssistantEvent::decode(event, data) else {
            return Ok(());
        };
        self.with_run(|ctx| {
            if let Some(recorded) = event.run() {
                let run = &mut ctx.entry.run;
                run.status = recorded.status.clone();
                run.required_action = recorded.required_action.clone();
                run.last_error = recorded.last_error.clone();
                run.started_at = recorded.started_at;
                run.completed_at = recorded.completed_at;
                run.failed_at = recorded.failed_at;
                run.cancelled_at = recorded.cancelled_at;
                run.incomplete_details = recorded.incomplete_details.clone();
                run.usage = recorded.usage.clone();
            } else if let Some(step) = event.run_step() {
                if ctx.entry.steps.get(&step.id).is_some() {
                    replace(&mut ctx.entry.steps, &step.id, step.clone());
                } else {
                    ctx.entry.steps.insert(step.id.clone(), step.clone());
                }
            } else if let Some(message) = event.message() {
                if ctx.messages.get(&message.id).is_some() {
                    replace(ctx.messages, &message.id, message.clone());
                } else {
                    ctx.messages.insert(message.id.clone(), message.clone());
                }
            }
        })
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.release();
    }
}

/// One server-sent event.
pub(crate) fn sse_frame(event: &str, data: &str) -> Bytes {
    let mut frame = String::with_capacity(event.len() + data.len() + 16);
    frame.push_str("event: ");
    frame.push_str(event);
    frame.push('\n');
    for line in data.split('\n') {
        frame.push_str("data: ");
        frame.push_str(line.strip_suffix('\r').unwrap_or(line));
        frame.push('\n');
    }
    frame.push('\n');
    Bytes::from(frame)
}

fn replace<T>(collection: &mut Collection<T>, id: &str, value: T) {
    if let Some(slot) = collection.get_mut(id) {
        *slot = value;
    }
}

fn push_text(message: &mut Message, token: &str) {
    if let Some(MessageContent::Text(text)) = message.content.first_mut() {
        text.text.value.push_str(token);
    } else {
        message.content.insert(0, MessageContent::text(token));
    }
}

fn add_usage(total: &mut Usage, more: &Usage) {
    total.prompt_tokens += more.prompt_tokens;
    total.completion_tokens += more.completion_tokens;
    total.total_tokens += more.total_tokens;
}

/// The function calls of a step, with their outputs.
fn function_calls(step: &RunStep) -> Vec<FunctionToolCall> {
    step.tool_calls()
        .iter()
        .filter_map(|call| match call {
            ToolCall::Function(call) => Some(call.clone()),
            _ => None,
        })
        .collect()
}

fn step_delta(step_id: &str, call: FunctionToolCallDelta) -> RunStepDeltaEvent {
    RunStepDeltaEvent {
        id: step_id.to_owned(),
        object: "thread.run.step.delta".to_owned(),
        delta: RunStepDelta {
            step_details: Some(StepDetailsDelta::ToolCalls(ToolCallsDetailsDelta {
                tool_calls: vec![ToolCallDelta::Function(call)],
            })),
        },
    }
}

/// Arguments in pieces of about eight bytes, cut at character boundaries.
fn argument_chunks(arguments: &str) -> Vec<&str> {
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

/// How many of a thread's `total` messages, oldest first, a run's
/// `truncation_strategy` leaves out of the model's view.
fn hidden_messages(run: &Run, total: usize) -> usize {
    match &run.truncation_strategy {
        Some(strategy) if strategy.kind == TruncationType::LastMessages => {
            let keep = strategy.last_messages.map_or(total, |n| n as usize);
            total.saturating_sub(keep)
        }
        _ => 0,
    }
}

/// A rough token count (words) of the prompt: instructions and messages.
fn prompt_tokens(turn: &Turn) -> u64 {
    let words = |s: &str| s.split_whitespace().count() as u64;
    turn.run.instructions.as_deref().map_or(0, words)
        + turn.messages.iter().map(|m| words(&m.text())).sum::<u64>()
        + turn
            .tool_outputs
            .iter()
            .map(|c| c.function.output.as_deref().map_or(0, words))
            .sum::<u64>()
}

/// What [`settle`] changed.
pub(crate) struct Settled {
    pub(crate) run: Run,
    pub(crate) steps: Vec<RunStep>,
    pub(crate) messages: Vec<Message>,
}

/// Ends a run that was told to stop: the run cancelled or expired, its open
/// steps likewise, its unfinished messages incomplete. `None` if the run had
/// already ended.
pub(crate) fn settle(
    messages: &mut Collection<Message>,
    entry: &mut RunEntry,
    control: Control,
) -> Option<Settled> {
    if entry.run.status.is_terminal() {
        return None;
    }
    let at = now();
    let expired = control == Control::Expire;
    let mut steps = Vec::new();
    let mut message_ids = Vec::new();
    let step_ids: Vec<String> = entry
        .steps
        .values()
        .filter(|s| s.status == RunStepStatus::InProgress)
        .map(|s| s.id.clone())
        .collect();
    for id in step_ids {
        if let Some(step) = entry.steps.get_mut(&id) {
            if expired {
                step.status = RunStepStatus::Expired;
                step.expired_at = Some(at);
            } else {
                step.status = RunStepStatus::Cancelled;
                step.cancelled_at = Some(at);
            }
            if let Some(message_id) = step.message_id() {
                message_ids.push(message_id.to_owned());
            }
            steps.push(step.clone());
        }
    }
    let mut changed_messages = Vec::new();
    for id in message_ids {
        if let Some(message) = messages.get_mut(&id) {
            if message.status == Some(MessageStatus::InProgress) {
                message.status = Some(MessageStatus::Incomplete);
                message.incomplete_at = Some(at);
                message.incomplete_details = Some(IncompleteDetails::new(if expired {
                    "run_expired"
                } else {
                    "run_cancelled"
                }));
                changed_messages.push(message.clone());
            }
        }
    }
    let run = &mut entry.run;
    run.required_action = None;
    if expired {
        run.status = RunStatus::Expired;
    } else {
        run.status = RunStatus::Cancelled;
        run.cancelled_at = Some(at);
    }
    run.usage = Some(entry.usage.clone());
    Some(Settled {
        run: run.clone(),
        steps,
        messages: changed_messages,
    })
}

/// Unlocks the thread and stops the expiry timer once a run has ended.
pub(crate) fn finish_if_terminal(entry: &mut RunEntry, active_run: &mut Option<String>) {
    if entry.run.status.is_terminal() {
        if active_run.as_deref() == Some(entry.run.id.as_str()) {
            *active_run = None;
        }
        if let Some(expiry) = entry.expiry.take() {
            expiry.abort();
        }
    }
}

/// Expires the run when its time is up, unless it ended before.
pub(crate) fn spawn_expiry(
    app: &Arc<App>,
    thread_id: String,
    run_id: String,
) -> tokio::task::AbortHandle {
    let app: Weak<App> = Arc::downgrade(app);
    let after = app
        .upgrade()
        .map_or(Duration::ZERO, |app| app.config.run_expiry);
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let Some(app) = app.upgrade() else { return };
        let mut store = app.store();
        let Some(thread) = store.threads.get_mut(&thread_id) else {
            return;
        };
        let ThreadEntry {
            messages,
            runs,
            active_run,
            ..
        } = thread;
        let Some(entry) = runs.get_mut(&run_id) else {
            return;
        };
        if entry.run.status.is_terminal() {
            return;
        }
        entry.expiry = None;
        entry.control.send_replace(Control::Expire);
        if !entry.driven {
            settle(messages, entry, Control::Expire);
            finish_if_terminal(entry, active_run);
        }
    })
    .abort_handle()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_multiline_data() {
        assert_eq!(
            &sse_frame("x", "a\nb")[..],
            b"event: x\ndata: a\ndata: b\n\n"
        );
    }

    #[test]
    fn truncation_hides_all_but_the_last_messages() {
        let mut run = Run::default();
        assert_eq!(hidden_messages(&run, 5), 0);
        run.truncation_strategy = Some(crate::types::TruncationStrategy::auto());
        assert_eq!(hidden_messages(&run, 5), 0);
        run.truncation_strategy = Some(crate::types::TruncationStrategy::last_messages(2));
        assert_eq!(hidden_messages(&run, 5), 3);
        assert_eq!(hidden_messages(&run, 1), 0);
    }

    #[test]
    fn argument_chunks_cover_the_text() {
        let args = "{\"city\":\"Zürich\",\"n\":1}";
        let chunks = argument_chunks(args);
        assert!(chunks.len() > 1);
        assert_eq!(chunks.concat(), args);
        assert!(argument_chunks("").is_empty());
    }
}
