//! The supervisor of the server's tasks ([`Supervisor`]): every task the
//! server starts (run drivers, expiry timers, the pruner, the heartbeat
//! and take-over loop, the wake-up listener) is spawned through it, so that
//! a shutdown can tell them all to stop and wait until they have.

use std::future::Future;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Owns the server's tasks: a [`TaskTracker`] that knows which are running,
/// and a [`CancellationToken`] that tells them the server is stopping.
#[derive(Debug, Default)]
pub(crate) struct Supervisor {
    tasks: TaskTracker,
    stopping: CancellationToken,
}

impl Supervisor {
    pub(crate) fn new() -> Self {
        Supervisor::default()
    }

    /// Spawns `task` on the current runtime, owned by this supervisor.
    pub(crate) fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn(task)
    }

    /// Spawns a loop that stops at shutdown: `task` is dropped at its next
    /// await once the server is stopping.
    pub(crate) fn spawn_until_stopped<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let stopping = self.stopping.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = stopping.cancelled() => {}
                () = task => {}
            }
        });
    }

    /// The signal that the server is stopping, for a task or stream to
    /// watch.
    pub(crate) fn stopping(&self) -> CancellationToken {
        self.stopping.clone()
    }

    /// Whether the server is stopping.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.is_cancelled()
    }

    /// Tells every task that the server is stopping.
    pub(crate) fn stop(&self) {
        self.stopping.cancel();
    }

    /// Waits until every task has ended, at most `grace`; whether they all
    /// did.
    pub(crate) async fn wait(&self, grace: Duration) -> bool {
        self.tasks.close();
        let ended = tokio::time::timeout(grace, self.tasks.wait()).await.is_ok();
        self.tasks.reopen();
        ended
    }
}
