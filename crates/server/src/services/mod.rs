//! What the server does, free of HTTP: the services the api calls, and
//! the state they share ([`Services`]).
//!
//! - [`assistants`] and [`threads`]: the objects, and their rules (a thread
//!   deleted stops its runs);
//! - [`completions`]: Chat Completions and embeddings, stateless, handed to
//!   the model and the embeddings backend;
//! - [`runs`]: a run's life (its lifecycle, the driver that asks the model
//!   for each turn, who holds it among instances, and the one follower of
//!   its events);
//! - [`live`]: what is running in this process: the live runs, their state
//!   and feeds of events, the run slots;
//! - [`background`]: the long-lived tasks (event pruning, the heartbeat and
//!   take-over of lapsed instances, the wake-ups of other instances), and
//!   [`tasks`], the supervisor that owns every task and stops them at
//!   shutdown.
//!
//! The services point down in this order, and never up: `background` →
//! `runs` → `threads`, `assistants`, `completions` → `live`, `tasks`, `error`.
//!
//! Every call returns a [`ServiceError`] on failure; the api alone turns it
//! into an HTTP status.

pub(crate) mod assistants;
pub(crate) mod background;
pub(crate) mod completions;
pub(crate) mod error;
pub(crate) mod live;
pub(crate) mod runs;
pub(crate) mod tasks;
pub(crate) mod threads;

pub(crate) use error::{ServiceError, ServiceResult};

use crate::config::Config;
use crate::model::{Model, Replay};
use crate::store::Store;
use live::Runtime;
use std::sync::Arc;
use tasks::Supervisor;

/// The state every service shares: the store, what is running, the model
/// and the settings.
pub(crate) struct Services {
    /// Where everything is kept.
    pub(crate) store: Arc<dyn Store>,
    /// What is running.
    pub(crate) runtime: Runtime,
    /// The model that answers turns.
    pub(crate) model: Arc<dyn Model>,
    /// Recordings played instead of asking the model, if set.
    pub(crate) replay: Option<Arc<Replay>>,
    /// The backend of `POST /v1/embeddings`, if the server has one.
    #[cfg(feature = "client")]
    pub(crate) embeddings: Option<crate::model::embeddings::Embeddings>,
    pub(crate) config: Config,
    /// Unix time at which the server was built (the `created` of its models).
    pub(crate) started_at: i64,
    /// This instance's name among those sharing the store (new each start).
    pub(crate) instance: String,
    /// Owns every task the server starts, and stops them at shutdown.
    pub(crate) tasks: Supervisor,
}

impl Services {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        model: Arc<dyn Model>,
        replay: Option<Arc<Replay>>,
        config: Config,
    ) -> Self {
        Services {
            store,
            runtime: Runtime::new(config.max_active_runs),
            model,
            replay,
            #[cfg(feature = "client")]
            embeddings: None,
            config,
            started_at: crate::ids::now(),
            instance: crate::ids::new_id("instance"),
            tasks: Supervisor::new(),
        }
    }

    /// Tells every task, stream and run driver that the server is stopping:
    /// drivers stop at their next step and write what they have staged.
    pub(crate) fn stop(&self) {
        self.tasks.stop();
        for live in self.runtime.all() {
            live.control.send_if_modified(|control| {
                let go = *control == live::Control::Go;
                if go {
                    *control = live::Control::Shutdown;
                }
                go
            });
        }
    }
}
