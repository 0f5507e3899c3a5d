//! Chat Completions and embeddings: the two stateless routes, handed to the
//! model ([`Model::complete`](crate::model::Model::complete)) and to the
//! embeddings backend, if the server has one.

use super::{ServiceResult, Services};
use crate::model::{BackendError, ChatAnswer, ChatRequest};
use serde_json::{Map, Value};

/// The message of `POST /v1/embeddings` on a server without a backend.
pub(crate) const NO_EMBEDDINGS: &str = "This server has no embeddings backend: start it with \
     `serve --embeddings-url URL` (any OpenAI-compatible /v1/embeddings; see also \
     --embeddings-model and --embeddings-api-key).";

/// A completion of `request`, by the server's model.
pub(crate) async fn complete(app: &Services, request: ChatRequest) -> ServiceResult<ChatAnswer> {
    Ok(app.model.complete(request).await?)
}

/// The embeddings a request (its JSON body) asks for.
pub(crate) async fn embed(app: &Services, body: Map<String, Value>) -> ServiceResult<Value> {
    #[cfg(feature = "client")]
    if let Some(embeddings) = &app.embeddings {
        return Ok(embeddings.embed(body).await?);
    }
    let _ = (app, body);
    Err(BackendError::NotConfigured {
        message: NO_EMBEDDINGS.to_owned(),
    }
    .into())
}

/// The model names `GET /v1/models` lists: the model's, then the
/// embeddings backend's, each once.
pub(crate) async fn models(app: &Services) -> Vec<String> {
    #[allow(unused_mut)]
    let mut names = app.model.models().await;
    #[cfg(feature = "client")]
    if let Some(embeddings) = &app.embeddings {
        names.extend(embeddings.models().await);
    }
    let mut seen = Vec::with_capacity(names.len());
    for name in names {
        if !name.is_empty() && !seen.contains(&name) {
            seen.push(name);
        }
    }
    seen
}
