//! The model driver: runs one turn of a run. It asks the model for the
//! turn, turns its answer into steps, messages and typed events, and hands
//! every status change to the [lifecycle](super::lifecycle).
//!
//! A run is driven by one task per turn (its start, and each continuation
//! after tool outputs), holding a run slot. The task never waits on a
//! client: events go to the run's feed, which each client follows at its own
//! pace. It stops when the run is told to (cancel, expiry, the thread
//! deleted), and the lifecycle settles the run.
//!
//! The run options that are the server's part, not the model's, are applied
//! here for every model: `truncation_strategy` cuts the messages the model
//! sees, and `max_completion_tokens` ends the run `incomplete` when the run's
//! completion tokens (text tokens and function-argument chunks, over all its
//! turns) reach it.

use super::lifecycle::{self, Start, TurnEnd, TurnToDrive};
use super::ownership;
use crate::AssistantEvent;
use crate::ids::{new_id, now};
use crate::model::Replay;
use crate::model::replay::RecordedEvent;
use crate::model::{FinishReason, ModelEvent, Turn, argument_chunks};
use crate::services::Services;
use crate::services::error::LifecycleError;
use crate::services::live::{Control, LiveRun, OpenMessage, OpenTools, RunState};
use crate::store::StoreError;
use crate::types::{
    ErrorObject, FunctionCall, FunctionCallDelta, FunctionToolCall, FunctionToolCallDelta,
    IncompleteDetails, LastError, LastErrorCode, Message, MessageContent, MessageCreation,
    MessageCreationDetails, MessageDeltaEvent, MessageStatus, Role, Run, RunStatus, RunStep,
    RunStepDeltaEvent, RunStepStatus, RunStepType, RunToolCall, StepDetails, ToolCall,
    ToolCallsDetails, TruncationType, Usage,
};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedMutexGuard, watch};

/// Why a turn stopped early.
#[derive(Debug, thiserror::Error)]
enum Stop {
    /// The run was told to stop.
    #[error("the run was told to stop ({0:?})")]
    Interrupted(Control),
    /// The lifecycle refused a change, or the store failed.
    #[error(transparent)]
    Failed(#[from] LifecycleError),
}

impl From<StoreError> for Stop {
    fn from(err: StoreError) -> Self {
        Stop::Failed(LifecycleError::Store(err))
    }
}

/// Drives one turn of a live run in a background task, owned by the
/// server's supervisor. The lifecycle has marked the run as driven; the
/// task lets go of it when the turn ends, also if the turn panicked (the
/// run then fails).
pub(crate) fn spawn_turn(app: &Arc<Services>, turn: TurnToDrive) {
    let TurnToDrive {
        live,
        start,
        permit,
        driver: driver_id,
        after: _,
    } = turn;
    let driver = Driver {
        interval: app.config.token_interval,
        control: live.control.subscribe(),
        app: Arc::clone(app),
        live: Arc::clone(&live),
        run: Run::default(),
        turn_usage: None,
        call_keys: Vec::new(),
        completion_budget: None,
        staged: None,
    };
    let turn = app.tasks.spawn(driver.drive(start));
    let task_app = Arc::clone(app);
    app.tasks.spawn(async move {
        let app = task_app;
        let turn = turn.await;
        let mut state = live.state.lock().await;
        if state.driver != driver_id {
            // Another turn has started: the run is its.
            return;
        }
        if let Err(err) = turn {
            tracing::error!(run = %live.run_id, %err, "a run's turn panicked");
            let error = LastError::new(
                LastErrorCode::ServerError,
                "The server failed during this run.",
            );
            lifecycle::report(lifecycle::fail(&app, &live, &mut state, error).await);
        }
        release(&app, &live, &mut state).await;
        drop(state);
        drop(permit);
    });
}

/// Lets go of a run after its turn: no longer driven, and settled if it
/// was told to stop after the turn's last change.
async fn release(app: &Services, live: &LiveRun, state: &mut RunState) {
    state.driven = false;
    let control = live.control();
    if matches!(control, Control::Cancel | Control::Expire) {
        lifecycle::report(lifecycle::settle(app, live, state, control).await);
    }
}

struct Driver {
    app: Arc<Services>,
    live: Arc<LiveRun>,
    control: watch::Receiver<Control>,
    interval: Option<Duration>,
    /// The run as it was when the turn started.
    run: Run,
    /// The turn's usage, as the model last reported it.
    turn_usage: Option<Usage>,
    /// For each call of the turn's tool step, in order, the model's index
    /// for it (`None` for a call the model gave whole).
    call_keys: Vec<Option<u32>>,
    /// The completion tokens this turn may still use (`max_completion_tokens`
    /// less what the run's earlier turns used); `None` without a limit.
    completion_budget: Option<u64>,
    /// Since when changes may be staged and not yet written.
    staged: Option<tokio::time::Instant>,
}

impl Driver {
    async fn drive(mut self, start: Start) {
        let result = if let Some(replay) = self.app.replay.clone() {
            self.replay_turn(&replay, start).await
        } else {
            self.turn(start).await
        };
        match result {
            Ok(()) => {}
            Err(Stop::Interrupted(Control::Go)) => {}
            Err(Stop::Interrupted(Control::Gone)) => self.gone().await,
            Err(Stop::Interrupted(Control::Shutdown)) => self.shut_down().await,
            Err(Stop::Interrupted(control)) => {
                let mut state = self.live.state.lock().await;
                lifecycle::report(
                    lifecycle::settle(&self.app, &self.live, &mut state, control).await,
                );
            }
            Err(Stop::Failed(err)) => self.failed(err).await,
        }
    }

    /// The server is shutting down: what is staged is written (every event
    /// a client saw is then stored), and the run is left as it is, for the
    /// next start to settle as after a crash.
    async fn shut_down(&mut self) {
        let mut state = self.live.state.lock().await;
        if let Err(err) = state.commit(&*self.app.store, &self.live.feed).await {
            tracing::warn!(run = %self.live.run_id, %err, "a run's last events could not be written at shutdown");
        }
    }

    /// The thread was deleted: the clients following the run are told.
    async fn gone(&mut self) {
        let mut state = self.live.state.lock().await;
        let error = ErrorObject::new(
            "server_error",
            "The thread or run was deleted while running.",
        );
        state.stage_event(&AssistantEvent::Error(error));
        state.publish(&self.live.feed);
        self.live.feed.close();
    }

    /// A change was refused or could not be written: the run fails if that
    /// can still be written; else its clients are told, and a restart
    /// settles it.
    async fn failed(&mut self, err: LifecycleError) {
        if let LifecycleError::Store(store) = &err
            && ownership::is_lost(store)
        {
            // Another instance took the run (this one stalled past its
            // lease): it is that one's now. Nothing more is written here.
            tracing::warn!(run = %self.live.run_id, "a run was taken over by another instance");
            let mut state = self.live.state.lock().await;
            self.abandon(
                &mut state,
                "This run moved to another server instance; follow it from its events route.",
            );
            return;
        }
        lifecycle::report(Err(err));
        let mut state = self.live.state.lock().await;
        let error = LastError::new(
            LastErrorCode::ServerError,
            "The server could not save this run.",
        );
        if let Err(err) = lifecycle::fail(&self.app, &self.live, &mut state, error).await {
            lifecycle::report(Err(err));
            self.abandon(
                &mut state,
                "The server could not save this run; it is settled when the server restarts.",
            );
        }
    }

    /// Lets go of a run this process can no longer write: its clients get
    /// an `error` event saying why, and it leaves the runtime.
    fn abandon(&self, state: &mut RunState, why: &str) {
        state.stage_event(&AssistantEvent::Error(ErrorObject::new(
            "server_error",
            why,
        )));
        state.publish(&self.live.feed);
        self.live.control.send_replace(Control::Gone);
        self.app.runtime.remove(&self.live.run_id);
        self.live.feed.close();
    }

    // ---- the run's state ----

    /// The run's state, unless the run was told to stop.
    async fn lock(&self) -> Result<OwnedMutexGuard<RunState>, Stop> {
        let state = Arc::clone(&self.live.state).lock_owned().await;
        match self.live.control() {
            Control::Go => Ok(state),
            other => Err(Stop::Interrupted(other)),
        }
    }

    fn check(&self) -> Result<(), Stop> {
        match *self.control.borrow() {
            Control::Go => Ok(()),
            other => Err(Stop::Interrupted(other)),
        }
    }

    /// Awaits `fut` unless the run is told to stop first; meanwhile writes
    /// staged changes when they are due.
    async fn wait<F: std::future::Future>(&mut self, fut: F) -> Result<F::Output, Stop> {
        self.check()?;
        tokio::pin!(fut);
        loop {
            let deadline = self
                .staged
                .map(|since| since + crate::services::live::WRITE_INTERVAL);
            tokio::select! {
                out = &mut fut => return Ok(out),
                changed = self.control.changed() => match changed {
                    Ok(()) => self.check()?,
                    Err(_) => return Err(Stop::Interrupted(Control::Gone)),
                },
                () = sleep_until(deadline) => {
                    let mut state = self.lock().await?;
                    state.commit(&*self.app.store, &self.live.feed).await?;
                    drop(state);
                    self.staged = None;
                }
            }
        }
    }

    async fn pace(&mut self) -> Result<(), Stop> {
        match self.interval {
            Some(interval) => self.wait(tokio::time::sleep(interval)).await,
            None => self.check(),
        }
    }

    /// Sends a delta's event at once; writes the batch when it is due.
    async fn send_delta(&mut self, state: &mut RunState) -> Result<(), Stop> {
        state.publish(&self.live.feed);
        if state.write_due() {
            state.commit(&*self.app.store, &self.live.feed).await?;
            self.staged = None;
        } else {
            self.staged.get_or_insert_with(tokio::time::Instant::now);
        }
        Ok(())
    }

    // ---- the turn ----

    async fn turn(&mut self, start: Start) -> Result<(), Stop> {
        let (tool_outputs, index, used, thread_messages) = {
            let mut state = self.lock().await?;
            let (tool_outputs, thread_messages) = match start {
                Start::New {
                    thread,
                    thread_messages,
                } => {
                    lifecycle::announce_created(&mut state, thread);
                    (Vec::new(), Some(thread_messages))
                }
                Start::Continue { step } => {
                    let outputs = function_calls(&step);
                    state.stage_event(&AssistantEvent::RunStepCompleted(*step));
                    let run = state.record.run.clone();
                    state.stage_event(&AssistantEvent::RunQueued(run));
                    (outputs, None)
                }
            };
            lifecycle::begin_turn(&mut state)?;
            let index = state.record.progress.turns;
            state.record.progress.turns += 1;
            // Not written yet: these events go out with the model's first
            // step (one commit instead of two), or within the write interval
            // if the model is slow to answer (see `wait`).
            self.staged = Some(tokio::time::Instant::now());
            self.run = state.record.run.clone();
            (
                tool_outputs,
                index,
                state.record.progress.usage.completion_tokens,
                thread_messages,
            )
        };
        self.completion_budget = self
            .run
            .max_completion_tokens
            .map(|max| max.saturating_sub(used));
        let turn = self
            .build_turn(tool_outputs, index, thread_messages)
            .await?;
        let mut events = self.app.model.respond(turn);
        // A limit the model reports ends the turn when its stream ends: the
        // usage may still follow it.
        let mut stopped_at: Option<&'static str> = None;
        loop {
            let Some(event) = self.wait(events.next()).await? else {
                break;
            };
            match event {
                ModelEvent::Text(token) => {
                    if self.completion_budget == Some(0) {
                        return self.incomplete("max_completion_tokens").await;
                    }
                    self.pace().await?;
                    let mut state = self.lock().await?;
                    if state.open_tools.is_some() {
                        tracing::warn!("text after tool calls in one turn is dropped");
                        continue;
                    }
                    if state.open_message.is_none() {
                        self.open_message(&mut state);
                        state.commit(&*self.app.store, &self.live.feed).await?;
                    }
                    self.spend_completion_tokens(1);
                    append_text(&mut state, token);
                    self.send_delta(&mut state).await?;
                }
                ModelEvent::ToolCall { name, arguments } => {
                    let position = self.start_call(None, name).await?;
                    for chunk in argument_chunks(&arguments) {
                        self.call_arguments(position, chunk.to_owned()).await?;
                    }
                }
                ModelEvent::ToolCallStart { index, name } => {
                    if self.call_keys.contains(&Some(index)) {
                        tracing::warn!(index, "a second start of a model's tool call is dropped");
                        continue;
                    }
                    self.start_call(Some(index), name).await?;
                }
                ModelEvent::ToolCallArguments { index, fragment } => {
                    match self.call_keys.iter().position(|key| *key == Some(index)) {
                        Some(position) => self.call_arguments(position, fragment).await?,
                        None => tracing::warn!(
                            index,
                            "arguments for a tool call the model never started are dropped"
                        ),
                    }
                }
                ModelEvent::Usage(usage) => self.turn_usage = Some(usage),
                ModelEvent::Finish(FinishReason::Length) => {
                    stopped_at = Some("max_completion_tokens");
                }
                ModelEvent::Finish(FinishReason::ContentFilter) => {
                    stopped_at = Some("content_filter");
                }
                ModelEvent::Finish(_) => {}
                ModelEvent::Fail(error) => {
                    let mut state = self.lock().await?;
                    return Ok(lifecycle::fail(&self.app, &self.live, &mut state, error).await?);
                }
                ModelEvent::Incomplete { reason } => return self.incomplete(&reason).await,
            }
        }
        if let Some(reason) = stopped_at {
            return self.incomplete(reason).await;
        }
        let mut state = self.lock().await?;
        let usage = self.turn_usage.take();
        note_usage(&mut state, usage.as_ref());
        let end = match state.open_tools.take() {
            Some(tools) => {
                // The step stays open: its outputs complete it.
                state.stage_step(&tools.step);
                TurnEnd::RequiresAction {
                    usage,
                    calls: tools.calls,
                }
            }
            None => {
                self.close_message(&mut state, None, usage);
                TurnEnd::Completed
            }
        };
        Ok(lifecycle::end_turn(&self.app, &self.live, &mut state, end).await?)
    }

    /// The model's input for turn `index`: the thread's messages (those the
    /// run's insert read, for its first turn), the run's steps and outputs.
    async fn build_turn(
        &self,
        tool_outputs: Vec<FunctionToolCall>,
        index: u32,
        thread_messages: Option<Vec<Message>>,
    ) -> Result<Turn, Stop> {
        let store = &self.app.store;
        let mut messages = match thread_messages {
            Some(messages) => messages,
            None => store.thread_messages(&self.live.thread_id).await?,
        };
        let hidden = hidden_messages(&self.run, messages.len());
        messages.drain(..hidden);
        // A run's first turn has no steps yet: one read fewer per run.
        let steps = if index == 0 {
            Vec::new()
        } else {
            store
                .run_steps(&self.live.thread_id, &self.live.run_id)
                .await?
        };
        Ok(Turn {
            messages,
            steps,
            run: self.run.clone(),
            tool_outputs,
            index: index as usize,
            completion_tokens_left: self.completion_budget,
        })
    }

    fn new_step(&self, kind: RunStepType, details: StepDetails) -> RunStep {
        make!(RunStep {
            id: new_id("step"),
            object: "thread.run.step".to_owned(),
            created_at: now(),
            assistant_id: self.run.assistant_id.clone(),
            thread_id: self.live.thread_id.clone(),
            run_id: self.live.run_id.clone(),
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
        })
    }

    /// Opens the turn's message and its step, staged with their events.
    fn open_message(&self, state: &mut RunState) {
        let message = make!(Message {
            id: new_id("msg"),
            object: "thread.message".to_owned(),
            created_at: now(),
            thread_id: self.live.thread_id.clone(),
            status: Some(MessageStatus::InProgress),
            incomplete_details: None,
            completed_at: None,
            incomplete_at: None,
            role: Role::Assistant,
            content: Vec::new(),
            assistant_id: Some(self.run.assistant_id.clone()),
            run_id: Some(self.live.run_id.clone()),
            attachments: Vec::new(),
            metadata: Default::default(),
        });
        let step = self.new_step(
            RunStepType::MessageCreation,
            StepDetails::MessageCreation(make!(MessageCreationDetails {
                message_creation: make!(MessageCreation {
                    message_id: message.id.clone(),
                }),
            })),
        );
        state.stage_step(&step);
        state.stage_message(&message);
        state.stage_event(&AssistantEvent::RunStepCreated(step.clone()));
        state.stage_event(&AssistantEvent::RunStepInProgress(step.clone()));
        state.stage_event(&AssistantEvent::MessageCreated(message.clone()));
        state.stage_event(&AssistantEvent::MessageInProgress(message.clone()));
        state.open_message = Some(OpenMessage {
            step,
            message,
            tokens: 0,
        });
    }

    fn spend_completion_tokens(&mut self, tokens: u64) {
        if let Some(budget) = &mut self.completion_budget {
            *budget = budget.saturating_sub(tokens);
        }
    }

    /// Ends the open message, if any: completed, or incomplete for
    /// `incomplete` (an `incomplete_details.reason`). Its step completes
    /// either way, with `usage`, as in the real API's stream of a message cut
    /// at `max_tokens`. Staged with their events.
    fn close_message(&self, state: &mut RunState, incomplete: Option<&str>, usage: Option<Usage>) {
        let Some(mut open) = state.open_message.take() else {
            return;
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
        open.step.status = RunStepStatus::Completed;
        open.step.completed_at = Some(at);
        if let Some(usage) = &usage {
            lifecycle::add_usage(&mut state.record.progress.usage, usage);
        }
        open.step.usage = usage;
        state.stage_run();
        state.stage_message(&open.message);
        state.stage_step(&open.step);
        let event = match incomplete {
            None => AssistantEvent::MessageCompleted(open.message),
            Some(_) => AssistantEvent::MessageIncomplete(open.message),
        };
        state.stage_event(&event);
        state.stage_event(&AssistantEvent::RunStepCompleted(open.step));
    }

    /// Ends the run `incomplete` for `reason` (a limit was reached): the open
    /// message ends `incomplete` (`max_tokens`), the open steps complete (a
    /// tool step with the calls it has, unanswered), in the real API's
    /// order: `thread.message.incomplete`, `thread.run.step.completed`,
    /// `thread.run.incomplete`.
    async fn incomplete(&mut self, reason: &str) -> Result<(), Stop> {
        let mut state = self.lock().await?;
        let message_reason = match reason {
            "content_filter" => "content_filter",
            _ => "max_tokens",
        };
        // The turn's usage goes to its last step: the tool step if open.
        let mut usage = self.turn_usage.take();
        note_usage(&mut state, usage.as_ref());
        let message_usage = if state.open_tools.is_some() {
            None
        } else {
            usage.take()
        };
        self.close_message(&mut state, Some(message_reason), message_usage);
        if let Some(mut open) = state.open_tools.take() {
            open.step.status = RunStepStatus::Completed;
            open.step.completed_at = Some(now());
            if let Some(usage) = &usage {
                lifecycle::add_usage(&mut state.record.progress.usage, usage);
            }
            open.step.usage = usage;
            state.stage_step(&open.step);
            state.stage_event(&AssistantEvent::RunStepCompleted(open.step));
        }
        let end = TurnEnd::Incomplete(reason.to_owned());
        Ok(lifecycle::end_turn(&self.app, &self.live, &mut state, end).await?)
    }

    /// Starts a function call in the turn's tool step (opened, and the
    /// message closed, if need be): the call gets an id of the run's own and
    /// its first delta goes out, with `id`, `name` and empty `arguments`.
    /// Answers the call's position in the step.
    async fn start_call(&mut self, key: Option<u32>, name: String) -> Result<usize, Stop> {
        let (step_id, position, call_id) = {
            let mut state = self.lock().await?;
            if state.open_message.is_some() {
                // The turn's usage comes at its end: it goes to its last step.
                self.close_message(&mut state, None, None);
            }
            if state.open_tools.is_none() {
                let step = self.new_step(
                    RunStepType::ToolCalls,
                    StepDetails::ToolCalls(make!(ToolCallsDetails {
                        tool_calls: Vec::new(),
                    })),
                );
                state.stage_step(&step);
                state.stage_event(&AssistantEvent::RunStepCreated(step.clone()));
                state.stage_event(&AssistantEvent::RunStepInProgress(step.clone()));
                state.open_tools = Some(OpenTools {
                    step,
                    calls: Vec::new(),
                    chunks: 0,
                });
            }
            if state.staged_events() {
                state.commit(&*self.app.store, &self.live.feed).await?;
            }
            let Some(open) = state.open_tools.as_mut() else {
                return Err(Stop::Interrupted(Control::Go));
            };
            let position = open.calls.len();
            let call_id = new_id("call");
            if let StepDetails::ToolCalls(details) = &mut open.step.step_details {
                details
                    .tool_calls
                    .push(ToolCall::Function(make!(FunctionToolCall {
                        id: call_id.clone(),
                        function: make!(FunctionCall {
                            name: name.clone(),
                            arguments: String::new(),
                            output: None,
                        }),
                    })));
            }
            open.calls
                .push(RunToolCall::new(call_id.clone(), name.clone(), ""));
            self.call_keys.push(key);
            (open.step.id.clone(), position, call_id)
        };
        self.pace().await?;
        let mut state = self.lock().await?;
        state.stage_open();
        let first = RunStepDeltaEvent::function_call(
            &step_id,
            make!(FunctionToolCallDelta {
                index: position as u64,
                id: Some(call_id),
                function: Some(make!(FunctionCallDelta {
                    name: Some(name),
                    arguments: Some(String::new()),
                    output: None,
                })),
            }),
        );
        // The API's first delta of a call says `output: null`, which the
        // typed delta leaves out (it skips what is absent).
        let mut data = serde_json::to_value(&first).unwrap_or_default();
        if let Some(function) = data
            .pointer_mut("/delta/step_details/tool_calls/0/function")
            .and_then(serde_json::Value::as_object_mut)
        {
            function.insert("output".to_owned(), serde_json::Value::Null);
        }
        let event = AssistantEvent::RunStepDelta(first);
        state.stage_raw_event(event.name(), &data.to_string());
        self.send_delta(&mut state).await?;
        Ok(position)
    }

    /// Appends a fragment to the arguments of the call at `position` in the
    /// turn's tool step, with its delta (`index`, `type` and `arguments`
    /// only: clients concatenate every string field of a call's deltas).
    async fn call_arguments(&mut self, position: usize, fragment: String) -> Result<(), Stop> {
        if fragment.is_empty() {
            return Ok(());
        }
        self.pace().await?;
        self.spend_completion_tokens(1);
        let mut state = self.lock().await?;
        let Some(open) = &mut state.open_tools else {
            return Ok(());
        };
        open.chunks += 1;
        if let Some(call) = open.calls.get_mut(position) {
            call.function.arguments.push_str(&fragment);
        }
        if let StepDetails::ToolCalls(details) = &mut open.step.step_details
            && let Some(ToolCall::Function(call)) = details.tool_calls.get_mut(position)
        {
            call.function.arguments.push_str(&fragment);
        }
        let step_id = open.step.id.clone();
        state.stage_open();
        let delta = RunStepDeltaEvent::function_call(
            &step_id,
            make!(FunctionToolCallDelta {
                index: position as u64,
                id: None,
                function: Some(make!(FunctionCallDelta {
                    name: None,
                    arguments: Some(fragment),
                    output: None,
                })),
            }),
        );
        state.stage_event(&AssistantEvent::RunStepDelta(delta));
        self.send_delta(&mut state).await
    }

    // ---- replayed turns ----

    /// Plays a recorded turn: its events go out as recorded (ids already the
    /// run's), and what they say of the run, its steps and messages is
    /// stored; the run's status changes go through the lifecycle.
    async fn replay_turn(&mut self, replay: &Replay, start: Start) -> Result<(), Stop> {
        let (mut thread, index) = {
            let mut state = self.lock().await?;
            let index = state.record.progress.turns;
            state.record.progress.turns += 1;
            self.run = state.record.run.clone();
            match start {
                Start::New { thread, .. } => (thread, index),
                Start::Continue { .. } => (None, index),
            }
        };
        let mut first = true;
        let mut saw_done = false;
        for RecordedEvent { event, data } in replay.events(&self.run, index as usize) {
            self.check()?;
            let delta = crate::event::is_delta_name(&event);
            if delta {
                self.pace().await?;
            }
            let mut state = self.lock().await?;
            if delta {
                // Deltas change nothing stored: what they add to is stored
                // whole by its `completed` event. Decoding them (to drop
                // them) cost the server as much CPU as the client's whole
                // pipeline on a replayed stream.
                state.stage_raw_event(&event, &data);
                self.send_delta(&mut state).await?;
                continue;
            }
            let decoded = AssistantEvent::decode(&event, &data).ok();
            let is_thread_created = matches!(decoded, Some(AssistantEvent::ThreadCreated(_)));
            if first {
                first = false;
                if let Some(thread) = thread.take() {
                    if !is_thread_created {
                        state.stage_event(&AssistantEvent::ThreadCreated(thread));
                    } else {
                        state.stage_raw_event(&event, &data);
                        state.commit(&*self.app.store, &self.live.feed).await?;
                        continue;
                    }
                } else if is_thread_created {
                    continue;
                }
            } else if is_thread_created {
                continue;
            }
            let is_done = matches!(decoded, Some(AssistantEvent::Done));
            if let Some(decoded) = &decoded {
                self.apply_recorded(&mut state, decoded);
            }
            state.stage_raw_event(&event, &data);
            if is_done && state.record.run.status == RunStatus::RequiresAction {
                // As for a scripted turn: the run is free for its outputs
                // once its client can see that it waits for them.
                state.driven = false;
            }
            state.commit(&*self.app.store, &self.live.feed).await?;
            if is_done {
                // What a recording has after its `done` is not part of the turn.
                saw_done = true;
                break;
            }
        }
        let mut state = self.lock().await?;
        if !state.record.run.status.ends_stream() {
            let error = LastError::new(
                LastErrorCode::ServerError,
                "The recorded stream ended before its run did.",
            );
            return Ok(lifecycle::fail(&self.app, &self.live, &mut state, error).await?);
        }
        if !saw_done {
            state.stage_event(&AssistantEvent::Done);
        }
        Ok(lifecycle::commit_and_finish(&self.app, &self.live, &mut state).await?)
    }

    /// Stages what a recorded event says about the run, its steps and
    /// messages. The run's status moves through the lifecycle: a recorded
    /// change it does not allow is logged and not made.
    fn apply_recorded(&self, state: &mut RunState, event: &AssistantEvent) {
        if let Some(recorded) = event.run() {
            if recorded.status != state.record.run.status
                && let Err(err) =
                    lifecycle::change(&mut state.record, recorded.status.clone(), now())
            {
                tracing::warn!(%err, "a recorded status change was not made");
            }
            let run = &mut state.record.run;
            run.required_action = recorded.required_action.clone();
            run.last_error = recorded.last_error.clone();
            run.incomplete_details = recorded.incomplete_details.clone();
            if recorded.usage.is_some() {
                run.usage = recorded.usage.clone();
            }
            state.stage_run();
        } else if let Some(step) = event.run_step() {
            state.stage_step(step);
        } else if let Some(message) = event.message() {
            state.stage_message(message);
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Appends a token to the open message and stages its delta event.
fn append_text(state: &mut RunState, token: String) {
    let Some(open) = &mut state.open_message else {
        return;
    };
    open.tokens += 1;
    push_text(&mut open.message, &token);
    let delta = MessageDeltaEvent::text(&open.message.id, token);
    state.stage_open();
    state.stage_event(&AssistantEvent::MessageDelta(delta));
}

fn push_text(message: &mut Message, token: &str) {
    if let Some(MessageContent::Text(text)) = message.content.first_mut() {
        text.text.value.push_str(token);
    } else {
        message.content.insert(0, MessageContent::text(token));
    }
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

/// Notes a turn that ended without usage: the run then has none.
fn note_usage(state: &mut RunState, usage: Option<&Usage>) {
    if usage.is_none() {
        state.record.progress.usage_unreported = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_runner_spells_no_event_name() {
        // The driver names no event: every event it sends is typed.
        let source = include_str!("driver.rs");
        let code = &source[..source.find("#[cfg(test)]").unwrap_or(source.len())];
        // String literals naming `thread.*` things are object types only.
        let literals = code.split('"').skip(1).step_by(2);
        for literal in literals.filter(|l| l.starts_with("thread.") || *l == "done") {
            assert!(
                ["thread.run.step", "thread.message"].contains(&literal),
                "an event name is spelled in the runner: {literal}"
            );
        }
    }
}
