//! Why a store call failed ([`StoreError`]).

/// The result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Why a store call failed. Its `Display` says what, for which object;
/// a database's own error is its [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such object (`object` is `assistant`, `thread`, `message`, `run`
    /// or `run step`).
    #[error("no {object} found with id '{id}'")]
    NotFound {
        /// What was looked for.
        object: &'static str,
        /// Its id.
        id: String,
    },
    /// A list cursor (`after` or `before`) names no object of the list.
    #[error("'{param}' names no object of this list: '{id}'")]
    BadCursor {
        /// `after` or `before`.
        param: &'static str,
        /// The id it gave.
        id: String,
    },
    /// The thread has an active run, which refuses new messages and runs.
    #[error("thread {thread_id} has an active run {run_id}")]
    ThreadLocked {
        /// The thread.
        thread_id: String,
        /// Its active run.
        run_id: String,
    },
    /// Another instance took the run over (this one let its lease lapse):
    /// nothing was written.
    #[error("run {run_id} is now run by another server instance")]
    Lost {
        /// The run.
        run_id: String,
    },
    /// The database failed: `action` says what was being done.
    #[error("the database failed {action}")]
    Database {
        /// What was being done (`reading run run_1`, ...).
        action: String,
        /// The database's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    /// No `object` with this id.
    pub fn not_found(object: &'static str, id: &str) -> Self {
        StoreError::NotFound {
            object,
            id: id.to_owned(),
        }
    }

    /// The database failed `action` with `source`.
    pub fn database(
        action: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StoreError::Database {
            action: action.into(),
            source: source.into(),
        }
    }
}
