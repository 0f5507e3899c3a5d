//! `/assistants`.

use super::list_response;
use crate::api_error::{ApiError, ApiResult};
use crate::app::App;
use crate::extract::{JsonBody, ListParams};
use crate::ids::{new_id, now};
use crate::types::{
    Assistant, CreateAssistantRequest, Deleted, ListResponse, ModifyAssistantRequest,
    ResponseFormat,
};
use crate::validate;
use axum::Json;
use axum::extract::{Path, State};
use std::sync::Arc;

pub(crate) async fn create(
    State(app): State<Arc<App>>,
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
    let assistant = make!(Assistant {
        id: new_id("asst"),
        object: "assistant".to_owned(),
        created_at: now(),
        name: request.name,
        description: request.description,
        model: request.model,
        instructions: request.instructions,
        tools: request.tools,
        tool_resources: request.tool_resources,
        metadata: request.metadata.unwrap_or_default(),
        temperature: Some(request.temperature.unwrap_or(1.0)),
        top_p: Some(request.top_p.unwrap_or(1.0)),
        response_format: Some(request.response_format.unwrap_or(ResponseFormat::Auto)),
        reasoning_effort: request.reasoning_effort,
    });
    app.store.insert_assistant(&assistant).await?;
    Ok(Json(assistant))
}

pub(crate) async fn list(
    State(app): State<Arc<App>>,
    params: ListParams,
) -> ApiResult<Json<ListResponse<Assistant>>> {
    let page = app.store.list_assistants(&params.page()).await?;
    Ok(Json(list_response(page, |a| &a.id)))
}

pub(crate) async fn get(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Assistant>> {
    Ok(Json(app.store.assistant(&id).await?))
}

pub(crate) async fn modify(
    State(app): State<Arc<App>>,
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
    let mut assistant = app.store.assistant(&id).await?;
    if let Some(model) = request.model {
        if model.trim().is_empty() {
            return Err(ApiError::invalid_param(
                "model",
                "Invalid 'model': empty string.",
            ));
        }
        assistant.model = model;
    }
    if request.name.is_some() {
        assistant.name = request.name;
    }
    if request.description.is_some() {
        assistant.description = request.description;
    }
    if request.instructions.is_some() {
        assistant.instructions = request.instructions;
    }
    if let Some(tools) = request.tools {
        assistant.tools = tools;
    }
    if request.tool_resources.is_some() {
        assistant.tool_resources = request.tool_resources;
    }
    if let Some(metadata) = request.metadata {
        assistant.metadata = metadata;
    }
    if request.temperature.is_some() {
        assistant.temperature = request.temperature;
    }
    if request.top_p.is_some() {
        assistant.top_p = request.top_p;
    }
    if request.response_format.is_some() {
        assistant.response_format = request.response_format;
    }
    app.store.update_assistant(&assistant).await?;
    Ok(Json(assistant))
}

pub(crate) async fn delete(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Deleted>> {
    app.store.delete_assistant(&id).await?;
    Ok(Json(Deleted::new(id, "assistant.deleted")))
}
