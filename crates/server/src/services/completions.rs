//! Chat Completions and embeddings: the two stateless routes, handed to the
//! model ([`Model::complete`](crate::model::Model::complete)) and to the
//! embeddings backend, if the server has one.

use super::{ServiceResult, Services};
use crate::model::{BackendError, ChatAnswer, ChatRequest, ChunkStream};
use futures_util::StreamExt;
use serde_json::{Map, Value};

/// The message of `POST /v1/embeddings` on a server without a backend.
pub(crate) const NO_EMBEDDINGS: &str = "This server has no embeddings backend: start it with \
     `serve --embeddings-url URL` (any OpenAI-compatible /v1/embeddings; see also \
     --embeddings-model and --embeddings-api-key).";

/// The last chunk of a completion streaming when the server stops.
const SHUTTING_DOWN: &str = "The server is shutting down; ask again when it is back.";

/// A completion of `request`, by the server's model. A streamed one is
/// paced as runs are (`--tokens-per-second`), and ends at shutdown with an
/// error chunk, as run streams do.
pub(crate) async fn complete(app: &Services, request: ChatRequest) -> ServiceResult<ChatAnswer> {
    Ok(match app.model.complete(request).await? {
        ChatAnswer::Stream(chunks) => ChatAnswer::Stream(supervised(app, chunks)),
        whole => whole,
    })
}

/// `chunks`, one every token interval if the server is paced, until the
/// server stops.
fn supervised(app: &Services, chunks: ChunkStream) -> ChunkStream {
    let stopping = app.tasks.stopping();
    let interval = app.config.token_interval;
    futures_util::stream::unfold(Some((chunks, stopping)), move |state| async move {
        let (mut chunks, stopping) = state?;
        let next = async {
            if let Some(interval) = interval {
                tokio::time::sleep(interval).await;
            }
            chunks.next().await
        };
        tokio::select! {
            biased;
            () = stopping.cancelled() => Some((
                Err(BackendError::Failed { message: SHUTTING_DOWN.to_owned() }),
                None,
            )),
            chunk = next => chunk.map(|chunk| (chunk, Some((chunks, stopping)))),
        }
    })
    .boxed()
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
