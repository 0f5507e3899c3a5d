//! `/threads/{thread_id}/runs/{run_id}/steps`.

use super::Client;
use super::include::Include;
use super::pagination::Page;
use super::request::{ApiRequest, check_id};
use crate::error::Error;
use crate::types::{ListQuery, RunStep};

/// The steps of a run: list, retrieve. Made by [`Client::run_steps`] or
/// [`Runs::steps`](super::Runs::steps).
///
/// ```no_run
/// use assistant_stream::Client;
/// use assistant_stream::client::Include;
/// use assistant_stream::types::ListQuery;
///
/// # async fn example() -> Result<(), assistant_stream::Error> {
/// let client = Client::new()?;
/// let steps = client
///     .run_steps()
///     .include(Include::FileSearchResultContent)
///     .list("thread_abc", "run_abc", ListQuery::new())
///     .await?;
/// for step in &steps.data {
///     println!("{} {:?}", step.id, step.tool_calls());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Steps<'c> {
    client: &'c Client,
    include: Vec<String>,
}

impl<'c> Steps<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        Steps {
            client,
            include: Vec::new(),
        }
    }

    /// Asks for an extra field in the steps (`include[]`).
    #[must_use]
    pub fn include(mut self, include: Include) -> Self {
        self.include.push(include.as_str().to_owned());
        self
    }

    /// `GET /threads/{thread_id}/runs/{run_id}/steps`: the first page.
    pub async fn list(
        &self,
        thread_id: &str,
        run_id: &str,
        query: ListQuery,
    ) -> Result<Page<RunStep>, Error> {
        let thread = check_id("thread id", thread_id)?;
        let run = check_id("run id", run_id)?;
        let request =
            ApiRequest::get(&["threads", thread, "runs", run, "steps"]).include(&self.include);
        Page::fetch(self.client.clone(), request, query).await
    }

    /// `GET /threads/{thread_id}/runs/{run_id}/steps/{step_id}`.
    pub async fn retrieve(
        &self,
        thread_id: &str,
        run_id: &str,
        step_id: &str,
    ) -> Result<RunStep, Error> {
        let thread = check_id("thread id", thread_id)?;
        let run = check_id("run id", run_id)?;
        let step = check_id("step id", step_id)?;
        let request = ApiRequest::get(&["threads", thread, "runs", run, "steps", step])
            .include(&self.include);
        self.client.json(request).await
    }
}
