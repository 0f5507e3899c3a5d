//! Request extractors that answer bad input in the API's error envelope.

use super::error::ApiError;
use crate::types::Order;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde_path_to_error::{Path, Segment};

/// A JSON body. Content type is not checked (clients differ); an empty body
/// reads as `{}` so that `POST /threads` and the like work without one.
///
/// Broken JSON, JSON of the wrong shape, a missing required field or a value
/// of the wrong type are all 400 `invalid_request_error`, as the API answers
/// them (the SDKs raise `BadRequestError` for 400 and a different class for
/// 422). The error's `param` names the field at fault by its path in the
/// body, such as `tools[0].type`. A body over the size limit is a 413.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let text = body_text(req, state).await?;
        parse_body(&text).map(JsonBody)
    }
}

/// A JSON body read twice: as `T`, with the errors of [`JsonBody`], and as
/// the object it is, kept whole for a backend that is given every field.
pub(crate) struct JsonWithBody<T>(
    pub(crate) T,
    pub(crate) serde_json::Map<String, serde_json::Value>,
);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonWithBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let text = body_text(req, state).await?;
        let typed = parse_body(&text)?;
        let whole = serde_json::from_slice(&text).map_err(broken_json)?;
        Ok(JsonWithBody(typed, whole))
    }
}

/// A request's body; an empty one (or only whitespace) reads as `{}`.
async fn body_text<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    let bytes = Bytes::from_request(req, state)
        .await
        .map_err(body_rejection)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(Bytes::from_static(b"{}"))
    } else {
        Ok(bytes)
    }
}

/// Reads a request body, which is always a JSON object.
fn parse_body<T: DeserializeOwned>(text: &[u8]) -> Result<T, ApiError> {
    // serde reads a struct from an array too (positionally); the API does not.
    if text.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        let value: serde_json::Value = serde_json::from_slice(text).map_err(broken_json)?;
        return Err(ApiError::invalid(format!(
            "Invalid request body: expected an object, but got {} instead.",
            json_kind(&value)
        )));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let value = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => value,
        Err(err) => return Err(body_error(precise_error::<T>(text).unwrap_or(err))),
    };
    // Trailing characters after the object are broken JSON too.
    deserializer.end().map_err(broken_json)?;
    Ok(value)
}

/// The error of a body that failed, read again with `type` first in every
/// object. Tagged objects (tools, content parts) buffer the fields before
/// their `type`, and serde loses the path inside buffered fields; clients
/// may send `type` anywhere (serialized maps are often sorted), so the path
/// would name only the object. Only failed bodies pay for this.
fn precise_error<T: DeserializeOwned>(
    text: &[u8],
) -> Option<serde_path_to_error::Error<serde_json::Error>> {
    let value: serde_json::Value = serde_json::from_slice(text).ok()?;
    let mut reordered = Vec::with_capacity(text.len());
    write_type_first(&value, &mut reordered).ok()?;
    let mut deserializer = serde_json::Deserializer::from_slice(&reordered);
    serde_path_to_error::deserialize::<_, T>(&mut deserializer).err()
}

fn write_type_first(value: &serde_json::Value, out: &mut Vec<u8>) -> serde_json::Result<()> {
    match value {
        serde_json::Value::Object(object) => {
            out.push(b'{');
            let tag = object.get_key_value("type");
            let rest = object.iter().filter(|(key, _)| key.as_str() != "type");
            for (i, (key, value)) in tag.into_iter().chain(rest).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, key)?;
                out.push(b':');
                write_type_first(value, out)?;
            }
            out.push(b'}');
        }
        serde_json::Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_type_first(item, out)?;
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar)?,
    }
    Ok(())
}

pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The answer to a body that did not deserialize: broken JSON, or a field
/// of the wrong shape named by its path.
fn body_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    if !err.inner().is_data() {
        return broken_json(err.into_inner());
    }
    let message = serde_message(err.inner());
    let path = param_path(err.path());
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        let param = join_param(&path, field);
        return ApiError::invalid_param(&param, format!("Missing required parameter: '{param}'."));
    }
    if path.is_empty() {
        return ApiError::invalid(format!("Invalid request body: {message}."));
    }
    let described = describe_mismatch(&message);
    let text = match (described, message.starts_with("invalid type")) {
        (Some((expected, got)), true) => {
            format!("Invalid type for '{path}': expected {expected}, but got {got} instead.")
        }
        (Some((expected, got)), false) => {
            format!("Invalid value for '{path}': expected {expected}, but got {got} instead.")
        }
        (None, _) => format!("Invalid '{path}': {message}."),
    };
    ApiError::invalid_param(&path, text)
}

/// serde_json's message without the ` at line L column C` it appends.
fn serde_message(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    match text.strip_suffix(&suffix) {
        Some(message) => message.to_owned(),
        None => text,
    }
}

/// A path as the API writes `param`: `thread.messages[0].content`.
/// Segments serde could not track (`?`) are left out.
fn param_path(path: &Path) -> String {
    let mut param = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => param.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                param = join_param(&param, key);
            }
            Segment::Unknown => {}
        }
    }
    param
}

fn join_param(parent: &str, field: &str) -> String {
    if parent.is_empty() {
        field.to_owned()
    } else {
        format!("{parent}.{field}")
    }
}

fn broken_json(err: serde_json::Error) -> ApiError {
    ApiError::invalid(format!(
        "We could not parse the JSON body of your request: {err}"
    ))
}

/// `invalid type: integer `42`, expected a string` as the API words it:
/// (`a string`, `an integer`); `invalid value: integer `-5`, expected u64`
/// as (`a non-negative integer`, `-5`). `None` for other messages.
fn describe_mismatch(message: &str) -> Option<(String, String)> {
    let rest = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))?;
    let (got, expected) = rest.split_once(", expected ")?;
    // A bad value is quoted (`-5`); a bad type is named (`a string`).
    let got = match message.starts_with("invalid value") {
        true => got
            .split_once('`')
            .and_then(|(_, literal)| literal.strip_suffix('`'))
            .map_or_else(|| json_got(got), str::to_owned),
        false => json_got(got),
    };
    Some((json_expected(expected), got))
}

/// serde's name of what a type expects, in JSON words (no Rust type names).
fn json_expected(expected: &str) -> String {
    let words = match expected {
        e if e.starts_with("struct ") || e.starts_with("a JSON object") || e == "a map" => {
            "an object"
        }
        "a sequence" => "an array",
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer",
        "f32" | "f64" => "a number",
        e if e == "a string" || e.starts_with("a string (") => "a string",
        "a boolean" => "a boolean",
        other => return other.to_owned(),
    };
    words.to_owned()
}

/// serde's `Unexpected` in JSON words: `integer `42`` is `an integer`.
fn json_got(got: &str) -> String {
    let kind = got.split(' ').next().unwrap_or(got);
    let words = match kind {
        "integer" => "an integer",
        "floating" => "a decimal",
        "boolean" => "a boolean",
        "string" => "a string",
        "sequence" => "an array",
        "map" => "an object",
        "null" | "unit" => "null",
        _ => return got.to_owned(),
    };
    words.to_owned()
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::body_too_large()
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

impl ListParams {
    /// The page of a list these parameters ask for.
    pub(crate) fn page(&self) -> crate::store::PageQuery {
        crate::store::PageQuery {
            limit: self.limit,
            order: self.order.clone(),
            after: self.after.clone(),
            before: self.before.clone(),
        }
    }

    /// `after` as an event sequence number (the events route), if given.
    pub(crate) fn after_seq(&self) -> Result<Option<u64>, ApiError> {
        match &self.after {
            None => Ok(None),
            Some(after) => after.trim().parse::<u64>().map(Some).map_err(|_| {
                ApiError::invalid_param(
                    "after",
                    format!("Invalid 'after': expected the id of an event of this run (a whole number), got '{after}'."),
                )
            }),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::CreateThreadAndRunRequest;

    fn error_for(body: &str) -> serde_json::Value {
        let error = parse_body::<CreateThreadAndRunRequest>(body.as_bytes())
            .expect_err("the body is refused");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
        serde_json::to_value(error.object()).unwrap()
    }

    #[test]
    fn names_the_field_at_fault() {
        let error = error_for(r#"{"assistant_id": "a", "temperature": "hot"}"#);
        assert_eq!(error["param"], "temperature");
        assert_eq!(
            error["message"],
            "Invalid type for 'temperature': expected a number, but got a string instead."
        );
        let error = error_for(r#"{"assistant_id": "a", "tools": [{"type": 5}]}"#);
        assert_eq!(error["param"], "tools[0].type");
        // Fields before `type` are named too.
        let error = error_for(
            r#"{"assistant_id": "a", "tools": [{"function": {"name": 5}, "type": "function"}]}"#,
        );
        assert_eq!(error["param"], "tools[0].function.name");
        let error =
            error_for(r#"{"assistant_id": "a", "thread": {"messages": [{"content": "x"}]}}"#);
        assert_eq!(error["param"], "thread.messages[0].role");
        assert_eq!(
            error["message"],
            "Missing required parameter: 'thread.messages[0].role'."
        );
        let error = error_for(r#"{}"#);
        assert_eq!(error["param"], "assistant_id");
        let error = error_for(r#"{"assistant_id": "a", "max_prompt_tokens": -5}"#);
        assert_eq!(error["param"], "max_prompt_tokens");
        assert_eq!(
            error["message"],
            "Invalid value for 'max_prompt_tokens': expected a non-negative integer, but got -5 instead."
        );
        let error = error_for(r#"{"assistant_id": "a"} x"#);
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .starts_with("We could not parse")
        );
    }

    #[test]
    fn a_body_is_an_object() {
        for (body, kind) in [(" []", "an array"), ("\"x\"", "a string"), ("null", "null")] {
            let error = error_for(body);
            assert!(error["param"].is_null());
            assert_eq!(
                error["message"],
                format!("Invalid request body: expected an object, but got {kind} instead.")
            );
        }
        let error = error_for("[");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .starts_with("We could not parse")
        );
    }
}
