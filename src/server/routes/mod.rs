//! The routes, under `/v1`, and the layers around them.

mod assistants;
mod runs;
mod threads;

use super::app::App;
use super::error::ApiError;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::sync::Arc;

pub(crate) fn router(app: Arc<App>) -> Router {
    let max_body = app.config.max_body_bytes;
    Router::new()
        .route(
            "/v1/assistants",
            post(assistants::create).get(assistants::list),
        )
        .route(
            "/v1/assistants/{assistant_id}",
            get(assistants::get)
                .post(assistants::modify)
                .delete(assistants::delete),
        )
        .route("/v1/threads", post(threads::create))
        .route("/v1/threads/runs", post(runs::create_thread_and_run))
        .route(
            "/v1/threads/{thread_id}",
            get(threads::get)
                .post(threads::modify)
                .delete(threads::delete),
        )
        .route(
            "/v1/threads/{thread_id}/messages",
            post(threads::create_message).get(threads::list_messages),
        )
        .route(
            "/v1/threads/{thread_id}/messages/{message_id}",
            get(threads::get_message)
                .post(threads::modify_message)
                .delete(threads::delete_message),
        )
        .route(
            "/v1/threads/{thread_id}/runs",
            post(runs::create).get(runs::list),
        )
        .route(
            "/v1/threads/{thread_id}/runs/{run_id}",
            get(runs::get).post(runs::modify),
        )
        .route(
            "/v1/threads/{thread_id}/runs/{run_id}/cancel",
            post(runs::cancel),
        )
        .route(
            "/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs",
            post(runs::submit_tool_outputs),
        )
        .route(
            "/v1/threads/{thread_id}/runs/{run_id}/steps",
            get(runs::list_steps),
        )
        .route(
            "/v1/threads/{thread_id}/runs/{run_id}/steps/{step_id}",
            get(runs::get_step),
        )
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&app),
            authenticate,
        ))
        .layer(middleware::map_response(add_request_id))
        .with_state(app)
}

async fn unknown_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        format!("Invalid URL ({method} {})", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        format!("Invalid method for URL ({method} {})", uri.path()),
    )
}

/// Every response carries an `x-request-id`, as the API's do.
async fn add_request_id(mut response: Response) -> Response {
    let id = super::ids::new_id("req");
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// With an API key set, every request needs `Authorization: Bearer KEY`.
async fn authenticate(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
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
}
