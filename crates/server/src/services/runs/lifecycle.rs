//! The run lifecycle: every change of a run's status goes through here.
//!
//! [`TRANSITIONS`] is the table of legal changes; [`change`] applies one
//! (with the timestamp the API sets for it) or refuses it. On top of it,
//! the operations that move runs: [`start`] (a new run: `queued`),
//! [`submit_tool_outputs`] (`requires_action` → `queued`), [`cancel`]
//! (→ `cancelling` → `cancelled`), [`expire`] (→ `expired`), [`fail`]
//! (→ `failed`), [`end_turn`] (the driver's terminal and `requires_action`
//! ends), and [`recover`] (what a restart finds). The routes, the model
//! driver ([`super::driver`]), the expiry timers and restart recovery call
//! these; nothing else sets a run's status.
//!
//! Each operation changes the run's [`RunState`] under its lock, stages the
//! events that say so, and commits before they go out, so that what a
//! client saw is in the store. A run that reaches a terminal status is
//! finished: its thread unlocked (by the store, in the same commit), its
//! expiry timer stopped, and it leaves the runtime.
//!
//! On restart, runs that were `queued` or `in_progress` fail with
//! `last_error` `{"code": "server_error", "message": "The server restarted
//! during this run."}`: their open steps fail, and a message they were
//! writing ends `incomplete` (`run_failed`) with the text it had. Runs that
//! were `cancelling` end `cancelled`. Runs waiting for tool outputs
//! (`requires_action`) keep waiting, with their expiry timer set again; those
//! past their `expires_at` expire. Each settles with its events appended
//! to its log, so a client resuming its stream sees how it ended.

use super::ownership;
use crate::AssistantEvent;
use crate::ids::now;
use crate::services::error::{IllegalTransition, LifecycleError, LifecycleResult};
use crate::services::live::{Control, LiveRun, RunState};
use crate::services::{ServiceError, ServiceResult, Services};
use crate::store::{RunRecord, StoreError};
use crate::types::{
    IncompleteDetails, LastError, LastErrorCode, Message, MessageStatus, RequiredAction, Run,
    RunStatus, RunStep, RunStepStatus, RunStepType, RunToolCall, StepDetails, Thread, ToolCall,
    ToolOutput, Usage,
};
use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;

/// The legal changes of a run's status: from, and the statuses it may go
/// to. Terminal statuses go nowhere.
pub(crate) const TRANSITIONS: &[(RunStatus, &[RunStatus])] = &[
    (
        RunStatus::Queued,
        &[
            RunStatus::InProgress,
            RunStatus::Cancelling,
            RunStatus::Failed,
            RunStatus::Expired,
        ],
    ),
    (
        RunStatus::InProgress,
        &[
            RunStatus::RequiresAction,
            RunStatus::Completed,
            RunStatus::Incomplete,
            RunStatus::Failed,
            RunStatus::Cancelling,
            RunStatus::Expired,
        ],
    ),
    (
        RunStatus::RequiresAction,
        &[
            RunStatus::Queued,
            RunStatus::Cancelling,
            RunStatus::Failed,
            RunStatus::Expired,
        ],
    ),
    (
        RunStatus::Cancelling,
        &[RunStatus::Cancelled, RunStatus::Failed, RunStatus::Expired],
    ),
];

/// Whether a run may go from `from` to `to`.
pub(crate) fn is_legal(from: &RunStatus, to: &RunStatus) -> bool {
    TRANSITIONS
        .iter()
        .find(|(status, _)| status == from)
        .is_some_and(|(_, next)| next.contains(to))
}

/// Changes a run's status, with the timestamp the API sets for the new
/// status (`started_at` the first time it is `in_progress`, `completed_at`,
/// `failed_at`, `cancelled_at`), `required_action` cleared when it leaves
/// `requires_action`, and the usage summed over its steps when it ends.
pub(crate) fn change(
    record: &mut RunRecord,
    to: RunStatus,
    at: i64,
) -> Result<(), IllegalTransition> {
    let run = &mut record.run;
    if !is_legal(&run.status, &to) {
        return Err(IllegalTransition {
            run_id: run.id.clone(),
            from: run.status.clone(),
            to,
        });
    }
    match to {
        RunStatus::InProgress => {
            run.started_at.get_or_insert(at);
        }
        RunStatus::Completed | RunStatus::Incomplete => run.completed_at = Some(at),
        RunStatus::Failed => run.failed_at = Some(at),
        RunStatus::Cancelled => run.cancelled_at = Some(at),
        _ => {}
    }
    if run.status == RunStatus::RequiresAction {
        run.required_action = None;
    }
    if to.is_terminal() {
        run.required_action = None;
        // A model that reported no usage for a turn leaves the run without:
        // a sum of the other turns' would be a wrong figure.
        run.usage = (!record.progress.usage_unreported).then(|| record.progress.usage.clone());
    }
    run.status = to;
    Ok(())
}

/// The event that announces a run in this status.
fn status_event(run: Run) -> AssistantEvent {
    match run.status {
        RunStatus::Queued => AssistantEvent::RunQueued(run),
        RunStatus::InProgress => AssistantEvent::RunInProgress(run),
        RunStatus::RequiresAction => AssistantEvent::RunRequiresAction(run),
        RunStatus::Cancelling => AssistantEvent::RunCancelling(run),
        RunStatus::Cancelled => AssistantEvent::RunCancelled(run),
        RunStatus::Failed => AssistantEvent::RunFailed(run),
        RunStatus::Completed => AssistantEvent::RunCompleted(run),
        RunStatus::Incomplete => AssistantEvent::RunIncomplete(run),
        _ => AssistantEvent::RunExpired(run),
    }
}

/// Changes the status and stages the run and its event.
fn announce(state: &mut RunState, to: RunStatus, at: i64) -> LifecycleResult<()> {
    change(&mut state.record, to, at)?;
    state.stage_run();
    state.stage_event(&status_event(state.record.run.clone()));
    Ok(())
}

/// Every run slot is taken.
fn no_slot(app: &Services) -> ServiceError {
    ServiceError::Busy {
        limit: app.config.max_active_runs,
    }
}

/// Whether a run slot is free now (checked before a thread-and-run makes
/// its thread, so that a refused request leaves nothing behind).
pub(crate) fn check_slot(app: &Services) -> ServiceResult<()> {
    app.runtime.try_slot().map(drop).ok_or_else(|| no_slot(app))
}

/// How a turn starts.
pub(crate) enum Start {
    /// A new run; a thread made with it (thread-and-run) is announced first.
    New {
        thread: Option<Thread>,
        /// The thread's messages as the run's insert read them.
        thread_messages: Vec<Message>,
    },
    /// The turn after tool outputs; the completed tool step is announced first.
    Continue { step: Box<RunStep> },
}

/// A turn for the driver to run, as the lifecycle hands it over (it never
/// starts one itself): the run, marked as driven by `driver`, how the turn
/// starts, and the slot it holds while it runs.
pub(crate) struct TurnToDrive {
    pub(crate) live: Arc<LiveRun>,
    pub(crate) start: Start,
    pub(crate) permit: OwnedSemaphorePermit,
    pub(crate) driver: u64,
    /// The run's last event before the turn: a stream of the turn follows
    /// the run from there.
    pub(crate) after: u64,
}

/// Starts a new run (`queued`): stores it with the messages it adds, locks
/// its thread and sets its expiry; returns it with its first turn, to
/// drive. `thread` is the thread made with it (thread-and-run), announced
/// first on its stream.
pub(crate) async fn start(
    app: &Arc<Services>,
    record: RunRecord,
    messages: Vec<Message>,
    thread: Option<Thread>,
) -> ServiceResult<(Run, TurnToDrive)> {
    let permit = app.runtime.try_slot().ok_or_else(|| no_slot(app))?;
    let mut record = record;
    if app.store.is_shared() {
        record.owner = Some(app.instance.clone());
    }
    let thread_messages = app.store.insert_run(&record, &messages).await?;
    let run = record.run.clone();
    let live = LiveRun::new(record);
    let driver = live.state.lock().await.drive();
    app.runtime.insert(Arc::clone(&live));
    arm_expiry(app, &live, &run);
    let start = Start::New {
        thread,
        thread_messages,
    };
    let turn = TurnToDrive {
        live,
        start,
        permit,
        driver,
        after: 0,
    };
    Ok((run, turn))
}

/// The events that open a new run's first turn: `thread.created` (for
/// thread-and-run), `thread.run.created`, `thread.run.queued`.
pub(crate) fn announce_created(state: &mut RunState, thread: Option<Thread>) {
    if let Some(thread) = thread {
        state.stage_event(&AssistantEvent::ThreadCreated(thread));
    }
    let run = state.record.run.clone();
    state.stage_event(&AssistantEvent::RunCreated(run.clone()));
    state.stage_event(&AssistantEvent::RunQueued(run));
}

/// A turn begins: `queued` → `in_progress`.
pub(crate) fn begin_turn(state: &mut RunState) -> LifecycleResult<()> {
    announce(state, RunStatus::InProgress, now())
}

/// How a turn of the model ended.
pub(crate) enum TurnEnd {
    /// The run is done.
    Completed,
    /// The run stopped at a limit (`incomplete_details.reason`).
    Incomplete(String),
    /// The model called tools: the run waits for their outputs.
    RequiresAction {
        calls: Vec<RunToolCall>,
        /// The usage of the turn, added to the tool step with the outputs
        /// (`None`: the model reported none).
        usage: Option<Usage>,
    },
}

/// Ends a turn as the model ended it, with the run's events and `done`.
/// The driver has closed its message and steps.
pub(crate) async fn end_turn(
    app: &Services,
    live: &LiveRun,
    state: &mut RunState,
    end: TurnEnd,
) -> LifecycleResult<()> {
    let at = now();
    match end {
        TurnEnd::Completed => announce(state, RunStatus::Completed, at)?,
        TurnEnd::Incomplete(reason) => {
            state.record.run.incomplete_details = Some(IncompleteDetails::new(reason));
            announce(state, RunStatus::Incomplete, at)?;
        }
        TurnEnd::RequiresAction { calls, usage } => {
            change(&mut state.record, RunStatus::RequiresAction, at)?;
            state.record.run.required_action = Some(RequiredAction::submit_tool_outputs(calls));
            state.record.progress.pending_tool_usage = usage;
            state.stage_run();
            state.stage_event(&status_event(state.record.run.clone()));
            // The turn is over once its client can see it: outputs may come
            // before the driver task has ended.
            state.driven = false;
            if app.store.is_shared() {
                // Any instance may take the outputs (`super::ownership`).
                state.stage_release();
            }
        }
    }
    state.stage_event(&AssistantEvent::Done);
    commit_and_finish(app, live, state).await
}

/// Commits, and lets the run go if it has ended.
pub(crate) async fn commit_and_finish(
    app: &Services,
    live: &LiveRun,
    state: &mut RunState,
) -> LifecycleResult<()> {
    state.commit(&*app.store, &live.feed).await?;
    let released = app.store.is_shared() && state.record.owner.is_none();
    if state.record.run.status.is_terminal() || released {
        live.stop_expiry();
        app.runtime.remove(&live.run_id);
        live.feed.close();
    }
    Ok(())
}

/// The steps a run has open: those its driver holds, and those in the store
/// still `in_progress` (a tool step waiting for outputs, or steps left by a
/// process that died).
async fn open_steps(app: &Services, state: &mut RunState) -> LifecycleResult<Vec<RunStep>> {
    let mut steps = Vec::new();
    if let Some(open) = state.open_message.take() {
        steps.push(open.step);
    }
    if let Some(open) = state.open_tools.take() {
        steps.push(open.step);
    }
    let run = &state.record.run;
    for step in app.store.run_steps(&run.thread_id, &run.id).await? {
        if step.status == RunStepStatus::InProgress && !steps.iter().any(|s| s.id == step.id) {
            steps.push(step);
        }
    }
    Ok(steps)
}

/// Ends the messages and steps a run has open, for a run that ends early:
/// messages `incomplete` with `reason`, steps with `step_status` (and
/// `last_error` if given). Stages them with their events.
async fn close_open(
    app: &Services,
    state: &mut RunState,
    reason: &str,
    step_status: RunStepStatus,
    error: Option<&LastError>,
    at: i64,
) -> LifecycleResult<()> {
    let open_message = state.open_message.as_ref().map(|open| open.message.clone());
    let steps = open_steps(app, state).await?;
    let mut messages = Vec::new();
    for step in &steps {
        let Some(message_id) = step.message_id() else {
            continue;
        };
        let message = match &open_message {
            Some(open) if open.id == message_id => open.clone(),
            _ => match app.store.message(&step.thread_id, message_id).await {
                Ok(message) => message,
                Err(StoreError::NotFound { .. }) => continue,
                Err(err) => return Err(err.into()),
            },
        };
        if message.status == Some(MessageStatus::InProgress) {
            messages.push(message);
        }
    }
    for mut message in messages {
        message.status = Some(MessageStatus::Incomplete);
        message.incomplete_at = Some(at);
        message.incomplete_details = Some(IncompleteDetails::new(reason));
        state.stage_message(&message);
        state.stage_event(&AssistantEvent::MessageIncomplete(message));
    }
    for mut step in steps {
        step.status = step_status.clone();
        match step_status {
            RunStepStatus::Cancelled => step.cancelled_at = Some(at),
            RunStepStatus::Expired => step.expired_at = Some(at),
            _ => step.failed_at = Some(at),
        }
        step.last_error = error.cloned();
        state.stage_step(&step);
        let event = match step_status {
            RunStepStatus::Cancelled => AssistantEvent::RunStepCancelled(step),
            RunStepStatus::Expired => AssistantEvent::RunStepExpired(step),
            _ => AssistantEvent::RunStepFailed(step),
        };
        state.stage_event(&event);
    }
    Ok(())
}

/// Fails a run: its open message `incomplete` (`run_failed`), its open
/// steps failed with the same `last_error`, the run `failed`, then `done`.
pub(crate) async fn fail(
    app: &Services,
    live: &LiveRun,
    state: &mut RunState,
    error: LastError,
) -> LifecycleResult<()> {
    if state.record.run.status.is_terminal() {
        return Ok(());
    }
    let at = now();
    close_open(
        app,
        state,
        "run_failed",
        RunStepStatus::Failed,
        Some(&error),
        at,
    )
    .await?;
    state.record.run.last_error = Some(error);
    announce(state, RunStatus::Failed, at)?;
    state.stage_event(&AssistantEvent::Done);
    commit_and_finish(app, live, state).await
}

/// Ends a run told to stop: `cancelled` (it was `cancelling`) or `expired`,
/// its open steps likewise, a message it was writing `incomplete`, then
/// `done`. Nothing if the run has ended already.
pub(crate) async fn settle(
    app: &Services,
    live: &LiveRun,
    state: &mut RunState,
    control: Control,
) -> LifecycleResult<()> {
    if state.record.run.status.is_terminal() {
        return Ok(());
    }
    let at = now();
    let (reason, step_status, status) = match control {
        Control::Expire => ("run_expired", RunStepStatus::Expired, RunStatus::Expired),
        _ => (
            "run_cancelled",
            RunStepStatus::Cancelled,
            RunStatus::Cancelled,
        ),
    };
    close_open(app, state, reason, step_status, None, at).await?;
    announce(state, status, at)?;
    state.stage_event(&AssistantEvent::Done);
    commit_and_finish(app, live, state).await
}

/// The live run of an id on a thread, or 404.
fn live_run(app: &Services, thread_id: &str, run_id: &str) -> Option<Arc<LiveRun>> {
    app.runtime
        .get(run_id)
        .filter(|live| live.thread_id == thread_id)
}

/// Asks a run to stop: `cancelling` at once (with its event), then
/// `cancelled` when its driver stops, or shortly if nothing drives it (it
/// waits for tool outputs), so that `cancelling` is seen first, as with the
/// real API.
pub(crate) async fn cancel(
    app: &Arc<Services>,
    thread_id: &str,
    run_id: &str,
) -> ServiceResult<Run> {
    let live = match live_run(app, thread_id, run_id) {
        Some(live) => live,
        None if app.store.is_shared() => {
            // Held by nobody (or a lapsed instance): take it and cancel it
            // here; held by another instance: ask that one.
            match ownership::claim(app, thread_id, run_id).await? {
                Some(record) => ownership::adopt(app, record),
                None => {
                    let record = app.store.run(thread_id, run_id).await?;
                    if record.run.status.is_terminal() {
                        return Err(cannot_cancel(&record.run.status));
                    }
                    return ownership::request_cancel(app, thread_id, run_id).await;
                }
            }
        }
        None => {
            let record = app.store.run(thread_id, run_id).await?;
            return Err(cannot_cancel(&record.run.status));
        }
    };
    let mut state = live.state.lock().await;
    let status = state.record.run.status.clone();
    if status == RunStatus::Cancelling {
        return Ok(state.record.run.clone());
    }
    if status.is_terminal() {
        return Err(cannot_cancel(&status));
    }
    announce(&mut state, RunStatus::Cancelling, now())?;
    state.commit(&*app.store, &live.feed).await?;
    live.control.send_replace(Control::Cancel);
    let run = state.record.run.clone();
    if !state.driven {
        drop(state);
        let task_app = Arc::clone(app);
        app.tasks.spawn(async move {
            let app = task_app;
            tokio::task::yield_now().await;
            let mut state = live.state.lock().await;
            if !state.driven {
                report(settle(&app, &live, &mut state, Control::Cancel).await);
            }
        });
    }
    Ok(run)
}

fn cannot_cancel(status: &RunStatus) -> ServiceError {
    ServiceError::invalid(format!("Cannot cancel run with status '{status}'."))
}

/// Logs what a background lifecycle operation could not do.
pub(crate) fn report(result: LifecycleResult<()>) {
    match result {
        Ok(()) => {}
        Err(LifecycleError::Illegal(err)) => {
            tracing::error!(%err, "an illegal run status change was refused");
        }
        Err(LifecycleError::Store(err)) => {
            let source = std::error::Error::source(&err).map(ToString::to_string);
            tracing::error!(%err, source, "a run could not be written");
        }
    }
}

/// Expires a run whose time is up, unless it ended first.
pub(crate) async fn expire(app: &Services, live: &LiveRun) {
    let mut state = live.state.lock().await;
    if state.record.run.status.is_terminal() {
        return;
    }
    live.control.send_replace(Control::Expire);
    if !state.driven {
        report(settle(app, live, &mut state, Control::Expire).await);
    }
}

/// Sets the timer that expires a run at its `expires_at`.
fn arm_expiry(app: &Arc<Services>, live: &Arc<LiveRun>, run: &Run) {
    let Some(expires_at) = run.expires_at else {
        return;
    };
    let wait = Duration::from_secs(expires_at.saturating_sub(now()).max(0) as u64);
    // The configured expiry may be below a second, which `expires_at` (whole
    // seconds) cannot say: the timer keeps the configured length.
    let wait = wait.min(app.config.run_expiry);
    let weak: Weak<Services> = Arc::downgrade(app);
    let target: Weak<LiveRun> = Arc::downgrade(live);
    let stopping = app.tasks.stopping();
    let timer = app.tasks.spawn(async move {
        let app = weak;
        tokio::select! {
            () = stopping.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        if let (Some(app), Some(live)) = (app.upgrade(), target.upgrade()) {
            expire(&app, &live).await;
        }
    });
    live.set_expiry(timer.abort_handle());
}

/// Accepts the outputs of a run waiting for them: its tool step completes
/// with them, the run goes back to `queued`; returns it with its next
/// turn, to drive.
pub(crate) async fn submit_tool_outputs(
    app: &Arc<Services>,
    thread_id: &str,
    run_id: &str,
    outputs: Vec<ToolOutput>,
) -> ServiceResult<(Run, TurnToDrive)> {
    let not_accepting = |status: &RunStatus| {
        ServiceError::invalid(format!(
            "Runs in status \"{status}\" do not accept tool outputs."
        ))
    };
    let live = match live_run(app, thread_id, run_id) {
        Some(live) => live,
        // A run waiting for outputs is held by nobody: this instance takes it.
        None if app.store.is_shared() => match ownership::claim(app, thread_id, run_id).await? {
            Some(record) if record.run.status == RunStatus::RequiresAction => {
                let live = ownership::adopt(app, record.clone());
                arm_expiry(app, &live, &record.run);
                live
            }
            Some(record) => {
                // A lapsed instance's run, taken: settle it as the others would.
                let status = record.run.status.clone();
                report(take_over(app, record).await);
                return Err(not_accepting(&status));
            }
            None => {
                let record = app.store.run(thread_id, run_id).await?;
                return Err(not_accepting(&record.run.status));
            }
        },
        None => {
            let record = app.store.run(thread_id, run_id).await?;
            return Err(not_accepting(&record.run.status));
        }
    };
    let mut state = live.state.lock().await;
    if state.record.run.status != RunStatus::RequiresAction || state.driven {
        return Err(not_accepting(&state.record.run.status));
    }
    let required = state.record.run.required_tool_calls().to_vec();
    let expected: Vec<&str> = required.iter().map(|c| c.id.as_str()).collect();
    let given: Vec<&str> = outputs.iter().map(|o| o.tool_call_id.as_str()).collect();
    let unique: HashSet<&str> = given.iter().copied().collect();
    if unique.len() != given.len()
        || unique.len() != expected.len()
        || !given.iter().all(|id| expected.contains(id))
    {
        return Err(ServiceError::invalid_param(
            "tool_outputs",
            format!("Expected tool outputs for call_ids {expected:?}, got {given:?}"),
        ));
    }
    let steps = app.store.run_steps(thread_id, run_id).await?;
    let Some(mut step) = steps.into_iter().rev().find(|step| {
        step.status == RunStepStatus::InProgress && step.kind == RunStepType::ToolCalls
    }) else {
        return Err(ServiceError::Internal(
            "The run has no open tool call step.".to_owned(),
        ));
    };
    let permit = app.runtime.try_slot().ok_or_else(|| no_slot(app))?;
    let usage = state.record.progress.pending_tool_usage.take();
    if let StepDetails::ToolCalls(details) = &mut step.step_details {
        // A replayed step may not hold its calls (they came in deltas).
        for call in &required {
            if !details
                .tool_calls
                .iter()
                .any(|c| c.id() == Some(call.id.as_str()))
            {
                details.tool_calls.push(ToolCall::Function(make!(
                    crate::types::FunctionToolCall {
                        id: call.id.clone(),
                        function: make!(crate::types::FunctionCall {
                            name: call.function.name.clone(),
                            arguments: call.function.arguments.clone(),
                            output: None,
                        }),
                    }
                )));
            }
        }
        for call in &mut details.tool_calls {
            if let ToolCall::Function(call) = call
                && let Some(output) = outputs.iter().find(|o| o.tool_call_id == call.id)
            {
                call.function.output = Some(output.output.clone());
            }
        }
    }
    step.status = RunStepStatus::Completed;
    step.completed_at = Some(now());
    if let Some(usage) = &usage {
        add_usage(&mut state.record.progress.usage, usage);
    }
    step.usage = usage;
    change(&mut state.record, RunStatus::Queued, now())?;
    state.stage_run();
    state.stage_step(&step);
    state.commit(&*app.store, &live.feed).await?;
    let driver = state.drive();
    let run = state.record.run.clone();
    let after = state.record.progress.last_event;
    drop(state);
    let turn = TurnToDrive {
        live,
        start: Start::Continue {
            step: Box::new(step),
        },
        permit,
        driver,
        after,
    };
    Ok((run, turn))
}

pub(crate) fn add_usage(total: &mut Usage, more: &Usage) {
    total.prompt_tokens += more.prompt_tokens;
    total.completion_tokens += more.completion_tokens;
    total.total_tokens += more.total_tokens;
}

/// Settles a run found unfinished with nobody driving it (after a restart,
/// or taken from a lapsed instance): a driven run fails with `why`, one
/// being cancelled ends `cancelled`, one waiting for tool outputs waits on
/// (on a shared store, held by nobody again) unless past its expiry.
async fn settle_found(app: &Arc<Services>, record: RunRecord, why: &str) -> LifecycleResult<()> {
    let run = record.run.clone();
    let live = LiveRun::new(record);
    app.runtime.insert(Arc::clone(&live));
    let mut state = live.state.lock().await;
    match run.status {
        RunStatus::RequiresAction if run.expires_at.is_some_and(|at| at <= now()) => {
            settle(app, &live, &mut state, Control::Expire).await
        }
        RunStatus::RequiresAction if app.store.is_shared() => {
            state.stage_release();
            commit_and_finish(app, &live, &mut state).await
        }
        RunStatus::RequiresAction => {
            arm_expiry(app, &live, &run);
            Ok(())
        }
        RunStatus::Cancelling => settle(app, &live, &mut state, Control::Cancel).await,
        _ => {
            let error = LastError::new(LastErrorCode::ServerError, why);
            fail(app, &live, &mut state, error).await
        }
    }
}

/// Settles a run this instance took from a lapsed one (`super::ownership`).
pub(crate) async fn take_over(app: &Arc<Services>, record: RunRecord) -> LifecycleResult<()> {
    settle_found(app, record, "The server instance running this run stopped.").await
}

/// Settles what a restart finds (see the [module docs](self)). Runs before
/// the server accepts requests.
pub(crate) async fn recover(app: &Arc<Services>) -> Result<usize, StoreError> {
    let unfinished = app.store.unfinished_runs().await?;
    let count = unfinished.len();
    for record in unfinished {
        let run = record.run.clone();
        let result = settle_found(app, record, "The server restarted during this run.").await;
        match result {
            Ok(()) => {
                tracing::info!(run = %run.id, from = %run.status, "a run was recovered after a restart")
            }
            Err(LifecycleError::Store(err)) => return Err(err),
            Err(err) => report(Err(err)),
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::RunStatus as S;

    const ALL: [RunStatus; 9] = [
        S::Queued,
        S::InProgress,
        S::RequiresAction,
        S::Cancelling,
        S::Cancelled,
        S::Failed,
        S::Completed,
        S::Incomplete,
        S::Expired,
    ];

    fn record(status: RunStatus) -> RunRecord {
        RunRecord {
            run: make!(Run {
                id: "run_1".to_owned(),
                status,
                ..Run::default()
            }),
            progress: Default::default(),
            owner: None,
        }
    }

    #[test]
    fn terminal_statuses_go_nowhere() {
        for from in ALL.iter().filter(|s| s.is_terminal()) {
            for to in &ALL {
                let err = change(&mut record(from.clone()), to.clone(), 1).unwrap_err();
                assert_eq!(err.from, *from);
                assert!(err.to_string().contains("cannot go from"), "{err}");
            }
        }
    }

    #[test]
    fn the_table_allows_the_api_lifecycle_and_nothing_else() {
        let legal = [
            (S::Queued, S::InProgress),
            (S::Queued, S::Cancelling),
            (S::Queued, S::Failed),
            (S::Queued, S::Expired),
            (S::InProgress, S::RequiresAction),
            (S::InProgress, S::Completed),
            (S::InProgress, S::Incomplete),
            (S::InProgress, S::Failed),
            (S::InProgress, S::Cancelling),
            (S::InProgress, S::Expired),
            (S::RequiresAction, S::Queued),
            (S::RequiresAction, S::Cancelling),
            (S::RequiresAction, S::Failed),
            (S::RequiresAction, S::Expired),
            (S::Cancelling, S::Cancelled),
            (S::Cancelling, S::Failed),
            (S::Cancelling, S::Expired),
        ];
        for from in &ALL {
            for to in &ALL {
                let expected = legal.contains(&(from.clone(), to.clone()));
                assert_eq!(is_legal(from, to), expected, "{from} -> {to}");
                assert_eq!(
                    change(&mut record(from.clone()), to.clone(), 1).is_ok(),
                    expected
                );
            }
        }
    }

    #[test]
    fn illegal_changes_leave_the_run_as_it_was() {
        let mut run = record(S::Completed);
        run.run.completed_at = Some(5);
        let before = run.run.clone();
        assert!(change(&mut run, S::InProgress, 9).is_err());
        assert!(change(&mut record(S::Queued), S::Completed, 9).is_err());
        assert!(change(&mut record(S::Queued), S::RequiresAction, 9).is_err());
        assert!(change(&mut record(S::Cancelling), S::InProgress, 9).is_err());
        assert_eq!(run.run, before);
    }

    #[test]
    fn changes_set_the_timestamps_of_the_api() {
        let mut run = record(S::Queued);
        change(&mut run, S::InProgress, 10).unwrap();
        assert_eq!(run.run.started_at, Some(10));
        change(&mut run, S::RequiresAction, 11).unwrap();
        run.run.required_action = Some(RequiredAction::submit_tool_outputs(Vec::new()));
        change(&mut run, S::Queued, 12).unwrap();
        assert_eq!(run.run.required_action, None);
        change(&mut run, S::InProgress, 13).unwrap();
        assert_eq!(run.run.started_at, Some(10), "the first start is kept");
        run.progress.usage = Usage::new(3, 4);
        change(&mut run, S::Completed, 14).unwrap();
        assert_eq!(run.run.completed_at, Some(14));
        assert_eq!(run.run.usage, Some(Usage::new(3, 4)));
        let mut cancelled = record(S::RequiresAction);
        change(&mut cancelled, S::Cancelling, 1).unwrap();
        change(&mut cancelled, S::Cancelled, 2).unwrap();
        assert_eq!(cancelled.run.cancelled_at, Some(2));
        let mut failed = record(S::InProgress);
        change(&mut failed, S::Failed, 3).unwrap();
        assert_eq!(failed.run.failed_at, Some(3));
    }
}
