//! Request extractors that answer bad input in the API's error envelope.

use super::error::ApiError;
use crate::types::Order;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// A JSON body. Content type is not checked (clients differ); an empty body
/// reads as `{}` so that `POST /threads` and the like work without one.
///
/// Broken JSON is a 400; JSON of the wrong shape is a 422; a body over the
/// size limit is a 413.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        match serde_json::from_slice(text) {
            Ok(value) => Ok(JsonBody(value)),
            Err(err) if err.is_data() => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request_error",
                format!("The request body does not match the expected schema: {err}"),
            )),
            Err(err) => Err(ApiError::invalid(format!(
                "We could not parse the JSON body of your request: {err}"
            ))),
        }
    }
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            status,
            "invalid_request_error",
            "The request body is too large.",
        )
        .code("request_too_large")
    } else {
        ApiError::new(status, "invalid_request_error", rejection.body_text())
    }
}

/// The query of a list endpoint, checked: `limit` 1 to 100 (default 20),
/// `order` `asc` or `desc` (default `desc`), `after`, `before`, and `run_id`
/// for messages. Unknown parameters (such as `include[]`) are ignored.
#[derive(Debug, Clone)]
pub(crate) struct ListParams {
    pub(crate) limit: usize,
    pub(crate) order: Order,
    pub(crate) after: Option<String>,
    pub(crate) before: Option<String>,
    pub(crate) run_id: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let pairs: Vec<(String, String)> = serde_urlencoded_pairs(query)?;
        let mut params = ListParams {
            limit: 20,
            order: Order::Desc,
            after: None,
            before: None,
            run_id: None,
        };
        for (key, value) in pairs {
            match key.as_str() {
                "limit" => {
                    params.limit = match value.parse::<usize>() {
                        Ok(n) if (1..=100).contains(&n) => n,
                        _ => {
                            return Err(ApiError::invalid_param(
                                "limit",
                                format!(
                                    "Invalid 'limit': expected an integer between 1 and 100, got '{value}'."
                                ),
                            ));
                        }
                    }
                }
                "order" => {
                    params.order = match value.as_str() {
                        "asc" => Order::Asc,
                        "desc" => Order::Desc,
                        _ => {
                            return Err(ApiError::invalid_param(
                                "order",
                                format!(
                                    "Invalid 'order': expected 'asc' or 'desc', got '{value}'."
                                ),
                            ));
                        }
                    }
                }
                "after" if !value.is_empty() => params.after = Some(value),
                "before" if !value.is_empty() => params.before = Some(value),
                "run_id" if !value.is_empty() => params.run_id = Some(value),
                _ => {}
            }
        }
        Ok(params)
    }
}

fn serde_urlencoded_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| ApiError::invalid("Invalid query string."))?,
    )
    .map(|q| q.0)
    .map_err(|err| ApiError::invalid(format!("Invalid query string: {err}")))
}
