//! The state shared by the routes and the run tasks.

use super::error::{ApiError, ApiResult};
use super::model::Model;
use super::store::LegacyStore as Store;
use axum::http::StatusCode;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Settings fixed when the server is built.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) api_key: Option<String>,
    /// The pause before each streamed token, if paced.
    pub(crate) token_interval: Option<Duration>,
    pub(crate) run_expiry: Duration,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_active_runs: usize,
    /// Events buffered per stream.
    pub(crate) stream_buffer: usize,
    /// How long a run waits for a client that does not read its stream
    /// before it goes on without it.
    pub(crate) stall_timeout: Duration,
    /// The wait suggested in `openai-poll-after-ms` on runs still active.
    pub(crate) poll_after: Duration,
    /// Whether CORS headers are sent and preflights answered.
    pub(crate) cors: bool,
}

/// The server's state.
pub(crate) struct App {
    store: Mutex<Store>,
    pub(crate) model: Arc<dyn Model>,
    pub(crate) config: Config,
    active_runs: Arc<Semaphore>,
    /// Unix time at which the server was built (the `created` of its models).
    pub(crate) started_at: i64,
}

impl App {
    pub(crate) fn new(model: Arc<dyn Model>, config: Config) -> Self {
        App {
            store: Mutex::new(Store::default()),
            model,
            active_runs: Arc::new(Semaphore::new(config.max_active_runs)),
            config,
            started_at: super::ids::now(),
        }
    }

    /// The store. Never held across an `.await`.
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A slot for a run that is about to be driven, or 429 if all are taken.
    pub(crate) fn run_slot(&self) -> ApiResult<OwnedSemaphorePermit> {
        Arc::clone(&self.active_runs).try_acquire_owned().map_err(|_| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "requests",
                format!(
                    "Rate limit reached: this server runs at most {} runs at once. Try again when one has finished.",
                    self.config.max_active_runs
                ),
            )
            .code("rate_limit_exceeded")
        })
    }
}
