//! The PostgreSQL store: the server's data in a PostgreSQL database, which
//! several server processes can share ([`Ownership::is_shared`]: who holds which
//! run, heartbeats, claims, fenced commits and wake-ups are in `shared`;
//! the design is the server crate's run ownership), with the invariants
//! that must hold across processes enforced by the database.
//!
//! # Opening
//!
//! [`PostgresStore::open`] connects once (within [`CONNECT_TIMEOUT`]), so
//! that a database that cannot be reached fails the server's start with an
//! error naming it (user, host, port and database; never the password),
//! refuses a database whose schema is newer than this build knows, and
//! brings an older one up to date (`migrations/postgres/`, under sqlx's
//! advisory lock, so that processes starting together migrate once). Then
//! it keeps a pool of connections ([`default_pool_size`] unless told),
//! opened as needed.
//!
//! # The semantics, mapped
//!
//! - **The thread lock** is the thread row's `active_run_id`, read and
//!   changed only under the row's lock (`SELECT ... FOR NO KEY UPDATE`):
//!   [`RunStore::insert_run`] locks the row, checks the column, sets it and
//!   reads the thread's messages in one call of the schema's `insert_run`
//!   function (one transaction, one round trip), and
//!   [`ThreadStore::insert_message`] checks it under the same lock in one
//!   statement. Two processes (or two pools) racing for one
//!   thread queue on the row; the second sees the first's run. No lock of
//!   this process is involved.
//! - **A commit** ([`RunStore::commit`]) is one statement of the batch's shape
//!   (its parts only), so one round trip and one transaction, whether it is
//!   fenced by its run's holder, lets go of its run or sends the wake-up of
//!   its events (`shared`). The statement locks the thread's row for key share
//!   (what the thread's deletion waits for, which then deletes what the
//!   commit wrote; the schema's `delete_thread` takes the thread's row
//!   before anything under it, so the two never deadlock), finds the run,
//!   then upserts the steps and messages, appends the events, writes the
//!   run and, if the run becomes terminal now, unlocks the thread and sets
//!   `ended_at`. Each write is conditional on the run, so a batch for a
//!   deleted thread or run writes nothing.
//! - **Retention**: `runs.ended_at` (set once, in the commit that ends the
//!   run) starts the window; [`EventLog::prune_events`] deletes the events of
//!   runs that ended before its bound.
//! - **Events** are rows of `run_event_batches`, the source of truth for
//!   resuming a stream: one row per commit that had events, holding them as
//!   arrays (sequence numbers, names, data), keyed by the run and its last
//!   sequence number. A row per event cost five times as much to write
//!   (its foreign key checked for each), see the migration;
//!   [`EventLog::events_after`] unnests the rows past a sequence number.
//!
//! # Layout
//!
//! As the SQLite store's: each object kept whole as JSON next to the columns
//! it is found, filtered and ordered by, with an insertion-order key (`seq`)
//! that lists and their cursors follow; see
//! `migrations/postgres/0001_initial.sql`. Unlike the SQLite store, nothing
//! is cached in the process (assistants included): another process may
//! write the same rows.

mod shared;

use super::{
    Page, PageQuery, RunBatch, RunRecord, StoreError, StoreResult, StoredEvent, ThreadRecord,
    Wakeup,
};
use crate::common::{self as sql, Window, decode, encode, run_record};
use crate::types::{Assistant, Message, Run, RunStep, Thread};
use assistant_stream_store::PostgresUrl;
use assistant_stream_store::ids::now;
use assistant_stream_store::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Connection, Row};
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

/// The schema's migrations ([`sql::Migrations`]).
const MIGRATIONS: &sql::Migrations = &[
    (
        1,
        "initial",
        include_str!("../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "instances",
        include_str!("../migrations/postgres/0002_instances.sql"),
    ),
    (
        3,
        "lighter writes",
        include_str!("../migrations/postgres/0003_lighter_writes.sql"),
    ),
];

/// The newest schema version this build knows.
fn known_schema_version() -> i64 {
    sql::newest_version(MIGRATIONS)
}

fn migrator() -> Migrator {
    sql::migrator(MIGRATIONS)
}

/// How long opening waits for the server to answer: a host that drops
/// packets would otherwise hold the start for the system's TCP timeout.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The most connections the store keeps unless told
/// (`ServerBuilder::database_connections`): four per core of this machine,
/// from 4 to 32. Each call holds one for a single statement, so a few serve
/// hundreds of runs, and more connections than the database has cores to
/// run them only make its backends take turns. On a 2-core machine running
/// the database, the server and the clients (and other work), streamed runs
/// a second, medians of three interleaved runs: with 64 at once, 443 with 4
/// connections, 329 with 8, 293 with 16; with 500 at once, 287, 325 and
/// 296. PostgreSQL's own default limit is 100 connections for every client
/// together.
pub fn default_pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    u32::try_from(cores.saturating_mul(4))
        .unwrap_or(u32::MAX)
        .clamp(4, 32)
}
/// How long a call may wait for a connection of the pool before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// Which database, as errors name it: `postgres://USER@HOST:PORT/DB`,
/// never with the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target(String);

impl Target {
    fn of(options: &PgConnectOptions) -> Self {
        let host = match options.get_socket() {
            Some(socket) => socket.display().to_string(),
            None => options.get_host().to_owned(),
        };
        Target(format!(
            "postgres://{}@{}:{}/{}",
            options.get_username(),
            host,
            options.get_port(),
            options.get_database().unwrap_or(options.get_username())
        ))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a PostgreSQL database could not be opened. Each names the database
/// (without the password).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL is not one PostgreSQL takes (`url` is redacted).
    #[error("cannot open the database {url}: the URL is not valid")]
    BadUrl {
        /// The URL as given, its password hidden.
        url: String,
        /// sqlx's reason.
        source: sqlx::Error,
    },
    /// The server could not be reached, or refused the connection.
    #[error("cannot connect to the database {target}")]
    Connect {
        /// The database.
        target: Target,
        /// The connection's error.
        source: sqlx::Error,
    },
    /// The server did not answer within [`CONNECT_TIMEOUT`].
    #[error("cannot connect to the database {target}: no answer within {} s", CONNECT_TIMEOUT.as_secs())]
    Timeout {
        /// The database.
        target: Target,
    },
    /// The database's schema is newer than this build knows.
    #[error(
        "the database {target} was written by a newer version of assistant-stream \
         (schema version {found}; this version knows up to {known}); refusing to start"
    )]
    NewerSchema {
        /// The database.
        target: Target,
        /// The schema version the database has.
        found: i64,
        /// The newest schema version this build knows.
        known: i64,
    },
    /// A query of the opening failed: `doing` says which.
    #[error("cannot open the database {target}: {doing}")]
    Query {
        /// The database.
        target: Target,
        /// What failed, as the error's message says it.
        doing: &'static str,
        /// The query's error.
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error("cannot bring the database {target} to schema version {known}")]
    Migrate {
        /// The database.
        target: Target,
        /// The schema version it was to be brought to.
        known: i64,
        /// The migration's error.
        source: MigrateError,
    },
}

/// A failed database call, with what was being done.
fn fault(action: String, error: sqlx::Error) -> StoreError {
    StoreError::database(action, error)
}

/// A sequence number as PostgreSQL's `BIGINT` holds it.
fn to_i64(value: u64, action: impl FnOnce() -> String) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| {
        StoreError::database(
            action(),
            format!("{value} is past the largest integer PostgreSQL keeps"),
        )
    })
}

/// The items of a batch with one entry per id: the first place an id has,
/// with its last value, as upserting them one by one would leave them (one
/// `INSERT ... ON CONFLICT` cannot touch a row twice).
fn last_of_each<T>(items: &[T], id: impl Fn(&T) -> &str) -> Vec<&T> {
    let mut out: Vec<&T> = Vec::with_capacity(items.len());
    for item in items {
        match out.iter_mut().find(|kept| id(kept) == id(item)) {
            Some(kept) => *kept = item,
            None => out.push(item),
        }
    }
    out
}

/// Refuses a database whose `_sqlx_migrations` holds a version this build
/// does not know. Reads only: such a database is left as it was.
async fn check_schema_version(conn: &mut PgConnection, target: &Target) -> Result<(), OpenError> {
    let query_error = |source| OpenError::Query {
        target: target.clone(),
        doing: "cannot read its schema version",
        source,
    };
    let has_migrations: bool =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await
            .map_err(query_error)?;
    if !has_migrations {
        return Ok(());
    }
    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut *conn)
        .await
        .map_err(query_error)?;
    let known = known_schema_version();
    match newest {
        Some(found) if found > known => Err(OpenError::NewerSchema {
            target: target.clone(),
            found,
            known,
        }),
        _ => Ok(()),
    }
}

/// Reads the page `window` gives ([`sql::window_query`]).
async fn read_window<T: DeserializeOwned>(
    window: &Window,
    pool: &PgPool,
    sql: (&'static str, &'static str),
    key: Option<&str>,
    filter: Option<&str>,
    action: impl Fn() -> String,
) -> StoreResult<Page<T>> {
    let rows = sql::window_query(window, sql, key, filter)
        .fetch_all(pool)
        .await
        .map_err(|error| fault(action(), error))?;
    window.page(rows, |row| decode(row, &action))
}

/// Messages as the statements take them: three arrays (ids, run ids,
/// objects), in order.
type MessageColumns<'a> = (Vec<&'a str>, Vec<Option<&'a str>>, Vec<String>);

fn message_columns<'a>(
    messages: &[&'a Message],
    action: impl Fn() -> String,
) -> StoreResult<MessageColumns<'a>> {
    let mut columns: MessageColumns = (
        Vec::with_capacity(messages.len()),
        Vec::with_capacity(messages.len()),
        Vec::with_capacity(messages.len()),
    );
    for message in messages {
        columns.0.push(message.id.as_str());
        columns.1.push(message.run_id.as_deref());
        columns.2.push(encode(message, &action)?);
    }
    Ok(columns)
}

/// The PostgreSQL store. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    target: Target,
    /// The wake-ups of the instances sharing the database ([`shared`]).
    shared: std::sync::Arc<shared::Shared>,
}

impl PostgresStore {
    /// Connects to the database `url` names, checks and migrates its
    /// schema, and keeps a pool of connections to it. See the
    /// [module docs](self).
    /// At most `max_connections` at once (at least one).
    pub async fn open(url: &PostgresUrl, max_connections: u32) -> Result<Self, OpenError> {
        let options = PgConnectOptions::from_str(url.as_secret_str())
            .map_err(|source| OpenError::BadUrl {
                url: url.to_string(),
                source,
            })?
            .application_name("assistant-stream");
        let target = Target::of(&options);
        let mut conn =
            match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await
            {
                Ok(Ok(conn)) => conn,
                Ok(Err(source)) => return Err(OpenError::Connect { target, source }),
                Err(_) => return Err(OpenError::Timeout { target }),
            };
        let migrated = async {
            check_schema_version(&mut conn, &target).await?;
            migrator()
                .run(&mut conn)
                .await
                .map_err(|source| OpenError::Migrate {
                    target: target.clone(),
                    known: known_schema_version(),
                    source,
                })
        }
        .await;
        let _ = conn.close().await;
        migrated?;
        let shared = std::sync::Arc::new(shared::Shared::new(&options));
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A ping before each use would double the round trips of every
            // call; a connection the server dropped fails its call (an
            // error, as any other database failure) and is not reused.
            .test_before_acquire(false)
            // The store's statements are the same few, run again and again
            // with other values: a generic plan, made once per connection,
            // spares planning each run (a commit's statement took 1.7 ms to
            // plan, 0.6 ms to run). Set once a connection is made rather than
            // as a startup option, which a pooler such as PgBouncer refuses.
            .after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("SET plan_cache_mode = force_generic_plan")
                        .execute(conn)
                        .await
                        .map(drop)
                })
            })
            .connect_lazy_with(options);
        Ok(PostgresStore {
            pool,
            target,
            shared,
        })
    }

    /// Closes the pool's connections, waiting for those lent to come back.
    #[cfg_attr(not(test), allow(dead_code))]
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Replaces the object of row `id` of `table` (`assistants` or
    /// `threads`, whose rows are `object`s: `NotFound` names it).
    async fn replace_object<T: Serialize>(
        &self,
        table: &'static str,
        object: &'static str,
        id: &str,
        value: &T,
    ) -> StoreResult<()> {
        let action = || format!("writing {object} {id}");
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET object = $2::json WHERE id = $1"
        )))
        .bind(id)
        .bind(encode(value, action)?)
        .execute(&self.pool)
        .await
        .map_err(|error| fault(action(), error))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(object, id));
        }
        Ok(())
    }

    /// Whether the thread exists, and whether the run `run_id` exists on it
    /// (`false` without one).
    async fn found(&self, thread_id: &str, run_id: Option<&str>) -> StoreResult<(bool, bool)> {
        let action = || format!("reading thread {thread_id}");
        sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM threads WHERE id = $1), \
             EXISTS (SELECT 1 FROM runs WHERE id = $2 AND thread_id = $1)",
        )
        .bind(thread_id)
        .bind(run_id)
        .fetch_one(&self.pool)
        .await
        .map_err(|error| fault(action(), error))
    }

    /// Which of the thread, its run `run_id` and the object `id` is missing.
    async fn missing(
        &self,
        thread_id: &str,
        run_id: Option<&str>,
        object: &'static str,
        id: &str,
    ) -> StoreError {
        match self.found(thread_id, run_id).await {
            Ok(found) => sql::missing(found, thread_id, run_id, object, id),
            Err(error) => error,
        }
    }

    /// `Ok` if the thread exists.
    async fn check_thread(&self, thread_id: &str) -> StoreResult<()> {
        sql::found_thread(self.found(thread_id, None).await?, thread_id)
    }

    /// `Ok` if the run exists on the thread.
    async fn check_run(&self, thread_id: &str, run_id: &str) -> StoreResult<()> {
        sql::found_run(
            self.found(thread_id, Some(run_id)).await?,
            thread_id,
            run_id,
        )
    }

    /// The `seq`s of a page's cursors among a thread's rows, read with
    /// `sql` (which binds the thread's id, then the `after` and `before`
    /// ids, and says first whether the thread exists): `NotFound` without
    /// the thread.
    async fn thread_cursors(
        &self,
        sql: &'static str,
        thread_id: &str,
        page: &PageQuery,
        action: impl FnOnce() -> String,
    ) -> StoreResult<(Option<i64>, Option<i64>)> {
        let (thread_exists, after, before): (bool, Option<i64>, Option<i64>) = sqlx::query_as(sql)
            .bind(thread_id)
            .bind(page.after.as_deref())
            .bind(page.before.as_deref())
            .fetch_one(&self.pool)
            .await
            .map_err(|error| fault(action(), error))?;
        if !thread_exists {
            return Err(StoreError::not_found("thread", thread_id));
        }
        Ok((after, before))
    }
}

/// A new thread with its first messages (`$3` to `$5`: their ids, run ids
/// and objects), in one statement.
const INSERT_THREAD: &str = "\
WITH t AS (INSERT INTO threads (id, object) VALUES ($1, $2::json) RETURNING id)
INSERT INTO messages (id, thread_id, run_id, object)
SELECT m.id, t.id, m.run_id, m.object::json
FROM t, UNNEST($3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS m (id, run_id, object, ord)
ORDER BY m.ord";

/// A new message on an unlocked thread, in one statement: the thread's row
/// is locked while its lock (`active_run_id`) is read, and the message is
/// written only if there is none. Says whether the thread exists, and its
/// active run.
const INSERT_MESSAGE: &str = "\
WITH t AS (SELECT id, active_run_id FROM threads WHERE id = $1 FOR NO KEY UPDATE),
written AS (
    INSERT INTO messages (id, thread_id, run_id, object)
    SELECT $2, t.id, $3, $4::json FROM t WHERE t.active_run_id IS NULL
)
SELECT EXISTS (SELECT 1 FROM t), (SELECT active_run_id FROM t)";

/// A new run with the messages it adds (`$7` to `$9`), locking its thread,
/// in one round trip: the schema's `insert_run` function (see the
/// migration for why a function). Its first row says what the thread was;
/// the rest, if the run went in, are the thread's messages in order.
const INSERT_RUN: &str = "\
SELECT o_found, o_active_run_id, o_object FROM insert_run(
    $1, $2, $3, $4, $5::json, $6::json, $7::text[], $8::text[], $9::text[])";

/// [`INSERT_RUN`] for a run held by an instance (`$10`) from its insert
/// (migration 0002, in one body since 0003).
const INSERT_OWNED_RUN: &str = "\
SELECT o_found, o_active_run_id, o_object FROM insert_owned_run(
    $1, $2, $3, $4, $5::json, $6::json, $7::text[], $8::text[], $9::text[], $10)";

/// What a commit holds, which picks its statement ([`commit_sql`]).
#[derive(Clone, Copy, Debug)]
struct CommitShape {
    steps: bool,
    messages: bool,
    events: bool,
    /// The run's record changes, or its holder lets go of it.
    run: bool,
    /// Written only if the committer still holds the run.
    fenced: bool,
}

/// How many shapes of commit there are.
const COMMIT_SHAPES: usize = 32;

impl CommitShape {
    /// Its place among the [`COMMIT_SHAPES`].
    fn index(self) -> usize {
        usize::from(self.steps)
            | usize::from(self.messages) << 1
            | usize::from(self.events) << 2
            | usize::from(self.run) << 3
            | usize::from(self.fenced) << 4
    }

    fn of_index(index: usize) -> Self {
        CommitShape {
            steps: index & 1 != 0,
            messages: index & 2 != 0,
            events: index & 4 != 0,
            run: index & 8 != 0,
            fenced: index & 16 != 0,
        }
    }
}

/// The statement of a commit of this shape (built once per shape, and
/// prepared once per connection): only the parts the batch needs, since
/// PostgreSQL sets up every part of a statement each time it runs it, even
/// one that writes nothing. A commit is this one statement, so one round
/// trip and one transaction, fenced or not.
///
/// Every shape binds the same parameters: the run's id and its thread's;
/// the steps' ids and objects (`$3`, `$4`); the messages' ids, run ids and
/// objects (`$5` to `$7`); the events' sequence numbers, names and data
/// (`$8` to `$10`, one row of `run_event_batches`); the run's status,
/// progress and object (`$11` to `$13`, `NULL` to keep them); the time the
/// run ends (`$14`, `NULL` unless its new status is terminal); the
/// committer (`$15`, checked by a fenced shape); whether the holder lets go
/// of the run (`$16`); and the wake-up to send (`$17`, `NULL` for none).
///
/// The thread's row is locked first (`FOR KEY SHARE`, which only a
/// deletion of the thread waits for): a commit and the thread's deletion
/// take the thread's row before the run's, so they never deadlock, and a
/// batch of events (which has no foreign key) is never written for a
/// thread being deleted. A fenced shape then locks the run's row (`FOR NO
/// KEY UPDATE`, which a claim's `UPDATE` waits for; after a wait it reads
/// the row as the claim left it) and writes only if the committer holds it
/// (`w`); otherwise nothing is written, and the final `SELECT` names the
/// holder ([`StoreError::Lost`]). Every write reads `w`, so without the run
/// nothing is written; the final `SELECT` says which was missing. The
/// upserts keep a replaced step's or message's `seq`. The thread is
/// unlocked only by the commit that ends the run (`r.ended_at` still
/// `NULL`), and only if this run holds it (checked on the thread's row as
/// it is when updated). The wake-up (`pg_notify`) is queued only if the
/// batch is written; PostgreSQL sends it when the statement's transaction
/// commits.
fn commit_sql(shape: CommitShape) -> &'static str {
    static SHAPES: OnceLock<Vec<String>> = OnceLock::new();
    let shapes = SHAPES.get_or_init(|| {
        (0..COMMIT_SHAPES)
            .map(|index| build_commit_sql(CommitShape::of_index(index)))
            .collect()
    });
    &shapes[shape.index()]
}

fn build_commit_sql(shape: CommitShape) -> String {
    let mut sql = String::from(
        "WITH t AS (SELECT id FROM threads WHERE id = $2 FOR KEY SHARE),\n\
         r AS (SELECT id, thread_id, ended_at, owner FROM runs \
         WHERE id = $1 AND thread_id = (SELECT id FROM t)",
    );
    if shape.fenced {
        sql.push_str(
            " FOR NO KEY UPDATE),\n\
             w AS (SELECT * FROM r WHERE r.owner IS NOT DISTINCT FROM $15::text)",
        );
    } else {
        sql.push_str("),\nw AS (SELECT * FROM r)");
    }
    if shape.steps {
        sql.push_str(
            ",\nsteps AS (INSERT INTO run_steps (id, run_id, thread_id, object) \
             SELECT s.id, w.id, w.thread_id, s.object::json \
             FROM w, UNNEST($3::text[], $4::text[]) WITH ORDINALITY AS s (id, object, ord) \
             ORDER BY s.ord ON CONFLICT (id) DO UPDATE SET object = excluded.object)",
        );
    }
    if shape.messages {
        sql.push_str(
            ",\nmessages AS (INSERT INTO messages (id, thread_id, run_id, object) \
             SELECT m.id, w.thread_id, m.run_id, m.object::json \
             FROM w, UNNEST($5::text[], $6::text[], $7::text[]) \
             WITH ORDINALITY AS m (id, run_id, object, ord) \
             ORDER BY m.ord ON CONFLICT (id) DO UPDATE SET object = excluded.object)",
        );
    }
    if shape.events {
        sql.push_str(
            ",\nevents AS (INSERT INTO run_event_batches \
             (run_id, first_seq, last_seq, seqs, events, data) \
             SELECT w.id, $8[1], $8[cardinality($8)], $8, $9, $10 FROM w)",
        );
    }
    if shape.run {
        sql.push_str(
            ",\nunlock AS (UPDATE threads SET active_run_id = NULL FROM w \
             WHERE $14::bigint IS NOT NULL AND w.ended_at IS NULL \
             AND threads.id = w.thread_id AND threads.active_run_id = w.id),\n\
             run AS (UPDATE runs SET status = COALESCE($11::text, runs.status), \
             progress = COALESCE($12::json, runs.progress), \
             object = COALESCE($13::json, runs.object), \
             ended_at = COALESCE(runs.ended_at, $14::bigint), \
             owner = CASE WHEN $16::boolean THEN NULL ELSE runs.owner END \
             FROM w WHERE runs.id = w.id)",
        );
    }
    // A `SELECT` in `WITH` runs only if the statement reads it: the final
    // `SELECT` counts the wake-ups.
    if shape.events {
        sql.push_str(
            ",\nnotified AS (SELECT pg_notify('assistant_stream', $17::text) \
             FROM w WHERE $17::text IS NOT NULL)",
        );
    }
    // The parameters a shape leaves out are still bound (sqlx declares
    // every parameter's type, so PostgreSQL takes them unused).
    sql.push_str(
        "\nSELECT EXISTS (SELECT 1 FROM t), EXISTS (SELECT 1 FROM r), (SELECT owner FROM r), ",
    );
    sql.push_str(if shape.events {
        "(SELECT count(*) FROM notified)"
    } else {
        "0::bigint"
    });
    sql
}

#[async_trait::async_trait]
impl AssistantStore for PostgresStore {
    async fn insert_assistant(&self, assistant: &Assistant) -> StoreResult<()> {
        let action = || format!("writing assistant {}", assistant.id);
        sqlx::query("INSERT INTO assistants (id, object) VALUES ($1, $2::json)")
            .bind(&assistant.id)
            .bind(encode(assistant, action)?)
            .execute(&self.pool)
            .await
            .map_err(|error| fault(action(), error))?;
        Ok(())
    }

    async fn assistant(&self, id: &str) -> StoreResult<Assistant> {
        let action = || format!("reading assistant {id}");
        let object: Option<String> =
            sqlx::query_scalar("SELECT object::text FROM assistants WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|error| fault(action(), error))?;
        match object {
            Some(object) => decode(&object, action),
            None => Err(StoreError::not_found("assistant", id)),
        }
    }

    async fn update_assistant(&self, assistant: &Assistant) -> StoreResult<()> {
        self.replace_object("assistants", "assistant", &assistant.id, assistant)
            .await
    }

    async fn delete_assistant(&self, id: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM assistants WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|error| fault(format!("deleting assistant {id}"), error))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("assistant", id));
        }
        Ok(())
    }

    async fn list_assistants(&self, page: &PageQuery) -> StoreResult<Page<Assistant>> {
        let action = || "listing assistants".to_owned();
        let (after, before): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT seq FROM assistants WHERE id = $1), \
             (SELECT seq FROM assistants WHERE id = $2)",
        )
        .bind(page.after.as_deref())
        .bind(page.before.as_deref())
        .fetch_one(&self.pool)
        .await
        .map_err(|error| fault(action(), error))?;
        let window = Window::new(page, after, before)?;
        let sql = (
            "SELECT object::text FROM assistants WHERE seq > $1 AND seq < $2 \
             ORDER BY seq ASC LIMIT $3",
            "SELECT object::text FROM assistants WHERE seq > $1 AND seq < $2 \
             ORDER BY seq DESC LIMIT $3",
        );
        read_window(&window, &self.pool, sql, None, None, action).await
    }
}

#[async_trait::async_trait]
impl ThreadStore for PostgresStore {
    async fn insert_thread(&self, thread: &Thread, messages: &[Message]) -> StoreResult<()> {
        let action = || format!("writing thread {}", thread.id);
        let messages: Vec<&Message> = messages.iter().collect();
        let (ids, run_ids, objects) = message_columns(&messages, action)?;
        sqlx::query(INSERT_THREAD)
            .bind(&thread.id)
            .bind(encode(thread, action)?)
            .bind(ids)
            .bind(run_ids)
            .bind(objects)
            .execute(&self.pool)
            .await
            .map_err(|error| fault(action(), error))?;
        Ok(())
    }

    async fn thread(&self, id: &str) -> StoreResult<ThreadRecord> {
        let action = || format!("reading thread {id}");
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT object::text, active_run_id FROM threads WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|error| fault(action(), error))?;
        match row {
            Some((object, active_run)) => Ok(ThreadRecord {
                thread: decode(&object, action)?,
                active_run,
            }),
            None => Err(StoreError::not_found("thread", id)),
        }
    }

    async fn update_thread(&self, thread: &Thread) -> StoreResult<()> {
        self.replace_object("threads", "thread", &thread.id, thread)
            .await
    }

    async fn delete_thread(&self, id: &str) -> StoreResult<()> {
        // The schema's `delete_thread`: the runs' events, then the thread
        // (the foreign keys delete its messages, runs and steps), in one
        // transaction.
        let existed: bool = sqlx::query_scalar("SELECT delete_thread($1)")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(|error| fault(format!("deleting thread {id}"), error))?;
        if !existed {
            return Err(StoreError::not_found("thread", id));
        }
        Ok(())
    }

    async fn insert_message(&self, message: &Message) -> StoreResult<()> {
        let action = || format!("writing message {}", message.id);
        let (exists, active_run): (bool, Option<String>) = sqlx::query_as(INSERT_MESSAGE)
            .bind(&message.thread_id)
            .bind(&message.id)
            .bind(&message.run_id)
            .bind(encode(message, action)?)
            .fetch_one(&self.pool)
            .await
            .map_err(|error| fault(action(), error))?;
        match (exists, active_run) {
            (false, _) => Err(StoreError::not_found("thread", &message.thread_id)),
            (true, Some(run_id)) => Err(StoreError::ThreadLocked {
                thread_id: message.thread_id.clone(),
                run_id,
            }),
            (true, None) => Ok(()),
        }
    }

    async fn message(&self, thread_id: &str, id: &str) -> StoreResult<Message> {
        let action = || format!("reading message {id}");
        let object: Option<String> = sqlx::query_scalar(
            "SELECT object::text FROM messages WHERE id = $2 AND thread_id = $1",
        )
        .bind(thread_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| fault(action(), error))?;
        match object {
            Some(object) => decode(&object, action),
            None => Err(self.missing(thread_id, None, "message", id).await),
        }
    }

    async fn update_message(&self, message: &Message) -> StoreResult<()> {
        let action = || format!("writing message {}", message.id);
        let done = sqlx::query(
            "UPDATE messages SET run_id = $3, object = $4::json WHERE id = $2 AND thread_id = $1",
        )
        .bind(&message.thread_id)
        .bind(&message.id)
        .bind(&message.run_id)
        .bind(encode(message, action)?)
        .execute(&self.pool)
        .await
        .map_err(|error| fault(action(), error))?;
        if done.rows_affected() == 0 {
            return Err(self
                .missing(&message.thread_id, None, "message", &message.id)
                .await);
        }
        Ok(())
    }

    async fn delete_message(&self, thread_id: &str, id: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM messages WHERE id = $2 AND thread_id = $1")
            .bind(thread_id)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|error| fault(format!("deleting message {id}"), error))?;
        if done.rows_affected() == 0 {
            return Err(self.missing(thread_id, None, "message", id).await);
        }
        Ok(())
    }

    async fn list_messages(
        &self,
        thread_id: &str,
        page: &PageQuery,
        run_id: Option<&str>,
    ) -> StoreResult<Page<Message>> {
        let action = || format!("listing the messages of thread {thread_id}");
        // The cursors need not pass the run filter (as in the memory store).
        let (after, before) = self
            .thread_cursors(
                "SELECT EXISTS (SELECT 1 FROM threads WHERE id = $1), \
                 (SELECT seq FROM messages WHERE thread_id = $1 AND id = $2), \
                 (SELECT seq FROM messages WHERE thread_id = $1 AND id = $3)",
                thread_id,
                page,
                action,
            )
            .await?;
        let window = Window::new(page, after, before)?;
        let sql = match run_id {
            None => (
                "SELECT object::text FROM messages WHERE thread_id = $1 AND seq > $2 AND seq < $3 \
                 ORDER BY seq ASC LIMIT $4",
                "SELECT object::text FROM messages WHERE thread_id = $1 AND seq > $2 AND seq < $3 \
                 ORDER BY seq DESC LIMIT $4",
            ),
            Some(_) => (
                "SELECT object::text FROM messages WHERE thread_id = $1 AND seq > $2 AND seq < $3 \
                 AND run_id = $5 ORDER BY seq ASC LIMIT $4",
                "SELECT object::text FROM messages WHERE thread_id = $1 AND seq > $2 AND seq < $3 \
                 AND run_id = $5 ORDER BY seq DESC LIMIT $4",
            ),
        };
        read_window(&window, &self.pool, sql, Some(thread_id), run_id, action).await
    }

    async fn thread_messages(&self, thread_id: &str) -> StoreResult<Vec<Message>> {
        let action = || format!("reading the messages of thread {thread_id}");
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT object::text FROM messages WHERE thread_id = $1 ORDER BY seq",
        )
        .bind(thread_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|error| fault(action(), error))?;
        if rows.is_empty() {
            // No messages, or no thread.
            self.check_thread(thread_id).await?;
        }
        rows.iter().map(|row| decode(row, action)).collect()
    }
}

#[async_trait::async_trait]
impl RunStore for PostgresStore {
    async fn insert_run(&self, run: &RunRecord, messages: &[Message]) -> StoreResult<Vec<Message>> {
        let action = || format!("writing run {}", run.run.id);
        let thread_id = run.run.thread_id.as_str();
        let messages: Vec<&Message> = messages.iter().collect();
        let (ids, run_ids, objects) = message_columns(&messages, action)?;
        // The thread's row is locked while its lock is read and set (the
        // function's first statement): another `insert_run` or
        // `insert_message` on the thread, from any process, waits for it,
        // then sees this run's lock.
        // A run held from its insert (a shared store's) is inserted with
        // its holder, in the same transaction (`INSERT_OWNED_RUN`).
        let sql = match run.owner {
            Some(_) => INSERT_OWNED_RUN,
            None => INSERT_RUN,
        };
        let mut query = sqlx::query_as(sql)
            .bind(thread_id)
            .bind(&run.run.id)
            .bind(run.run.status.as_str())
            .bind(run.run.created_at)
            .bind(encode(&run.progress, action)?)
            .bind(encode(&run.run, action)?)
            .bind(ids)
            .bind(run_ids)
            .bind(objects);
        if let Some(owner) = &run.owner {
            query = query.bind(owner);
        }
        let rows: Vec<(bool, Option<String>, Option<String>)> =
            query
                .fetch_all(&self.pool)
                .await
                .map_err(|error| fault(action(), error))?;
        let mut rows = rows.into_iter();
        match rows.next() {
            Some((true, None, _)) => {}
            Some((true, Some(active), _)) => {
                return Err(StoreError::ThreadLocked {
                    thread_id: thread_id.to_owned(),
                    run_id: active,
                });
            }
            Some((false, _, _)) => return Err(StoreError::not_found("thread", thread_id)),
            None => {
                return Err(StoreError::database(action(), "insert_run returned no row"));
            }
        }
        rows.map(|(_, _, object)| match object {
            Some(object) => decode(&object, action),
            None => Err(StoreError::database(
                action(),
                "a message without its object",
            )),
        })
        .collect()
    }

    async fn run(&self, thread_id: &str, run_id: &str) -> StoreResult<RunRecord> {
        let action = || format!("reading run {run_id}");
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT object::text, progress::text FROM runs WHERE id = $2 AND thread_id = $1",
        )
        .bind(thread_id)
        .bind(run_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| fault(action(), error))?;
        match row {
            Some((object, progress)) => run_record(&object, &progress, run_id),
            None => Err(self.missing(thread_id, None, "run", run_id).await),
        }
    }

    async fn list_runs(&self, thread_id: &str, page: &PageQuery) -> StoreResult<Page<Run>> {
        let action = || format!("listing the runs of thread {thread_id}");
        let (after, before) = self
            .thread_cursors(
                "SELECT EXISTS (SELECT 1 FROM threads WHERE id = $1), \
                 (SELECT seq FROM runs WHERE thread_id = $1 AND id = $2), \
                 (SELECT seq FROM runs WHERE thread_id = $1 AND id = $3)",
                thread_id,
                page,
                action,
            )
            .await?;
        let window = Window::new(page, after, before)?;
        let sql = (
            "SELECT object::text FROM runs WHERE thread_id = $1 AND seq > $2 AND seq < $3 \
             ORDER BY seq ASC LIMIT $4",
            "SELECT object::text FROM runs WHERE thread_id = $1 AND seq > $2 AND seq < $3 \
             ORDER BY seq DESC LIMIT $4",
        );
        read_window(&window, &self.pool, sql, Some(thread_id), None, action).await
    }

    async fn step(&self, thread_id: &str, run_id: &str, step_id: &str) -> StoreResult<RunStep> {
        let action = || format!("reading run step {step_id}");
        let object: Option<String> = sqlx::query_scalar(
            "SELECT s.object::text FROM run_steps s JOIN runs r ON r.id = s.run_id \
             WHERE s.id = $3 AND s.run_id = $2 AND r.thread_id = $1",
        )
        .bind(thread_id)
        .bind(run_id)
        .bind(step_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| fault(action(), error))?;
        match object {
            Some(object) => decode(&object, action),
            None => Err(self
                .missing(thread_id, Some(run_id), "run step", step_id)
                .await),
        }
    }

    async fn list_steps(
        &self,
        thread_id: &str,
        run_id: &str,
        page: &PageQuery,
    ) -> StoreResult<Page<RunStep>> {
        let action = || format!("listing the steps of run {run_id}");
        let (thread_exists, run_exists, after, before): (bool, bool, Option<i64>, Option<i64>) =
            sqlx::query_as(
                "SELECT EXISTS (SELECT 1 FROM threads WHERE id = $1), \
                 EXISTS (SELECT 1 FROM runs WHERE id = $2 AND thread_id = $1), \
                 (SELECT seq FROM run_steps WHERE run_id = $2 AND id = $3), \
                 (SELECT seq FROM run_steps WHERE run_id = $2 AND id = $4)",
            )
            .bind(thread_id)
            .bind(run_id)
            .bind(page.after.as_deref())
            .bind(page.before.as_deref())
            .fetch_one(&self.pool)
            .await
            .map_err(|error| fault(action(), error))?;
        if !thread_exists {
            return Err(StoreError::not_found("thread", thread_id));
        }
        if !run_exists {
            return Err(StoreError::not_found("run", run_id));
        }
        let window = Window::new(page, after, before)?;
        let sql = (
            "SELECT object::text FROM run_steps WHERE run_id = $1 AND seq > $2 AND seq < $3 \
             ORDER BY seq ASC LIMIT $4",
            "SELECT object::text FROM run_steps WHERE run_id = $1 AND seq > $2 AND seq < $3 \
             ORDER BY seq DESC LIMIT $4",
        );
        read_window(&window, &self.pool, sql, Some(run_id), None, action).await
    }

    async fn run_steps(&self, thread_id: &str, run_id: &str) -> StoreResult<Vec<RunStep>> {
        let action = || format!("reading the steps of run {run_id}");
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT s.object::text FROM run_steps s JOIN runs r ON r.id = s.run_id \
             WHERE s.run_id = $2 AND r.thread_id = $1 ORDER BY s.seq",
        )
        .bind(thread_id)
        .bind(run_id)
        .fetch_all(&self.pool)
        .await
        .map_err(|error| fault(action(), error))?;
        if rows.is_empty() {
            self.check_run(thread_id, run_id).await?;
        }
        rows.iter().map(|row| decode(row, action)).collect()
    }

    async fn commit(&self, batch: &RunBatch) -> StoreResult<()> {
        let action = || format!("writing run {}", batch.run_id);
        let steps = last_of_each(&batch.steps, |step| &step.id);
        let step_ids: Vec<&str> = steps.iter().map(|step| step.id.as_str()).collect();
        let step_objects = steps
            .iter()
            .map(|step| encode(step, action))
            .collect::<StoreResult<Vec<_>>>()?;
        let messages = last_of_each(&batch.messages, |message| &message.id);
        let (message_ids, message_runs, message_objects) = message_columns(&messages, action)?;
        let event_seqs = batch
            .events
            .iter()
            .map(|event| to_i64(event.seq, action))
            .collect::<StoreResult<Vec<_>>>()?;
        let event_names: Vec<&str> = batch.events.iter().map(|e| e.event.as_str()).collect();
        let event_data: Vec<&[u8]> = batch.events.iter().map(|e| e.data.as_bytes()).collect();
        let (status, progress, object) = match &batch.run {
            Some(record) => (
                Some(record.run.status.as_str()),
                Some(encode(&record.progress, action)?),
                Some(encode(&record.run, action)?),
            ),
            None => (None, None, None),
        };
        let ends_at = batch
            .run
            .as_ref()
            .is_some_and(|record| record.run.status.is_terminal())
            .then(now);
        let release = batch.release || ends_at.is_some();
        // The committed events' wake-up, for the instances that follow the
        // run (`shared`).
        let wakeup = batch
            .events
            .last()
            .map(|event| shared::events_payload(event.seq, &batch.run_id));
        let shape = CommitShape {
            steps: !step_ids.is_empty(),
            messages: !message_ids.is_empty(),
            events: !event_seqs.is_empty(),
            run: status.is_some() || release,
            fenced: batch.owner.is_some(),
        };
        let row = sqlx::query(commit_sql(shape))
            .bind(&batch.run_id)
            .bind(&batch.thread_id)
            .bind(step_ids)
            .bind(step_objects)
            .bind(message_ids)
            .bind(message_runs)
            .bind(message_objects)
            .bind(event_seqs)
            .bind(event_names)
            .bind(event_data)
            .bind(status)
            .bind(progress)
            .bind(object)
            .bind(ends_at)
            .bind(batch.owner.as_deref())
            .bind(release)
            .bind(wakeup)
            .fetch_one(&self.pool)
            .await
            .map_err(|error| fault(action(), error))?;
        let found = |column: usize| {
            row.try_get::<bool, _>(column)
                .map_err(|error| fault(action(), error))
        };
        sql::found_run((found(0)?, found(1)?), &batch.thread_id, &batch.run_id)?;
        let holder: Option<String> = row.try_get(2).map_err(|error| fault(action(), error))?;
        if batch.owner.is_some() && holder != batch.owner {
            return Err(StoreError::Lost {
                run_id: batch.run_id.clone(),
            });
        }
        Ok(())
    }

    async fn unfinished_runs(&self) -> StoreResult<Vec<RunRecord>> {
        let action = || "reading the unfinished runs".to_owned();
        // `ended_at` is set by the commit that makes a run terminal; the
        // partial index `runs_open_by_owner` holds these runs (migration
        // 0003).
        let rows: Vec<(String, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT id, object::text, progress::text, \
             (SELECT MAX(last_seq) FROM run_event_batches WHERE run_id = runs.id) \
             FROM runs WHERE ended_at IS NULL ORDER BY created_at, seq",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|error| fault(action(), error))?;
        rows.iter()
            .map(|(id, object, progress, last_stored)| {
                let mut record = run_record(object, progress, id)?;
                let last_stored = last_stored.map_or(0, i64::unsigned_abs);
                record.progress.last_event = record.progress.last_event.max(last_stored);
                Ok(record)
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl EventLog for PostgresStore {
    async fn events_after(
        &self,
        thread_id: &str,
        run_id: &str,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        let action = || format!("reading the events of run {run_id}");
        // The batches past `after` (each holds at least its last event past
        // it), unnested, in the order they were written.
        let rows: Vec<(i64, String, Vec<u8>)> = sqlx::query_as(
            "SELECT e.seq, e.event, e.data \
             FROM run_event_batches b JOIN runs r ON r.id = b.run_id, \
             UNNEST(b.seqs, b.events, b.data) WITH ORDINALITY AS e (seq, event, data, ord) \
             WHERE b.run_id = $2 AND r.thread_id = $1 AND b.last_seq > $3 AND e.seq > $3 \
             ORDER BY b.last_seq, e.ord LIMIT $4",
        )
        .bind(thread_id)
        .bind(run_id)
        // Past PostgreSQL's integers, no event can follow.
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|error| fault(action(), error))?;
        if rows.is_empty() {
            self.check_run(thread_id, run_id).await?;
        }
        rows.into_iter()
            .map(|(seq, event, data)| {
                Ok(StoredEvent {
                    seq: seq.unsigned_abs(),
                    event,
                    data: String::from_utf8(data).map_err(|_| {
                        StoreError::database(
                            action(),
                            format!("the data of event {seq} is not UTF-8"),
                        )
                    })?,
                })
            })
            .collect()
    }

    async fn prune_events(&self, ended_before: i64) -> StoreResult<u64> {
        let pruned: Option<i64> = sqlx::query_scalar(
            "WITH gone AS (DELETE FROM run_event_batches \
             WHERE run_id IN (SELECT id FROM runs WHERE ended_at < $1) \
             RETURNING cardinality(seqs) AS events) \
             SELECT SUM(events)::bigint FROM gone",
        )
        .bind(ended_before)
        .fetch_one(&self.pool)
        .await
        .map_err(|error| fault("pruning the events of ended runs".to_owned(), error))?;
        Ok(pruned.map_or(0, i64::unsigned_abs))
    }
}

#[async_trait::async_trait]
impl Ownership for PostgresStore {
    fn is_shared(&self) -> bool {
        true
    }

    async fn heartbeat(&self, instance: &str) -> StoreResult<()> {
        shared::heartbeat(self, instance).await
    }

    async fn claim_run(
        &self,
        thread_id: &str,
        run_id: &str,
        instance: &str,
        lapsed_before: i64,
    ) -> StoreResult<Option<RunRecord>> {
        shared::claim_run(self, thread_id, run_id, instance, lapsed_before).await
    }

    async fn claim_lapsed_runs(
        &self,
        instance: &str,
        lapsed_before: i64,
        now: i64,
        limit: usize,
    ) -> StoreResult<Vec<RunRecord>> {
        shared::claim_lapsed_runs(self, instance, lapsed_before, now, limit).await
    }

    async fn request_cancel(&self, thread_id: &str, run_id: &str) -> StoreResult<()> {
        shared::request_cancel(self, thread_id, run_id).await
    }

    fn wakeups(&self) -> Option<tokio::sync::broadcast::Receiver<Wakeup>> {
        Some(self.shared.subscribe())
    }
}

impl fmt::Display for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.target.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDatabase;

    /// Every shape of commit is a statement PostgreSQL takes, with the
    /// parameters the commit binds (the shapes a run rarely makes, such as
    /// a release alone, included); on no thread, each writes nothing and
    /// says the thread is missing.
    #[tokio::test]
    async fn every_commit_shape_runs() {
        let Some(db) = TestDatabase::new("commit_shapes").await else {
            return;
        };
        let store = db.open().await;
        for index in 0..COMMIT_SHAPES {
            let shape = CommitShape::of_index(index);
            assert_eq!(shape.index(), index);
            let row = sqlx::query(commit_sql(shape))
                .bind("run_none")
                .bind("thread_none")
                .bind(Vec::<&str>::new())
                .bind(Vec::<String>::new())
                .bind(Vec::<&str>::new())
                .bind(Vec::<Option<&str>>::new())
                .bind(Vec::<String>::new())
                .bind(vec![1_i64])
                .bind(vec!["thread.run.created"])
                .bind(vec![b"{}".as_slice()])
                .bind(Some("completed"))
                .bind(Some("{}"))
                .bind(Some("{}"))
                .bind(Some(1_i64))
                .bind(Some("instance_a"))
                .bind(true)
                .bind(Some("e 1 run_none"))
                .fetch_one(&store.pool)
                .await;
            let row = row.unwrap_or_else(|error| panic!("{shape:?}: {error}"));
            let found: (bool, bool) = (row.get(0), row.get(1));
            assert_eq!(found, (false, false), "{shape:?}");
        }
        store.close().await;
    }
}
