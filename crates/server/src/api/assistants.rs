//! `/assistants`.

use super::error::{ApiError, ApiResult};
use super::extract::{JsonBody, ListParams};
use super::{list_response, validate};
use crate::services::{Services, assistants};
use crate::types::{
    Assistant, CreateAssistantRequest, Deleted, ListResponse, ModifyAssistantRequest,
};
use axum::Json;
use axum::extract::{Path, State};
use std::sync::Arc;

pub(crate) async fn create(
    State(app): State<Arc<Services>>,
    JsonBody(request): JsonBody<CreateAssistantRequest>,
) -> ApiResult<Json<Assistant>> {
    if request.model.trim().is_empty() {
        return Err(ApiError::invalid_param(
            "model",
            "Missing required parameter: 'model'.",
        ));
    }
    validate::metadata(request.metadata.as_ref())?;
    validate::tools(&request.tools, validate::MAX_ASSISTANT_TOOLS)?;
    validate::max_len("name", request.name.as_deref(), 256)?;
    validate::max_len("description", request.description.as_deref(), 512)?;
    validate::sampling(request.temperature, request.top_p)?;
    validate::max_len("instructions", request.instructions.as_deref(), 256_000)?;
    Ok(Json(assistants::create(&app, request).await?))
}

pub(crate) async fn list(
    State(app): State<Arc<Services>>,
    params: ListParams,
) -> ApiResult<Json<ListResponse<Assistant>>> {
    let page = assistants::list(&app, &params.page()).await?;
    Ok(Json(list_response(page, |a| &a.id)))
}

pub(crate) async fn get(
    State(app): State<Arc<Services>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Assistant>> {
    Ok(Json(assistants::get(&app, &id).await?))
}

pub(crate) async fn modify(
    State(app): State<Arc<Services>>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ModifyAssistantRequest>,
) -> ApiResult<Json<Assistant>> {
    validate::metadata(request.metadata.as_ref())?;
    if let Some(tools) = &request.tools {
        validate::tools(tools, validate::MAX_ASSISTANT_TOOLS)?;
    }
    validate::max_len("name", request.name.as_deref(), 256)?;
    validate::max_len("description", request.description.as_deref(), 512)?;
    validate::max_len("instructions", request.instructions.as_deref(), 256_000)?;
    validate::sampling(request.temperature, request.top_p)?;
    Ok(Json(assistants::modify(&app, &id, request).await?))
}

pub(crate) async fn delete(
    State(app): State<Arc<Services>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Deleted>> {
    assistants::delete(&app, &id).await?;
    Ok(Json(Deleted::new(id, "assistant.deleted")))
}
