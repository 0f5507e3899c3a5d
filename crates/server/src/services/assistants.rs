//! Assistants: made from a checked request with the API's defaults, and
//! changed field by field.

use super::{ServiceError, ServiceResult, Services};
use crate::ids::{new_id, now};
use crate::store::{Page, PageQuery};
use crate::types::{Assistant, CreateAssistantRequest, ModifyAssistantRequest, ResponseFormat};

/// Makes an assistant from a request the api checked.
pub(crate) async fn create(
    app: &Services,
    request: CreateAssistantRequest,
) -> ServiceResult<Assistant> {
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
    Ok(assistant)
}

/// An assistant.
pub(crate) async fn get(app: &Services, id: &str) -> ServiceResult<Assistant> {
    Ok(app.store.assistant(id).await?)
}

/// A page of the assistants.
pub(crate) async fn list(app: &Services, page: &PageQuery) -> ServiceResult<Page<Assistant>> {
    Ok(app.store.list_assistants(page).await?)
}

/// Changes what a request the api checked gives, and keeps the rest.
pub(crate) async fn modify(
    app: &Services,
    id: &str,
    request: ModifyAssistantRequest,
) -> ServiceResult<Assistant> {
    let mut assistant = app.store.assistant(id).await?;
    if let Some(model) = request.model {
        if model.trim().is_empty() {
            return Err(ServiceError::invalid_param(
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
    Ok(assistant)
}

/// Deletes an assistant.
pub(crate) async fn delete(app: &Services, id: &str) -> ServiceResult<()> {
    Ok(app.store.delete_assistant(id).await?)
}
