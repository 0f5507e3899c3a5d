//! Why the server could not start, or stopped badly ([`StartError`]).

use assistant_stream_core::BoxError;
use assistant_stream_core::error::{Error, Kind};
use std::net::SocketAddr;

/// Why a [`ServerBuilder`](crate::ServerBuilder) could not make its
/// server, or a [`RunningServer`](crate::RunningServer) failed.
///
/// Its `Display` says what could not be done and names the file, database
/// or address (never a password); the cause is its
/// [`source`](std::error::Error::source). It converts into the crate's
/// [`Error`] (which says [`is_builder`](Error::is_builder)), so that `?`
/// works in functions that return one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A recorded stream to replay could not be read.
    #[error("the replay could not be loaded")]
    Replay(#[source] BoxError),
    /// The database could not be opened (a file in use or of a newer
    /// version, a server that refuses, a missing feature).
    #[error("the server's database could not be opened")]
    Database(#[source] BoxError),
    /// This instance could not join the others on a shared database.
    #[error("this instance could not join {database}")]
    Join {
        /// The database, its password hidden.
        database: String,
        /// What the store said.
        #[source]
        source: BoxError,
    },
    /// The runs a previous process left unfinished could not be settled.
    #[error("the runs in {database} could not be recovered")]
    Recover {
        /// The database, its password hidden.
        database: String,
        /// What the store said.
        #[source]
        source: BoxError,
    },
    /// The address could not be bound.
    #[error("the server could not listen on {addr}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The bound address could not be read back.
    #[error("the server's address is unknown")]
    Address(#[source] std::io::Error),
    /// Serving failed.
    #[error("the server failed")]
    Serve(#[source] std::io::Error),
    /// The task that served panicked or was cancelled.
    #[error("the server task failed")]
    Task(#[source] tokio::task::JoinError),
}

impl From<StartError> for Error {
    fn from(err: StartError) -> Self {
        // The message is `err`'s own; its source stays the source.
        let message = err.to_string();
        let source: Option<BoxError> = match err {
            StartError::Replay(source) | StartError::Database(source) => Some(source),
            StartError::Join { source, .. } | StartError::Recover { source, .. } => Some(source),
            StartError::Listen { source, .. } => Some(source.into()),
            StartError::Address(source) | StartError::Serve(source) => Some(source.into()),
            StartError::Task(source) => Some(source.into()),
        };
        let error = Error::new(Kind::Builder, message);
        match source {
            Some(source) => error.with_source(source),
            None => error,
        }
    }
}
