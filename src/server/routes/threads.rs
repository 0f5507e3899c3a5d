//! `/threads` and `/threads/{thread_id}/messages`.

use crate::server::app::App;
use crate::server::error::{ApiError, ApiResult};
use crate::server::extract::{JsonBody, ListParams};
use crate::server::ids::{new_id, now};
use crate::server::store::{LegacyStore as Store, ThreadEntry};
use crate::server::validate;
use crate::types::{
    CreateMessageRequest, CreateThreadRequest, Deleted, ListResponse, Message,
    ModifyMessageRequest, ModifyThreadRequest, Thread,
};
use axum::Json;
use axum::extract::{Path, State};
use std::sync::Arc;

/// Checks a new thread's request and its messages.
pub(crate) fn check_thread(request: &CreateThreadRequest) -> ApiResult<()> {
    validate::metadata(request.metadata.as_ref())?;
    if request.messages.len() > 32 {
        return Err(ApiError::invalid_param(
            "messages",
            "Invalid 'messages': array too long. Expected an array with maximum length 32.",
        ));
    }
    Ok(())
}

/// Makes a thread with its messages (checked first, so nothing is stored on error).
pub(crate) fn insert_thread(store: &mut Store, request: CreateThreadRequest) -> ApiResult<Thread> {
    check_thread(&request)?;
    let thread = Thread {
        id: new_id("thread"),
        object: "thread".to_owned(),
        created_at: now(),
        tool_resources: request.tool_resources,
        metadata: request.metadata.unwrap_or_default(),
    };
    let messages = request
        .messages
        .into_iter()
        .map(|m| validate::message(&thread.id, m))
        .collect::<ApiResult<Vec<Message>>>()?;
    let mut entry = ThreadEntry::new(thread.clone());
    for message in messages {
        entry.messages.insert(message.id.clone(), message);
    }
    store.threads.insert(thread.id.clone(), entry);
    Ok(thread)
}

pub(crate) async fn create(
    State(app): State<Arc<App>>,
    JsonBody(request): JsonBody<CreateThreadRequest>,
) -> ApiResult<Json<Thread>> {
    insert_thread(&mut app.store(), request).map(Json)
}

pub(crate) async fn get(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Thread>> {
    Ok(Json(app.store().thread(&id)?.thread.clone()))
}

pub(crate) async fn modify(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ModifyThreadRequest>,
) -> ApiResult<Json<Thread>> {
    validate::metadata(request.metadata.as_ref())?;
    let mut store = app.store();
    let thread = &mut store.thread_mut(&id)?.thread;
    if let Some(metadata) = request.metadata {
        thread.metadata = metadata;
    }
    if request.tool_resources.is_some() {
        thread.tool_resources = request.tool_resources;
    }
    Ok(Json(thread.clone()))
}

pub(crate) async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Deleted>> {
    // Runs of the thread go with it; their tasks notice and stop.
    let removed = app.store().threads.remove(&id);
    removed.ok_or_else(|| ApiError::not_found("thread", &id))?;
    Ok(Json(Deleted::new(id, "thread.deleted")))
}

/// The error for a message or run on a thread that a run holds.
pub(crate) fn locked_for_messages(thread_id: &str, run_id: &str) -> ApiError {
    ApiError::invalid(format!(
        "Can't add messages to {thread_id} while a run {run_id} is active."
    ))
}

pub(crate) async fn create_message(
    State(app): State<Arc<App>>,
    Path(thread_id): Path<String>,
    JsonBody(request): JsonBody<CreateMessageRequest>,
) -> ApiResult<Json<Message>> {
    let message = validate::message(&thread_id, request)?;
    let mut store = app.store();
    let thread = store.thread_mut(&thread_id)?;
    if let Some(run_id) = &thread.active_run {
        return Err(locked_for_messages(&thread_id, run_id));
    }
    thread.messages.insert(message.id.clone(), message.clone());
    Ok(Json(message))
}

pub(crate) async fn list_messages(
    State(app): State<Arc<App>>,
    Path(thread_id): Path<String>,
    params: ListParams,
) -> ApiResult<Json<ListResponse<Message>>> {
    let store = app.store();
    let thread = store.thread(&thread_id)?;
    let run_id = params.run_id.clone();
    thread
        .messages
        .page(
            &params,
            |m| run_id.is_none() || m.run_id == run_id,
            Clone::clone,
            |m| m.id.clone(),
        )
        .map(Json)
}

pub(crate) async fn get_message(
    State(app): State<Arc<App>>,
    Path((thread_id, message_id)): Path<(String, String)>,
) -> ApiResult<Json<Message>> {
    let store = app.store();
    let message = store
        .thread(&thread_id)?
        .messages
        .get(&message_id)
        .ok_or_else(|| ApiError::not_found("message", &message_id))?;
    Ok(Json(message.clone()))
}

pub(crate) async fn modify_message(
    State(app): State<Arc<App>>,
    Path((thread_id, message_id)): Path<(String, String)>,
    JsonBody(request): JsonBody<ModifyMessageRequest>,
) -> ApiResult<Json<Message>> {
    validate::metadata(request.metadata.as_ref())?;
    let mut store = app.store();
    let message = store
        .thread_mut(&thread_id)?
        .messages
        .get_mut(&message_id)
        .ok_or_else(|| ApiError::not_found("message", &message_id))?;
    if let Some(metadata) = request.metadata {
        message.metadata = metadata;
    }
    Ok(Json(message.clone()))
}

pub(crate) async fn delete_message(
    State(app): State<Arc<App>>,
    Path((thread_id, message_id)): Path<(String, String)>,
) -> ApiResult<Json<Deleted>> {
    let mut store = app.store();
    store
        .thread_mut(&thread_id)?
        .messages
        .remove(&message_id)
        .ok_or_else(|| ApiError::not_found("message", &message_id))?;
    Ok(Json(Deleted::new(message_id, "thread.message.deleted")))
}
