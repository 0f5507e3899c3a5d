//! The state shared by the routes, the lifecycle and the run drivers.

use super::model::{Model, Replay};
use super::runtime::Runtime;
use super::store::Store;
use std::sync::Arc;
use std::time::Duration;

/// Settings fixed when the server is built.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) api_key: Option<String>,
    /// The pause before each streamed token, if paced.
    pub(crate) token_interval: Option<Duration>,
    pub(crate) run_expiry: Duration,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_active_runs: usize,
    /// The wait suggested in `openai-poll-after-ms` on runs still active.
    pub(crate) poll_after: Duration,
    /// Whether CORS headers are sent and preflights answered.
    pub(crate) cors: bool,
    /// How long the events of an ended run are kept for resuming.
    pub(crate) event_retention: Duration,
    /// On a shared store: how long an instance not heard of keeps its runs
    /// before another takes them over (`server::cluster`).
    pub(crate) lease: Duration,
}

/// The server's state.
pub(crate) struct App {
    /// Where everything is kept.
    pub(crate) store: Arc<dyn Store>,
    /// What is running.
    pub(crate) runtime: Runtime,
    /// The model that answers turns.
    pub(crate) model: Arc<dyn Model>,
    /// Recordings played instead of asking the model, if set.
    pub(crate) replay: Option<Arc<Replay>>,
    pub(crate) config: Config,
    /// Unix time at which the server was built (the `created` of its models).
    pub(crate) started_at: i64,
    /// This instance's name among those sharing the store (new each start).
    pub(crate) instance: String,
}

impl App {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        model: Arc<dyn Model>,
        replay: Option<Arc<Replay>>,
        config: Config,
    ) -> Self {
        App {
            store,
            runtime: Runtime::new(config.max_active_runs),
            model,
            replay,
            config,
            started_at: super::ids::now(),
            instance: super::ids::new_id("instance"),
        }
    }
}
