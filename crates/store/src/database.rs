//! Which store the server keeps its data in: [`Database`], and the URL of a
//! PostgreSQL database ([`PostgresUrl`]), which keeps its password out of
//! everything it prints.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where the server keeps its data.
///
/// Parsed from `memory`, `sqlite://PATH` (also `sqlite:PATH`; a relative
/// path is relative to the working directory) or a PostgreSQL URL
/// (`postgres://USER:PASSWORD@HOST:PORT/DB`, also `postgresql://`), as
/// `assistant-stream serve --database` takes it. Printed (`Display` and
/// `Debug`), a PostgreSQL URL shows `***` for its password.
///
/// ```
/// use assistant_stream::server::Database;
///
/// let db: Database = "sqlite://data/assistants.db".parse()?;
/// assert_eq!(db, Database::sqlite("data/assistants.db"));
/// assert_eq!("memory".parse::<Database>()?, Database::Memory);
/// let db: Database = "postgres://app:secret@localhost:5432/assistants".parse()?;
/// assert!(matches!(db, Database::Postgres(_)));
/// assert_eq!(db.to_string(), "postgres://app:***@localhost:5432/assistants");
/// assert!(!format!("{db:?}").contains("secret"));
/// assert!("mysql://localhost/db".parse::<Database>().is_err());
/// # Ok::<(), assistant_stream::server::ParseDatabaseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Database {
    /// In memory: gone when the process ends. The default of
    /// `Server::builder`.
    Memory,
    /// A SQLite file, made if missing, with its schema migrated on start.
    /// The default of `assistant-stream serve` (`assistants.db` in the
    /// working directory).
    Sqlite(PathBuf),
    /// A PostgreSQL database (which must exist), with its schema migrated on
    /// start. Opening it needs the crate's `postgres` feature (the `cli`
    /// feature has it); without it, it parses but the server refuses to
    /// start with it.
    Postgres(PostgresUrl),
}

impl Database {
    /// A SQLite file.
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        Database::Sqlite(path.into())
    }

    /// A PostgreSQL database, from its URL (`postgres://` or
    /// `postgresql://`).
    pub fn postgres(url: &str) -> Result<Self, ParseDatabaseError> {
        url.parse().map(Database::Postgres)
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Memory => f.write_str("memory"),
            Database::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Database::Postgres(url) => url.fmt(f),
        }
    }
}

/// The URL of a PostgreSQL database: `postgres://` or `postgresql://`, then
/// what libpq's URLs hold (`USER:PASSWORD@HOST:PORT/DB?PARAMS`).
///
/// The URL is checked for its scheme only; the rest is read when the
/// database is opened, which says what is wrong with it. `Display` and
/// `Debug` replace the password (after `USER:`, and a `password` parameter)
/// with `***`, so that the URL can go to logs and errors.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl {
    url: String,
}

impl PostgresUrl {
    /// The URL with its password, to connect with. Never printed.
    pub fn as_secret_str(&self) -> &str {
        &self.url
    }
}

impl FromStr for PostgresUrl {
    type Err = ParseDatabaseError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let url = url.trim();
        let scheme = url.split_once("://").map(|(scheme, _)| scheme);
        match scheme {
            Some(scheme)
                if scheme.eq_ignore_ascii_case("postgres")
                    || scheme.eq_ignore_ascii_case("postgresql") =>
            {
                Ok(PostgresUrl {
                    url: url.to_owned(),
                })
            }
            _ => Err(ParseDatabaseError { url: redact(url) }),
        }
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.url))
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PostgresUrl")
            .field(&redact(&self.url))
            .finish()
    }
}

/// `url` with `***` for its password: the part after `USER:` before the
/// host's `@`, and the value of a `password` query parameter.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The authority ends at the path, the query or the fragment.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => param.to_owned(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// A database URL that is not `memory`, `sqlite://PATH` or a PostgreSQL URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseDatabaseError {
    /// As given, with any password replaced.
    url: String,
}

impl fmt::Display for ParseDatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unsupported database '{}': expected 'memory', 'sqlite://PATH' or \
             'postgres://USER:PASSWORD@HOST:PORT/DB'",
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
        if let Ok(url) = url.parse::<PostgresUrl>() {
            return Ok(Database::Postgres(url));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .filter(|path| !path.is_empty());
        match path {
            Some(path) => Ok(Database::Sqlite(PathBuf::from(path))),
            None => Err(ParseDatabaseError { url: redact(url) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_parse_and_print_without_their_password() {
        for (given, shown) in [
            (
                "postgres://app:s3cr%40t@db.internal:5432/assistants",
                "postgres://app:***@db.internal:5432/assistants",
            ),
            (
                "postgresql://app:pw@[::1]:6543/a?sslmode=disable&password=pw2",
                "postgresql://app:***@[::1]:6543/a?sslmode=disable&password=***",
            ),
            (
                "postgres://app@localhost/assistants",
                "postgres://app@localhost/assistants",
            ),
            ("POSTGRES://localhost", "POSTGRES://localhost"),
            // An `@` in the password (unescaped): the host is after the last.
            ("postgres://u:p@ss@host/db", "postgres://u:***@host/db"),
        ] {
            let database: Database = given.parse().unwrap();
            assert!(matches!(database, Database::Postgres(_)), "{given}");
            assert_eq!(database.to_string(), shown);
            let debug = format!("{database:?}");
            assert!(debug.contains(shown), "{debug}");
            if let Database::Postgres(url) = &database {
                assert_eq!(url.as_secret_str(), given);
            }
        }
        for secret in ["s3cr", "pw2", "p@ss"] {
            let database: Database = format!("postgres://u:{secret}@h/d").parse().unwrap();
            assert!(!database.to_string().contains(secret));
            assert!(!format!("{database:?}").contains(secret));
        }
    }

    #[test]
    fn unsupported_urls_are_refused_without_their_password() {
        let error = "mysql://root:hunter2@localhost/db"
            .parse::<Database>()
            .unwrap_err();
        let text = error.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("mysql://root:***@localhost/db"), "{text}");
        assert!("postgres:/nope".parse::<Database>().is_err());
        assert!(Database::postgres("sqlite://x.db").is_err());
    }
}
