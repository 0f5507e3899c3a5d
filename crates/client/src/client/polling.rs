//! Polling a run until it stops: a terminal status or `requires_action`.

use super::Client;
use super::request::{ApiRequest, check_id};
use crate::error::Error;
use crate::types::Run;
use reqwest::header::HeaderMap;
use std::time::Duration;

/// The longest wait the server may ask for between polls.
const MAX_POLL_AFTER: Duration = Duration::from_secs(60);

/// The wait the server asked for in `openai-poll-after-ms`.
pub(crate) fn poll_after(headers: &HeaderMap) -> Option<Duration> {
    let ms: u64 = headers
        .get("openai-poll-after-ms")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_millis(ms).min(MAX_POLL_AFTER))
}

impl Client {
    /// Polls the run until it is terminal or waits for tool outputs.
    ///
    /// `first` is an answer already in hand (the response that created the
    /// run); without it the run is retrieved at once. Between polls the
    /// client waits what the server asked for in `openai-poll-after-ms`, or
    /// `interval`.
    pub(crate) async fn poll_run(
        &self,
        thread_id: &str,
        run_id: &str,
        interval: Duration,
        first: Option<(Run, HeaderMap)>,
    ) -> Result<Run, Error> {
        let request = || -> Result<ApiRequest, Error> {
            Ok(ApiRequest::get(&[
                "threads",
                check_id("thread id", thread_id)?,
                "runs",
                check_id("run id", run_id)?,
            ]))
        };
        let (mut run, mut headers) = match first {
            Some(first) => first,
            None => self.json_with_headers(request()?).await?,
        };
        loop {
            if run.status.ends_stream() {
                return Ok(run);
            }
            let wait = poll_after(&headers).unwrap_or(interval);
            tracing::trace!(run = %run.id, status = %run.status, ?wait, "polling");
            tokio::time::sleep(wait).await;
            (run, headers) = self.json_with_headers(request()?).await?;
        }
    }
}
