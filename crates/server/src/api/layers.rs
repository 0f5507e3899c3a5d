//! The layers around the routes: request ids, the request log, CORS, the
//! error envelope for answers made by layers, auth and the body limit.
//!
//! From the outside in, a request meets: [`assign_request_id`] (every request
//! gets an `x-request-id`, copied onto its response), the marking of key
//! headers as sensitive, the request log ([`RequestLog`], one line per
//! request), CORS (when enabled), [`envelope_bare_errors`], [`authenticate`]
//! and the body limit.

use super::error::{ApiError, ErrorMessage};
use crate::ids::new_id;
use crate::services::Services;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, Response, StatusCode, header};
use axum::middleware::Next;
use axum::response::IntoResponse;
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowHeaders, Any, CorsLayer};
use tower_http::trace::{MakeSpan, OnResponse};
use tracing::Span;

/// The target of the request log's spans and lines, for filters
/// (`RUST_LOG=assistant_stream::server::request=info`).
pub(crate) const LOG_TARGET: &str = "assistant_stream::server::request";

/// The header that carries a request's id, on the request and its response.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The headers that carry keys: the API's `Authorization: Bearer` and
/// Azure's `api-key`. Marked sensitive, so that no `Debug` of a request
/// shows them.
pub(crate) fn key_headers() -> [HeaderName; 2] {
    [header::AUTHORIZATION, HeaderName::from_static("api-key")]
}

/// Gives every request an id in `x-request-id`: the client's own if it is
/// sane (1 to 128 characters from `A-Z a-z 0-9 - _ . :`, so that a proxy's
/// id can be followed through the log), else a new `req_...`.
pub(crate) async fn assign_request_id(mut request: Request) -> Request {
    let given = request
        .headers()
        .get(&REQUEST_ID)
        .filter(|value| is_sane_request_id(value.as_bytes()))
        .cloned();
    // One value only, even if the client sent several.
    if let Some(id) = given.or_else(|| HeaderValue::from_str(&new_id("req")).ok()) {
        request.headers_mut().insert(REQUEST_ID, id);
    }
    request
}

fn is_sane_request_id(id: &[u8]) -> bool {
    (1..=128).contains(&id.len())
        && id
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The request log: a span per request with its method, path (never the
/// query, where a key could be) and request id, and one INFO line when the
/// response starts, with the status, the latency and, for an error, its
/// `error.message`. A stream is logged when it starts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RequestLog;

impl<B> MakeSpan<B> for RequestLog {
    fn make_span(&mut self, request: &axum::http::Request<B>) -> Span {
        let id = request
            .headers()
            .get(&REQUEST_ID)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        tracing::info_span!(
            target: LOG_TARGET,
            "request",
            method = %request.method(),
            path = %request.uri().path(),
            request_id = %id
        )
    }
}

impl<B> OnResponse<B> for RequestLog {
    fn on_response(self, response: &Response<B>, latency: Duration, _span: &Span) {
        let status = response.status().as_u16();
        // Microseconds, shown as milliseconds with three decimals.
        let latency_ms = latency.as_micros() as f64 / 1000.0;
        match response.extensions().get::<ErrorMessage>() {
            Some(ErrorMessage(message)) => {
                tracing::info!(target: LOG_TARGET, status, latency_ms, error = &**message, "request failed");
            }
            None => tracing::info!(target: LOG_TARGET, status, latency_ms, "request served"),
        }
    }
}

/// CORS for browser clients (the official SDKs with
/// `dangerouslyAllowBrowser`): any origin, the API's methods, whatever
/// headers the browser asks for (a wildcard would not cover `Authorization`),
/// and every response header readable (`x-request-id`,
/// `openai-poll-after-ms`). No credentials: keys travel in headers.
pub(crate) fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(Any)
        .max_age(Duration::from_secs(3600))
}

/// Puts error answers made by a layer, not a route, into the API's envelope
/// (the body limit's 413 for a `Content-Length` over the limit, a path that
/// does not decode), so that every error a client sees has one shape.
pub(crate) async fn envelope_bare_errors(
    response: axum::response::Response,
) -> axum::response::Response {
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    if !is_error || response.extensions().get::<ErrorMessage>().is_some() {
        return response;
    }
    let error = if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::body_too_large()
    } else {
        let kind = if status.is_server_error() {
            "server_error"
        } else {
            "invalid_request_error"
        };
        ApiError::new(status, kind, status.canonical_reason().unwrap_or("Error"))
    };
    let mut enveloped = error.into_response();
    // Keep what the layer said besides the body (`allow`, `retry-after`, ...).
    for (name, value) in response.headers() {
        if *name != header::CONTENT_TYPE && *name != header::CONTENT_LENGTH {
            enveloped.headers_mut().append(name, value.clone());
        }
    }
    enveloped
}

/// With an API key set, every request needs `Authorization: Bearer KEY`.
pub(crate) async fn authenticate(
    State(app): State<Arc<Services>>,
    request: Request,
    next: Next,
) -> axum::response::Response {
    let Some(key) = &app.config.api_key else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
        .into_response(),
        Some(given) if !constant_time_eq(given.as_bytes(), key.as_bytes()) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            format!("Incorrect API key provided: {}.", mask(given)),
        )
        .code("invalid_api_key")
        .into_response(),
        Some(_) => next.run(request).await,
    }
}

/// Compares in time that depends on the lengths only, not on where the bytes differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A key as the API shows it in errors: its ends only.
fn mask(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 7))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_keys() {
        assert!(constant_time_eq(b"sk-abc", b"sk-abc"));
        assert!(!constant_time_eq(b"sk-abc", b"sk-abd"));
        assert!(!constant_time_eq(b"sk-abc", b"sk-ab"));
        assert_eq!(mask("sk-1234567890"), "sk-******7890");
        assert_eq!(mask("short"), "*****");
    }

    #[test]
    fn request_ids_from_clients_are_kept_only_when_sane() {
        assert!(is_sane_request_id(b"req_abc123"));
        assert!(is_sane_request_id(b"proxy-7f.3:1"));
        assert!(!is_sane_request_id(b""));
        assert!(!is_sane_request_id(b"has space"));
        assert!(!is_sane_request_id(b"quote\"d"));
        assert!(!is_sane_request_id(&[b'a'; 129]));
    }
}
