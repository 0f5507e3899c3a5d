//! The HTTP edge: the routes under `/v1`, their extractors ([`extract`])
//! and checks of requests ([`validate`]), the layers around them
//! ([`layers`]), and the one place where a service's error becomes an HTTP
//! status ([`error`]). Handlers check a request, call a service and shape
//! its answer; what the server does is in `crate::services`.

mod assistants;
mod completions;
pub(crate) mod error;
mod extract;
mod layers;
mod models;
mod runs;
mod threads;
mod validate;

use crate::services::Services;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, StatusCode, Uri};
use axum::middleware;
use axum::routing::{get, post};
use error::ApiError;
use std::sync::Arc;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::propagate_header::PropagateHeaderLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

/// A store page as the API lists it.
pub(crate) fn list_response<T>(
    page: crate::store::Page<T>,
    id_of: impl Fn(&T) -> &String,
) -> crate::types::ListResponse<T> {
    let first_id = page.data.first().map(|item| id_of(item).clone());
    let last_id = page.data.last().map(|item| id_of(item).clone());
    crate::types::ListResponse::new(page.data, first_id, last_id, page.has_more)
}

pub(crate) fn router(app: Arc<Services>) -> Router {
    let max_body = app.config.max_body_bytes;
    let routes = Router::new()
        .route("/v1/models", get(models::list))
        .route("/v1/models/{*model}", get(models::get))
        .route("/v1/chat/completions", post(completions::chat))
        .route("/v1/embeddings", post(completions::embeddings))
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
        // An extension of this server: the run's events, for resuming a stream.
        .route(
            "/v1/threads/{thread_id}/runs/{run_id}/events",
            get(runs::events),
        )
        .route(
            "/v1/threads/{thread_id}/runs/{run_id}/steps/{step_id}",
            get(runs::get_step),
        )
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        // Innermost first. The body limit refuses a `Content-Length` over it
        // at once and cuts off a longer chunked body (axum's own limit is
        // off, so that there is one).
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(max_body))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&app),
            layers::authenticate,
        ))
        .layer(middleware::map_response(layers::envelope_bare_errors));
    // CORS answers preflights before auth (browsers send them without keys)
    // and adds its headers to every answer, errors included.
    let routes = if app.config.cors {
        routes.layer(layers::cors())
    } else {
        routes
    };
    routes
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(layers::RequestLog)
                .on_request(())
                .on_response(layers::RequestLog)
                .on_body_chunk(())
                .on_eos(())
                // One line per request: a 5xx is in the response line already.
                .on_failure(()),
        )
        .layer(SetSensitiveRequestHeadersLayer::new(layers::key_headers()))
        .layer(PropagateHeaderLayer::new(layers::REQUEST_ID))
        .layer(middleware::map_request(layers::assign_request_id))
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
