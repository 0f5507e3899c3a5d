//! The server's settings, fixed when it is built ([`Config`]).

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
    /// before another takes them over (`services::runs::ownership`).
    pub(crate) lease: Duration,
    /// How long a shutdown waits for streams and runs in flight.
    pub(crate) shutdown_grace: Duration,
}
