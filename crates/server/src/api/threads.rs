//! `/threads` and `/threads/{thread_id}/messages`.

use super::error::{ApiError, ApiResult};
use super::extract::{JsonBody, ListParams};
use super::{list_response, validate};
use crate::services::threads::{self, NewThread};
use crate::services::{ServiceError, Services};
use crate::store::StoreError;
use crate::types::{
    CreateMessageRequest, CreateThreadRequest, Deleted, ListResponse, Message,
    ModifyMessageRequest, ModifyThreadRequest, Thread,
};
use axum::Json;
use axum::extract::{Path, State};
use std::sync::Arc;

/// Checks a new thread's request and its messages: the thread to make.
pub(crate) fn check_thread(request: CreateThreadRequest) -> ApiResult<NewThread> {
    validate::metadata(request.metadata.as_ref())?;
    if request.messages.len() > 32 {
        return Err(ApiError::invalid_param(
            "messages",
            "Invalid 'messages': array too long. Expected an array with maximum length 32.",
        ));
    }
    // The thread's id is made with it: its messages get it then.
    let messages = request
        .messages
        .into_iter()
        .map(|m| validate::message("", m))
        .collect::<ApiResult<Vec<Message>>>()?;
    Ok(NewThread {
        metadata: request.metadata,
        tool_resources: request.tool_resources,
        messages,
    })
}

pub(crate) async fn create(
    State(app): State<Arc<Services>>,
    JsonBody(request): JsonBody<CreateThreadRequest>,
) -> ApiResult<Json<Thread>> {
    let new = check_thread(request)?;
    Ok(Json(threads::create(&app, new).await?))
}

pub(crate) async fn get(
    State(app): State<Arc<Services>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Thread>> {
    Ok(Json(threads::get(&app, &id).await?))
}

pub(crate) async fn modify(
    State(app): State<Arc<Services>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ModifyThreadRequest>,
) -> ApiResult<Json<Thread>> {
    validate::metadata(request.metadata.as_ref())?;
    let thread = threads::modify(&app, &id, request.metadata, request.tool_resources).await?;
    Ok(Json(thread))
}

pub(crate) async fn delete(
    State(app): State<Arc<Services>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Deleted>> {
    threads::delete(&app, &id).await?;
    Ok(Json(Deleted::new(id, "thread.deleted")))
}

pub(crate) async fn create_message(
    State(app): State<Arc<Services>>,
    Path(thread_id): Path<String>,
    JsonBody(request): JsonBody<CreateMessageRequest>,
) -> ApiResult<Json<Message>> {
    let message = validate::message(&thread_id, request)?;
    match threads::add_message(&app, &message).await {
        Ok(()) => Ok(Json(message)),
        Err(ServiceError::Store(StoreError::ThreadLocked { thread_id, run_id })) => {
            Err(ApiError::invalid(format!(
                "Can't add messages to {thread_id} while a run {run_id} is active."
            )))
        }
        Err(err) => Err(err.into()),
    }
}

pub(crate) async fn list_messages(
    State(app): State<Arc<Services>>,
    Path(thread_id): Path<String>,
    params: ListParams,
) -> ApiResult<Json<ListResponse<Message>>> {
    let page =
        threads::list_messages(&app, &thread_id, &params.page(), params.run_id.as_deref()).await?;
    Ok(Json(list_response(page, |m| &m.id)))
}

pub(crate) async fn get_message(
    State(app): State<Arc<Services>>,
    Path((thread_id, message_id)): Path<(String, String)>,
) -> ApiResult<Json<Message>> {
    Ok(Json(threads::message(&app, &thread_id, &message_id).await?))
}

pub(crate) async fn modify_message(
    State(app): State<Arc<Services>>,
    Path((thread_id, message_id)): Path<(String, String)>,
    JsonBody(request): JsonBody<ModifyMessageRequest>,
) -> ApiResult<Json<Message>> {
    validate::metadata(request.metadata.as_ref())?;
    let message = threads::modify_message(&app, &thread_id, &message_id, request.metadata).await?;
    Ok(Json(message))
}

pub(crate) async fn delete_message(
    State(app): State<Arc<Services>>,
    Path((thread_id, message_id)): Path<(String, String)>,
) -> ApiResult<Json<Deleted>> {
    threads::delete_message(&app, &thread_id, &message_id).await?;
    Ok(Json(Deleted::new(message_id, "thread.message.deleted")))
}
