//! The HTTP of an OpenAI-compatible backend, shared by the chat model and
//! the embeddings backend: the base URL, the key (sent as `Authorization:
//! Bearer`, never logged, redacted from every message), retries before the
//! answer's first byte, and the stall timeout.

use super::completions::BackendError;
use crate::client::retry::RetryPolicy;
use assistant_stream_core::error::{Error, Kind};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// Settings of a backend, as the builders collect them.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) base_url: String,
    pub(crate) api_key: Option<String>,
    pub(crate) max_retries: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) stall_timeout: Duration,
}

impl Settings {
    pub(crate) fn new(base_url: String, stall_timeout: Duration) -> Self {
        Settings {
            base_url,
            api_key: None,
            max_retries: 3,
            initial_backoff: RetryPolicy::DEFAULT_INITIAL_DELAY,
            stall_timeout,
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("max_retries", &self.max_retries)
            .field("initial_backoff", &self.initial_backoff)
            .field("stall_timeout", &self.stall_timeout)
            .finish()
    }
}

/// A backend's HTTP client and settings.
pub(crate) struct Backend {
    http: reqwest::Client,
    /// The base URL, without a trailing slash (`http://host:port/v1`).
    pub(crate) base_url: String,
    api_key: Option<String>,
    retry: RetryPolicy,
    pub(crate) stall_timeout: Duration,
    /// How messages name it: `model backend`, `embeddings backend`.
    what: &'static str,
}

/// Why a request got no usable answer (messages redacted).
#[derive(Debug)]
pub(crate) enum Failure {
    /// An error status, after the retries that apply to it.
    Status {
        status: u16,
        /// `429 Too Many Requests`.
        status_text: String,
        /// The backend's message.
        message: String,
        /// The error's `type` and `code`, if the body had them.
        kind: Option<String>,
        code: Option<String>,
        /// The backend's `Retry-After`, if it sent one.
        retry_after: Option<String>,
    },
    /// No connection, or it broke: the whole sentence.
    Unreachable(String),
    /// Nothing for the stall timeout: the whole sentence.
    Stalled(String),
}

impl Backend {
    /// Checks the URL and makes the client.
    pub(crate) fn new(settings: Settings, what: &'static str) -> Result<Backend, Error> {
        let base_url = settings.base_url.trim_end_matches('/').to_owned();
        let parsed = reqwest::Url::parse(&base_url).map_err(|err| {
            Error::new(
                Kind::Builder,
                format!("the {what} URL {base_url:?} is not a URL"),
            )
            .with_source(err)
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::new(
                Kind::Builder,
                format!("the {what} URL {base_url:?} is not http or https"),
            ));
        }
        crate::client::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(settings.stall_timeout.min(Duration::from_secs(30)))
            .tcp_nodelay(true)
            .build()
            .map_err(|err| {
                Error::new(
                    Kind::Builder,
                    format!("the {what}'s HTTP client could not be made"),
                )
                .with_source(err)
            })?;
        Ok(Backend {
            http,
            base_url,
            api_key: settings.api_key.filter(|key| !key.is_empty()),
            retry: RetryPolicy {
                max_retries: settings.max_retries,
                initial_delay: settings.initial_backoff,
                max_delay: RetryPolicy::DEFAULT_MAX_DELAY,
            },
            stall_timeout: settings.stall_timeout,
            what,
        })
    }

    pub(crate) fn has_key(&self) -> bool {
        self.api_key.is_some()
    }

    pub(crate) fn max_retries(&self) -> u32 {
        self.retry.max_retries
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base_url)
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// A text from the backend with the key taken out.
    pub(crate) fn redact(&self, text: &str) -> String {
        match &self.api_key {
            Some(key) if text.contains(key.as_str()) => text.replace(key.as_str(), "<redacted>"),
            _ => text.to_owned(),
        }
    }

    /// `The model backend sent nothing for N s.`
    pub(crate) fn stalled(&self) -> String {
        format!(
            "The {} sent nothing for {} s.",
            self.what,
            self.stall_timeout.as_secs_f64()
        )
    }

    /// `The model backend's connection failed: ...`, for a body cut off.
    pub(crate) fn broken(&self, err: reqwest::Error) -> String {
        self.redact(&format!(
            "The connection to the {} failed: {}",
            self.what,
            err.without_url()
        ))
    }

    /// A response's whole body, within the stall timeout.
    pub(crate) async fn text(&self, response: reqwest::Response) -> Result<String, Failure> {
        match tokio::time::timeout(self.stall_timeout, response.text()).await {
            Err(_) => Err(Failure::Stalled(self.stalled())),
            Ok(Err(err)) => Err(Failure::Unreachable(self.broken(err))),
            Ok(Ok(text)) => Ok(text),
        }
    }

    /// Posts `body` to `path`, trying again after a 429, 408 or 5xx answer
    /// or a failed connection, and answers the response once it is a 2xx.
    pub(crate) async fn post(
        &self,
        path: &str,
        body: Bytes,
        accept: &'static str,
    ) -> Result<reqwest::Response, Failure> {
        let mut retry = 0;
        loop {
            let request = self
                .authorize(self.http.post(self.url(path)))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(reqwest::header::ACCEPT, accept)
                .body(body.clone());
            let sent = tokio::time::timeout(self.stall_timeout, request.send()).await;
            let (failure, headers) = match sent {
                Err(_) => (Failure::Stalled(self.stalled()), None),
                Ok(Err(err)) => {
                    let retryable = err.is_connect() || err.is_timeout();
                    let failure = Failure::Unreachable(self.redact(&format!(
                        "The {} could not be reached: {}",
                        self.what,
                        err.without_url()
                    )));
                    if !retryable {
                        return Err(failure);
                    }
                    (failure, None)
                }
                Ok(Ok(response)) if response.status().is_success() => return Ok(response),
                Ok(Ok(response)) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    let text = tokio::time::timeout(self.stall_timeout, response.text()).await;
                    let text = match text {
                        Ok(Ok(text)) => text,
                        _ => String::new(),
                    };
                    let (kind, code) = error_kind(&text);
                    let retry_after = headers
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|value| value.to_str().ok())
                        .map(str::to_owned);
                    let failure = Failure::Status {
                        status: status.as_u16(),
                        status_text: status.to_string(),
                        message: self.redact(&error_message(&text)),
                        kind,
                        code,
                        retry_after,
                    };
                    if !RetryPolicy::retries_status(status, &headers) {
                        return Err(failure);
                    }
                    (failure, Some(headers))
                }
            };
            if retry >= self.retry.max_retries {
                return Err(failure);
            }
            let wait = self.retry.delay(retry, headers.as_ref());
            tracing::info!(
                retry = retry + 1,
                wait_ms = wait.as_millis() as u64,
                backend = self.what,
                "a backend request is tried again"
            );
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    /// The backend's model ids (`GET /models`).
    pub(crate) async fn list_models(&self) -> Result<Vec<String>, String> {
        #[derive(Deserialize)]
        struct List {
            #[serde(default)]
            data: Vec<Entry>,
        }
        #[derive(Deserialize)]
        struct Entry {
            id: String,
        }
        let request = self.authorize(self.http.get(self.url("models")));
        let response = tokio::time::timeout(self.stall_timeout, request.send())
            .await
            .map_err(|_| "no answer".to_owned())?
            .map_err(|err| self.redact(&err.without_url().to_string()))?;
        let status = response.status();
        let text = tokio::time::timeout(self.stall_timeout, response.text())
            .await
            .map_err(|_| "no answer".to_owned())?
            .map_err(|err| self.redact(&err.without_url().to_string()))?;
        if !status.is_success() {
            return Err(self.redact(&format!("{status}: {}", error_message(&text))));
        }
        let list: List = serde_json::from_str(&text).map_err(|err| err.to_string())?;
        Ok(list.data.into_iter().map(|entry| entry.id).collect())
    }
}

impl From<Failure> for BackendError {
    /// A failure as a Chat Completions or embeddings request answers it:
    /// the backend's status kept, a broken connection `Unreachable`, a
    /// stall `TimedOut`.
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Status {
                status,
                message,
                kind,
                code,
                retry_after,
                ..
            } => BackendError::Refused {
                status,
                message,
                kind,
                code,
                retry_after,
            },
            Failure::Unreachable(message) => BackendError::Unreachable { message },
            Failure::Stalled(message) => BackendError::TimedOut { message },
        }
    }
}

/// The message of an error body: `{"error": {"message"}}`, `{"error":
/// "..."}`, `{"message"}`, or the text itself (cut to 500 characters).
pub(crate) fn error_message(body: &str) -> String {
    if let Ok(value) = serde_json::from_str::<Value>(body)
        && let Some(message) = json_error_message(&value)
    {
        return message;
    }
    let text = body.trim();
    match text.char_indices().nth(500) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None if text.is_empty() => "(no message)".to_owned(),
        None => text.to_owned(),
    }
}

/// The `type` and `code` of an error body's `error` object.
fn error_kind(body: &str) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return (None, None);
    };
    let error = value.get("error").unwrap_or(&value);
    let field = |name: &str| error.get(name).and_then(Value::as_str).map(str::to_owned);
    (field("type"), field("code"))
}

pub(crate) fn json_error_message(value: &Value) -> Option<String> {
    let error = value.get("error").unwrap_or(value);
    match error {
        Value::String(message) => Some(message.clone()),
        Value::Object(object) => object
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_give_their_message() {
        assert_eq!(
            error_message("{\"error\":{\"message\":\"slow down\"}}"),
            "slow down"
        );
        assert_eq!(error_message("{\"error\":\"nope\"}"), "nope");
        assert_eq!(error_message("{\"message\":\"m\"}"), "m");
        assert_eq!(error_message("plain"), "plain");
        assert_eq!(error_message(""), "(no message)");
        assert!(error_message(&"x".repeat(600)).ends_with("..."));
        assert_eq!(
            error_kind(
                "{\"error\":{\"message\":\"m\",\"type\":\"invalid_request_error\",\"code\":\"model_not_found\"}}"
            ),
            (
                Some("invalid_request_error".to_owned()),
                Some("model_not_found".to_owned())
            )
        );
    }
}
