//! Error answers in the API's envelope: `{"error": {"message", "type", "param", "code"}}`.

use crate::model::BackendError;
use crate::services::ServiceError;
use crate::store::StoreError;
use crate::types::ErrorObject;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// An error answer: a status and the error object sent in the envelope.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    error: ErrorObject,
    /// A `Retry-After` to send with it (a backend's, passed on). Boxed:
    /// every route's `Result` carries this type.
    retry_after: Option<Box<str>>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error: ErrorObject::new(kind, message),
            retry_after: None,
        }
    }

    /// 400 `invalid_request_error`.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// 400 `invalid_request_error` about one parameter.
    pub(crate) fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        Self::invalid(message).param(param)
    }

    /// 404 for an id that names nothing, worded as the API words it.
    pub(crate) fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("No {what} found with id '{id}'."),
        )
    }

    /// 413 for a body over the size limit, whichever layer noticed it.
    pub(crate) fn body_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "The request body is too large.",
        )
        .code("request_too_large")
    }

    pub(crate) fn param(mut self, param: &str) -> Self {
        self.error = self.error.with_param(param);
        self
    }

    pub(crate) fn code(mut self, code: &str) -> Self {
        self.error = self.error.with_code(code);
        self
    }

    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    #[cfg(test)]
    pub(crate) fn object(&self) -> &ErrorObject {
        &self.error
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(serde::Serialize)]
        struct Envelope<'a> {
            error: &'a ErrorObject,
        }
        // `param` and `code` are always present, `null` when unset, as the API sends them.
        let mut response =
            (self.status, axum::Json(Envelope { error: &self.error })).into_response();
        if let Some(value) = self
            .retry_after
            .as_deref()
            .and_then(|value| axum::http::HeaderValue::from_str(value).ok())
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, value);
        }
        response
            .extensions_mut()
            .insert(ErrorMessage(Arc::from(self.error.message.as_str())));
        response
    }
}

/// The `error.message` of an error answer, kept in the response's
/// extensions so that the request log can say why a request failed without
/// reading the body back.
#[derive(Clone, Debug)]
pub(crate) struct ErrorMessage(pub(crate) Arc<str>);

/// The answer of every route.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Store(err) => err.into(),
            ServiceError::Invalid {
                param: Some(param),
                message,
            } => ApiError::invalid_param(param, message),
            ServiceError::Invalid {
                param: None,
                message,
            } => ApiError::invalid(message),
            ServiceError::Busy { limit } => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "requests",
                format!(
                    "Rate limit reached: this server runs at most {limit} runs at once. Try again when one has finished."
                ),
            )
            .code("rate_limit_exceeded"),
            ServiceError::EventsExpired {
                run_id,
                retention_secs,
            } => ApiError::new(
                StatusCode::GONE,
                "invalid_request_error",
                format!(
                    "The events of run {run_id} are no longer kept: events are kept for {retention_secs} seconds after a run ends."
                ),
            )
            .code("events_expired"),
            ServiceError::Illegal(err) => {
                tracing::error!(%err, "an illegal run status change was refused");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    format!("The server refused an illegal status change: {err}."),
                )
            }
            ServiceError::Internal(message) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
            }
            ServiceError::Backend(err) => err.into(),
        }
    }
}

impl From<BackendError> for ApiError {
    fn from(err: BackendError) -> Self {
        let message = err.message().to_owned();
        match err {
            BackendError::Invalid { param, .. } => {
                let error = ApiError::invalid(message);
                match param {
                    Some(param) => error.param(&param),
                    None => error,
                }
            }
            // The backend's own refusal, passed on with its status, so
            // that the SDKs raise the same class (404 for an unknown model,
            // 429 for its rate limit).
            BackendError::Refused {
                status,
                kind,
                code,
                retry_after,
                ..
            } => {
                let status = StatusCode::from_u16(status)
                    .ok()
                    .filter(|status| status.is_client_error() || status.is_server_error())
                    .unwrap_or(StatusCode::BAD_GATEWAY);
                let kind = kind.unwrap_or_else(|| {
                    if status.is_client_error() {
                        "invalid_request_error".to_owned()
                    } else {
                        "server_error".to_owned()
                    }
                });
                let mut error = ApiError::new(status, &kind, message);
                error.retry_after = retry_after.map(String::into_boxed_str);
                match code {
                    Some(code) => error.code(&code),
                    None => error,
                }
            }
            BackendError::Unreachable { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "server_error", message)
            }
            BackendError::TimedOut { .. } => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "server_error", message).code("timeout")
            }
            BackendError::NotConfigured { .. } => {
                ApiError::invalid(message).code("backend_not_configured")
            }
            // A model's failure, and any newer kind.
            _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { object, id } => ApiError::not_found(object, &id),
            StoreError::BadCursor { param, id } => ApiError::invalid_param(
                param,
                format!("Invalid '{param}': no object with id '{id}' in this list."),
            ),
            StoreError::ThreadLocked { thread_id, run_id } => ApiError::invalid(format!(
                "Thread {thread_id} already has an active run {run_id}."
            )),
            // A request's own change of a run that another instance took
            // over meanwhile: it may be tried again, and goes to the new one.
            StoreError::Lost { run_id } => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!(
                    "Run {run_id} moved to another server instance while this request changed it; try again."
                ),
            ),
            StoreError::Database { action, source } => {
                tracing::error!(%action, %source, "a request failed on the database");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    format!("The server's database failed {action}: {source}."),
                )
            }
            // A failure newer than this server knows of.
            other => {
                tracing::error!(err = %other, "a request failed on the store");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    format!("The server's store failed: {other}."),
                )
            }
        }
    }
}
