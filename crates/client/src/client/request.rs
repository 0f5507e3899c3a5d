//! [`ApiRequest`]: one call of the API, before it is sent (and re-sent).

use crate::error::{Error, Kind};
use crate::types::ListQuery;
use bytes::Bytes;
use reqwest::Method;
use serde::Serialize;

/// A method, a path, a query and a JSON body, serialized once so that
/// retries send the same bytes.
#[derive(Clone, Debug)]
pub(crate) struct ApiRequest {
    pub(crate) method: Method,
    pub(crate) segments: Vec<String>,
    pub(crate) query: Vec<(String, String)>,
    /// Headers of this request alone (`Last-Event-ID`).
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Option<Bytes>,
}

impl ApiRequest {
    pub(crate) fn new(method: Method, segments: &[&str]) -> Self {
        ApiRequest {
            method,
            segments: segments.iter().map(|s| (*s).to_owned()).collect(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub(crate) fn get(segments: &[&str]) -> Self {
        Self::new(Method::GET, segments)
    }

    pub(crate) fn delete(segments: &[&str]) -> Self {
        Self::new(Method::DELETE, segments)
    }

    /// A POST with a JSON body.
    pub(crate) fn post(segments: &[&str], body: &impl Serialize) -> Result<Self, Error> {
        let mut request = Self::new(Method::POST, segments);
        let json = serde_json::to_vec(body).map_err(|err| {
            Error::new(
                Kind::Builder,
                format!(
                    "the body of POST {} could not be serialized",
                    request.path()
                ),
            )
            .with_source(err)
        })?;
        request.body = Some(Bytes::from(json));
        Ok(request)
    }

    /// A POST with an empty JSON object for a body (`cancel`).
    pub(crate) fn post_empty(segments: &[&str]) -> Self {
        let mut request = Self::new(Method::POST, segments);
        request.body = Some(Bytes::from_static(b"{}"));
        request
    }

    pub(crate) fn query(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.push((key.to_owned(), value.into()));
        self
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Adds `include[]=...` for each value.
    pub(crate) fn include(mut self, include: &[String]) -> Self {
        for value in include {
            self = self.query("include[]", value.clone());
        }
        self
    }

    /// Adds the parameters of a list query.
    pub(crate) fn list_query(mut self, query: &ListQuery) -> Self {
        if let Some(limit) = query.limit {
            self = self.query("limit", limit.to_string());
        }
        if let Some(order) = &query.order {
            self = self.query("order", order.as_str());
        }
        if let Some(after) = &query.after {
            self = self.query("after", after.clone());
        }
        if let Some(before) = &query.before {
            self = self.query("before", before.clone());
        }
        if let Some(run_id) = &query.run_id {
            self = self.query("run_id", run_id.clone());
        }
        self
    }

    /// `/threads/thread_1/runs`, for messages and logs.
    pub(crate) fn path(&self) -> String {
        let mut path = String::new();
        for segment in &self.segments {
            path.push('/');
            path.push_str(segment);
        }
        path
    }

    /// `POST /threads/thread_1/runs`, for messages and logs.
    pub(crate) fn describe(&self) -> String {
        format!("{} {}", self.method, self.path())
    }
}

/// Checks that an id for a path is usable: not empty, and not something
/// that would change the path's meaning once encoded (`.` and `..`).
pub(crate) fn check_id<'a>(what: &str, id: &'a str) -> Result<&'a str, Error> {
    if id.is_empty() || id == "." || id == ".." {
        return Err(Error::new(
            Kind::Builder,
            format!("the {what} `{id}` is not a valid id"),
        ));
    }
    Ok(id)
}
