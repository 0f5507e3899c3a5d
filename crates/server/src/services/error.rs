//! What a service call can fail with, free of HTTP ([`ServiceError`]); the
//! api turns each into a status and the API's error envelope, in one place
//! (`api::error`). Also the run lifecycle's own errors.

use crate::model::BackendError;
use crate::store::StoreError;
use crate::types::RunStatus;

/// Why a service could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServiceError {
    /// The store refused or failed: no such object, a locked thread, a bad
    /// cursor, a run another instance took, the database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request cannot be done as it is, or not now: `message` says why,
    /// as the API words it, and `param` names the field at fault.
    #[error("{message}")]
    Invalid {
        param: Option<&'static str>,
        message: String,
    },
    /// Every run slot is taken.
    #[error("this server runs at most {limit} runs at once")]
    Busy { limit: usize },
    /// The events asked for were pruned: kept `retention_secs` after a run
    /// ends.
    #[error("the events of run {run_id} are no longer kept")]
    EventsExpired { run_id: String, retention_secs: u64 },
    /// The lifecycle refused a status change: a bug in the server.
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    /// The server could not do it: `0` says why, as the API words it.
    #[error("{0}")]
    Internal(String),
    /// A backend (the model's, or the embeddings') could not answer.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl ServiceError {
    /// The request cannot be done: `message`, as the API words it.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ServiceError::Invalid {
            param: None,
            message: message.into(),
        }
    }

    /// The request's `param` is at fault: `message`, as the API words it.
    pub(crate) fn invalid_param(param: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Invalid {
            param: Some(param),
            message: message.into(),
        }
    }
}

impl From<LifecycleError> for ServiceError {
    fn from(err: LifecycleError) -> Self {
        match err {
            LifecycleError::Store(err) => ServiceError::Store(err),
            LifecycleError::Illegal(err) => ServiceError::Illegal(err),
        }
    }
}

/// The result of a service call.
pub(crate) type ServiceResult<T> = Result<T, ServiceError>;

/// A status change the lifecycle's table does not allow: a bug in the
/// server.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("run {run_id} cannot go from '{from}' to '{to}'")]
pub(crate) struct IllegalTransition {
    pub(crate) run_id: String,
    pub(crate) from: RunStatus,
    pub(crate) to: RunStatus,
}

/// Why a lifecycle operation on a live run could not be done.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LifecycleError {
    /// The change is not allowed.
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    /// The run could not be written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The result of a lifecycle operation.
pub(crate) type LifecycleResult<T> = Result<T, LifecycleError>;
