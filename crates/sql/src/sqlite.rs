//! The SQLite store: one database file that survives restarts.
//!
//! # Opening
//!
//! [`SqliteStore::open`] takes an exclusive advisory lock on a sidecar file
//! (`PATH.lock`, holding the owner's pid) for the store's lifetime, so that
//! one process at a time serves a database: two servers on one file would
//! each believe they own its runs. The kernel drops the lock when the process
//! dies, however it dies. It then opens the file (made if missing, but never
//! its directory) in WAL mode with `synchronous = NORMAL` (a commit survives
//! the process crashing, not the machine losing power, and costs no fsync),
//! foreign keys on and a busy timeout, and brings its schema up to date
//! (`migrations/sqlite/`), refusing a database written by a newer version.
//!
//! # Connections
//!
//! All writes go through one connection, owned by one task, the
//! `Writer`: SQLite has one writer at a time anyway, and queueing for it
//! beats failing with `SQLITE_BUSY`. The writes waiting are written
//! together, in one transaction (group commit). Each is one statement list
//! (`commit_sql`, `INSERT_RUN`, ...), sent to SQLite in one round trip
//! to the connection's thread, since each round trip costs more than most
//! statements do; the group's `BEGIN IMMEDIATE` and `COMMIT` ride on its
//! first and last lists. Not sqlx's `Transaction`: it costs a round trip per
//! statement and two more, and it counts transactions itself, so that after
//! an error that makes SQLite roll back on its own (`SQLITE_FULL` can) its
//! count and SQLite's disagree and the writer would refuse every later
//! transaction. A group that fails part-way is rolled back; one that cannot
//! be closes its connection, which rolls back for certain, and the writer
//! opens a fresh one.
//!
//! Reads go to a few read-only connections (`Readers`), which WAL lets
//! run beside the writer. Neither side uses sqlx's `Pool`, which pings a
//! connection each time it comes back. Statements are prepared once per
//! connection and cached (`sqlx::query` is persistent).
//!
//! Checkpoints (copying the WAL into the database file, with the fsyncs
//! that takes) run on a connection and task of their own, shortly after
//! writes (`Checkpointer`), so that writes do not wait for them.
//!
//! # Layout
//!
//! Each object is kept whole as JSON next to the columns it is found,
//! filtered and ordered by, with an insertion-order key (`seq`) that lists
//! and their cursors follow; see `migrations/sqlite/0001_initial.sql`.

// Nothing outside the tests calls the store until the routes move to the
// `Store` trait (`store::open`); drop this then.

use super::{
    Page, PageQuery, RunBatch, RunRecord, StoreError, StoreResult, StoredEvent, ThreadRecord,
};
use crate::common::{self as sql, Window, decode, encode, run_record};
use crate::types::{Assistant, Message, Run, RunStep, Thread};
use assistant_stream_store::ids::now;
use assistant_stream_store::prelude::*;
use serde::de::DeserializeOwned;
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Arguments, Connection, Execute, FromRow, SqlStr, Sqlite};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, SemaphorePermit, mpsc, oneshot};
use tokio::task::JoinHandle;

/// The schema's migrations ([`sql::Migrations`]).
const MIGRATIONS: &sql::Migrations = &[
    (
        1,
        "initial",
        include_str!("../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "event chunks lz4",
        include_str!("../migrations/sqlite/0002_event_chunks_lz4.sql"),
    ),
    (
        3,
        "messages one index",
        include_str!("../migrations/sqlite/0003_messages_one_index.sql"),
    ),
    (
        4,
        "runs unfinished by end",
        include_str!("../migrations/sqlite/0004_runs_unfinished_by_end.sql"),
    ),
];

/// The newest schema version this build knows.
fn known_schema_version() -> i64 {
    sql::newest_version(MIGRATIONS)
}

fn migrator() -> Migrator {
    sql::migrator(MIGRATIONS)
}

/// How long a connection may wait for SQLite's locks on the file: the
/// writer waits out a restart of the WAL by the checkpointer (a checkpoint
/// of [`WAL_RESTART_PAGES`], seconds on a slow disk), or another program
/// writing the file (the `sqlite3` shell).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a write may queue for the writer connection before failing.
const WRITE_QUEUE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the checkpointer waits after a write before it checkpoints,
/// so that the writes of the next moments go in the same checkpoint.
const CHECKPOINT_DELAY: Duration = Duration::from_millis(100);
/// WAL pages (4 KiB) past which the checkpointer restarts the WAL: a
/// passive checkpoint never catches up with a writer that never pauses, and
/// the WAL would grow as long as the load lasts. A restart makes the writer
/// wait for the end of the checkpoint, then write the WAL from its start.
const WAL_RESTART_PAGES: i64 = 16_384;
/// The writer's own checkpoints (`wal_autocheckpoint`), should the
/// checkpointer fall that far behind.
const WRITER_CHECKPOINT_PAGES: i64 = 4 * WAL_RESTART_PAGES;
/// The size the WAL file is cut back to when it restarts (bytes).
const WAL_SIZE_LIMIT: i64 = 64 << 20;
/// Read-only connections beside the writer: enough for the machine's cores
/// to read while one writes, few enough to keep their caches small.
const READERS: usize = 4;
/// Prepared statement lists the writer keeps: one per shape of commit (by
/// its number of steps and messages, events, run and end) and fixed list,
/// each in four places in a group (first, last, both or neither).
const WRITER_STATEMENTS: usize = 512;

/// Settings of the store that tests change. `pub(crate)`: not a public knob.
#[derive(Clone, Debug, Default)]
pub struct SqliteOptions {
    /// `PRAGMA max_page_count` on every connection: the database cannot grow
    /// past this many pages, and a write that needs more fails with
    /// `SQLITE_FULL` (the fault tests fill a database for real with it).
    pub max_page_count: Option<u64>,
}

/// Why a SQLite database could not be opened. Each says which file.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The directory the file goes in does not exist (it is not made).
    #[error("cannot open the database {}: its directory {} does not exist", path.display(), directory.display())]
    MissingDirectory {
        /// The database file.
        path: PathBuf,
        /// The directory it goes in, which does not exist.
        directory: PathBuf,
    },
    /// What should be the file's directory is not a directory.
    #[error("cannot open the database {}: {} is not a directory", path.display(), parent.display())]
    NotInDirectory {
        /// The database file.
        path: PathBuf,
        /// What should be its directory.
        parent: PathBuf,
    },
    /// The path names a directory.
    #[error("cannot open the database {}: it is a directory", path.display())]
    IsDirectory {
        /// The path given for the database file.
        path: PathBuf,
    },
    /// Another store holds the database's lock (`pid` as its lock file says).
    #[error("{}", in_use(path, *pid))]
    InUse {
        /// The database file.
        path: PathBuf,
        /// The holder's process id, if its lock file says.
        pid: Option<u32>,
    },
    /// The database's schema is newer than this build knows.
    #[error("the database {} was written by a newer version of assistant-stream \
         (schema version {found}; this version knows up to {known}); refusing to start", path.display())]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The schema version the database has.
        found: i64,
        /// The newest schema version this build knows.
        known: i64,
    },
    /// The file is not a SQLite database.
    #[error("cannot open the database {}: the file is not a SQLite database", path.display())]
    NotADatabase {
        /// The database file.
        path: PathBuf,
    },
    /// A file operation failed: `doing` says which.
    #[error("cannot open the database {}: {doing}", path.display())]
    Io {
        /// The database file.
        path: PathBuf,
        /// What failed, as the error's message says it.
        doing: String,
        /// The error of the file operation.
        source: io::Error,
    },
    /// SQLite failed: `doing` says at what.
    #[error("cannot open the database {}: {doing}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What failed, as the error's message says it.
        doing: &'static str,
        /// SQLite's error.
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error("cannot bring the database {} to schema version {known}", path.display())]
    Migrate {
        /// The database file.
        path: PathBuf,
        /// The schema version it was to be brought to.
        known: i64,
        /// The migration's error.
        source: MigrateError,
    },
}

/// The message of [`OpenError::InUse`]: this process, or another one.
fn in_use(path: &Path, pid: Option<u32>) -> String {
    let pid = pid.map_or_else(|| "unknown".to_owned(), |pid| pid.to_string());
    if pid == std::process::id().to_string() {
        format!(
            "the database {} is already open in this process (pid {pid})",
            path.display()
        )
    } else {
        format!(
            "the database {} is in use by another assistant-stream process (pid {pid})",
            path.display()
        )
    }
}

/// A SQLite error, said plainly where SQLite's own words are not enough:
/// the source of [`StoreError::Database`]s from this store.
#[derive(Debug, thiserror::Error)]
pub enum SqliteFault {
    /// `SQLITE_FULL`: the database reached its size limit or the disk has
    /// no space left.
    #[error("the database or the disk it is on is full (SQLITE_FULL)")]
    Full(#[source] Arc<sqlx::Error>),
    /// Any other error of SQLite, said in SQLite's words.
    #[error(transparent)]
    Other(Arc<sqlx::Error>),
}

impl SqliteFault {
    /// The error, which may be shared: a group commit's error fails each of
    /// its batches.
    fn new(error: impl Into<Arc<sqlx::Error>>) -> Self {
        let error = error.into();
        match primary_code(&error) {
            Some(SQLITE_FULL) => SqliteFault::Full(error),
            _ => SqliteFault::Other(error),
        }
    }
}

const SQLITE_FULL: i32 = 13;
const SQLITE_NOTADB: i32 = 26;

/// SQLite's primary result code of a database error (without the extended
/// bits).
fn primary_code(error: &sqlx::Error) -> Option<i32> {
    match error {
        sqlx::Error::Database(error) => error
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .map(|code| code & 0xff),
        _ => None,
    }
}

/// A failed database call, with what was being done.
fn fault(action: String, error: impl Into<Arc<sqlx::Error>>) -> StoreError {
    StoreError::database(action, SqliteFault::new(error))
}

/// A count or sequence number as SQLite's integers hold them.
fn to_i64(value: u64, action: impl FnOnce() -> String) -> StoreResult<i64> {
    i64::try_from(value).map_err(|_| {
        StoreError::database(
            action(),
            format!("{value} is past the largest integer SQLite keeps"),
        )
    })
}

/// The lock that makes one process at a time serve a database: an exclusive
/// advisory lock on `PATH.lock`, held while this value lives. The file
/// stays behind when it is released (removing it would let two processes
/// lock two different files of the same name).
#[derive(Debug)]
struct DatabaseLock {
    _file: File,
}

impl DatabaseLock {
    fn acquire(path: &Path) -> Result<Self, OpenError> {
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let io_error = |doing: String| {
            move |source| OpenError::Io {
                path: path.to_owned(),
                doing,
                source,
            }
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_error(format!(
                "cannot open its lock file {}",
                lock_path.display()
            )))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                // The holder writes its pid right after locking: read it to
                // say who holds the database (unknown in that short window).
                let pid = fs::read_to_string(&lock_path)
                    .ok()
                    .and_then(|text| text.trim().parse().ok());
                return Err(OpenError::InUse {
                    path: path.to_owned(),
                    pid,
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(io_error(format!("cannot lock {}", lock_path.display()))(
                    source,
                ));
            }
        }
        file.set_len(0)
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(io_error(format!(
                "cannot write its lock file {}",
                lock_path.display()
            )))?;
        Ok(DatabaseLock { _file: file })
    }
}

/// Refuses a path whose directory is missing or that is a directory, before
/// anything is made.
fn check_path(path: &Path) -> Result<(), OpenError> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    match fs::metadata(parent) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(OpenError::NotInDirectory {
                path: path.to_owned(),
                parent: parent.to_owned(),
            });
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(OpenError::MissingDirectory {
                path: path.to_owned(),
                directory: parent.to_owned(),
            });
        }
        Err(source) => {
            return Err(OpenError::Io {
                path: path.to_owned(),
                doing: format!("cannot read its directory {}", parent.display()),
                source,
            });
        }
    }
    if fs::metadata(path).is_ok_and(|meta| meta.is_dir()) {
        return Err(OpenError::IsDirectory {
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// Refuses a database whose `_sqlx_migrations` holds a version this build
/// does not know. Reads only: such a database is left as it was.
async fn check_schema_version(writer: &mut SqliteConnection, path: &Path) -> Result<(), OpenError> {
    let sqlite_error = |source| sqlite_open_error(path, "cannot read its schema version", source);
    let has_migrations: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master \
         WHERE type = 'table' AND name = '_sqlx_migrations')",
    )
    .fetch_one(&mut *writer)
    .await
    .map_err(sqlite_error)?;
    if !has_migrations {
        return Ok(());
    }
    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut *writer)
        .await
        .map_err(sqlite_error)?;
    let known = known_schema_version();
    match newest {
        Some(found) if found > known => Err(OpenError::NewerSchema {
            path: path.to_owned(),
            found,
            known,
        }),
        _ => Ok(()),
    }
}

/// Checks the schema version, then applies the migrations this database
/// lacks.
async fn migrate(writer: &mut SqliteConnection, path: &Path) -> Result<(), OpenError> {
    check_schema_version(&mut *writer, path).await?;
    migrator().run(writer).await.map_err(|source| match source {
        MigrateError::Execute(source) if primary_code(&source) == Some(SQLITE_NOTADB) => {
            OpenError::NotADatabase {
                path: path.to_owned(),
            }
        }
        source => OpenError::Migrate {
            path: path.to_owned(),
            known: known_schema_version(),
            source,
        },
    })
}

fn sqlite_open_error(path: &Path, doing: &'static str, source: sqlx::Error) -> OpenError {
    if primary_code(&source) == Some(SQLITE_NOTADB) {
        return OpenError::NotADatabase {
            path: path.to_owned(),
        };
    }
    OpenError::Sqlite {
        path: path.to_owned(),
        doing,
        source,
    }
}

/// Assistants as the store last read or wrote them, so that a run does not
/// read its assistant again: an app runs a few assistants many times. The
/// store is the only writer of its file (the lock), so the cache is right
/// as long as every write of an assistant goes through [`wrote`]; a read
/// that raced with a write (begun before it, done after it) is not kept,
/// since it may hold what the write replaced. Bounded: past
/// [`ASSISTANT_CACHE`] assistants it starts afresh.
///
/// [`wrote`]: AssistantCache::wrote
#[derive(Debug, Default)]
struct AssistantCache {
    state: std::sync::Mutex<CachedAssistants>,
}

#[derive(Debug, Default)]
struct CachedAssistants {
    by_id: std::collections::HashMap<String, Assistant>,
    /// Counts the writes, so that a read knows whether one came during it.
    generation: u64,
}

/// The most assistants [`AssistantCache`] holds.
const ASSISTANT_CACHE: usize = 1024;

impl AssistantCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CachedAssistants> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The assistant if cached, and the generation a read from the
    /// database starts at.
    fn get(&self, id: &str) -> (Option<Assistant>, u64) {
        let state = self.lock();
        (state.by_id.get(id).cloned(), state.generation)
    }

    /// An assistant read from the database by a read that started at
    /// `generation`: kept unless an assistant was written meanwhile.
    fn read(&self, assistant: &Assistant, generation: u64) {
        let mut state = self.lock();
        if state.generation == generation {
            state.keep(assistant);
        }
    }

    /// The assistant `id` was written (or its write failed, or it was
    /// deleted: `None`): the cache holds what the file now holds, or
    /// nothing for it.
    fn wrote(&self, id: &str, now: Option<&Assistant>) {
        let mut state = self.lock();
        state.generation += 1;
        match now {
            Some(assistant) => state.keep(assistant),
            None => {
                state.by_id.remove(id);
            }
        }
    }
}

impl CachedAssistants {
    fn keep(&mut self, assistant: &Assistant) {
        if self.by_id.len() >= ASSISTANT_CACHE && !self.by_id.contains_key(&assistant.id) {
            self.by_id.clear();
        }
        self.by_id.insert(assistant.id.clone(), assistant.clone());
    }
}

/// The read-only connections, lent one read at a time: at most
/// [`READERS`], opened as needed and kept.
///
/// Not sqlx's `Pool`: a pool connection pings its connection's thread
/// whenever it goes back to the pool (a round trip, from a task spawned for
/// it, before the connection can be lent again), which made a store read
/// cost twice the round trips it needs. A read whose future is dropped
/// half-way leaves nothing open: sqlx resets the statement when it stops
/// reading it, so the connection goes back as it is.
#[derive(Debug)]
struct Readers {
    connect: SqliteConnectOptions,
    idle: std::sync::Mutex<Vec<SqliteConnection>>,
    permits: Semaphore,
}

/// A read-only connection lent by [`Readers`]; it goes back when dropped.
struct Reading<'a> {
    conn: Option<SqliteConnection>,
    readers: &'a Readers,
    _permit: SemaphorePermit<'a>,
}

impl Readers {
    /// Opens the first connection now, so that a database that cannot be
    /// read fails the store's opening.
    async fn open(connect: SqliteConnectOptions) -> Result<Self, sqlx::Error> {
        let first = SqliteConnection::connect_with(&connect).await?;
        Ok(Readers {
            connect,
            idle: std::sync::Mutex::new(vec![first]),
            permits: Semaphore::new(READERS),
        })
    }

    async fn get(&self) -> Result<Reading<'_>, sqlx::Error> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => SqliteConnection::connect_with(&self.connect).await?,
        };
        Ok(Reading {
            conn: Some(conn),
            readers: self,
            _permit: permit,
        })
    }

    /// Closes the idle connections, and lends no more.
    async fn close(&self) {
        self.permits.close();
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(PoisonError::into_inner));
        for conn in idle {
            let _ = conn.close().await;
        }
    }
}

impl std::ops::Deref for Reading<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        self.conn
            .as_ref()
            .expect("a lent connection until it is dropped")
    }
}

impl std::ops::DerefMut for Reading<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_mut()
            .expect("a lent connection until it is dropped")
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.readers
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
        }
    }
}

/// Checkpoints the WAL (copies its pages into the database file, with the
/// fsyncs that takes) on a connection and task of its own, shortly after
/// writes, so that the writer does not stop for them: with
/// `synchronous = NORMAL` a commit itself does not fsync, and checkpoints
/// would otherwise be half of what a write costs.
#[derive(Debug)]
struct Checkpointer {
    /// One token per write (at most one waits); when the store drops it,
    /// the task ends.
    wrote: mpsc::Sender<()>,
    task: JoinHandle<()>,
}

impl Checkpointer {
    async fn start(connect: &SqliteConnectOptions) -> Result<Self, sqlx::Error> {
        let mut conn = SqliteConnection::connect_with(connect).await?;
        let (wrote, mut writes) = mpsc::channel(1);
        let task = tokio::spawn(async move {
            while writes.recv().await.is_some() {
                tokio::time::sleep(CHECKPOINT_DELAY).await;
                if let Err(error) = checkpoint(&mut conn).await {
                    // The writer's own checkpoints still bound the WAL.
                    tracing::warn!(%error, "checkpointing the SQLite database failed");
                }
            }
            let _ = conn.close().await;
        });
        Ok(Checkpointer { wrote, task })
    }

    async fn stop(self) {
        drop(self.wrote);
        let _ = self.task.await;
    }
}

async fn checkpoint(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    // (busy, pages in the WAL, pages checkpointed)
    let (_, wal_pages, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(&mut *conn)
        .await?;
    if wal_pages > WAL_RESTART_PAGES {
        sqlx::query("PRAGMA wal_checkpoint(RESTART)")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The `seq`s of a page's cursors among a thread's rows, read with `sql`
/// (which binds the thread's id, then the `after` and `before` ids, and
/// says first whether the thread exists): `NotFound` without the thread.
async fn thread_cursors(
    conn: &mut SqliteConnection,
    sql: &'static str,
    thread_id: &str,
    page: &PageQuery,
    action: impl FnOnce() -> String,
) -> StoreResult<(Option<i64>, Option<i64>)> {
    let (thread_exists, after, before): (bool, Option<i64>, Option<i64>) = sqlx::query_as(sql)
        .bind(thread_id)
        .bind(page.after.as_deref())
        .bind(page.before.as_deref())
        .fetch_one(conn)
        .await
        .map_err(|error| fault(action(), error))?;
    if !thread_exists {
        return Err(StoreError::not_found("thread", thread_id));
    }
    Ok((after, before))
}

/// Reads the page `window` gives ([`sql::window_query`]).
async fn read_window<T: DeserializeOwned>(
    window: &Window,
    conn: &mut SqliteConnection,
    sql: (&'static str, &'static str),
    key: Option<&str>,
    filter: Option<&str>,
    action: impl Fn() -> String,
) -> StoreResult<Page<T>> {
    let rows = sql::window_query(window, sql, key, filter)
        .fetch_all(conn)
        .await
        .map_err(|error| fault(action(), error))?;
    window.page(rows, |row| decode(row, &action))
}

/// The SQLite store. See the [module docs](self).
#[derive(Debug)]
pub struct SqliteStore {
    /// Owns the one connection that writes, and writes in groups.
    writer: Writer,
    /// Read-only connections.
    readers: Readers,
    checkpointer: Checkpointer,
    /// Dropped last (fields drop in order): the database is ours until its
    /// connections are let go.
    _lock: DatabaseLock,
    /// Assistants lately read or written, since every run reads its own.
    assistants: AssistantCache,
}

impl SqliteStore {
    /// Opens (making it if missing) the database at `path`. See the
    /// [module docs](self).
    pub async fn open(path: &Path) -> Result<Self, OpenError> {
        Self::open_with(path, SqliteOptions::default()).await
    }

    /// [`SqliteStore::open`] with test settings.
    pub async fn open_with(path: &Path, options: SqliteOptions) -> Result<Self, OpenError> {
        check_path(path)?;
        let lock = DatabaseLock::acquire(path)?;
        // SQLite would open a file it may not write read-only, and fail at
        // the first write: say so now, naming the file. (This makes it if
        // missing.)
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|source| OpenError::Io {
                path: path.to_owned(),
                doing: "cannot open it for reading and writing".to_owned(),
                source,
            })?;
        let mut connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        if let Some(pages) = options.max_page_count {
            connect = connect.pragma("max_page_count", pages.to_string());
        }
        let writer_connect = connect
            .clone()
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            // The checkpointer folds the WAL in; the writer does it only if
            // the checkpointer falls far behind.
            .pragma("wal_autocheckpoint", WRITER_CHECKPOINT_PAGES.to_string())
            // The WAL file shrinks back to this after a restart.
            .pragma("journal_size_limit", WAL_SIZE_LIMIT.to_string())
            // Each shape of commit is a statement list of its own, four
            // ways (first, last, both or neither of its group).
            .statement_cache_capacity(WRITER_STATEMENTS);
        let mut writer = SqliteConnection::connect_with(&writer_connect)
            .await
            .map_err(|source| sqlite_open_error(path, "cannot open it for writing", source))?;
        let rest = async {
            migrate(&mut writer, path).await?;
            let readers = Readers::open(connect.clone().read_only(true))
                .await
                .map_err(|source| sqlite_open_error(path, "cannot open it for reading", source))?;
            let checkpointer = Checkpointer::start(&connect).await.map_err(|source| {
                sqlite_open_error(path, "cannot open it for checkpoints", source)
            });
            match checkpointer {
                Ok(checkpointer) => Ok((readers, checkpointer)),
                Err(error) => {
                    readers.close().await;
                    Err(error)
                }
            }
        }
        .await;
        let (readers, checkpointer) = match rest {
            Ok(rest) => rest,
            Err(error) => {
                // Let the connection go before the lock.
                let _ = writer.close().await;
                return Err(error);
            }
        };
        let writer = Writer::start(writer, writer_connect, checkpointer.wrote.clone());
        Ok(SqliteStore {
            writer,
            readers,
            checkpointer,
            _lock: lock,
            assistants: AssistantCache::default(),
        })
    }

    /// Closes the connections, waiting for them (the writer, last, folds
    /// the WAL into the database file), then releases the lock. Dropping the
    /// store lets the connections close in the background instead.
    #[cfg_attr(not(test), allow(dead_code))] // For the server's shutdown.
    pub async fn close(self) {
        let writer = self.writer.stop().await;
        self.checkpointer.stop().await;
        self.readers.close().await;
        if let Some(writer) = writer {
            // The last connection to close folds the WAL into the file.
            let _ = writer.close().await;
        }
    }

    /// Writes a fixed statement list (its `BEGIN` and `COMMIT` left to the
    /// writer), built as `query` with its values bound; the rows of its
    /// `SELECT`s and `RETURNING`s.
    async fn write_rows<'q>(
        &self,
        mut query: impl Execute<'q, Sqlite>,
        action: impl Fn() -> String,
    ) -> StoreResult<Vec<SqliteRow>> {
        let args = query
            .take_arguments()
            .map_err(|error| StoreError::database(action(), error))?
            .unwrap_or_default();
        self.writer
            .write(WriteList::Fixed(query.sql()), args)
            .await
            .map_err(|failure| failure.into_store_error(action()))
    }

    /// [`write_rows`](Self::write_rows), each row as `O`.
    async fn write<'q, O>(
        &self,
        query: impl Execute<'q, Sqlite>,
        action: impl Fn() -> String,
    ) -> StoreResult<Vec<O>>
    where
        O: for<'r> FromRow<'r, SqliteRow>,
    {
        let rows = self.write_rows(query, &action).await?;
        rows.iter()
            .map(O::from_row)
            .collect::<Result<_, _>>()
            .map_err(|error| fault(action(), error))
    }

    /// Writes the row of `object` `id` with one statement that says what it
    /// wrote (`RETURNING 1`); `NotFound` when it matched no row.
    async fn write_row<'q>(
        &self,
        query: impl Execute<'q, Sqlite>,
        object: &'static str,
        id: &str,
        action: impl Fn() -> String,
    ) -> StoreResult<()> {
        let rows: Vec<(i64,)> = self.write(query, action).await?;
        if rows.is_empty() {
            return Err(StoreError::not_found(object, id));
        }
        Ok(())
    }

    async fn reader(&self, action: impl FnOnce() -> String) -> StoreResult<Reading<'_>> {
        self.readers
            .get()
            .await
            .map_err(|error| fault(action(), error))
    }

    /// Whether the thread exists, and whether the run `run_id` exists on it
    /// (`false` without one).
    async fn found(&self, thread_id: &str, run_id: Option<&str>) -> StoreResult<(bool, bool)> {
        let action = || format!("reading thread {thread_id}");
        sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM threads WHERE id = ?1), \
             EXISTS (SELECT 1 FROM runs WHERE id = ?2 AND thread_id = ?1)",
        )
        .bind(thread_id)
        .bind(run_id)
        .fetch_one(&mut *self.reader(action).await?)
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
}

/// The condition on every write of a commit: the run exists on its thread
/// (binds the run's id, then the thread's).
const RUN_EXISTS: &str = "EXISTS (SELECT 1 FROM runs WHERE id = ? AND thread_id = ?)";

/// The statement list of a commit of `steps` steps and `messages` messages,
/// with or without events, a run record and its end: sent to SQLite at once,
/// so that a commit costs one round trip to the writer's thread whatever it
/// holds. Each row is its own `INSERT` with its values bound (`?`, bound in
/// order across the list's statements: see [`bind_commit`]); the list
/// depends only on the batch's shape, so that each shape is prepared once.
/// Every write is conditional on the run existing on its thread, so a batch
/// for a deleted thread or run writes nothing; the final `SELECT` says which
/// was missing.
///
/// The upserts keep a replaced step's or message's `seq` (its place in
/// lists). The events go as one row (`run_event_chunks`). A run left
/// terminal gets `ended_at` once (`ends_at`, the time, is `NULL` unless the
/// new status is terminal), and unlocks its thread if it held it; the thread
/// is updated first, while `ended_at` still says whether the run ends now.
fn commit_sql(shape: CommitShape, begin: bool, commit: bool) -> String {
    let CommitShape {
        steps,
        messages,
        events,
        run,
        ends,
    } = shape;
    let mut sql = String::with_capacity(1024);
    if begin {
        sql.push_str("BEGIN IMMEDIATE;\n");
    }
    for _ in 0..steps {
        sql.push_str(
            "INSERT INTO run_steps (id, run_id, thread_id, object) SELECT ?, ?, ?, ? WHERE ",
        );
        sql.push_str(RUN_EXISTS);
        sql.push_str(" ON CONFLICT (id) DO UPDATE SET object = excluded.object;\n");
    }
    for _ in 0..messages {
        sql.push_str(
            "INSERT INTO messages (id, thread_id, run_id, object) SELECT ?, ?, ?, ? WHERE ",
        );
        sql.push_str(RUN_EXISTS);
        // Not `run_id`: a run writes only its own messages, and assigning an
        // indexed column rewrites its index entry (a WAL page more).
        sql.push_str(" ON CONFLICT (id) DO UPDATE SET object = excluded.object;\n");
    }
    if events {
        sql.push_str(
            "INSERT INTO run_event_chunks (run_id, first_seq, last_seq, events, body, body_lz4) \
             SELECT ?, ?, ?, ?, '', ? WHERE ",
        );
        sql.push_str(RUN_EXISTS);
        sql.push_str(";\n");
    }
    if run {
        if ends {
            sql.push_str(
                "UPDATE threads SET active_run_id = NULL WHERE id = ? AND active_run_id = ? \
                 AND EXISTS (SELECT 1 FROM runs WHERE id = ? AND thread_id = ? AND ended_at IS NULL);\n",
            );
        }
        // Only a commit that ends the run assigns `ended_at`: assigning it
        // revisits the partial indexes on it (a WAL page) even unchanged.
        sql.push_str(if ends {
            "UPDATE runs SET status = ?, progress = ?, object = ?, \
             ended_at = COALESCE(ended_at, ?) WHERE id = ? AND thread_id = ?;\n"
        } else {
            "UPDATE runs SET status = ?, progress = ?, object = ? \
             WHERE id = ? AND thread_id = ?;\n"
        });
    }
    sql.push_str(
        "SELECT EXISTS (SELECT 1 FROM threads WHERE id = ?), \
         EXISTS (SELECT 1 FROM runs WHERE id = ? AND thread_id = ?);\n",
    );
    if commit {
        sql.push_str("COMMIT;");
    }
    sql
}

/// What a commit's statement list holds ([`commit_sql`]).
#[derive(Clone, Copy, Debug)]
struct CommitShape {
    steps: usize,
    messages: usize,
    events: bool,
    run: bool,
    /// The run becomes terminal.
    ends: bool,
}

/// The most writes one group commit holds.
const GROUP_MAX: usize = 256;

/// A write's statement list, without the `BEGIN IMMEDIATE` and `COMMIT`
/// that the [`Writer`] puts around its group.
#[derive(Debug)]
enum WriteList {
    /// A fixed list ([`INSERT_RUN`], an `UPDATE`, ...).
    Fixed(SqlStr),
    /// A run's commit, of this shape ([`commit_sql`]).
    Commit(CommitShape),
}

impl WriteList {
    /// The list as it runs: opening the group's transaction if it comes
    /// first, committing it if it comes last.
    fn sql(&self, begin: bool, commit: bool) -> String {
        match self {
            WriteList::Commit(shape) => commit_sql(*shape, begin, commit),
            WriteList::Fixed(list) => {
                let list = list.as_str();
                let mut sql = String::with_capacity(list.len() + 32);
                if begin {
                    sql.push_str("BEGIN IMMEDIATE;\n");
                }
                sql.push_str(list);
                if commit {
                    if !list.trim_end().ends_with(';') {
                        sql.push(';');
                    }
                    sql.push_str("\nCOMMIT;");
                }
                sql
            }
        }
    }
}

/// Why a write was not made.
#[derive(Debug)]
enum WriteFailure {
    /// SQLite failed it, or the group it was in.
    Sqlite(Arc<sqlx::Error>),
    /// It waited [`WRITE_QUEUE_TIMEOUT`] for the writer (stuck on the
    /// file's lock, say) and was dropped unwritten.
    Expired,
    /// The store is closing.
    Stopped,
}

impl WriteFailure {
    fn into_store_error(self, action: String) -> StoreError {
        match self {
            WriteFailure::Sqlite(error) => fault(action, error),
            WriteFailure::Expired => StoreError::database(
                action,
                format!(
                    "the write waited {} s for the database's writer and was not made",
                    WRITE_QUEUE_TIMEOUT.as_secs()
                ),
            ),
            WriteFailure::Stopped => StoreError::database(action, "the store is closing"),
        }
    }
}

/// What a write's `SELECT`s (or `RETURNING`s) returned.
type WriteReply = Result<Vec<SqliteRow>, WriteFailure>;

/// A write waiting for the [`Writer`]: its statement list and values, and
/// where its rows go.
struct WriteJob {
    list: WriteList,
    args: SqliteArguments,
    /// When the write stops waiting and fails unwritten.
    deadline: Instant,
    reply: oneshot::Sender<WriteReply>,
}

/// Every write of the store goes through one task that owns the one
/// connection that writes (SQLite has one writer at a time anyway). It
/// takes all the writes waiting (up to [`GROUP_MAX`]) and writes them in
/// one transaction, so that under load the fixed cost of a transaction (the
/// WAL's locks and commit, and the WAL pages several writes share, written
/// once) is paid once per group.
///
/// Each write's statement list runs as it would alone: the first opens
/// the group's transaction and the last commits it, so a write costs no
/// round trip of its own to the connection's thread. Every list is made so
/// that it cannot fail short of a database fault: each writes only if
/// what it writes under still exists, and says with a `SELECT` what it
/// found. A fault rolls the group back and fails each of its writes with
/// it; a write gets its rows only once its group committed.
///
/// The task is never cancelled half-way through a group (a request whose
/// client goes away only drops its wait for the reply), so a transaction
/// is never left open. Should a rollback fail, the connection is closed,
/// which rolls back for certain, and a fresh one is opened for the next
/// group.
#[derive(Debug)]
struct Writer {
    jobs: mpsc::UnboundedSender<WriteJob>,
    /// Ends with the connection, once every job is written.
    task: JoinHandle<Option<SqliteConnection>>,
}

impl Writer {
    fn start(
        conn: SqliteConnection,
        connect: SqliteConnectOptions,
        wrote: mpsc::Sender<()>,
    ) -> Self {
        let (jobs, mut queue) = mpsc::unbounded_channel::<WriteJob>();
        let task = tokio::spawn(async move {
            let mut conn = Some(conn);
            let mut group = Vec::new();
            while let Some(first) = queue.recv().await {
                group.push(first);
                while group.len() < GROUP_MAX {
                    match queue.try_recv() {
                        Ok(job) => group.push(job),
                        Err(_) => break,
                    }
                }
                let now = Instant::now();
                for job in group.extract_if(.., |job| job.deadline <= now) {
                    let _ = job.reply.send(Err(WriteFailure::Expired));
                }
                if group.is_empty() {
                    continue;
                }
                // A checkpoint will follow.
                let _ = wrote.try_send(());
                let result = match conn.as_mut() {
                    Some(conn) => write_group(conn, &mut group).await,
                    None => match SqliteConnection::connect_with(&connect).await {
                        Ok(fresh) => write_group(conn.insert(fresh), &mut group).await,
                        Err(error) => Err(GroupFailure {
                            error,
                            rolled_back: true,
                        }),
                    },
                };
                match result {
                    Ok(rows) => {
                        for (job, rows) in group.drain(..).zip(rows) {
                            let _ = job.reply.send(Ok(rows));
                        }
                    }
                    Err(GroupFailure { error, rolled_back }) => {
                        if !rolled_back && let Some(broken) = conn.take() {
                            let _ = broken.close_hard().await;
                        }
                        let error = Arc::new(error);
                        for job in group.drain(..) {
                            let _ = job
                                .reply
                                .send(Err(WriteFailure::Sqlite(Arc::clone(&error))));
                        }
                    }
                }
            }
            conn
        });
        Writer { jobs, task }
    }

    /// Writes `list` with `args` (in its group's transaction); its rows.
    async fn write(&self, list: WriteList, args: SqliteArguments) -> WriteReply {
        let (reply, replied) = oneshot::channel();
        let job = WriteJob {
            list,
            args,
            deadline: Instant::now() + WRITE_QUEUE_TIMEOUT,
            reply,
        };
        self.jobs.send(job).map_err(|_| WriteFailure::Stopped)?;
        replied.await.map_err(|_| WriteFailure::Stopped)?
    }

    /// Writes what was queued, and stops; the connection, to close.
    async fn stop(self) -> Option<SqliteConnection> {
        drop(self.jobs);
        self.task.await.ok().flatten()
    }
}

/// A group that failed, and whether its transaction is known to be rolled
/// back (if not, the connection is closed).
struct GroupFailure {
    error: sqlx::Error,
    rolled_back: bool,
}

/// Writes a group in one transaction; returns each write's rows.
async fn write_group(
    conn: &mut SqliteConnection,
    group: &mut [WriteJob],
) -> Result<Vec<Vec<SqliteRow>>, GroupFailure> {
    let last = group.len() - 1;
    let mut rows = Vec::with_capacity(group.len());
    for (at, job) in group.iter_mut().enumerate() {
        let sql = job.list.sql(at == 0, at == last);
        let args = std::mem::take(&mut job.args);
        // All of it: `fetch_one` would stop before the `COMMIT`.
        match sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
            .fetch_all(&mut *conn)
            .await
        {
            Ok(found) => rows.push(found),
            Err(error) => {
                // SQLite may have rolled back on its own (`SQLITE_FULL` can),
                // and then this fails: the connection is closed, to be sure.
                let rolled_back = sqlx::query("ROLLBACK").execute(&mut *conn).await.is_ok();
                return Err(GroupFailure { error, rolled_back });
            }
        }
    }
    Ok(rows)
}

/// A commit's events as `run_event_chunks.body` holds them: each as
/// `SEQ EVENT_LEN DATA_LEN\n`, then the event name and its data.
fn pack_events(events: &[StoredEvent]) -> String {
    use std::fmt::Write as _;
    let size = events
        .iter()
        .map(|event| event.event.len() + event.data.len() + 16)
        .sum();
    let mut body = String::with_capacity(size);
    for event in events {
        // Writing to a String cannot fail.
        let _ = writeln!(
            body,
            "{} {} {}",
            event.seq,
            event.event.len(),
            event.data.len()
        );
        body.push_str(&event.event);
        body.push_str(&event.data);
    }
    body
}

/// A commit's events as `run_event_chunks.body_lz4` holds them: packed
/// ([`pack_events`]), then compressed as an LZ4 block with its size first.
fn compress_events(events: &[StoredEvent]) -> Vec<u8> {
    lz4_flex::block::compress_prepend_size(pack_events(events).as_bytes())
}

/// The largest chunk [`decompress_events`] unpacks: a chunk holds at most
/// the events of one commit of a run (a few hundred), so a size past this
/// is a corrupt one, not a reason to allocate.
const MAX_CHUNK_BYTES: usize = 1 << 30;

/// The packed events of a `body_lz4` ([`compress_events`]); `None` if it is
/// not one that function wrote.
fn decompress_events(compressed: &[u8]) -> Option<String> {
    let (size, block) = lz4_flex::block::uncompressed_size(compressed).ok()?;
    if size > MAX_CHUNK_BYTES {
        return None;
    }
    let packed = lz4_flex::block::decompress(block, size).ok()?;
    String::from_utf8(packed).ok()
}

/// The events of a chunk's `body` ([`pack_events`]) with a sequence number
/// above `after`, onto `out` until it holds `limit`. `None` if the body is
/// not one `pack_events` wrote.
fn unpack_events(body: &str, after: u64, limit: usize, out: &mut Vec<StoredEvent>) -> Option<()> {
    let mut rest = body;
    while !rest.is_empty() && out.len() < limit {
        let (header, tail) = rest.split_once('\n')?;
        let mut fields = header.splitn(3, ' ');
        let seq: u64 = fields.next()?.parse().ok()?;
        let event_len: usize = fields.next()?.parse().ok()?;
        let data_len: usize = fields.next()?.parse().ok()?;
        let end = event_len.checked_add(data_len)?;
        let event = tail.get(..event_len)?;
        let data = tail.get(event_len..end)?;
        rest = tail.get(end..)?;
        if seq > after {
            out.push(StoredEvent {
                seq,
                event: event.to_owned(),
                data: data.to_owned(),
            });
        }
    }
    Some(())
}

/// A new thread with its first messages (`?3`, a JSON array of
/// `[id, run_id, object]`), in one round trip. Each statement binds every
/// parameter through `t`: sqlx binds a statement list's numbered parameters
/// right only when no statement skips one (after a gap it stops binding, and
/// leaves the rest `NULL`). Anonymous `?`s, as [`commit_sql`] has, are
/// bound in order across the list.
const INSERT_THREAD: &str = "\
WITH t (id, object, messages) AS (SELECT ?1, ?2, ?3)
    INSERT INTO threads (id, object) SELECT id, object FROM t;
WITH t (id, object, messages) AS (SELECT ?1, ?2, ?3)
    INSERT INTO messages (id, thread_id, run_id, object)
    SELECT m.value ->> 0, t.id, m.value ->> 1, m.value ->> 2
    FROM t, jsonb_each(t.messages) m ORDER BY m.key;";

/// A new message on an unlocked thread, in one round trip. It is written
/// only if the thread exists without an active run; the `SELECT` says what
/// the thread was.
const INSERT_MESSAGE: &str = "\
WITH m (thread_id, id, run_id, object) AS (SELECT ?1, ?2, ?3, ?4)
    INSERT INTO messages (id, thread_id, run_id, object)
    SELECT id, thread_id, run_id, object FROM m
    WHERE EXISTS (SELECT 1 FROM threads WHERE id = m.thread_id AND active_run_id IS NULL);
WITH m (thread_id, id, run_id, object) AS (SELECT ?1, ?2, ?3, ?4)
    SELECT EXISTS (SELECT 1 FROM threads WHERE id = m.thread_id),
    (SELECT active_run_id FROM threads WHERE id = m.thread_id) FROM m;";

/// A new run with the messages it adds (`?7`), locking its thread, in one
/// round trip. The first `SELECT` says what the thread was; everything after
/// it is written only if the thread existed without an active run. The
/// last reads the thread's messages back, for the run's first turn.
macro_rules! with_run {
    ($statement:literal) => {
        concat!(
            "WITH r (thread_id, run_id, status, created_at, progress, object, messages) \
             AS (SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7) ",
            $statement,
            ";\n"
        )
    };
}
const INSERT_RUN: &str = concat!(
    with_run!(
        "SELECT EXISTS (SELECT 1 FROM threads WHERE id = r.thread_id), \
         (SELECT active_run_id FROM threads WHERE id = r.thread_id) FROM r"
    ),
    with_run!(
        "INSERT INTO messages (id, thread_id, run_id, object) \
         SELECT m.value ->> 0, r.thread_id, m.value ->> 1, m.value ->> 2 \
         FROM r, jsonb_each(r.messages) m \
         WHERE EXISTS (SELECT 1 FROM threads WHERE id = r.thread_id AND active_run_id IS NULL) \
         ORDER BY m.key"
    ),
    with_run!(
        "INSERT INTO runs (id, thread_id, status, created_at, progress, object) \
         SELECT run_id, thread_id, status, created_at, progress, object FROM r \
         WHERE EXISTS (SELECT 1 FROM threads WHERE id = r.thread_id AND active_run_id IS NULL)"
    ),
    with_run!(
        "UPDATE threads SET active_run_id = r.run_id FROM r \
         WHERE threads.id = r.thread_id AND threads.active_run_id IS NULL"
    ),
    // What the run's first turn shows the model (read only if the run is
    // this one: a refused run reads nothing).
    with_run!(
        "SELECT m.object FROM r JOIN messages m ON m.thread_id = r.thread_id \
         WHERE EXISTS (SELECT 1 FROM threads WHERE id = r.thread_id AND active_run_id = r.run_id) \
         ORDER BY m.seq"
    ),
);

/// `Ok` if the thread was there without an active run (`state`: whether it
/// exists, and its active run), as [`INSERT_MESSAGE`] and [`INSERT_RUN`]
/// report it.
fn unlocked(
    state: Option<&(bool, Option<String>)>,
    thread_id: &str,
    action: impl FnOnce() -> String,
) -> StoreResult<()> {
    match state {
        Some((true, None)) => Ok(()),
        Some((true, Some(run_id))) => Err(StoreError::ThreadLocked {
            thread_id: thread_id.to_owned(),
            run_id: run_id.clone(),
        }),
        Some((false, _)) => Err(StoreError::not_found("thread", thread_id)),
        None => Err(StoreError::database(
            action(),
            "the thread's state was not read back",
        )),
    }
}

/// Messages as the statement lists take them: `[[id, run_id, object], ...]`.
fn encode_messages(messages: &[Message], action: impl Fn() -> String) -> StoreResult<String> {
    let rows = messages
        .iter()
        .map(|message| {
            Ok((
                message.id.as_str(),
                message.run_id.as_deref(),
                encode(message, &action)?,
            ))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    encode(&rows, action)
}

#[async_trait::async_trait]
impl AssistantStore for SqliteStore {
    async fn insert_assistant(&self, assistant: &Assistant) -> StoreResult<()> {
        let action = || format!("writing assistant {}", assistant.id);
        let query = sqlx::query("INSERT INTO assistants (id, object) VALUES (?1, ?2)")
            .bind(&assistant.id)
            .bind(encode(assistant, action)?);
        let written = self.write::<()>(query, action).await.map(drop);
        self.assistants
            .wrote(&assistant.id, written.is_ok().then_some(assistant));
        written
    }

    async fn assistant(&self, id: &str) -> StoreResult<Assistant> {
        let (cached, generation) = self.assistants.get(id);
        if let Some(assistant) = cached {
            return Ok(assistant);
        }
        let action = || format!("reading assistant {id}");
        let object: Option<String> =
            sqlx::query_scalar("SELECT object FROM assistants WHERE id = ?1")
                .bind(id)
                .fetch_optional(&mut *self.reader(action).await?)
                .await
                .map_err(|error| fault(action(), error))?;
        match object {
            Some(object) => {
                let assistant: Assistant = decode(&object, action)?;
                self.assistants.read(&assistant, generation);
                Ok(assistant)
            }
            None => Err(StoreError::not_found("assistant", id)),
        }
    }

    async fn update_assistant(&self, assistant: &Assistant) -> StoreResult<()> {
        let action = || format!("writing assistant {}", assistant.id);
        let query = sqlx::query("UPDATE assistants SET object = ?2 WHERE id = ?1 RETURNING 1")
            .bind(&assistant.id)
            .bind(encode(assistant, action)?);
        let written = self
            .write_row(query, "assistant", &assistant.id, action)
            .await;
        self.assistants
            .wrote(&assistant.id, written.is_ok().then_some(assistant));
        written
    }

    async fn delete_assistant(&self, id: &str) -> StoreResult<()> {
        let query = sqlx::query("DELETE FROM assistants WHERE id = ?1 RETURNING 1").bind(id);
        let written = self
            .write_row(query, "assistant", id, || {
                format!("deleting assistant {id}")
            })
            .await;
        self.assistants.wrote(id, None);
        written
    }

    async fn list_assistants(&self, page: &PageQuery) -> StoreResult<Page<Assistant>> {
        let action = || "listing assistants".to_owned();
        let mut conn = self.reader(action).await?;
        let (after, before): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT seq FROM assistants WHERE id = ?1), \
             (SELECT seq FROM assistants WHERE id = ?2)",
        )
        .bind(page.after.as_deref())
        .bind(page.before.as_deref())
        .fetch_one(&mut *conn)
        .await
        .map_err(|error| fault(action(), error))?;
        let window = Window::new(page, after, before)?;
        let sql = (
            "SELECT object FROM assistants WHERE seq > ?1 AND seq < ?2 ORDER BY seq ASC LIMIT ?3",
            "SELECT object FROM assistants WHERE seq > ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
        );
        read_window(&window, &mut conn, sql, None, None, action).await
    }
}

#[async_trait::async_trait]
impl ThreadStore for SqliteStore {
    async fn insert_thread(&self, thread: &Thread, messages: &[Message]) -> StoreResult<()> {
        let action = || format!("writing thread {}", thread.id);
        let list = sqlx::query(INSERT_THREAD)
            .bind(&thread.id)
            .bind(encode(thread, action)?)
            .bind(encode_messages(messages, action)?);
        self.write::<()>(list, action).await?;
        Ok(())
    }

    async fn thread(&self, id: &str) -> StoreResult<ThreadRecord> {
        let action = || format!("reading thread {id}");
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT object, active_run_id FROM threads WHERE id = ?1")
                .bind(id)
                .fetch_optional(&mut *self.reader(action).await?)
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
        let action = || format!("writing thread {}", thread.id);
        let query = sqlx::query("UPDATE threads SET object = ?2 WHERE id = ?1 RETURNING 1")
            .bind(&thread.id)
            .bind(encode(thread, action)?);
        self.write_row(query, "thread", &thread.id, action).await
    }

    async fn delete_thread(&self, id: &str) -> StoreResult<()> {
        // The foreign keys delete its messages, runs, steps and events, in
        // the statement's own transaction.
        let query = sqlx::query("DELETE FROM threads WHERE id = ?1 RETURNING 1").bind(id);
        self.write_row(query, "thread", id, || format!("deleting thread {id}"))
            .await
    }

    async fn insert_message(&self, message: &Message) -> StoreResult<()> {
        let action = || format!("writing message {}", message.id);
        let list = sqlx::query(INSERT_MESSAGE)
            .bind(&message.thread_id)
            .bind(&message.id)
            .bind(&message.run_id)
            .bind(encode(message, action)?);
        let state: Vec<(bool, Option<String>)> = self.write(list, action).await?;
        unlocked(state.last(), &message.thread_id, action)
    }

    async fn message(&self, thread_id: &str, id: &str) -> StoreResult<Message> {
        let action = || format!("reading message {id}");
        let object: Option<String> =
            sqlx::query_scalar("SELECT object FROM messages WHERE id = ?2 AND thread_id = ?1")
                .bind(thread_id)
                .bind(id)
                .fetch_optional(&mut *self.reader(action).await?)
                .await
                .map_err(|error| fault(action(), error))?;
        match object {
            Some(object) => decode(&object, action),
            None => Err(self.missing(thread_id, None, "message", id).await),
        }
    }

    async fn update_message(&self, message: &Message) -> StoreResult<()> {
        let action = || format!("writing message {}", message.id);
        let query = sqlx::query(
            "UPDATE messages SET run_id = ?3, object = ?4 WHERE id = ?2 AND thread_id = ?1 \
             RETURNING 1",
        )
        .bind(&message.thread_id)
        .bind(&message.id)
        .bind(&message.run_id)
        .bind(encode(message, action)?);
        let done: Vec<(i64,)> = self.write(query, action).await?;
        if done.is_empty() {
            return Err(self
                .missing(&message.thread_id, None, "message", &message.id)
                .await);
        }
        Ok(())
    }

    async fn delete_message(&self, thread_id: &str, id: &str) -> StoreResult<()> {
        let query =
            sqlx::query("DELETE FROM messages WHERE id = ?2 AND thread_id = ?1 RETURNING 1")
                .bind(thread_id)
                .bind(id);
        let done: Vec<(i64,)> = self
            .write(query, || format!("deleting message {id}"))
            .await?;
        if done.is_empty() {
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
        let mut conn = self.reader(action).await?;
        // The cursors need not pass the run filter (as in the memory store).
        let (after, before) = thread_cursors(
            &mut conn,
            "SELECT EXISTS (SELECT 1 FROM threads WHERE id = ?1), \
             (SELECT seq FROM messages WHERE thread_id = ?1 AND id = ?2), \
             (SELECT seq FROM messages WHERE thread_id = ?1 AND id = ?3)",
            thread_id,
            page,
            action,
        )
        .await?;
        let window = Window::new(page, after, before)?;
        // `messages_by_thread` holds the run id: a list filtered by run
        // tests it in the index, and reads only the rows it returns.
        let sql = match run_id {
            None => (
                "SELECT object FROM messages WHERE thread_id = ?1 AND seq > ?2 AND seq < ?3 \
                 ORDER BY seq ASC LIMIT ?4",
                "SELECT object FROM messages WHERE thread_id = ?1 AND seq > ?2 AND seq < ?3 \
                 ORDER BY seq DESC LIMIT ?4",
            ),
            Some(_) => (
                "SELECT object FROM messages WHERE thread_id = ?1 AND seq > ?2 AND seq < ?3 \
                 AND run_id = ?5 ORDER BY seq ASC LIMIT ?4",
                "SELECT object FROM messages WHERE thread_id = ?1 AND seq > ?2 AND seq < ?3 \
                 AND run_id = ?5 ORDER BY seq DESC LIMIT ?4",
            ),
        };
        read_window(&window, &mut conn, sql, Some(thread_id), run_id, action).await
    }

    async fn thread_messages(&self, thread_id: &str) -> StoreResult<Vec<Message>> {
        let action = || format!("reading the messages of thread {thread_id}");
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT object FROM messages WHERE thread_id = ?1 ORDER BY seq")
                .bind(thread_id)
                .fetch_all(&mut *self.reader(action).await?)
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
impl RunStore for SqliteStore {
    async fn insert_run(&self, run: &RunRecord, messages: &[Message]) -> StoreResult<Vec<Message>> {
        let action = || format!("writing run {}", run.run.id);
        let list = sqlx::query(INSERT_RUN)
            .bind(&run.run.thread_id)
            .bind(&run.run.id)
            .bind(run.run.status.as_str())
            .bind(run.run.created_at)
            .bind(encode(&run.progress, action)?)
            .bind(encode(&run.run, action)?)
            .bind(encode_messages(messages, action)?);
        let rows = self.write_rows(list, action).await?;
        // The thread's state, then its messages' objects.
        let state: Option<(bool, Option<String>)> = match rows.first() {
            Some(row) => Some(FromRow::from_row(row).map_err(|error| fault(action(), error))?),
            None => None,
        };
        unlocked(state.as_ref(), &run.run.thread_id, action)?;
        rows.iter()
            .skip(1)
            .map(|row| {
                let (object,): (String,) =
                    FromRow::from_row(row).map_err(|error| fault(action(), error))?;
                decode(&object, action)
            })
            .collect()
    }

    async fn run(&self, thread_id: &str, run_id: &str) -> StoreResult<RunRecord> {
        let action = || format!("reading run {run_id}");
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT object, progress FROM runs WHERE id = ?2 AND thread_id = ?1")
                .bind(thread_id)
                .bind(run_id)
                .fetch_optional(&mut *self.reader(action).await?)
                .await
                .map_err(|error| fault(action(), error))?;
        match row {
            Some((object, progress)) => run_record(&object, &progress, run_id),
            None => Err(self.missing(thread_id, None, "run", run_id).await),
        }
    }

    async fn list_runs(&self, thread_id: &str, page: &PageQuery) -> StoreResult<Page<Run>> {
        let action = || format!("listing the runs of thread {thread_id}");
        let mut conn = self.reader(action).await?;
        let (after, before) = thread_cursors(
            &mut conn,
            "SELECT EXISTS (SELECT 1 FROM threads WHERE id = ?1), \
             (SELECT seq FROM runs WHERE thread_id = ?1 AND id = ?2), \
             (SELECT seq FROM runs WHERE thread_id = ?1 AND id = ?3)",
            thread_id,
            page,
            action,
        )
        .await?;
        let window = Window::new(page, after, before)?;
        let sql = (
            "SELECT object FROM runs WHERE thread_id = ?1 AND seq > ?2 AND seq < ?3 \
             ORDER BY seq ASC LIMIT ?4",
            "SELECT object FROM runs WHERE thread_id = ?1 AND seq > ?2 AND seq < ?3 \
             ORDER BY seq DESC LIMIT ?4",
        );
        read_window(&window, &mut conn, sql, Some(thread_id), None, action).await
    }

    async fn step(&self, thread_id: &str, run_id: &str, step_id: &str) -> StoreResult<RunStep> {
        let action = || format!("reading run step {step_id}");
        let object: Option<String> = sqlx::query_scalar(
            "SELECT s.object FROM run_steps s JOIN runs r ON r.id = s.run_id \
             WHERE s.id = ?3 AND s.run_id = ?2 AND r.thread_id = ?1",
        )
        .bind(thread_id)
        .bind(run_id)
        .bind(step_id)
        .fetch_optional(&mut *self.reader(action).await?)
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
        let mut conn = self.reader(action).await?;
        let (thread_exists, run_exists, after, before): (bool, bool, Option<i64>, Option<i64>) =
            sqlx::query_as(
                "SELECT EXISTS (SELECT 1 FROM threads WHERE id = ?1), \
                 EXISTS (SELECT 1 FROM runs WHERE id = ?2 AND thread_id = ?1), \
                 (SELECT seq FROM run_steps WHERE run_id = ?2 AND id = ?3), \
                 (SELECT seq FROM run_steps WHERE run_id = ?2 AND id = ?4)",
            )
            .bind(thread_id)
            .bind(run_id)
            .bind(page.after.as_deref())
            .bind(page.before.as_deref())
            .fetch_one(&mut *conn)
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
            "SELECT object FROM run_steps WHERE run_id = ?1 AND seq > ?2 AND seq < ?3 \
             ORDER BY seq ASC LIMIT ?4",
            "SELECT object FROM run_steps WHERE run_id = ?1 AND seq > ?2 AND seq < ?3 \
             ORDER BY seq DESC LIMIT ?4",
        );
        read_window(&window, &mut conn, sql, Some(run_id), None, action).await
    }

    async fn run_steps(&self, thread_id: &str, run_id: &str) -> StoreResult<Vec<RunStep>> {
        let action = || format!("reading the steps of run {run_id}");
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT s.object FROM run_steps s JOIN runs r ON r.id = s.run_id \
             WHERE s.run_id = ?2 AND r.thread_id = ?1 ORDER BY s.seq",
        )
        .bind(thread_id)
        .bind(run_id)
        .fetch_all(&mut *self.reader(action).await?)
        .await
        .map_err(|error| fault(action(), error))?;
        if rows.is_empty() {
            self.check_run(thread_id, run_id).await?;
        }
        rows.iter().map(|row| decode(row, action)).collect()
    }

    async fn commit(&self, batch: &RunBatch) -> StoreResult<()> {
        let action = || format!("writing run {}", batch.run_id);
        let (thread_id, run_id) = (batch.thread_id.as_str(), batch.run_id.as_str());
        let steps = batch
            .steps
            .iter()
            .map(|step| encode(step, action))
            .collect::<StoreResult<Vec<_>>>()?;
        let messages = batch
            .messages
            .iter()
            .map(|message| encode(message, action))
            .collect::<StoreResult<Vec<_>>>()?;
        let run = match &batch.run {
            Some(record) => Some((
                record.run.status.as_str(),
                encode(&record.progress, action)?,
                encode(&record.run, action)?,
            )),
            None => None,
        };
        let ends_at = batch
            .run
            .as_ref()
            .is_some_and(|record| record.run.status.is_terminal())
            .then(now);
        let shape = CommitShape {
            steps: steps.len(),
            messages: messages.len(),
            events: !batch.events.is_empty(),
            run: run.is_some(),
            ends: ends_at.is_some(),
        };
        let mut args = SqliteArguments::default();
        macro_rules! bind {
            ($($value:expr),+ $(,)?) => {
                $(args.add($value).map_err(|error| StoreError::database(action(), error))?;)+
            };
        }
        for (step, object) in batch.steps.iter().zip(steps) {
            bind!(
                step.id.as_str(),
                run_id,
                thread_id,
                object,
                run_id,
                thread_id
            );
        }
        for (message, object) in batch.messages.iter().zip(messages) {
            bind!(
                message.id.as_str(),
                thread_id,
                message.run_id.as_deref(),
                object,
                run_id,
                thread_id,
            );
        }
        if let (Some(first), Some(last)) = (batch.events.first(), batch.events.last()) {
            bind!(
                run_id,
                to_i64(first.seq, action)?,
                to_i64(last.seq, action)?,
                to_i64(batch.events.len() as u64, action)?,
                compress_events(&batch.events),
                run_id,
                thread_id,
            );
        }
        if let Some((status, progress, object)) = run {
            match ends_at {
                Some(ends_at) => {
                    bind!(thread_id, run_id, run_id, thread_id);
                    bind!(status, progress, object, ends_at, run_id, thread_id);
                }
                None => {
                    bind!(status, progress, object, run_id, thread_id);
                }
            }
        }
        bind!(thread_id, run_id, thread_id);
        let rows = self
            .writer
            .write(WriteList::Commit(shape), args)
            .await
            .map_err(|failure| failure.into_store_error(action()))?;
        let row: Option<(bool, bool)> = match rows.last() {
            Some(row) => Some(FromRow::from_row(row).map_err(|error| fault(action(), error))?),
            None => None,
        };
        match row {
            Some((true, true)) => Ok(()),
            Some((true, false)) => Err(StoreError::not_found("run", &batch.run_id)),
            Some((false, _)) => Err(StoreError::not_found("thread", &batch.thread_id)),
            None => Err(StoreError::database(
                action(),
                "the commit's final SELECT returned no row",
            )),
        }
    }

    async fn unfinished_runs(&self) -> StoreResult<Vec<RunRecord>> {
        let action = || "reading the unfinished runs".to_owned();
        let rows: Vec<(String, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT id, object, progress, \
             (SELECT MAX(last_seq) FROM run_event_chunks WHERE run_id = runs.id) \
             FROM runs WHERE ended_at IS NULL ORDER BY created_at, seq",
        )
        .fetch_all(&mut *self.reader(action).await?)
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
impl EventLog for SqliteStore {
    async fn events_after(
        &self,
        thread_id: &str,
        run_id: &str,
        after: u64,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        let action = || format!("reading the events of run {run_id}");
        let rows: Vec<(String, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT c.body, c.body_lz4 FROM run_event_chunks c JOIN runs r ON r.id = c.run_id \
             WHERE c.run_id = ?2 AND r.thread_id = ?1 AND c.last_seq > ?3 \
             ORDER BY c.last_seq LIMIT ?4",
        )
        .bind(thread_id)
        .bind(run_id)
        // Past SQLite's integers, no event can follow.
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        // Each chunk read holds at least one event past `after` (its last).
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *self.reader(action).await?)
        .await
        .map_err(|error| fault(action(), error))?;
        if rows.is_empty() {
            self.check_run(thread_id, run_id).await?;
        }
        let mut events = Vec::new();
        let corrupt = || StoreError::database(action(), "an event chunk is corrupt");
        for (body, compressed) in &rows {
            if events.len() >= limit {
                break;
            }
            match compressed {
                Some(compressed) => {
                    let body = decompress_events(compressed).ok_or_else(corrupt)?;
                    unpack_events(&body, after, limit, &mut events)
                }
                None => unpack_events(body, after, limit, &mut events),
            }
            .ok_or_else(corrupt)?;
        }
        Ok(events)
    }

    async fn prune_events(&self, ended_before: i64) -> StoreResult<u64> {
        let query = sqlx::query(
            "DELETE FROM run_event_chunks \
             WHERE run_id IN (SELECT id FROM runs WHERE ended_at < ?1) RETURNING events",
        )
        .bind(ended_before);
        let rows: Vec<(i64,)> = self
            .write(query, || "pruning the events of ended runs".to_owned())
            .await?;
        Ok(rows.iter().map(|(events,)| events.unsigned_abs()).sum())
    }
}

/// A SQLite file is one process's: nothing is shared (the defaults).
impl Ownership for SqliteStore {}
#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite uses the indexes for the lookups that matter (a full scan of
    /// events or messages would grow with the database).
    #[tokio::test]
    async fn lookups_use_the_indexes() {
        let dir = crate::testing::TempDir::new("plans");
        let store = SqliteStore::open(&dir.db()).await.unwrap();
        let plans = [
            (
                "SELECT object FROM messages WHERE thread_id = ?1 AND seq > ?2 AND seq < ?3 \
                 AND run_id = ?5 ORDER BY seq ASC LIMIT ?4",
                "messages_by_thread",
            ),
            (
                "SELECT object FROM messages WHERE thread_id = ?1 AND seq > ?2 AND seq < ?3 \
                 ORDER BY seq DESC LIMIT ?4",
                "messages_by_thread",
            ),
            (
                "SELECT object FROM run_steps WHERE run_id = ?1 AND seq > ?2 AND seq < ?3 \
                 ORDER BY seq ASC LIMIT ?4",
                "run_steps_by_run",
            ),
            (
                "SELECT object FROM runs WHERE thread_id = ?1 AND seq > ?2 AND seq < ?3 \
                 ORDER BY seq ASC LIMIT ?4",
                "runs_by_thread",
            ),
            (
                "SELECT c.body, c.body_lz4 FROM run_event_chunks c JOIN runs r ON r.id = c.run_id \
                 WHERE c.run_id = ?2 AND r.thread_id = ?1 AND c.last_seq > ?3 \
                 ORDER BY c.last_seq LIMIT ?4",
                "sqlite_autoindex_run_event_chunks_1",
            ),
            (
                "SELECT id, object, progress, \
                 (SELECT MAX(last_seq) FROM run_event_chunks WHERE run_id = runs.id) \
                 FROM runs WHERE ended_at IS NULL ORDER BY created_at, seq",
                "runs_unfinished",
            ),
            (
                "DELETE FROM run_event_chunks \
                 WHERE run_id IN (SELECT id FROM runs WHERE ended_at < ?1) RETURNING events",
                "runs_by_end",
            ),
        ];
        for (sql, index) in plans {
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(explain))
                .fetch_all(&mut *store.readers.get().await.unwrap())
                .await
                .unwrap();
            let plan: Vec<&str> = rows.iter().map(|row| row.3.as_str()).collect();
            assert!(
                plan.iter().any(|step| step.contains(index)),
                "{sql}: {plan:?}"
            );
            assert!(
                !plan.iter().any(|step| step.starts_with("SCAN")
                    && !step.contains("INDEX")
                    && !step.contains("USING")),
                "{sql}: {plan:?}"
            );
        }
        store.close().await;
    }
}

/// Events per second of commits shaped like streamed runs', memory store
/// against SQLite, at 1, 64 and 500 runs at once. A measurement, not a
/// check: `cargo test --release --lib --features server commit_throughput
/// -- --ignored --nocapture`.
#[cfg(test)]
pub(super) mod throughput {
    use super::*;
    use crate::types::RunStatus;
    use assistant_stream_store::MemoryStore;
    use assistant_stream_store::{RunProgress, Store};
    use serde_json::json;
    use std::sync::Arc;
    use std::time::Instant;

    const TOKENS: u64 = 200;
    const DELTAS_PER_COMMIT: u64 = 50;

    fn delta(seq: u64) -> StoredEvent {
        StoredEvent {
            seq,
            event: "thread.message.delta".to_owned(),
            data: format!(
                r#"{{"id":"msg_1","delta":{{"content":[{{"index":0,"type":"text","text":{{"value":"token{seq} "}}}}]}}}}"#
            ),
        }
    }

    /// A thread `thread_1` with a run `run_1`.
    async fn thread_and_run(store: &SqliteStore) {
        store
            .insert_thread(
                &serde_json::from_value(json!({"id": "thread_1"})).unwrap(),
                &[],
            )
            .await
            .unwrap();
        store
            .insert_run(&record("thread_1", "run_1", "queued"), &[])
            .await
            .unwrap();
    }

    /// A read of an assistant that a write (or a delete) overtook is not
    /// cached: it may hold what the write replaced.
    #[test]
    fn the_assistant_cache_keeps_no_read_a_write_overtook() {
        let assistant = |name: &str| -> Assistant {
            serde_json::from_value(json!({
                "id": "asst_1", "object": "assistant", "created_at": 1, "name": name,
                "model": "scripted", "tools": [], "metadata": {},
            }))
            .unwrap()
        };
        let cache = AssistantCache::default();
        let (none, generation) = cache.get("asst_1");
        assert!(none.is_none());
        // A read starts, a delete overtakes it, the read ends: not kept.
        cache.wrote("asst_1", None);
        cache.read(&assistant("old"), generation);
        assert!(cache.get("asst_1").0.is_none());
        // The same with an update: the update's value stays.
        let (_, generation) = cache.get("asst_1");
        cache.wrote("asst_1", Some(&assistant("new")));
        cache.read(&assistant("old"), generation);
        assert_eq!(cache.get("asst_1").0.unwrap().name.as_deref(), Some("new"));
        // A read nothing overtook is kept.
        cache.wrote("asst_1", None);
        let (_, generation) = cache.get("asst_1");
        cache.read(&assistant("read"), generation);
        assert_eq!(cache.get("asst_1").0.unwrap().name.as_deref(), Some("read"));
    }

    /// A chunk as schema version 1 wrote it (the packed events as text in
    /// `body`) is read as it was, before and after compressed ones.
    #[tokio::test]
    async fn chunks_of_schema_version_1_are_read_beside_compressed_ones() {
        let dir = crate::testing::TempDir::new("chunks");
        let store = SqliteStore::open(&dir.db()).await.unwrap();
        thread_and_run(&store).await;
        let old: Vec<StoredEvent> = (1..=3).map(delta).collect();
        let query = sqlx::query(
            "INSERT INTO run_event_chunks (run_id, first_seq, last_seq, events, body) \
             VALUES ('run_1', 1, 3, 3, ?1)",
        )
        .bind(pack_events(&old));
        store.write::<()>(query, String::new).await.unwrap();
        let mut batch = RunBatch::new("thread_1", "run_1");
        batch.events = (4..=300).map(delta).collect();
        store.commit(&batch).await.unwrap();

        let all = store
            .events_after("thread_1", "run_1", 0, 1000)
            .await
            .unwrap();
        let expected: Vec<StoredEvent> = (1..=300).map(delta).collect();
        assert_eq!(all, expected);
        let tail = store.events_after("thread_1", "run_1", 2, 5).await.unwrap();
        assert_eq!(tail, expected[2..7]);

        // Compressed, the 297 deltas take a small part of their text.
        let (text, stored): (i64, i64) = sqlx::query_as(
            "SELECT SUM(LENGTH(body)), SUM(LENGTH(body_lz4)) FROM run_event_chunks \
             WHERE body_lz4 IS NOT NULL",
        )
        .fetch_one(&mut *store.readers.get().await.unwrap())
        .await
        .unwrap();
        let packed = pack_events(&expected[3..]).len() as i64;
        assert_eq!(text, 0);
        assert!(stored * 5 < packed, "{stored} bytes for {packed}");
        store.close().await;
    }

    /// A compressed chunk that does not decompress (cut short, or a size
    /// past what a chunk can hold) is an error that names it, not a panic
    /// or a huge allocation.
    #[tokio::test]
    async fn a_corrupt_compressed_chunk_is_an_error() {
        let dir = crate::testing::TempDir::new("corrupt-chunk");
        let store = SqliteStore::open(&dir.db()).await.unwrap();
        thread_and_run(&store).await;
        let good = compress_events(&(1..=50).map(delta).collect::<Vec<_>>());
        let mut huge = good.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        for body in [
            good[..good.len() / 2].to_vec(),
            huge,
            vec![1, 2],
            Vec::new(),
        ] {
            let query =
                sqlx::query("UPDATE run_event_chunks SET body_lz4 = ?1 RETURNING 1").bind(&body);
            let updated: Vec<(i64,)> = store.write(query, String::new).await.unwrap();
            if updated.is_empty() {
                let query = sqlx::query(
                    "INSERT INTO run_event_chunks (run_id, first_seq, last_seq, events, body, body_lz4) \
                     VALUES ('run_1', 1, 50, 50, '', ?1)",
                )
                .bind(&body);
                store.write::<()>(query, String::new).await.unwrap();
            }
            let error = store
                .events_after("thread_1", "run_1", 0, 100)
                .await
                .unwrap_err();
            assert_eq!(
                error.to_string(),
                "the database failed reading the events of run run_1",
                "{body:?}"
            );
            let source = std::error::Error::source(&error).map(ToString::to_string);
            assert_eq!(source.as_deref(), Some("an event chunk is corrupt"));
        }
        store.close().await;
    }

    fn message(thread_id: &str, run_id: &str, text: &str) -> Message {
        serde_json::from_value(json!({
            "id": format!("msg_{run_id}"), "object": "thread.message", "created_at": 1,
            "thread_id": thread_id, "status": "in_progress", "role": "assistant",
            "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
            "run_id": run_id, "attachments": [], "metadata": {},
        }))
        .unwrap()
    }

    fn record(thread_id: &str, run_id: &str, status: &str) -> RunRecord {
        RunRecord {
            run: serde_json::from_value(json!({
                "id": run_id, "object": "thread.run", "created_at": 1, "thread_id": thread_id,
                "assistant_id": "asst_1", "status": status, "model": "scripted",
                "instructions": "Be brief.", "tools": [], "metadata": {},
            }))
            .unwrap(),
            progress: RunProgress::default(),
            owner: None,
        }
    }

    /// One run, as the runner writes it: a few commits of status changes,
    /// the token deltas in batches, the end. Returns its events.
    async fn one_run(store: &dyn Store, name: &str) -> u64 {
        let (thread_id, run_id) = (format!("thread_{name}"), format!("run_{name}"));
        store
            .insert_thread(
                &serde_json::from_value(json!({"id": thread_id})).unwrap(),
                &[],
            )
            .await
            .unwrap();
        store
            .insert_run(&record(&thread_id, &run_id, "queued"), &[])
            .await
            .unwrap();
        let mut seq = 0;
        let mut events = |n: u64| -> Vec<StoredEvent> {
            (0..n)
                .map(|_| {
                    seq += 1;
                    StoredEvent {
                        seq,
                        event: "thread.message.delta".to_owned(),
                        data: format!(
                            r#"{{"id":"msg_{run_id}","object":"thread.message.delta","delta":{{"content":[{{"index":0,"type":"text","text":{{"value":"token{seq} "}}}}]}}}}"#
                        ),
                    }
                })
                .collect()
        };
        let mut text = String::new();
        for status in ["queued", "in_progress", "in_progress"] {
            let mut batch = RunBatch::new(&thread_id, &run_id);
            batch.run = Some(record(&thread_id, &run_id, status));
            batch.events = events(2);
            batch.messages = vec![message(&thread_id, &run_id, &text)];
            store.commit(&batch).await.unwrap();
        }
        for _ in 0..TOKENS / DELTAS_PER_COMMIT {
            for _ in 0..DELTAS_PER_COMMIT {
                text.push_str("token ");
            }
            let mut batch = RunBatch::new(&thread_id, &run_id);
            batch.events = events(DELTAS_PER_COMMIT);
            batch.messages = vec![message(&thread_id, &run_id, &text)];
            store.commit(&batch).await.unwrap();
        }
        let mut batch = RunBatch::new(&thread_id, &run_id);
        let mut end = record(&thread_id, &run_id, "completed");
        end.run.status = RunStatus::Completed;
        batch.run = Some(end);
        batch.events = events(3);
        batch.messages = vec![message(&thread_id, &run_id, &text)];
        store.commit(&batch).await.unwrap();
        seq
    }

    pub async fn events_per_second(store: Arc<dyn Store>, concurrent: usize, label: &str) -> f64 {
        let runs_each = (256 / concurrent).max(1);
        let start = Instant::now();
        let tasks: Vec<_> = (0..concurrent)
            .map(|task| {
                let store = Arc::clone(&store);
                let label = label.to_owned();
                tokio::spawn(async move {
                    let mut events = 0;
                    for run in 0..runs_each {
                        events += one_run(&*store, &format!("{label}_{task}_{run}")).await;
                    }
                    events
                })
            })
            .collect();
        let mut events = 0;
        for task in tasks {
            events += task.await.unwrap();
        }
        events as f64 / start.elapsed().as_secs_f64()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement: run it in release, by hand"]
    async fn commit_throughput() {
        let dir = crate::testing::TempDir::new("throughput");
        let memory: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.db()).await.unwrap());
        for concurrent in [1, 64, 500] {
            let label = format!("c{concurrent}");
            let in_memory = events_per_second(Arc::clone(&memory), concurrent, &label).await;
            let on_disk = events_per_second(Arc::clone(&sqlite), concurrent, &label).await;
            println!(
                "{concurrent:>3} runs at once: memory {in_memory:>9.0} events/s, \
                 sqlite {on_disk:>9.0} events/s ({:.2}x)",
                in_memory / on_disk
            );
        }
        drop(sqlite);
    }
}
