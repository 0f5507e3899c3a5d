//! What the SQL stores ([`sqlite`](super::sqlite) and `postgres`) share:
//! objects kept as JSON text, which of a thread and a run is missing, and
//! the `seq` window of a list page. Each
//! store reads the window with its own driver (its `read_window`).

use crate::types::Order;
use crate::{Page, PageQuery, RunRecord, StoreError, StoreResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// A store's schema migrations, oldest first: (version, description, SQL).
/// A migration is never edited once released: sqlx keeps each one's
/// checksum and refuses a database whose applied migrations changed.
pub(super) type Migrations = [(i64, &'static str, &'static str)];

/// The newest schema version of `migrations`.
pub(super) fn newest_version(migrations: &Migrations) -> i64 {
    migrations.last().map_or(0, |&(version, _, _)| version)
}

/// The migrator of `migrations`, built at run time from the embedded SQL
/// (which spares the build sqlx's `macros` feature and its proc-macro
/// crates).
pub(super) fn migrator(migrations: &Migrations) -> Migrator {
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// An object as stored.
pub(super) fn encode<T: Serialize>(
    value: &T,
    action: impl FnOnce() -> String,
) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|error| StoreError::database(action(), error))
}

/// A stored object, read back.
pub(super) fn decode<T: DeserializeOwned>(
    json: &str,
    action: impl FnOnce() -> String,
) -> StoreResult<T> {
    serde_json::from_str(json).map_err(|error| StoreError::database(action(), error))
}

/// A run's record from its stored object and progress (held by nobody:
/// the shared store's claims say who holds it).
pub(super) fn run_record(object: &str, progress: &str, run_id: &str) -> StoreResult<RunRecord> {
    Ok(RunRecord {
        run: decode(object, || format!("reading run {run_id}"))?,
        progress: decode(progress, || format!("reading the progress of run {run_id}"))?,
        owner: None,
    })
}

/// Which of a thread, its run and an object is missing, the outermost
/// first, as the memory store says it, from whether the thread and the run
/// exist (`found`, as the SQL stores read it in one query).
pub(super) fn missing(
    found: (bool, bool),
    thread_id: &str,
    run_id: Option<&str>,
    object: &'static str,
    id: &str,
) -> StoreError {
    match (found, run_id) {
        ((false, _), _) => StoreError::not_found("thread", thread_id),
        ((true, false), Some(run_id)) => StoreError::not_found("run", run_id),
        _ => StoreError::not_found(object, id),
    }
}

/// `Ok` if the thread exists (`found` as for [`missing`]).
pub(super) fn found_thread(found: (bool, bool), thread_id: &str) -> StoreResult<()> {
    match found {
        (true, _) => Ok(()),
        (false, _) => Err(StoreError::not_found("thread", thread_id)),
    }
}

/// `Ok` if the run exists on the thread (`found` as for [`missing`]).
pub(super) fn found_run(found: (bool, bool), thread_id: &str, run_id: &str) -> StoreResult<()> {
    match found {
        (true, true) => Ok(()),
        (true, false) => Err(StoreError::not_found("run", run_id)),
        (false, _) => Err(StoreError::not_found("thread", thread_id)),
    }
}

/// A cursor's `seq`, or [`StoreError::BadCursor`] if it was given but names
/// no object of the list.
pub(super) fn cursor(
    param: &'static str,
    given: &Option<String>,
    found: Option<i64>,
) -> StoreResult<Option<i64>> {
    match given {
        None => Ok(None),
        Some(id) => found.map(Some).ok_or_else(|| StoreError::BadCursor {
            param,
            id: id.clone(),
        }),
    }
}

/// The `seq` window of a list page and the direction it is read in, picked
/// as the memory store's `Collection::page` picks them.
pub(super) struct Window {
    /// Exclusive bounds on `seq`.
    pub(super) lower: i64,
    pub(super) upper: i64,
    /// Read in ascending `seq`.
    pub(super) ascending: bool,
    /// `before` alone: read backwards from the cursor, then turned around.
    pub(super) from_back: bool,
    pub(super) limit: usize,
}

impl Window {
    /// `after` and `before` are the cursors' `seq`s, if the cursors name
    /// objects of the list.
    pub(super) fn new(
        page: &PageQuery,
        after: Option<i64>,
        before: Option<i64>,
    ) -> StoreResult<Self> {
        let after = cursor("after", &page.after, after)?;
        let before = cursor("before", &page.before, before)?;
        let descending = matches!(page.order, Order::Desc);
        // In list order, `after` bounds from the front and `before` from the back.
        let (lower, upper) = if descending {
            (before, after)
        } else {
            (after, before)
        };
        let from_back = page.before.is_some() && page.after.is_none();
        Ok(Window {
            lower: lower.unwrap_or(i64::MIN),
            upper: upper.unwrap_or(i64::MAX),
            ascending: descending == from_back,
            from_back,
            limit: page.limit,
        })
    }

    /// The query for this direction.
    pub(super) fn sql(&self, ascending: &'static str, descending: &'static str) -> &'static str {
        if self.ascending {
            ascending
        } else {
            descending
        }
    }

    /// How many rows to fetch: one past the page tells whether there are more.
    pub(super) fn fetch(&self) -> i64 {
        i64::try_from(self.limit.saturating_add(1)).unwrap_or(i64::MAX)
    }

    /// The page, from the rows fetched (`fetch()` at most, in the order read).
    pub(super) fn page<T>(
        &self,
        mut rows: Vec<String>,
        decode_row: impl Fn(&str) -> StoreResult<T>,
    ) -> StoreResult<Page<T>> {
        let has_more = rows.len() > self.limit;
        rows.truncate(self.limit);
        if self.from_back {
            rows.reverse();
        }
        let data = rows
            .iter()
            .map(|row| decode_row(row))
            .collect::<StoreResult<Vec<T>>>()?;
        Ok(Page { data, has_more })
    }
}

/// The query of the page `window` gives, as every list reads it: `sql` for
/// the window's direction (as [`Window::sql`]), binding `key` first if
/// there is one (the thread's or run's id), then the window's bounds and
/// how many rows to fetch ([`Window::fetch`]), then `filter` if there is
/// one. Each store runs it on its own connections, then hands the rows to
/// [`Window::page`].
pub(super) fn window_query<'q, DB>(
    window: &Window,
    (ascending, descending): (&'static str, &'static str),
    key: Option<&'q str>,
    filter: Option<&'q str>,
) -> sqlx::query::QueryScalar<'q, DB, String, <DB as sqlx::Database>::Arguments>
where
    DB: sqlx::Database,
    (String,): for<'r> sqlx::FromRow<'r, DB::Row>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut query = sqlx::query_scalar(window.sql(ascending, descending));
    if let Some(key) = key {
        query = query.bind(key);
    }
    query = query
        .bind(window.lower)
        .bind(window.upper)
        .bind(window.fetch());
    if let Some(filter) = filter {
        query = query.bind(filter);
    }
    query
}
