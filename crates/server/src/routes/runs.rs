//! `/threads/runs` and `/threads/{thread_id}/runs/...`.

use super::list_response;
use super::threads::{check_thread, insert_thread};
use crate::api_error::{ApiError, ApiResult};
use crate::app::App;
use crate::cluster;
use crate::extract::{JsonBody, ListParams};
use crate::ids::{new_id, now};
use crate::lifecycle::{self, Follow};
use crate::runtime::frame;
use crate::store::{RunBatch, RunProgress, RunRecord};
use crate::types::{
    Assistant, CreateMessageRequest, CreateRunRequest, CreateThreadAndRunRequest, ListResponse,
    Message, Metadata, ModifyRunRequest, ResponseFormat, Run, RunStatus, RunStep,
    SubmitToolOutputsRequest, Tool, ToolChoice, TruncationStrategy,
};
use crate::validate;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::convert::Infallible;
use std::sync::Arc;

/// What a run takes from its request, whichever endpoint made it.
struct RunOptions {
    assistant_id: String,
    model: Option<String>,
    instructions: Option<String>,
    additional_instructions: Option<String>,
    tools: Option<Vec<Tool>>,
    metadata: Option<Metadata>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_prompt_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    truncation_strategy: Option<TruncationStrategy>,
    tool_choice: Option<ToolChoice>,
    parallel_tool_calls: Option<bool>,
    response_format: Option<ResponseFormat>,
    reasoning_effort: Option<String>,
}

impl RunOptions {
    fn check(&self) -> ApiResult<()> {
        if self.assistant_id.is_empty() {
            return Err(ApiError::invalid_param(
                "assistant_id",
                "Missing required parameter: 'assistant_id'.",
            ));
        }
        validate::metadata(self.metadata.as_ref())?;
        if let Some(tools) = &self.tools {
            validate::tools(tools, validate::MAX_RUN_TOOLS)?;
        }
        validate::sampling(self.temperature, self.top_p)?;
        validate::token_limits(self.max_prompt_tokens, self.max_completion_tokens)
    }

    fn into_run(self, app: &App, assistant: &Assistant, thread_id: &str) -> Run {
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

/// A run as JSON. A run still active (`queued`, `in_progress`,
/// `cancelling`) carries `openai-poll-after-ms`, so that a polling client
/// comes back soon rather than after its default second. `requires_action`
/// does not: it waits for the client, and the SDKs stop polling there.
fn run_json(app: &App, run: Run) -> Response {
    let active = !run.status.ends_stream();
    let mut response = Json(run).into_response();
    if active {
        response.headers_mut().insert(
            "openai-poll-after-ms",
            HeaderValue::from(u64::try_from(app.config.poll_after.as_millis()).unwrap_or(u64::MAX)),
        );
    }
    response
}

/// An event stream answer.
fn event_stream(body: Follow) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body.map(Ok::<_, Infallible>)),
    )
        .into_response()
}

/// The answer of a call that starts or continues a run: the run as JSON, or
/// its event stream.
fn run_response(app: &App, run: Run, follow: Option<Follow>) -> Response {
    match follow {
        None => run_json(app, run),
        Some(follow) => event_stream(follow),
    }
}

/// Makes a run's record, with its additional messages checked.
fn new_run(
    app: &App,
    assistant: &Assistant,
    thread_id: &str,
    options: RunOptions,
    additional_messages: Vec<CreateMessageRequest>,
) -> ApiResult<(RunRecord, Vec<Message>)> {
    let messages = additional_messages
        .into_iter()
        .map(|m| validate::message(thread_id, m))
        .collect::<ApiResult<Vec<Message>>>()?;
    let record = RunRecord {
        run: options.into_run(app, assistant, thread_id),
        progress: RunProgress::default(),
        owner: None,
    };
    Ok((record, messages))
}

pub(crate) async fn create(
    State(app): State<Arc<App>>,
    Path(thread_id): Path<String>,
    JsonBody(request): JsonBody<CreateRunRequest>,
) -> ApiResult<Response> {
    let stream = request.stream.unwrap_or(false);
    let additional = request.additional_messages.clone().unwrap_or_default();
    let options = RunOptions {
        assistant_id: request.assistant_id,
        model: request.model,
        instructions: request.instructions,
        additional_instructions: request.additional_instructions,
        tools: request.tools,
        metadata: request.metadata,
        temperature: request.temperature,
        top_p: request.top_p,
        max_prompt_tokens: request.max_prompt_tokens,
        max_completion_tokens: request.max_completion_tokens,
        truncation_strategy: request.truncation_strategy,
        tool_choice: request.tool_choice,
        parallel_tool_calls: request.parallel_tool_calls,
        response_format: request.response_format,
        reasoning_effort: request.reasoning_effort,
    };
    options.check()?;
    let assistant = app.store.assistant(&options.assistant_id).await?;
    // A thread that does not exist is a 404 from `insert_run`.
    let (record, messages) = new_run(&app, &assistant, &thread_id, options, additional)?;
    let (run, follow) = lifecycle::start(&app, record, messages, None, stream).await?;
    Ok(run_response(&app, run, follow))
}

pub(crate) async fn create_thread_and_run(
    State(app): State<Arc<App>>,
    JsonBody(request): JsonBody<CreateThreadAndRunRequest>,
) -> ApiResult<Response> {
    let stream = request.stream.unwrap_or(false);
    let thread_request = request.thread.unwrap_or_default();
    check_thread(&thread_request)?;
    let options = RunOptions {
        assistant_id: request.assistant_id,
        model: request.model,
        instructions: request.instructions,
        additional_instructions: None,
        tools: request.tools,
        metadata: request.metadata,
        temperature: request.temperature,
        top_p: request.top_p,
        max_prompt_tokens: request.max_prompt_tokens,
        max_completion_tokens: request.max_completion_tokens,
        truncation_strategy: request.truncation_strategy,
        tool_choice: request.tool_choice,
        parallel_tool_calls: request.parallel_tool_calls,
        response_format: request.response_format,
        reasoning_effort: None,
    };
    options.check()?;
    // Refuse before the thread is made, so that a refused request leaves nothing behind.
    let assistant = app.store.assistant(&options.assistant_id).await?;
    lifecycle::check_slot(&app)?;
    let thread = insert_thread(&app, thread_request).await?;
    let announced = stream.then(|| thread.clone());
    let started = match new_run(&app, &assistant, &thread.id, options, Vec::new()) {
        Ok((record, messages)) => lifecycle::start(&app, record, messages, announced, stream).await,
        Err(err) => Err(err),
    };
    match started {
        Ok((run, follow)) => Ok(run_response(&app, run, follow)),
        Err(err) => {
            if let Err(cleanup) = app.store.delete_thread(&thread.id).await {
                tracing::warn!(thread = %thread.id, err = %cleanup, "the thread of a refused run could not be deleted");
            }
            Err(err)
        }
    }
}

pub(crate) async fn list(
    State(app): State<Arc<App>>,
    Path(thread_id): Path<String>,
    params: ListParams,
) -> ApiResult<Json<ListResponse<Run>>> {
    let page = app.store.list_runs(&thread_id, &params.page()).await?;
    Ok(Json(list_response(page, |r| &r.id)))
}

pub(crate) async fn get(
    State(app): State<Arc<App>>,
    Path((thread_id, run_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let record = app.store.run(&thread_id, &run_id).await?;
    Ok(run_json(&app, record.run))
}

pub(crate) async fn modify(
    State(app): State<Arc<App>>,
    Path((thread_id, run_id)): Path<(String, String)>,
    JsonBody(request): JsonBody<ModifyRunRequest>,
) -> ApiResult<Response> {
    validate::metadata(request.metadata.as_ref())?;
    let live = app
        .runtime
        .get(&run_id)
        .filter(|live| live.thread_id == thread_id);
    let run = match live {
        // A live run is changed through its state, so that its driver's
        // next write keeps the change.
        Some(live) => {
            let mut state = live.state.lock().await;
            if let Some(metadata) = request.metadata {
                state.record.run.metadata = metadata;
                state.stage_run();
                state.commit(&*app.store, &live.feed).await?;
            }
            state.record.run.clone()
        }
        None => {
            let mut record = app.store.run(&thread_id, &run_id).await?;
            if let Some(metadata) = request.metadata {
                record.run.metadata = metadata;
                let mut batch = RunBatch::new(&thread_id, &run_id);
                batch.run = Some(record.clone());
                app.store.commit(&batch).await?;
            }
            record.run
        }
    };
    Ok(run_json(&app, run))
}

pub(crate) async fn cancel(
    State(app): State<Arc<App>>,
    Path((thread_id, run_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let run = lifecycle::cancel(&app, &thread_id, &run_id).await?;
    Ok(run_json(&app, run))
}

pub(crate) async fn submit_tool_outputs(
    State(app): State<Arc<App>>,
    Path((thread_id, run_id)): Path<(String, String)>,
    JsonBody(request): JsonBody<SubmitToolOutputsRequest>,
) -> ApiResult<Response> {
    let stream = request.stream.unwrap_or(false);
    let (run, follow) =
        lifecycle::submit_tool_outputs(&app, &thread_id, &run_id, request.tool_outputs, stream)
            .await?;
    Ok(run_response(&app, run, follow))
}

pub(crate) async fn list_steps(
    State(app): State<Arc<App>>,
    Path((thread_id, run_id)): Path<(String, String)>,
    params: ListParams,
) -> ApiResult<Json<ListResponse<RunStep>>> {
    let page = app
        .store
        .list_steps(&thread_id, &run_id, &params.page())
        .await?;
    Ok(Json(list_response(page, |s| &s.id)))
}

pub(crate) async fn get_step(
    State(app): State<Arc<App>>,
    Path((thread_id, run_id, step_id)): Path<(String, String, String)>,
) -> ApiResult<Json<RunStep>> {
    Ok(Json(app.store.step(&thread_id, &run_id, &step_id).await?))
}

/// Stored events read at once when a stream replays them.
const EVENT_PAGE: usize = 1000;

/// `GET /threads/{thread_id}/runs/{run_id}/events`: the run's events after
/// `Last-Event-ID` (or `?after=`), then the run live, to the end of the
/// turn (the next `done`).
pub(crate) async fn events(
    State(app): State<Arc<App>>,
    Path((thread_id, run_id)): Path<(String, String)>,
    headers: HeaderMap,
    params: ListParams,
) -> ApiResult<Response> {
    let after = match headers.get("last-event-id") {
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                ApiError::invalid(
                    "Invalid 'Last-Event-ID' header: expected the id of an event of this run (a whole number).",
                )
            })?,
        None => params.after_seq()?.unwrap_or(0),
    };
    let record = app.store.run(&thread_id, &run_id).await?;
    let live = app
        .runtime
        .get(&run_id)
        .filter(|live| live.thread_id == thread_id);
    // Events before the live feed (all of them, for a run no longer live)
    // come from the store.
    let (stored_until, follow) = match &live {
        Some(live) => {
            let first = live.feed.first_seq();
            let follow = Arc::clone(&live.feed).follow(after.max(first - 1));
            (first - 1, Some(Box::pin(follow) as Follow))
        }
        None => (record.progress.last_event, None),
    };
    if after < stored_until {
        let first = app
            .store
            .events_after(&thread_id, &run_id, after, 1)
            .await?;
        if first.is_empty() {
            return Err(ApiError::new(
                axum::http::StatusCode::GONE,
                "invalid_request_error",
                format!(
                    "The events of run {run_id} are no longer kept: events are kept for {} seconds after a run ends.",
                    app.config.event_retention.as_secs()
                ),
            )
            .code("events_expired"));
        }
    }
    let stored = StoredEvents {
        app: Arc::clone(&app),
        thread_id,
        run_id,
        after,
        until: stored_until,
    };
    let body: Follow = match follow {
        Some(follow) => Box::pin(stored.chain_until_done(follow)),
        // Driven by another instance, or between instances: follow the store.
        None if app.store.is_shared() => {
            cluster::follow_stored(app, stored.thread_id, stored.run_id, after)
        }
        None => Box::pin(stored.into_stream()),
    };
    Ok(event_stream(body))
}

/// A run's stored events in `(after, until]`, read a page at a time, up
/// to and including the first `done`.
struct StoredEvents {
    app: Arc<App>,
    thread_id: String,
    run_id: String,
    after: u64,
    until: u64,
}

impl StoredEvents {
    /// The frames a page at a time, each chunk with whether it ends at a
    /// `done`; nothing after a `done`.
    fn chunks(self) -> impl futures_util::Stream<Item = (Bytes, bool)> + Send + 'static {
        futures_util::stream::unfold(Some(self), |state| async move {
            let mut state = state?;
            if state.after >= state.until {
                return None;
            }
            let events = match state
                .app
                .store
                .events_after(&state.thread_id, &state.run_id, state.after, EVENT_PAGE)
                .await
            {
                Ok(events) => events,
                Err(err) => {
                    tracing::error!(%err, "the events of a run could not be read");
                    return None;
                }
            };
            let mut chunk = Vec::new();
            let mut done = false;
            for event in events.iter().take_while(|e| e.seq <= state.until) {
                chunk.extend_from_slice(&frame(&event.event, event.seq, &event.data));
                state.after = event.seq;
                if crate::AssistantEvent::Done.name() == event.event {
                    done = true;
                    break;
                }
            }
            if chunk.is_empty() {
                return None;
            }
            let next = (!done).then_some(state);
            Some(((Bytes::from(chunk), done), next))
        })
    }

    /// The stored frames, to the first `done`.
    fn into_stream(self) -> impl futures_util::Stream<Item = Bytes> + Send + 'static {
        self.chunks().map(|(chunk, _)| chunk)
    }

    /// The stored frames, then `follow` unless they reached a `done`.
    fn chain_until_done(
        self,
        follow: Follow,
    ) -> impl futures_util::Stream<Item = Bytes> + Send + 'static {
        let stored = Box::pin(self.chunks().fuse());
        futures_util::stream::unfold(
            (stored, Some(follow), false),
            |(mut stored, mut follow, mut done)| async move {
                if !done && let Some((chunk, ends)) = stored.next().await {
                    done = ends;
                    return Some((chunk, (stored, follow, done)));
                }
                if done {
                    return None;
                }
                let chunk = follow.as_mut()?.next().await?;
                Some((chunk, (stored, follow, done)))
            },
        )
    }
}
