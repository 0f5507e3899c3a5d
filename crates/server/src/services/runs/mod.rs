//! Runs: what the api asks of them, over the parts that run them.
//!
//! - [`lifecycle`]: every change of a run's status, and the turns it hands
//!   over to drive;
//! - [`driver`]: one turn of a run, asked of the model;
//! - [`ownership`]: which instance holds a run, on a store several share;
//! - [`follow`]: the one follower of a run's events, for every stream.
//!
//! The calls here make a run's record from a request (the defaults of the
//! API: its assistant's model, instructions and tools, `auto` truncation,
//! ...), start and continue runs (the lifecycle's turn handed to the
//! driver), and change or cancel them.

pub(crate) mod driver;
pub(crate) mod follow;
pub(crate) mod lifecycle;
pub(crate) mod ownership;

use super::{ServiceResult, Services};
use crate::ids::{new_id, now};
use crate::services::live::Follow;
use crate::store::{Page, PageQuery, RunBatch, RunProgress, RunRecord};
use crate::types::{
    Assistant, Message, Metadata, ResponseFormat, Run, RunStatus, RunStep, Thread, Tool,
    ToolChoice, ToolOutput, TruncationStrategy,
};
use std::sync::Arc;

/// What a run takes from its request, whichever endpoint made it (checked
/// by the api).
#[derive(Debug, Default)]
pub(crate) struct RunOptions {
    pub(crate) assistant_id: String,
    pub(crate) model: Option<String>,
    pub(crate) instructions: Option<String>,
    pub(crate) additional_instructions: Option<String>,
    pub(crate) tools: Option<Vec<Tool>>,
    pub(crate) metadata: Option<Metadata>,
    pub(crate) temperature: Option<f64>,
    pub(crate) top_p: Option<f64>,
    pub(crate) max_prompt_tokens: Option<u64>,
    pub(crate) max_completion_tokens: Option<u64>,
    pub(crate) truncation_strategy: Option<TruncationStrategy>,
    pub(crate) tool_choice: Option<ToolChoice>,
    pub(crate) parallel_tool_calls: Option<bool>,
    pub(crate) response_format: Option<ResponseFormat>,
    pub(crate) reasoning_effort: Option<String>,
}

impl RunOptions {
    /// The run these options make on `thread_id`, with the API's defaults
    /// for what they leave out (most from the assistant).
    fn into_run(self, app: &Services, assistant: &Assistant, thread_id: &str) -> Run {
        let created_at = now();
        let expiry_secs = app.config.run_expiry.as_secs_f64().ceil().max(1.0) as i64;
        let mut instructions = self
            .instructions
            .or_else(|| assistant.instructions.clone())
            .unwrap_or_default();
        if let Some(more) = self.additional_instructions {
            if !instructions.is_empty() {
                instructions.push_str("\n\n");
            }
            instructions.push_str(&more);
        }
        make!(Run {
            id: new_id("run"),
            object: "thread.run".to_owned(),
            created_at,
            thread_id: thread_id.to_owned(),
            assistant_id: assistant.id.clone(),
            status: RunStatus::Queued,
            required_action: None,
            last_error: None,
            expires_at: Some(created_at + expiry_secs),
            started_at: None,
            cancelled_at: None,
            failed_at: None,
            completed_at: None,
            incomplete_details: None,
            model: self.model.unwrap_or_else(|| assistant.model.clone()),
            instructions: Some(instructions),
            tools: self.tools.unwrap_or_else(|| assistant.tools.clone()),
            tool_resources: None,
            metadata: self.metadata.unwrap_or_default(),
            usage: None,
            temperature: self.temperature.or(assistant.temperature).or(Some(1.0)),
            top_p: self.top_p.or(assistant.top_p).or(Some(1.0)),
            max_prompt_tokens: self.max_prompt_tokens,
            max_completion_tokens: self.max_completion_tokens,
            truncation_strategy: Some(
                self.truncation_strategy
                    .unwrap_or_else(TruncationStrategy::auto),
            ),
            tool_choice: Some(self.tool_choice.unwrap_or(ToolChoice::Auto)),
            parallel_tool_calls: Some(self.parallel_tool_calls.unwrap_or(true)),
            response_format: Some(
                self.response_format
                    .or_else(|| assistant.response_format.clone())
                    .unwrap_or(ResponseFormat::Auto),
            ),
            reasoning_effort: self
                .reasoning_effort
                .or_else(|| assistant.reasoning_effort.clone()),
        })
    }
}

/// A run as a call that starts or continues it answers: the run, and its
/// stream if one was asked for.
pub(crate) type Started = (Run, Option<Follow>);

/// Starts a run on a thread, with `messages` (checked by the api, for this
/// thread) added before it. A thread that does not exist is `NotFound`
/// from the store's insert.
pub(crate) async fn create(
    app: &Arc<Services>,
    thread_id: &str,
    options: RunOptions,
    messages: Vec<Message>,
    stream: bool,
) -> ServiceResult<Started> {
    let assistant = app.store.assistant(&options.assistant_id).await?;
    start(app, &assistant, thread_id, options, messages, None, stream).await
}

/// Makes a thread (`thread`, with its checked messages) and starts a run
/// on it. Refused before the thread is made when the assistant is unknown
/// or no run slot is free; a run refused after it deletes the thread, so
/// that a refused request leaves nothing behind.
pub(crate) async fn create_thread_and_run(
    app: &Arc<Services>,
    thread: super::threads::NewThread,
    options: RunOptions,
    stream: bool,
) -> ServiceResult<Started> {
    let assistant = app.store.assistant(&options.assistant_id).await?;
    lifecycle::check_slot(app)?;
    let thread = super::threads::create(app, thread).await?;
    let announced = stream.then(|| thread.clone());
    let started = start(
        app,
        &assistant,
        &thread.id,
        options,
        Vec::new(),
        announced,
        stream,
    )
    .await;
    if started.is_err()
        && let Err(cleanup) = app.store.delete_thread(&thread.id).await
    {
        tracing::warn!(thread = %thread.id, err = %cleanup, "the thread of a refused run could not be deleted");
    }
    started
}

/// Makes the run's record, starts it, and hands its first turn to the
/// driver.
async fn start(
    app: &Arc<Services>,
    assistant: &Assistant,
    thread_id: &str,
    options: RunOptions,
    messages: Vec<Message>,
    announced: Option<Thread>,
    stream: bool,
) -> ServiceResult<Started> {
    let record = RunRecord {
        run: options.into_run(app, assistant, thread_id),
        progress: RunProgress::default(),
        owner: None,
    };
    let (run, turn) = lifecycle::start(app, record, messages, announced).await?;
    Ok((run, drive(app, turn, stream)))
}

/// Hands a turn to the driver; its stream, from the run's events before
/// it, if asked for.
fn drive(app: &Arc<Services>, turn: lifecycle::TurnToDrive, stream: bool) -> Option<Follow> {
    let follow = stream.then(|| follow::live(app, &turn.live, turn.after));
    driver::spawn_turn(app, turn);
    follow
}

/// Accepts a run's tool outputs and drives its next turn.
pub(crate) async fn submit_tool_outputs(
    app: &Arc<Services>,
    thread_id: &str,
    run_id: &str,
    outputs: Vec<ToolOutput>,
    stream: bool,
) -> ServiceResult<Started> {
    let (run, turn) = lifecycle::submit_tool_outputs(app, thread_id, run_id, outputs).await?;
    Ok((run, drive(app, turn, stream)))
}

/// Cancels a run (see [`lifecycle::cancel`]).
pub(crate) async fn cancel(
    app: &Arc<Services>,
    thread_id: &str,
    run_id: &str,
) -> ServiceResult<Run> {
    lifecycle::cancel(app, thread_id, run_id).await
}

/// Replaces a run's metadata. A live run is changed through its state, so
/// that its driver's next write keeps the change.
pub(crate) async fn modify(
    app: &Services,
    thread_id: &str,
    run_id: &str,
    metadata: Option<Metadata>,
) -> ServiceResult<Run> {
    let live = app
        .runtime
        .get(run_id)
        .filter(|live| live.thread_id == thread_id);
    let run = match live {
        Some(live) => {
            let mut state = live.state.lock().await;
            if let Some(metadata) = metadata {
                state.record.run.metadata = metadata;
                state.stage_run();
                state.commit(&*app.store, &live.feed).await?;
            }
            state.record.run.clone()
        }
        None => {
            let mut record = app.store.run(thread_id, run_id).await?;
            if let Some(metadata) = metadata {
                record.run.metadata = metadata;
                let mut batch = RunBatch::new(thread_id, run_id);
                batch.run = Some(record.clone());
                app.store.commit(&batch).await?;
            }
            record.run
        }
    };
    Ok(run)
}

/// A run's events after `after`, to the end of the turn (the events
/// route; see [`follow::resume`]).
pub(crate) async fn events(
    app: &Arc<Services>,
    thread_id: &str,
    run_id: &str,
    after: u64,
) -> ServiceResult<Follow> {
    follow::resume(app, thread_id, run_id, after).await
}

/// A run.
pub(crate) async fn get(app: &Services, thread_id: &str, run_id: &str) -> ServiceResult<Run> {
    Ok(app.store.run(thread_id, run_id).await?.run)
}

/// A page of a thread's runs.
pub(crate) async fn list(
    app: &Services,
    thread_id: &str,
    page: &PageQuery,
) -> ServiceResult<Page<Run>> {
    Ok(app.store.list_runs(thread_id, page).await?)
}

/// A step of a run.
pub(crate) async fn step(
    app: &Services,
    thread_id: &str,
    run_id: &str,
    step_id: &str,
) -> ServiceResult<RunStep> {
    Ok(app.store.step(thread_id, run_id, step_id).await?)
}

/// A page of a run's steps.
pub(crate) async fn list_steps(
    app: &Services,
    thread_id: &str,
    run_id: &str,
    page: &PageQuery,
) -> ServiceResult<Page<RunStep>> {
    Ok(app.store.list_steps(thread_id, run_id, page).await?)
}
