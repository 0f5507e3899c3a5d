//! What the tests of the SQL stores share, and the tests of the crates
//! above them (feature `testing`): temporary directories
//! ([`TempDir`], from the store crate's suite) and, with `postgres`, a fresh
//! PostgreSQL database per test ([`TestDatabase`]).
#![allow(missing_docs)]

pub use assistant_stream_store::testing::TempDir;

#[cfg(feature = "postgres")]
pub use on_postgres::*;

#[cfg(feature = "postgres")]
mod on_postgres {
    use crate::postgres::{PostgresStore, default_pool_size};
    use assistant_stream_store::PostgresUrl;
    use sqlx::Connection;
    use sqlx::postgres::PgConnection;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// The variable naming the PostgreSQL server of the tests: a URL whose
    /// role may create databases.
    pub const POSTGRES_VAR: &str = "ASSISTANT_STREAM_TEST_POSTGRES";

    /// The admin URL of the tests' server, or `None` (with a notice) when it is
    /// not set; under `CI=true` a missing server fails the test instead.
    pub fn admin_url(test: &str) -> Option<String> {
        match std::env::var(POSTGRES_VAR) {
            Ok(url) if !url.trim().is_empty() => Some(url),
            _ => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "{POSTGRES_VAR} is not set, and CI=true: the PostgreSQL tests must run \
                     (scripts/postgres.sh start prints the URL)"
                );
                eprintln!(
                    "skipping {test}: {POSTGRES_VAR} is not set \
                     (`export {POSTGRES_VAR}=$(scripts/postgres.sh start)` runs it)"
                );
                None
            }
        }
    }

    /// `url` with its database (the URL's path) replaced by `name`.
    pub fn with_database(url: &str, name: &str) -> String {
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (url, None),
        };
        let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
        let authority = rest.split('/').next().unwrap_or("");
        let mut out = format!("{scheme}://{authority}/{name}");
        if let Some(query) = query {
            out.push('?');
            out.push_str(query);
        }
        out
    }

    /// A database of its own for one test, made fresh and dropped (with any
    /// connection still open to it) when this is dropped, a failed test's too.
    pub struct TestDatabase {
        admin: String,
        name: String,
        /// The URL of the test's database.
        pub url: PostgresUrl,
    }

    impl TestDatabase {
        /// `None` (the test then passes, having said why) without a server.
        pub async fn new(test: &str) -> Option<Self> {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let admin = admin_url(test)?;
            let name = format!(
                "t_{}_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed),
                test.chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(30)
                    .collect::<String>()
                    .to_ascii_lowercase()
            );
            let mut conn = PgConnection::connect(&admin)
                .await
                .unwrap_or_else(|error| panic!("cannot connect to {POSTGRES_VAR}: {error}"));
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await
            .unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .unwrap();
            let _ = conn.close().await;
            let url = with_database(&admin, &name).parse().unwrap();
            Some(TestDatabase { admin, name, url })
        }

        /// A store on the test's database, with the default pool.
        pub async fn open(&self) -> PostgresStore {
            PostgresStore::open(&self.url, default_pool_size())
                .await
                .unwrap()
        }
    }

    impl Drop for TestDatabase {
        fn drop(&mut self) {
            // Drop may run inside the test's runtime: drop the database from a
            // runtime of its own on another thread.
            let (admin, name) = (self.admin.clone(), self.name.clone());
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let mut conn = PgConnection::connect(&admin).await?;
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await?;
                    conn.close().await
                })
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                eprintln!("could not drop the test database {}", self.name);
            }
        }
    }
}
