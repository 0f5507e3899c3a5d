//! Which store the server keeps its data in: [`Database`].

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where the server keeps its data.
///
/// Parsed from `memory` or `sqlite://PATH` (also `sqlite:PATH`; a relative
/// path is relative to the working directory), as `assistant-stream serve
/// --database` takes it.
///
/// ```
/// use assistant_stream::server::Database;
///
/// let db: Database = "sqlite://data/assistants.db".parse()?;
/// assert_eq!(db, Database::sqlite("data/assistants.db"));
/// assert_eq!("memory".parse::<Database>()?, Database::Memory);
/// assert!("postgres://localhost/db".parse::<Database>().is_err());
/// # Ok::<(), assistant_stream::server::ParseDatabaseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Database {
    /// In memory: gone when the process ends. The default of
    /// [`Server::builder`](super::Server::builder).
    Memory,
    /// A SQLite file, made if missing, with its schema migrated on start.
    /// The default of `assistant-stream serve` (`assistants.db` in the
    /// working directory).
    Sqlite(PathBuf),
}

impl Database {
    /// A SQLite file.
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        Database::Sqlite(path.into())
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Memory => f.write_str("memory"),
            Database::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
        }
    }
}

/// A database URL that is not `memory` or `sqlite://PATH`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseDatabaseError {
    url: String,
}

impl fmt::Display for ParseDatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unsupported database '{}': expected 'memory' or 'sqlite://PATH'",
            self.url
        )
    }
}

impl std::error::Error for ParseDatabaseError {}

impl FromStr for Database {
    type Err = ParseDatabaseError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let url = url.trim();
        if url.eq_ignore_ascii_case("memory") || url.eq_ignore_ascii_case("sqlite::memory:") {
            return Ok(Database::Memory);
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .filter(|path| !path.is_empty());
        match path {
            Some(path) => Ok(Database::Sqlite(PathBuf::from(path))),
            None => Err(ParseDatabaseError {
                url: url.to_owned(),
            }),
        }
    }
}
