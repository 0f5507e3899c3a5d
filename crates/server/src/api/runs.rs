//! `/threads/runs` and `/threads/{thread_id}/runs/...`.

use super::error::{ApiError, ApiResult};
use super::extract::{JsonBody, ListParams};
use super::threads::check_thread;
use super::{list_response, validate};
use crate::services::Services;
use crate::services::live::Follow;
use crate::services::runs::{self, RunOptions};
use crate::types::{
    CreateRunRequest, CreateThreadAndRunRequest, ListResponse, Message, ModifyRunRequest, Run,
    RunStep, SubmitToolOutputsRequest,
};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use std::convert::Infallible;
use std::sync::Arc;

/// Checks what a run takes from its request.
fn check(options: &RunOptions) -> ApiResult<()> {
    if options.assistant_id.is_empty() {
        return Err(ApiError::invalid_param(
            "assistant_id",
            "Missing required parameter: 'assistant_id'.",
        ));
    }
    validate::metadata(options.metadata.as_ref())?;
    if let Some(tools) = &options.tools {
        validate::tools(tools, validate::MAX_RUN_TOOLS)?;
    }
    validate::sampling(options.temperature, options.top_p)?;
    validate::token_limits(options.max_prompt_tokens, options.max_completion_tokens)
}

/// A run as JSON. A run still active (`queued`, `in_progress`,
/// `cancelling`) carries `openai-poll-after-ms`, so that a polling client
/// comes back soon rather than after its default second. `requires_action`
/// does not: it waits for the client, and the SDKs stop polling there.
fn run_json(app: &Services, run: Run) -> Response {
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
fn run_response(app: &Services, (run, follow): runs::Started) -> Response {
    match follow {
        None => run_json(app, run),
        Some(follow) => event_stream(follow),
    }
}

pub(crate) async fn create(
    State(app): State<Arc<Services>>,
    Path(thread_id): Path<String>,
    JsonBody(request): JsonBody<CreateRunRequest>,
) -> ApiResult<Response> {
    let stream = request.stream.unwrap_or(false);
    let additional = request.additional_messages.unwrap_or_default();
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
    check(&options)?;
    let messages = additional
        .into_iter()
        .map(|m| validate::message(&thread_id, m))
        .collect::<ApiResult<Vec<Message>>>()?;
    let started = runs::create(&app, &thread_id, options, messages, stream).await?;
    Ok(run_response(&app, started))
}

pub(crate) async fn create_thread_and_run(
    State(app): State<Arc<Services>>,
    JsonBody(request): JsonBody<CreateThreadAndRunRequest>,
) -> ApiResult<Response> {
    let stream = request.stream.unwrap_or(false);
    let thread = check_thread(request.thread.unwrap_or_default())?;
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
    check(&options)?;
    let started = runs::create_thread_and_run(&app, thread, options, stream).await?;
    Ok(run_response(&app, started))
}

pub(crate) async fn list(
    State(app): State<Arc<Services>>,
    Path(thread_id): Path<String>,
    params: ListParams,
) -> ApiResult<Json<ListResponse<Run>>> {
    let page = runs::list(&app, &thread_id, &params.page()).await?;
    Ok(Json(list_response(page, |r| &r.id)))
}

pub(crate) async fn get(
    State(app): State<Arc<Services>>,
    Path((thread_id, run_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let run = runs::get(&app, &thread_id, &run_id).await?;
    Ok(run_json(&app, run))
}

pub(crate) async fn modify(
    State(app): State<Arc<Services>>,
    Path((thread_id, run_id)): Path<(String, String)>,
    JsonBody(request): JsonBody<ModifyRunRequest>,
) -> ApiResult<Response> {
    validate::metadata(request.metadata.as_ref())?;
    let run = runs::modify(&app, &thread_id, &run_id, request.metadata).await?;
    Ok(run_json(&app, run))
}

pub(crate) async fn cancel(
    State(app): State<Arc<Services>>,
    Path((thread_id, run_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let run = runs::cancel(&app, &thread_id, &run_id).await?;
    Ok(run_json(&app, run))
}

pub(crate) async fn submit_tool_outputs(
    State(app): State<Arc<Services>>,
    Path((thread_id, run_id)): Path<(String, String)>,
    JsonBody(request): JsonBody<SubmitToolOutputsRequest>,
) -> ApiResult<Response> {
    let stream = request.stream.unwrap_or(false);
    let started =
        runs::submit_tool_outputs(&app, &thread_id, &run_id, request.tool_outputs, stream).await?;
    Ok(run_response(&app, started))
}

pub(crate) async fn list_steps(
    State(app): State<Arc<Services>>,
    Path((thread_id, run_id)): Path<(String, String)>,
    params: ListParams,
) -> ApiResult<Json<ListResponse<RunStep>>> {
    let page = runs::list_steps(&app, &thread_id, &run_id, &params.page()).await?;
    Ok(Json(list_response(page, |s| &s.id)))
}

pub(crate) async fn get_step(
    State(app): State<Arc<Services>>,
    Path((thread_id, run_id, step_id)): Path<(String, String, String)>,
) -> ApiResult<Json<RunStep>> {
    Ok(Json(runs::step(&app, &thread_id, &run_id, &step_id).await?))
}

/// `GET /threads/{thread_id}/runs/{run_id}/events`: the run's events after
/// `Last-Event-ID` (or `?after=`), then the run live, to the end of the
/// turn (the next `done`).
pub(crate) async fn events(
    State(app): State<Arc<Services>>,
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
    let follow = runs::events(&app, &thread_id, &run_id, after).await?;
    Ok(event_stream(follow))
}
