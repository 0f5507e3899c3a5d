//! Sending an [`ApiRequest`]: URL, headers, timeouts, retries, and turning
//! HTTP failures into the crate's [`Error`].

use super::Client;
use super::request::ApiRequest;
use crate::error::{Error, Kind};
use crate::types::ErrorObject;
use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Response, Url};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// How much of a body an error message quotes.
const SNIPPET_CHARS: usize = 300;

/// What the caller will do with the response body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// Read it whole as JSON, within the request timeout.
    Json,
    /// Stream it as server-sent events; the timeout covers the headers only.
    EventStream,
}

impl Client {
    fn url(&self, request: &ApiRequest) -> Url {
        let config = &self.inner.config;
        let mut url = config.base_url.clone();
        {
            // `cannot_be_a_base` URLs were refused by the builder.
            let Ok(mut segments) = url.path_segments_mut() else {
                unreachable!("the builder only accepts base URLs")
            };
            segments.pop_if_empty().extend(&request.segments);
        }
        let api_version = config
            .api_version
            .as_ref()
            .map(|v| ("api-version", v.as_str()));
        let pairs: Vec<(&str, &str)> = api_version
            .into_iter()
            .chain(request.query.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .collect();
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
        url
    }

    fn request_builder(&self, request: &ApiRequest, body: BodyKind) -> reqwest::RequestBuilder {
        let config = &self.inner.config;
        let accept = match body {
            BodyKind::Json => HeaderValue::from_static("application/json"),
            BodyKind::EventStream => HeaderValue::from_static("text/event-stream"),
        };
        let mut builder = self
            .inner
            .http
            .request(request.method.clone(), self.url(request))
            .headers(config.headers.clone())
            .header(ACCEPT, accept);
        for (name, value) in &request.headers {
            builder = builder.header(*name, value.as_str());
        }
        if let Some(json) = &request.body {
            builder = builder
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(json.clone());
        }
        if body == BodyKind::Json {
            builder = builder.timeout(config.timeout);
        }
        builder
    }

    /// Sends a request, retrying connection errors and retryable statuses,
    /// and returns the first successful response (its body unread).
    ///
    /// Nothing is retried once a successful response has arrived, so a run
    /// created by a streamed POST is never created twice by this client.
    pub(crate) async fn send(
        &self,
        request: &ApiRequest,
        body: BodyKind,
    ) -> Result<Response, Error> {
        let policy = self.inner.config.retry;
        let timeout = self.inner.config.timeout;
        let mut retry = 0;
        loop {
            let sent = self.request_builder(request, body).send();
            let result = match body {
                BodyKind::Json => sent.await,
                BodyKind::EventStream => match tokio::time::timeout(timeout, sent).await {
                    Ok(result) => result,
                    Err(_) => return Err(timeout_error(request, timeout)),
                },
            };
            let delay = match result {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let retryable = super::retry::RetryPolicy::retries_status(
                        response.status(),
                        response.headers(),
                    );
                    if !retryable || retry >= policy.max_retries {
                        return Err(status_error(request, response, timeout).await);
                    }
                    let delay = policy.delay(retry, Some(response.headers()));
                    tracing::debug!(
                        request = %request.describe(),
                        status = response.status().as_u16(),
                        retry = retry + 1,
                        ?delay,
                        "retrying",
                    );
                    delay
                }
                Err(err) => {
                    if !err.is_connect() || retry >= policy.max_retries {
                        return Err(reqwest_error(request, err));
                    }
                    let delay = policy.delay(retry, None);
                    tracing::debug!(request = %request.describe(), retry = retry + 1, ?delay, "retrying after a connection error");
                    delay
                }
            };
            tokio::time::sleep(delay).await;
            retry += 1;
        }
    }

    /// Sends a request and decodes its JSON answer.
    pub(crate) async fn json<T: DeserializeOwned>(&self, request: ApiRequest) -> Result<T, Error> {
        self.json_with_headers(request)
            .await
            .map(|(value, _)| value)
    }

    /// Sends a request and decodes its JSON answer, keeping the headers
    /// (`openai-poll-after-ms`).
    pub(crate) async fn json_with_headers<T: DeserializeOwned>(
        &self,
        request: ApiRequest,
    ) -> Result<(T, HeaderMap), Error> {
        let response = self.send(&request, BodyKind::Json).await?;
        let headers = response.headers().clone();
        let request_id = request_id(&headers);
        let bytes = response
            .bytes()
            .await
            .map_err(|err| reqwest_error(&request, err).with_request_id(request_id.clone()))?;
        let value = decode_json(&request, &bytes).map_err(|err| err.with_request_id(request_id))?;
        Ok((value, headers))
    }
}

/// Decodes a JSON response body, or says which endpoint sent what.
pub(crate) fn decode_json<T: DeserializeOwned>(
    request: &ApiRequest,
    bytes: &[u8],
) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|err| {
        Error::new(
            Kind::Decode,
            format!(
                "the response of {} did not decode; the body starts with: {}",
                request.describe(),
                snippet(bytes)
            ),
        )
        .with_source(err)
    })
}

/// The request id the server gave, for support requests.
pub(crate) fn request_id(headers: &HeaderMap) -> Option<String> {
    ["x-request-id", "apim-request-id"]
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok().map(str::to_owned))
}

/// The start of a body, as text, for error messages.
pub(crate) fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut cut: String = text.chars().take(SNIPPET_CHARS).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    if cut.is_empty() {
        "(empty)".to_owned()
    } else {
        cut
    }
}

/// The error for an HTTP error status, carrying the server's error object.
pub(crate) async fn status_error(
    request: &ApiRequest,
    response: Response,
    timeout: Duration,
) -> Error {
    let status = response.status();
    let request_id = request_id(response.headers());
    let body = match tokio::time::timeout(timeout, response.bytes()).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) | Err(_) => Bytes::new(),
    };
    let api_error = parse_error_body(&body).unwrap_or_else(|| {
        let message = if body.is_empty() {
            status
                .canonical_reason()
                .unwrap_or("no error body")
                .to_owned()
        } else {
            snippet(&body)
        };
        ErrorObject::new("", message)
    });
    let mut message = format!("{} failed with {status}: {api_error}", request.describe());
    if let Some(id) = &request_id {
        message.push_str(&format!(" (request id {id})"));
    }
    Error::new(Kind::Status, message)
        .with_status(status.as_u16())
        .with_api_error(api_error)
        .with_request_id(request_id)
}

/// `{"error": {...}}`, or a bare error object.
fn parse_error_body(body: &[u8]) -> Option<ErrorObject> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: ErrorObject,
    }
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(body) {
        return Some(envelope.error);
    }
    serde_json::from_slice::<ErrorObject>(body)
        .ok()
        .filter(|error| !error.message.is_empty())
}

/// The error for a request that failed without an HTTP status.
pub(crate) fn reqwest_error(request: &ApiRequest, err: reqwest::Error) -> Error {
    let (kind, what) = if err.is_timeout() {
        (Kind::Timeout, "timed out")
    } else if err.is_connect() {
        (Kind::Connect, "could not connect")
    } else if err.is_builder() {
        (Kind::Builder, "could not be built")
    } else if err.is_body() || err.is_decode() {
        (Kind::Body, "failed reading the body")
    } else {
        (Kind::Request, "failed")
    };
    Error::new(kind, format!("{} {what}", request.describe())).with_source(err)
}

/// The error for a request that got no answer in time.
pub(crate) fn timeout_error(request: &ApiRequest, timeout: Duration) -> Error {
    Error::new(
        Kind::Timeout,
        format!(
            "{} timed out: no response within {timeout:?}",
            request.describe()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_are_short_and_char_safe() {
        let long = "é".repeat(1000);
        let cut = snippet(long.as_bytes());
        assert_eq!(cut.chars().count(), SNIPPET_CHARS + 1);
        assert_eq!(snippet(b""), "(empty)");
    }

    #[test]
    fn error_bodies() {
        let error = parse_error_body(br#"{"error":{"message":"No run","type":"invalid_request_error","param":null,"code":"not_found"}}"#)
            .unwrap();
        assert_eq!(error.message, "No run");
        assert_eq!(error.code.as_deref(), Some("not_found"));
        assert!(parse_error_body(b"<html>").is_none());
    }

    #[test]
    fn client_errors_say_their_part_once_and_chain_the_cause() {
        let keyed_by_tuples = std::collections::HashMap::from([((1, 2), 3)]);
        let unserializable = ApiRequest::post(&["threads"], &keyed_by_tuples).unwrap_err();
        let request = ApiRequest::get(&["assistants", "asst_1"]);
        let undecodable = decode_json::<ErrorObject>(&request, b"{\"id\": 4").unwrap_err();
        crate::client::install_crypto_provider();
        let unbuildable = reqwest::Client::new().get("not a url").build().unwrap_err();
        let unsendable = reqwest_error(&request, unbuildable);
        for err in [unserializable, undecodable, unsendable] {
            crate::error::assert_each_part_said_once(&err);
        }
    }

    #[test]
    fn urls_encode_ids_and_carry_the_api_version() {
        let client = super::super::ClientBuilder::azure("https://r.openai.azure.com")
            .build()
            .unwrap();
        let request = ApiRequest::get(&["threads", "a/b?c"]).query("limit", "2");
        assert_eq!(
            client.url(&request).as_str(),
            "https://r.openai.azure.com/openai/threads/a%2Fb%3Fc?api-version=2024-05-01-preview&limit=2"
        );
    }
}
