//! # assistant-stream-server
//!
//! The Assistants-v2-compatible HTTP server of
//! [assistant-stream](https://docs.rs/assistant-stream): use it through the
//! `assistant-stream` crate (feature `server`), whose `server` module
//! re-exports this crate with its guide (`docs/server.md`: models,
//! backends, storage, several instances, resumable streams, limits).
//!
//! Start one with [`Server::builder`], then
//! [`spawn`](ServerBuilder::spawn); stop it with
//! [`RunningServer::shutdown`].
//!
//! ```
//! use assistant_stream::server::Server;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let server = Server::builder().api_key("sk-test").spawn().await?;
//! assert!(server.base_url().ends_with("/v1"));
//! server.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Inside
//!
//! Layers that only point down (`docs/ARCHITECTURE.md` says where to add
//! a route, a resource, a store or a model; `scripts/check_layers.py`
//! checks the direction and that no module imports HTTP below the api):
//!
//! | layer | modules | what |
//! |---|---|---|
//! | start-up | this crate's root | [`ServerBuilder`], [`RunningServer`], [`StartError`] |
//! | api | `api` | routes, extractors, validation, layers, HTTP errors |
//! | services | `services` | runs (lifecycle, driver, ownership, follower), threads, assistants, live state, background tasks and their supervisor |
//! | model | `model` | [`Scripted`], [`Replay`], `ChatCompletions`, `Embeddings`: who answers a turn, a Chat Completions request, an embeddings request |
//! | store | `store` | opening the store a [`Database`] names (`assistant-stream-store`, `assistant-stream-sql`) |

/// Builds a value of one of the engine's `#[non_exhaustive]` types (which
/// another crate cannot write as a struct expression) from its `Default`,
/// field by field: `make!(Thread { id, metadata: Metadata::new() })`.
macro_rules! make {
    ($ty:path { $($field:ident $(: $value:expr)?,)* .. $base:expr $(,)? }) => {{
        let mut value: $ty = $base;
        $(value.$field = make!(@value $field $($value)?);)*
        value
    }};
    ($ty:path { $($field:ident $(: $value:expr)?),* $(,)? }) => {{
        let mut value = <$ty>::default();
        $(value.$field = make!(@value $field $($value)?);)*
        value
    }};
    (@value $field:ident) => { $field };
    (@value $field:ident $value:expr) => { $value };
}

mod api;
#[cfg(test)]
mod cluster_tests;
mod config;
mod model;
mod services;
mod startup;
mod store;

pub use assistant_stream_store::database::{Database, ParseDatabaseError, PostgresUrl};

// The engine's and the store's modules under the paths this crate's code
// has always used.
#[cfg(feature = "client")]
pub(crate) use assistant_stream_client::client;
pub(crate) use assistant_stream_core::{AssistantEvent, event, sse, types};
pub(crate) use assistant_stream_store::ids;

#[cfg(feature = "client")]
pub use model::chat;
#[cfg(feature = "client")]
pub use model::chat::{ChatCompletions, ChatCompletionsBuilder};
pub use model::completions;
#[cfg(feature = "client")]
pub use model::embeddings;
#[cfg(feature = "client")]
pub use model::embeddings::{Embeddings, EmbeddingsBuilder};
pub use model::{
    BackendError, BoxFuture, ChatAnswer, ChatRequest, ChunkStream, FinishReason, Model, ModelEvent,
    ModelStream, Replay, Scripted, Turn,
};
pub use startup::StartError;

use axum::serve::ListenerExt;
use config::Config;
use services::Services;
use services::runs::lifecycle;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use store::Store;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The embedded server. Start one with [`Server::builder`].
#[derive(Debug)]
#[non_exhaustive]
pub struct Server {}

impl Server {
    /// A builder with the defaults: `127.0.0.1:0`, no API key, the
    /// [`Scripted`] model, unpaced.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }
}

/// Settings of a [`Server`].
///
/// ```
/// use assistant_stream::server::Server;
/// use std::time::Duration;
///
/// let builder = Server::builder()
///     .addr("127.0.0.1:0".parse().unwrap())
///     .api_key("sk-local")
///     .tokens_per_second(20.0)
///     .run_expiry(Duration::from_secs(60))
///     .max_active_runs(64);
/// # let _ = builder;
/// ```
#[must_use = "a builder does nothing until spawned"]
#[derive(Clone)]
pub struct ServerBuilder {
    addr: SocketAddr,
    model: Option<Arc<dyn Model>>,
    replay: Vec<PathBuf>,
    recordings: Option<Arc<Replay>>,
    database: Database,
    /// The most connections to a PostgreSQL database (its store's default
    /// if `None`).
    database_connections: Option<u32>,
    config: Config,
    /// A store given as it is, instead of opening `database` (the tests of
    /// several instances share one memory store).
    store: Option<Arc<dyn Store>>,
    /// The backend of `POST /v1/embeddings`.
    #[cfg(feature = "client")]
    embeddings: Option<Embeddings>,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            model: None,
            replay: Vec::new(),
            recordings: None,
            database: Database::Memory,
            database_connections: None,
            config: Config {
                api_key: None,
                token_interval: None,
                run_expiry: Duration::from_secs(600),
                max_body_bytes: 4 * 1024 * 1024,
                max_active_runs: 1024,
                poll_after: Duration::from_millis(25),
                cors: true,
                event_retention: Duration::from_secs(3600),
                lease: services::runs::ownership::DEFAULT_LEASE,
                shutdown_grace: Duration::from_secs(10),
            },
            store: None,
            #[cfg(feature = "client")]
            embeddings: None,
        }
    }
}

impl fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("addr", &self.addr)
            .field("api_key", &self.config.api_key.as_ref().map(|_| "<set>"))
            .field("custom_model", &self.model.is_some())
            .field("embeddings", &self.has_embeddings())
            .field("replay", &self.replay)
            .field("recordings", &self.recordings.as_ref().map(|r| r.len()))
            .field("database", &self.database)
            .field("database_connections", &self.database_connections)
            .field("token_interval", &self.config.token_interval)
            .field("run_expiry", &self.config.run_expiry)
            .field("max_body_bytes", &self.config.max_body_bytes)
            .field("max_active_runs", &self.config.max_active_runs)
            .field("poll_after", &self.config.poll_after)
            .field("cors", &self.config.cors)
            .field("event_retention", &self.config.event_retention)
            .field("instance_lease", &self.config.lease)
            .field("shutdown_grace", &self.config.shutdown_grace)
            .finish()
    }
}

impl ServerBuilder {
    fn has_embeddings(&self) -> bool {
        #[cfg(feature = "client")]
        return self.embeddings.is_some();
        #[cfg(not(feature = "client"))]
        false
    }

    /// The backend that answers `POST /v1/embeddings` (none by default: the
    /// route then answers a 400 that says how to set one). `GET /v1/models`
    /// lists its model too.
    #[cfg(feature = "client")]
    pub fn embeddings(mut self, embeddings: Embeddings) -> Self {
        self.embeddings = Some(embeddings);
        self
    }

    /// The address to listen on (default `127.0.0.1:0`: a free port).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Requires `Authorization: Bearer KEY` on every request.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.config.api_key = Some(key.into());
        self
    }

    /// Paces streamed tokens (text and argument pieces of runs, and the
    /// chunks of streamed Chat Completions) at this rate. Zero, negative or
    /// non-finite means unpaced (the default).
    pub fn tokens_per_second(mut self, rate: f64) -> Self {
        self.config.token_interval =
            (rate.is_finite() && rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate.max(1e-6)));
        self
    }

    /// The model that answers runs (default [`Scripted`]; see also
    /// `ChatCompletions` for a real backend). Replaces a replay.
    pub fn model(mut self, model: impl Model) -> Self {
        self.model = Some(Arc::new(model));
        self.replay.clear();
        self.recordings = None;
        self
    }

    /// Replays this recorded `.sse` file; call again to add the recording of
    /// the next turn (see [`Replay`]). Files are read when the server is
    /// built. Replaces the model and other recordings.
    pub fn replay(mut self, path: impl Into<PathBuf>) -> Self {
        self.replay.push(path.into());
        self.model = None;
        self.recordings = None;
        self
    }

    /// Replays these loaded recordings, one per turn (see [`Replay`]).
    /// Replaces the model and any replayed files.
    pub fn replay_recordings(mut self, replay: Replay) -> Self {
        self.recordings = Some(Arc::new(replay));
        self.replay.clear();
        self.model = None;
        self
    }

    /// How long after its creation a run expires (default 10 minutes).
    pub fn run_expiry(mut self, expiry: Duration) -> Self {
        self.config.run_expiry = expiry;
        self
    }

    /// The largest request body accepted (default 4 MiB); larger ones get 413.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.config.max_body_bytes = bytes;
        self
    }

    /// How many runs may be driven at once (default 1024); more get 429.
    pub fn max_active_runs(mut self, runs: usize) -> Self {
        self.config.max_active_runs = runs;
        self
    }

    /// Where the server keeps its data (default [`Database::Memory`]). A
    /// SQLite file is opened (made and migrated if need be) when the server
    /// is built, and held by this process alone.
    pub fn database(mut self, database: Database) -> Self {
        self.database = database;
        self
    }

    /// The most connections the server keeps to a PostgreSQL database
    /// (at least one). Default: four per core of this machine, from 4 to
    /// 32. Each database call holds a connection for one statement, so a
    /// few serve hundreds of runs; more than the database server has cores
    /// for only make its backends take turns, so set it from the database
    /// server's cores, and keep the sum over instances under its
    /// `max_connections`. Unused by the memory and SQLite stores.
    pub fn database_connections(mut self, connections: u32) -> Self {
        self.database_connections = Some(connections.max(1));
        self
    }

    /// How long the events of a run are kept after it ends, for clients
    /// resuming its stream (`GET .../runs/{run_id}/events`). Default one
    /// hour. A run's events are kept while it is active, whatever this says.
    pub fn event_retention(mut self, retention: Duration) -> Self {
        self.config.event_retention = retention;
        self
    }

    /// The wait suggested to polling clients, in `openai-poll-after-ms`, on
    /// every answer that is a run still active (`queued`, `in_progress`,
    /// `cancelling`). Default 25 ms: the official SDKs otherwise wait a
    /// second between polls, for runs that take milliseconds here. Sent in
    /// whole milliseconds.
    pub fn poll_after(mut self, wait: Duration) -> Self {
        self.config.poll_after = wait;
        self
    }

    /// On a database that several server instances share: how long an
    /// instance that stops answering (killed, cut off, stalled) keeps its
    /// runs before another instance takes them over. Default 10 seconds.
    /// Each instance says it is alive every quarter of this; runs that
    /// wait for tool outputs past their expiry are expired as often. A
    /// shorter lease settles a dead instance's runs sooner, and costs a
    /// write a quarter-lease for each instance. Unused on stores one
    /// process owns (memory, SQLite).
    pub fn instance_lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease.max(Duration::from_millis(100));
        self
    }

    /// Whether to answer browsers' CORS preflights and add CORS headers
    /// (any origin; default on), for browser clients.
    pub fn cors(mut self, enabled: bool) -> Self {
        self.config.cors = enabled;
        self
    }

    /// How long a shutdown waits for the streams and runs in flight
    /// (default 10 seconds): streams end at once with an `error` event that
    /// says to resume, run drivers stop at their next step and write what
    /// they have, and requests still being answered may finish. What is
    /// still running after it is dropped.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.config.shutdown_grace = grace;
        self
    }

    async fn build(self) -> Result<(Arc<Services>, SocketAddr), StartError> {
        let replay = match (self.recordings, self.replay.is_empty()) {
            (Some(replay), _) => Some(replay),
            (None, false) => Some(Arc::new(
                Replay::from_files(&self.replay).map_err(|err| StartError::Replay(err.into()))?,
            )),
            (None, true) => None,
        };
        let model: Arc<dyn Model> = match self.model {
            Some(model) => model,
            None => Arc::new(Scripted::new()),
        };
        if self.config.api_key.is_none() {
            tracing::warn!("the server has no API key: it accepts requests with any key or none");
        }
        let store = match self.store {
            Some(store) => store,
            None => store::open(&self.database, self.database_connections)
                .await
                .map_err(|err| StartError::Database(err.into()))?,
        };
        #[allow(unused_mut)]
        let mut services = Services::new(store, model, replay, self.config);
        #[cfg(feature = "client")]
        {
            services.embeddings = self.embeddings;
        }
        let app = Arc::new(services);
        if app.store.is_shared() {
            // Other instances may be running: the runs of those that died
            // are taken over when their lease lapses, not at start.
            services::background::join_cluster(&app)
                .await
                .map_err(|err| StartError::Join {
                    database: self.database.to_string(),
                    source: err.into(),
                })?;
            services::background::spawn_pruner(&app);
            return Ok((app, self.addr));
        }
        let recovered = lifecycle::recover(&app)
            .await
            .map_err(|err| StartError::Recover {
                database: self.database.to_string(),
                source: err.into(),
            })?;
        if recovered > 0 {
            tracing::info!(
                runs = recovered,
                "runs left unfinished by the last process were settled"
            );
        }
        services::background::spawn_pruner(&app);
        Ok((app, self.addr))
    }

    /// Serves from `store` instead of opening the database (tests only).
    #[cfg(test)]
    pub(crate) fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// The server's routes, to serve yourself (they live under `/v1`).
    ///
    /// Fails if a replay file cannot be read or the database cannot be
    /// opened. Runs are driven by tasks spawned on the Tokio runtime that
    /// serves the router.
    pub async fn router(self) -> Result<axum::Router, StartError> {
        let (app, _) = self.build().await?;
        Ok(api::router(app))
    }

    /// Binds the address and serves in a background task.
    ///
    /// Fails if a replay file cannot be read or the address cannot be bound.
    pub async fn spawn(self) -> Result<RunningServer, StartError> {
        let (app, addr) = self.build().await?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Listen { addr, source })?;
        let addr = listener.local_addr().map_err(StartError::Address)?;
        // Every stream event is a small write of its own. With Nagle's
        // algorithm on, a write waits for the ACK of the one before, which
        // the client may delay by up to 40 ms: the wire bench measured a p99
        // of 4 ms from a delta's send to `on_text_delta` (max 33 ms) before
        // this, on loopback. axum 0.8 leaves it on; reqwest turns it off on
        // the client's side.
        let listener = listener.tap_io(|stream| {
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!(%err, "TCP_NODELAY could not be set on a connection");
            }
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let router = api::router(Arc::clone(&app));
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        tracing::info!(%addr, "the server listens");
        Ok(RunningServer {
            addr,
            stop: Some(stop),
            task: Some(task),
            services: app,
        })
    }
}

/// A server serving in the background. Dropping it stops it, as
/// [`shutdown`](RunningServer::shutdown) does, without waiting.
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    services: Arc<Services>,
}

impl fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .field("stopping", &self.services.tasks.is_stopping())
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL for clients: `http://ADDR/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Stops the server, waiting at most its
    /// [`shutdown_grace`](ServerBuilder::shutdown_grace):
    ///
    /// 1. it stops accepting connections;
    /// 2. every run stream in flight ends at once with an `error` event
    ///    (without an id) that says to resume the run from its events
    ///    route;
    /// 3. run drivers stop at their next step and write what they had
    ///    staged, so that every event a client saw is stored; runs are
    ///    left as they are (the next start on the same database settles
    ///    them as after a crash: a run in progress fails with "The server
    ///    restarted during this run.", one waiting for tool outputs waits
    ///    on);
    /// 4. background work (pruning, heartbeats) stops, and requests being
    ///    answered may finish.
    ///
    /// What is still running after the grace period is dropped.
    pub async fn shutdown(mut self) -> Result<(), StartError> {
        let grace = self.services.config.shutdown_grace;
        let deadline = tokio::time::Instant::now() + grace;
        self.stop_now();
        let served = match self.task.take() {
            Some(mut task) => match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Ok(Ok(()))) => Ok(()),
                Ok(Ok(Err(err))) => Err(StartError::Serve(err)),
                Ok(Err(err)) => Err(StartError::Task(err)),
                Err(_) => {
                    tracing::warn!("connections were still open at the end of the shutdown grace");
                    task.abort();
                    Ok(())
                }
            },
            None => Ok(()),
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        // Drivers write what they staged as they stop (`Control::Shutdown`).
        if !self.services.tasks.wait(left).await {
            tracing::warn!("tasks were still running at the end of the shutdown grace");
        }
        served
    }

    /// Stops accepting connections, and tells streams, run drivers and
    /// background work to stop.
    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.services.stop();
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.stop_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_replay_says_its_part_once() {
        let err = Server::builder()
            .replay("no/such/recording.sse")
            .router()
            .await
            .map_err(assistant_stream_core::error::Error::from)
            .unwrap_err();
        assert!(err.is_builder(), "{err:?}");
        assistant_stream_core::error::assert_each_part_said_once(&err);
    }

    #[tokio::test]
    async fn an_address_in_use_says_its_part_once() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let err = Server::builder()
            .addr(taken.local_addr().unwrap())
            .spawn()
            .await
            .map_err(assistant_stream_core::error::Error::from)
            .unwrap_err();
        assert!(err.to_string().contains("could not listen"), "{err}");
        assistant_stream_core::error::assert_each_part_said_once(&err);
    }
}
