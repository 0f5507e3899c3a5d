//! Where the server keeps its data: the store traits and records
//! (`assistant-stream-store`), the stores (memory there; SQLite and
//! PostgreSQL in `assistant-stream-sql`), and [`open`], which opens the one
//! a [`Database`] names.

pub(crate) use assistant_stream_store::*;

use assistant_stream_sql::sqlite::SqliteStore;
use std::sync::Arc;

/// Why the store a [`Database`] names could not be opened: its message
/// names the file or database (never a password) and says what is wrong.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenStoreError {
    /// The SQLite file could not be opened.
    #[error(transparent)]
    Sqlite(#[from] assistant_stream_sql::sqlite::OpenError),
    /// The PostgreSQL database could not be opened.
    #[cfg(feature = "postgres")]
    #[error(transparent)]
    Postgres(#[from] assistant_stream_sql::postgres::OpenError),
    /// The database is PostgreSQL, and this build has no PostgreSQL store.
    #[cfg(not(feature = "postgres"))]
    #[error(
        "cannot open the database {url}: assistant-stream was built without the `postgres` feature"
    )]
    NoPostgres {
        /// The database, its password hidden.
        url: PostgresUrl,
    },
    /// A kind of database this server does not know (newer than it).
    #[error("cannot open the database {database}: this server has no store for it")]
    Unsupported {
        /// The database, its password hidden.
        database: String,
    },
}

/// Opens the store `database` names: a new memory store, the SQLite file
/// (see [`SqliteStore::open`] for what opening it does and refuses) or the
/// PostgreSQL database. `connections` bounds the PostgreSQL store's pool
/// (its default if `None`); the other stores have no use for it.
#[cfg_attr(not(feature = "postgres"), allow(unused_variables))]
pub(crate) async fn open(
    database: &Database,
    connections: Option<u32>,
) -> Result<Arc<dyn Store>, OpenStoreError> {
    match database {
        Database::Memory => Ok(Arc::new(MemoryStore::new())),
        Database::Sqlite(path) => Ok(Arc::new(SqliteStore::open(path).await?)),
        #[cfg(feature = "postgres")]
        Database::Postgres(url) => Ok(Arc::new(
            assistant_stream_sql::postgres::PostgresStore::open(
                url,
                connections.unwrap_or_else(assistant_stream_sql::postgres::default_pool_size),
            )
            .await?,
        )),
        #[cfg(not(feature = "postgres"))]
        Database::Postgres(url) => Err(OpenStoreError::NoPostgres { url: url.clone() }),
        other => Err(OpenStoreError::Unsupported {
            database: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    /// Built without the `postgres` feature, a PostgreSQL URL still parses, and
    /// opening it says why it cannot be (without the password). (Run by
    /// `cargo test --features server`; `--all-features` has the store.)
    #[cfg(not(feature = "postgres"))]
    #[tokio::test]
    async fn postgres_without_the_feature_is_a_clear_error() {
        let database: crate::store::Database = "postgres://app:hunter2@127.0.0.1:5432/assistants"
            .parse()
            .unwrap();
        let error = crate::store::open(&database, None)
            .await
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            error,
            "cannot open the database postgres://app:***@127.0.0.1:5432/assistants: \
             assistant-stream was built without the `postgres` feature"
        );
    }
}
