//! The embeddings backend: `POST /v1/embeddings` answered by any
//! OpenAI-compatible `/v1/embeddings` (OpenAI, Azure, vLLM, Ollama,
//! llama.cpp, text-embeddings-inference, LiteLLM, ...).
//!
//! A request goes to the backend as the client sent it, with three changes:
//!
//! - `model` is replaced by [`EmbeddingsBuilder::model`] when one is set;
//! - a list of inputs longer than [`EmbeddingsBuilder::batch_size`] is sent
//!   in batches of that size (up to four at once), and the answers are
//!   joined in order, `index` counting over the whole list and the usage
//!   summed: backends cap a request's inputs (text-embeddings-inference at
//!   32 by default) where the API takes 2048;
//! - the backend is always asked for floats, and the server encodes them as
//!   the client asked: `encoding_format: "base64"` (what openai-python and
//!   openai-node ask for by default) is the little-endian `f32`s in base64,
//!   so that a backend that cannot write base64 still serves those clients.
//!
//! Retries, the stall timeout and the key's secrecy are the chat backend's
//! (see [`chat`](super::chat)).

use super::backend::{Backend, Settings};
use super::completions::BackendError;
use assistant_stream_core::error::Error;
use base64::Engine;
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// An embeddings backend, for `POST /v1/embeddings` (see the [module
/// docs](self)). Install it with
/// [`ServerBuilder::embeddings`](crate::ServerBuilder::embeddings).
///
/// ```no_run
/// use assistant_stream::server::{Embeddings, Server};
///
/// # async fn demo() -> Result<(), assistant_stream::Error> {
/// let embeddings = Embeddings::builder("http://127.0.0.1:11434/v1")
///     .model("nomic-embed-text")
///     .build()?;
/// let server = Server::builder().embeddings(embeddings).spawn().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Embeddings {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    model: Option<String>,
    batch_size: usize,
}

impl fmt::Debug for Embeddings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Embeddings")
            .field("base_url", &self.inner.backend.base_url)
            .field(
                "api_key",
                &self.inner.backend.has_key().then_some("<redacted>"),
            )
            .field("model", &self.inner.model)
            .field("batch_size", &self.inner.batch_size)
            .finish()
    }
}

/// Settings of an [`Embeddings`] backend.
#[must_use = "a builder does nothing until built"]
#[derive(Clone, Debug)]
pub struct EmbeddingsBuilder {
    settings: Settings,
    model: Option<String>,
    batch_size: usize,
}

impl Embeddings {
    /// A builder for the backend at `base_url`, the URL its `/embeddings`
    /// and `/models` hang off (`http://HOST:PORT/v1`).
    pub fn builder(base_url: impl Into<String>) -> EmbeddingsBuilder {
        EmbeddingsBuilder {
            settings: Settings::new(base_url.into(), Duration::from_secs(60)),
            model: None,
            batch_size: 32,
        }
    }

    /// The model every request uses, if one is set.
    pub fn model(&self) -> Option<&str> {
        self.inner.model.as_deref()
    }

    /// The model names to list in `GET /v1/models`: the one set, or the
    /// backend's own.
    pub async fn models(&self) -> Vec<String> {
        if let Some(model) = &self.inner.model {
            return vec![model.clone()];
        }
        match self.inner.backend.list_models().await {
            Ok(names) => names,
            Err(message) => {
                tracing::warn!(error = %message, "the embeddings backend's models could not be listed");
                Vec::new()
            }
        }
    }

    /// Answers an embeddings request (its JSON body, checked against the
    /// API's shapes already) with the API's `list` of embeddings.
    pub async fn embed(&self, mut body: Map<String, Value>) -> Result<Value, BackendError> {
        body.retain(|_, value| !value.is_null());
        let base64 = body
            .remove("encoding_format")
            .and_then(|f| f.as_str().map(str::to_owned))
            == Some("base64".to_owned());
        if let Some(model) = &self.inner.model {
            body.insert("model".to_owned(), Value::String(model.clone()));
        }
        let input = body.remove("input").unwrap_or(Value::Null);
        let batches = batches(input, self.inner.batch_size);
        let requests = batches.into_iter().map(|(offset, input)| {
            let mut body = body.clone();
            body.insert("input".to_owned(), input);
            let inner = Arc::clone(&self.inner);
            async move { inner.send(body).await.map(|answer| (offset, answer)) }
        });
        let mut answers = futures_util::stream::iter(requests).buffered(4);
        let mut data = Vec::new();
        let (mut prompt, mut total, mut model) = (0u64, 0u64, None);
        while let Some(answer) = answers.next().await {
            let (offset, mut answer) = answer?;
            if model.is_none() {
                model = answer.get("model").cloned();
            }
            if let Some(usage) = answer.get("usage") {
                prompt += usage["prompt_tokens"].as_u64().unwrap_or(0);
                total += usage["total_tokens"].as_u64().unwrap_or(0);
            }
            let items = match answer.get_mut("data").map(Value::take) {
                Some(Value::Array(items)) => items,
                _ => {
                    return Err(BackendError::Failed {
                        message: "The embeddings backend answered without a data list.".to_owned(),
                    });
                }
            };
            let mut items = items;
            items.sort_by_key(|item| item["index"].as_u64().unwrap_or(0));
            for (i, mut item) in items.into_iter().enumerate() {
                let vector = item.get_mut("embedding").map(Value::take);
                let vector = encode(vector, base64)?;
                data.push(json!({"object": "embedding", "index": offset + i, "embedding": vector}));
            }
        }
        Ok(json!({
            "object": "list",
            "data": data,
            "model": model.unwrap_or_else(|| body.get("model").cloned().unwrap_or(Value::Null)),
            "usage": {"prompt_tokens": prompt, "total_tokens": total},
        }))
    }
}

impl Inner {
    async fn send(&self, body: Map<String, Value>) -> Result<Value, BackendError> {
        let bytes = serde_json::to_vec(&body).map_err(|err| BackendError::Failed {
            message: format!("The request could not be written: {err}"),
        })?;
        let response = self
            .backend
            .post("embeddings", Bytes::from(bytes), "application/json")
            .await?;
        let text = self.backend.text(response).await?;
        serde_json::from_str(&text).map_err(|err| BackendError::Failed {
            message: self.backend.redact(&format!(
                "The embeddings backend answered JSON that does not parse: {err}"
            )),
        })
    }
}

impl EmbeddingsBuilder {
    /// The backend's key, sent as `Authorization: Bearer KEY`.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.settings.api_key = Some(key.into());
        self
    }

    /// The backend model every request uses, whatever its `model` says (by
    /// default the request's `model` is passed through). `GET /v1/models`
    /// lists it.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// The most inputs sent to the backend in one request (default 32);
    /// longer lists go in batches.
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size.max(1);
        self
    }

    /// How many times a request is tried again after a 429, 408 or 5xx
    /// answer or a failed connection (default 3).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.settings.max_retries = retries;
        self
    }

    /// The first wait before a retry, doubled for each next one (default
    /// 500 ms), unless the backend asks for another in `Retry-After`.
    pub fn initial_backoff(mut self, wait: Duration) -> Self {
        self.settings.initial_backoff = wait;
        self
    }

    /// How long the backend may send nothing before the request fails
    /// (default 60 s).
    pub fn stall_timeout(mut self, timeout: Duration) -> Self {
        self.settings.stall_timeout = timeout;
        self
    }

    /// The backend. Fails if the URL is not `http(s)://...` or the HTTP
    /// client cannot be made.
    pub fn build(self) -> Result<Embeddings, Error> {
        Ok(Embeddings {
            inner: Arc::new(Inner {
                backend: Backend::new(self.settings, "embeddings backend")?,
                model: self.model.filter(|model| !model.is_empty()),
                batch_size: self.batch_size,
            }),
        })
    }
}

/// The input in batches of at most `size` inputs, each with the index of
/// its first input. A string, or one list of token ids, is one input.
fn batches(input: Value, size: usize) -> Vec<(usize, Value)> {
    match input {
        Value::Array(items) if items.iter().all(|item| !item.is_number()) && items.len() > size => {
            let mut out = Vec::new();
            let mut items = items.into_iter().peekable();
            let mut offset = 0;
            while items.peek().is_some() {
                let batch: Vec<Value> = items.by_ref().take(size).collect();
                let count = batch.len();
                out.push((offset, Value::Array(batch)));
                offset += count;
            }
            out
        }
        input => vec![(0, input)],
    }
}

/// The failure of a backend that answers a vector per token (no pooling).
const PER_TOKEN: &str = "The embeddings backend answered one vector per token, not one per \
     input: configure it to pool them (llama.cpp's server: --pooling mean).";

/// A vector as the client asked for it: floats, or base64 of little-endian
/// `f32`s. A backend's base64 is decoded for a client that asked for floats.
fn encode(vector: Option<Value>, base64: bool) -> Result<Value, BackendError> {
    let engine = base64::engine::general_purpose::STANDARD;
    if let Some(Value::Array(numbers)) = &vector
        && numbers.first().is_some_and(Value::is_array)
    {
        // llama-cpp-python's server, on a model without pooling.
        return Err(BackendError::Failed {
            message: PER_TOKEN.to_owned(),
        });
    }
    match vector {
        Some(Value::Array(numbers)) if base64 => {
            let mut bytes = Vec::with_capacity(numbers.len() * 4);
            for number in &numbers {
                let value = number.as_f64().ok_or_else(|| BackendError::Failed {
                    message: "The embeddings backend answered a vector with a value that is not a \
                              number."
                        .to_owned(),
                })?;
                bytes.extend_from_slice(&(value as f32).to_le_bytes());
            }
            Ok(Value::String(engine.encode(bytes)))
        }
        Some(Value::String(text)) if !base64 => {
            let bytes = engine
                .decode(text.as_bytes())
                .map_err(|err| BackendError::Failed {
                    message: format!(
                        "The embeddings backend answered a vector that is not base64: {err}"
                    ),
                })?;
            Ok(Value::Array(
                bytes
                    .chunks_exact(4)
                    .map(|b| json!(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                    .collect(),
            ))
        }
        Some(vector @ (Value::Array(_) | Value::String(_))) => Ok(vector),
        _ => Err(BackendError::Failed {
            message: "The embeddings backend answered an item without an embedding.".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_go_in_batches_and_token_lists_stay_whole() {
        let input = json!(["a", "b", "c", "d", "e"]);
        let out = batches(input, 2);
        assert_eq!(
            out,
            [
                (0, json!(["a", "b"])),
                (2, json!(["c", "d"])),
                (4, json!(["e"]))
            ]
        );
        assert_eq!(batches(json!([1, 2, 3]), 2), [(0, json!([1, 2, 3]))]);
        assert_eq!(batches(json!("x"), 2), [(0, json!("x"))]);
    }

    #[test]
    fn vectors_are_encoded_as_asked() {
        let encoded = encode(Some(json!([1.0, -0.5])), true).unwrap();
        let text = encoded.as_str().unwrap();
        let floats = encode(Some(Value::String(text.to_owned())), false).unwrap();
        assert_eq!(floats, json!([1.0, -0.5]));
        assert!(encode(Some(json!([1.0, "x"])), true).is_err());
        for base64 in [true, false] {
            let per_token = encode(Some(json!([[1.0], [2.0]])), base64).unwrap_err();
            assert!(per_token.message().contains("per token"), "{per_token}");
        }
        assert!(encode(None, false).is_err());
    }
}
