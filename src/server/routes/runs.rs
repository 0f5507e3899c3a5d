//! `/threads/runs` and `/threads/{thread_id}/runs/...`.

use super::threads::{check_thread, insert_thread};
use crate::server::app::App;
use crate::server::error::{ApiError, ApiResult};
use crate::server::extract::{JsonBody, ListParams};
use crate::server::ids::{new_id, now};
use crate::server::runner::{Start, finish_if_terminal, settle, spawn_expiry, spawn_turn};
use crate::server::store::{Control, LegacyStore as Store, RunEntry, ThreadEntry};
use crate::server::validate;
use crate::types::{
    Assistant, CreateMessageRequest, CreateRunRequest, CreateThreadAndRunRequest, FunctionCall,
    FunctionToolCall, ListResponse, Message, Metadata, ModifyRunRequest, ResponseFormat, Run,
    RunStatus, RunStep, RunStepStatus, StepDetails, SubmitToolOutputsRequest, Thread, Tool,
    ToolCall, ToolChoice, TruncationStrategy,
};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::mpsc;

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
        Run {
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
        }
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

/// The answer of a call that starts or continues a run: the run as JSON, or
/// its event stream.
fn run_response(app: &App, run: Run, stream: Option<mpsc::Receiver<Bytes>>) -> Response {
    match stream {
        None => run_json(app, run),
        Some(rx) => {
            let body = futures_util::stream::unfold(rx, |mut rx| async move {
                let frame = rx.recv().await?;
                Some((Ok::<_, Infallible>(coalesce(frame, &mut rx)), rx))
            });
            (
                [
                    (header::CONTENT_TYPE, "text/event-stream"),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                Body::from_stream(body),
            )
                .into_response()
        }
    }
}

/// The frame and those already queued behind it, in one chunk of at most
/// about 64 KiB: a client that reads slower than the run writes gets few
/// large chunks rather than one per event (each a write, a chunk header and a
/// read on its own). Never waits for more: a lone event goes out at once.
fn coalesce(first: Bytes, rx: &mut mpsc::Receiver<Bytes>) -> Bytes {
    const MAX: usize = 64 * 1024;
    if rx.is_empty() {
        return first;
    }
    let mut chunk = Vec::with_capacity(MAX.max(first.len()));
    chunk.extend_from_slice(&first);
    while chunk.len() < MAX {
        match rx.try_recv() {
            Ok(frame) => chunk.extend_from_slice(&frame),
            Err(_) => break,
        }
    }
    Bytes::from(chunk)
}

fn stream_channel(
    app: &App,
    stream: bool,
) -> (Option<mpsc::Sender<Bytes>>, Option<mpsc::Receiver<Bytes>>) {
    if stream {
        let (tx, rx) = mpsc::channel(app.config.stream_buffer.max(1));
        (Some(tx), Some(rx))
    } else {
        (None, None)
    }
}

/// Stores a new run on an unlocked thread, locks the thread and starts the
/// run's task. Everything is checked before anything is stored.
fn start_run(
    app: &Arc<App>,
    store: &mut Store,
    thread_id: &str,
    options: RunOptions,
    additional_messages: Vec<CreateMessageRequest>,
    thread_created: Option<Thread>,
    stream: bool,
) -> ApiResult<(Run, Option<mpsc::Receiver<Bytes>>)> {
    let assistant = store.assistant(&options.assistant_id)?.clone();
    let thread = store.thread(thread_id)?;
    if let Some(active) = &thread.active_run {
        return Err(ApiError::invalid(format!(
            "Thread {thread_id} already has an active run {active}."
        )));
    }
    let messages = additional_messages
        .into_iter()
        .map(|m| validate::message(thread_id, m))
        .collect::<ApiResult<Vec<Message>>>()?;
    let permit = app.run_slot()?;
    let run = options.into_run(app, &assistant, thread_id);
    let mut entry = RunEntry::new(run.clone());
    entry.driven = true;
    entry.expiry = Some(spawn_expiry(app, thread_id.to_owned(), run.id.clone()));
    let control = entry.control.subscribe();
    let thread = store.thread_mut(thread_id)?;
    for message in messages {
        thread.messages.insert(message.id.clone(), message);
    }
    thread.active_run = Some(run.id.clone());
    thread.runs.insert(run.id.clone(), entry);
    let (tx, rx) = stream_channel(app, stream);
    spawn_turn(
        Arc::clone(app),
        thread_id.to_owned(),
        run.id.clone(),
        Start::New {
            thread: thread_created,
        },
        permit,
        tx,
        control,
    );
    Ok((run, rx))
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
    let (run, rx) = start_run(
        &app,
        &mut app.store(),
        &thread_id,
        options,
        additional,
        None,
        stream,
    )?;
    Ok(run_response(&app, run, rx))
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
    let mut store = app.store();
    // Refuse before the thread is made, so that a refused request leaves nothing behind.
    store.assistant(&options.assistant_id)?;
    drop(app.run_slot()?);
    let thread = insert_thread(&mut store, thread_request)?;
    let announced = stream.then(|| thread.clone());
    match start_run(
        &app,
        &mut store,
        &thread.id,
        options,
        Vec::new(),
        announced,
        stream,
    ) {
        Ok((run, rx)) => Ok(run_response(&app, run, rx)),
        Err(err) => {
            store.threads.remove(&thread.id);
            Err(err)
        }
    }
}

pub(crate) async fn list(
    State(app): State<Arc<App>>,
    Path(thread_id): Path<String>,
    params: ListParams,
) -> ApiResult<Json<ListResponse<Run>>> {
    let store = app.store();
    store
        .thread(&thread_id)?
        .runs
        .page(&params, |_| true, |e| e.run.clone(), |r| r.id.clone())
        .map(Json)
}

pub(crate) async fn get(
    State(app): State<Arc<App>>,
    Path((thread_id, run_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let run = app.store().run(&thread_id, &run_id)?.run.clone();
    Ok(run_json(&app, run))
}

pub(crate) async fn modify(
    State(app): State<Arc<App>>,
    Path((thread_id, run_id)): Path<(String, String)>,
    JsonBody(request): JsonBody<ModifyRunRequest>,
) -> ApiResult<Response> {
    validate::metadata(request.metadata.as_ref())?;
    let mut store = app.store();
    let entry = store.run_mut(&thread_id, &run_id)?;
    if let Some(metadata) = request.metadata {
        entry.run.metadata = metadata;
    }
    let run = entry.run.clone();
    drop(store);
    Ok(run_json(&app, run))
}

pub(crate) async fn cancel(
    State(app): State<Arc<App>>,
    Path((thread_id, run_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let mut store = app.store();
    let entry = store.run_mut(&thread_id, &run_id)?;
    let status = entry.run.status.clone();
    if status == RunStatus::Cancelling {
        return Ok(run_json(&app, entry.run.clone()));
    }
    if status.is_terminal() {
        return Err(ApiError::invalid(format!(
            "Cannot cancel run with status '{status}'."
        )));
    }
    entry.run.status = RunStatus::Cancelling;
    entry.control.send_replace(Control::Cancel);
    let run = entry.run.clone();
    if !entry.driven {
        // Nothing drives the run (it waits for tool outputs): settle it
        // shortly, so that `cancelling` is seen first, as with the real API.
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            let mut store = app.store();
            let Some(ThreadEntry {
                messages,
                runs,
                active_run,
                ..
            }) = store.threads.get_mut(&thread_id)
            else {
                return;
            };
            if let Some(entry) = runs.get_mut(&run_id) {
                if !entry.driven {
                    settle(messages, entry, Control::Cancel);
                    finish_if_terminal(entry, active_run);
                }
            }
        });
    }
    Ok(run_json(&app, run))
}

pub(crate) async fn submit_tool_outputs(
    State(app): State<Arc<App>>,
    Path((thread_id, run_id)): Path<(String, String)>,
    JsonBody(request): JsonBody<SubmitToolOutputsRequest>,
) -> ApiResult<Response> {
    let stream = request.stream.unwrap_or(false);
    let mut store = app.store();
    let entry = store.run_mut(&thread_id, &run_id)?;
    if entry.run.status != RunStatus::RequiresAction {
        return Err(ApiError::invalid(format!(
            "Runs in status \"{}\" do not accept tool outputs.",
            entry.run.status
        )));
    }
    let expected: Vec<String> = entry
        .run
        .required_tool_calls()
        .iter()
        .map(|c| c.id.clone())
        .collect();
    let given: Vec<String> = request
        .tool_outputs
        .iter()
        .map(|o| o.tool_call_id.clone())
        .collect();
    let unique: HashSet<&String> = given.iter().collect();
    let all_known = given.iter().all(|id| expected.contains(id));
    if unique.len() != given.len() || !all_known || unique.len() != expected.len() {
        return Err(ApiError::invalid_param(
            "tool_outputs",
            format!("Expected tool outputs for call_ids {expected:?}, got {given:?}"),
        ));
    }
    let permit = app.run_slot()?;
    let at = now();
    let usage = entry.pending_tool_usage.take().unwrap_or_default();
    let required = entry.run.required_tool_calls().to_vec();
    let step: Option<RunStep> = entry.open_tool_step_mut().map(|step| {
        if let StepDetails::ToolCalls(details) = &mut step.step_details {
            // A replayed step may not hold its calls (they came in deltas).
            for call in &required {
                if !details
                    .tool_calls
                    .iter()
                    .any(|c| c.id() == Some(call.id.as_str()))
                {
                    details
                        .tool_calls
                        .push(ToolCall::Function(FunctionToolCall {
                            id: call.id.clone(),
                            function: FunctionCall {
                                name: call.function.name.clone(),
                                arguments: call.function.arguments.clone(),
                                output: None,
                            },
                        }));
                }
            }
            for call in &mut details.tool_calls {
                if let ToolCall::Function(call) = call {
                    if let Some(output) = request
                        .tool_outputs
                        .iter()
                        .find(|o| o.tool_call_id == call.id)
                    {
                        call.function.output = Some(output.output.clone());
                    }
                }
            }
        }
        step.status = RunStepStatus::Completed;
        step.completed_at = Some(at);
        step.usage = Some(usage.clone());
        step.clone()
    });
    let Some(step) = step else {
        return Err(ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "The run has no open tool call step.",
        ));
    };
    entry.usage.prompt_tokens += usage.prompt_tokens;
    entry.usage.completion_tokens += usage.completion_tokens;
    entry.usage.total_tokens += usage.total_tokens;
    entry.run.status = RunStatus::Queued;
    entry.run.required_action = None;
    entry.driven = true;
    let control = entry.control.subscribe();
    let run = entry.run.clone();
    drop(store);
    let (tx, rx) = stream_channel(&app, stream);
    spawn_turn(
        Arc::clone(&app),
        thread_id,
        run_id,
        Start::Continue {
            step: Box::new(step),
        },
        permit,
        tx,
        control,
    );
    Ok(run_response(&app, run, rx))
}

pub(crate) async fn list_steps(
    State(app): State<Arc<App>>,
    Path((thread_id, run_id)): Path<(String, String)>,
    params: ListParams,
) -> ApiResult<Json<ListResponse<RunStep>>> {
    let store = app.store();
    store
        .run(&thread_id, &run_id)?
        .steps
        .page(&params, |_| true, Clone::clone, |s| s.id.clone())
        .map(Json)
}

pub(crate) async fn get_step(
    State(app): State<Arc<App>>,
    Path((thread_id, run_id, step_id)): Path<(String, String, String)>,
) -> ApiResult<Json<RunStep>> {
    let store = app.store();
    let step = store
        .run(&thread_id, &run_id)?
        .steps
        .get(&step_id)
        .ok_or_else(|| ApiError::not_found("run step", &step_id))?;
    Ok(Json(step.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn coalescing_joins_the_queued_frames_and_never_waits() {
        let (tx, mut rx) = mpsc::channel(8);
        let first = Bytes::from_static(b"event: a\n\n");
        assert_eq!(coalesce(first.clone(), &mut rx), first, "nothing queued");
        tx.send(Bytes::from_static(b"event: b\n\n")).await.unwrap();
        tx.send(Bytes::from_static(b"event: c\n\n")).await.unwrap();
        assert_eq!(
            coalesce(first, &mut rx),
            "event: a\n\nevent: b\n\nevent: c\n\n"
        );
        assert!(rx.is_empty());
    }
}
