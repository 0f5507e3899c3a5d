//! `/assistants`.

use super::Client;
use super::pagination::Page;
use super::request::{ApiRequest, check_id};
use crate::error::Error;
use crate::types::{Assistant, CreateAssistantRequest, Deleted, ListQuery, ModifyAssistantRequest};

/// Assistants: create, list, retrieve, update, delete. Made by
/// [`Client::assistants`].
///
/// ```no_run
/// use assistant_stream::Client;
/// use assistant_stream::types::{CreateAssistantRequest, FunctionDefinition, ModifyAssistantRequest, Tool};
///
/// # async fn example() -> Result<(), assistant_stream::Error> {
/// let client = Client::new()?;
/// let assistant = client
///     .assistants()
///     .create(
///         CreateAssistantRequest::new("gpt-4o")
///             .name("Weather bot")
///             .tool(Tool::function(FunctionDefinition::new("get_current_weather"))),
///     )
///     .await?;
/// let renamed = client
///     .assistants()
///     .update(&assistant.id, ModifyAssistantRequest::default().name("Weather"))
///     .await?;
/// assert_eq!(renamed.name.as_deref(), Some("Weather"));
/// client.assistants().delete(&assistant.id).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Assistants<'c> {
    client: &'c Client,
}

impl<'c> Assistants<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        Assistants { client }
    }

    /// `POST /assistants`. On Azure, an empty `model` becomes the client's
    /// deployment.
    pub async fn create(&self, mut request: CreateAssistantRequest) -> Result<Assistant, Error> {
        if request.model.is_empty()
            && let Some(deployment) = &self.client.inner.config.deployment
        {
            request.model = deployment.clone();
        }
        self.client
            .json(ApiRequest::post(&["assistants"], &request)?)
            .await
    }

    /// `GET /assistants`: the first page; see [`Page`] for the next ones.
    pub async fn list(&self, query: ListQuery) -> Result<Page<Assistant>, Error> {
        Page::fetch(self.client.clone(), ApiRequest::get(&["assistants"]), query).await
    }

    /// `GET /assistants/{assistant_id}`.
    pub async fn retrieve(&self, assistant_id: &str) -> Result<Assistant, Error> {
        let id = check_id("assistant id", assistant_id)?;
        self.client.json(ApiRequest::get(&["assistants", id])).await
    }

    /// `POST /assistants/{assistant_id}`: changes the fields set.
    pub async fn update(
        &self,
        assistant_id: &str,
        request: ModifyAssistantRequest,
    ) -> Result<Assistant, Error> {
        let id = check_id("assistant id", assistant_id)?;
        self.client
            .json(ApiRequest::post(&["assistants", id], &request)?)
            .await
    }

    /// `DELETE /assistants/{assistant_id}`.
    pub async fn delete(&self, assistant_id: &str) -> Result<Deleted, Error> {
        let id = check_id("assistant id", assistant_id)?;
        self.client
            .json(ApiRequest::delete(&["assistants", id]))
            .await
    }
}
