//! `/threads` and `/threads/{thread_id}/messages`.

use super::list_response;
use crate::api_error::{ApiError, ApiResult};
use crate::app::App;
use crate::extract::{JsonBody, ListParams};
use crate::ids::{new_id, now};
use crate::runtime::Control;
use crate::store::StoreError;
use crate::types::{
    CreateMessageRequest, CreateThreadRequest, Deleted, ListResponse, Message,
    ModifyMessageRequest, ModifyThreadRequest, Thread,
};
use crate::validate;
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
pub(crate) async fn insert_thread(app: &App, request: CreateThreadRequest) -> ApiResult<Thread> {
    check_thread(&request)?;
    let thread = make!(Thread {
        id: new_id("thread"),
        object: "thread".to_owned(),
        created_at: now(),
        tool_resources: request.tool_resources,
        metadata: request.metadata.unwrap_or_default(),
    });
    let messages = request
        .messages
        .into_iter()
        .map(|m| validate::message(&thread.id, m))
        .collect::<ApiResult<Vec<Message>>>()?;
    app.store.insert_thread(&thread, &messages).await?;
    Ok(thread)
}

pub(crate) async fn create(
    State(app): State<Arc<App>>,
    JsonBody(request): JsonBody<CreateThreadRequest>,
) -> ApiResult<Json<Thread>> {
    insert_thread(&app, request).await.map(Json)
}

pub(crate) async fn get(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Thread>> {
    Ok(Json(app.store.thread(&id).await?.thread))
}

pub(crate) async fn modify(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ModifyThreadRequest>,
) -> ApiResult<Json<Thread>> {
    validate::metadata(request.metadata.as_ref())?;
    let mut thread = app.store.thread(&id).await?.thread;
    if let Some(metadata) = request.metadata {
        thread.metadata = metadata;
    }
    if request.tool_resources.is_some() {
        thread.tool_resources = request.tool_resources;
    }
    app.store.update_thread(&thread).await?;
    Ok(Json(thread))
}

pub(crate) async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Deleted>> {
    app.store.delete_thread(&id).await?;
    // Runs of the thread go with it: their drivers stop, and their
    // followers are told.
    for live in app.runtime.of_thread(&id) {
        live.control.send_replace(Control::Gone);
        live.stop_expiry();
        app.runtime.remove(&live.run_id);
        if !live.state.lock().await.driven {
            live.feed.close();
        }
    }
    Ok(Json(Deleted::new(id, "thread.deleted")))
}

pub(crate) async fn create_message(
    State(app): State<Arc<App>>,
    Path(thread_id): Path<String>,
    JsonBody(request): JsonBody<CreateMessageRequest>,
) -> ApiResult<Json<Message>> {
    let message = validate::message(&thread_id, request)?;
    match app.store.insert_message(&message).await {
        Ok(()) => Ok(Json(message)),
        Err(StoreError::ThreadLocked { thread_id, run_id }) => Err(ApiError::invalid(format!(
            "Can't add messages to {thread_id} while a run {run_id} is active."
        ))),
        Err(err) => Err(err.into()),
    }
}

pub(crate) async fn list_messages(
    State(app): State<Arc<App>>,
    Path(thread_id): Path<String>,
    params: ListParams,
) -> ApiResult<Json<ListResponse<Message>>> {
    let page = app
        .store
        .list_messages(&thread_id, &params.page(), params.run_id.as_deref())
        .await?;
    Ok(Json(list_response(page, |m| &m.id)))
}

pub(crate) async fn get_message(
    State(app): State<Arc<App>>,
    Path((thread_id, message_id)): Path<(String, String)>,
) -> ApiResult<Json<Message>> {
    Ok(Json(app.store.message(&thread_id, &message_id).await?))
}

pub(crate) async fn modify_message(
    State(app): State<Arc<App>>,
    Path((thread_id, message_id)): Path<(String, String)>,
    JsonBody(request): JsonBody<ModifyMessageRequest>,
) -> ApiResult<Json<Message>> {
    validate::metadata(request.metadata.as_ref())?;
    let mut message = app.store.message(&thread_id, &message_id).await?;
    let Some(metadata) = request.metadata else {
        return Ok(Json(message));
    };
    // A message its run is still writing is changed through the run's
    // state, so that the run's next write keeps the change.
    let live = message
        .run_id
        .as_deref()
        .and_then(|run_id| app.runtime.get(run_id));
    if let Some(live) = live {
        let mut state = live.state.lock().await;
        if let Some(open) = state
            .open_message
            .as_mut()
            .filter(|open| open.message.id == message_id)
        {
            open.message.metadata = metadata;
            let changed = open.message.clone();
            state.stage_open();
            state.commit(&*app.store, &live.feed).await?;
            return Ok(Json(changed));
        }
    }
    message.metadata = metadata;
    app.store.update_message(&message).await?;
    Ok(Json(message))
}

pub(crate) async fn delete_message(
    State(app): State<Arc<App>>,
    Path((thread_id, message_id)): Path<(String, String)>,
) -> ApiResult<Json<Deleted>> {
    app.store.delete_message(&thread_id, &message_id).await?;
    Ok(Json(Deleted::new(message_id, "thread.message.deleted")))
}
