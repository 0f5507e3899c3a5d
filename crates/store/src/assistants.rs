//! Assistants ([`AssistantStore`]).

use crate::{Page, PageQuery, StoreResult};
use assistant_stream_core::types::Assistant;

/// Assistants, whole, in insertion order.
#[async_trait::async_trait]
pub trait AssistantStore: Send + Sync {
    /// Stores a new assistant.
    async fn insert_assistant(&self, assistant: &Assistant) -> StoreResult<()>;

    /// An assistant; `NotFound` if there is none of this id.
    async fn assistant(&self, id: &str) -> StoreResult<Assistant>;

    /// Replaces an assistant whole.
    async fn update_assistant(&self, assistant: &Assistant) -> StoreResult<()>;

    /// Deletes an assistant.
    async fn delete_assistant(&self, id: &str) -> StoreResult<()>;

    /// A page of the assistants.
    async fn list_assistants(&self, page: &PageQuery) -> StoreResult<Page<Assistant>>;
}
