//! The conformance suite of `assistant-stream-store` on the SQL stores:
//! SQLite files in temporary directories and, with the `postgres` feature,
//! fresh PostgreSQL databases ([`on_postgres`]). Then what only the SQLite
//! store has: reopening, the one-process lock, schema versions, bad paths
//! and a database that fills up (and what only the PostgreSQL store has, in
//! [`on_postgres`]).

#[cfg(feature = "postgres")]
pub(crate) mod on_postgres;

use crate::sqlite::{OpenError, SqliteFault, SqliteOptions, SqliteStore};
use assistant_stream_core::types::RunStatus;
use assistant_stream_store::prelude::*;
use assistant_stream_store::testing::*;
use assistant_stream_store::{StoreError, StoredEvent};
use std::path::Path;
use std::sync::Arc;

/// One `#[tokio::test]` per check and store.
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod sqlite_store {
            use super::*;
            $(
                #[tokio::test]
                async fn $check() {
                    let dir = TempDir::new(stringify!($check));
                    let store = SqliteStore::open(&dir.db()).await.unwrap();
                    super::$check(&store).await;
                    store.close().await;
                }
            )*

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_commits() {
                let dir = TempDir::new("concurrent");
                let store = Arc::new(SqliteStore::open(&dir.db()).await.unwrap());
                super::concurrent_commits(store).await;
            }
        }

        // A fresh database on the server `ASSISTANT_STREAM_TEST_POSTGRES`
        // names, per test (skipped with a notice without it, failed under
        // `CI=true`).
        #[cfg(feature = "postgres")]
        mod postgres_store {
            use super::*;
            use crate::testing::TestDatabase;
            $(
                #[tokio::test]
                async fn $check() {
                    let Some(db) = TestDatabase::new(stringify!($check)).await else {
                        return;
                    };
                    let store = db.open().await;
                    super::$check(&store).await;
                    store.close().await;
                }
            )*

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_commits() {
                let Some(db) = TestDatabase::new("concurrent").await else {
                    return;
                };
                let store = Arc::new(db.open().await);
                super::concurrent_commits(Arc::clone(&store) as Arc<dyn Store>).await;
                store.close().await;
            }
        }
    };
}

assistant_stream_store::conformance_checks!(conformance);

#[tokio::test]
async fn reopen_keeps_everything() {
    let dir = TempDir::new("reopen");
    let store = SqliteStore::open(&dir.db()).await.unwrap();
    populate(&store).await;
    let before = snapshot(&store, &["thread_1", "thread_2"]).await;
    drop(store);

    let store = SqliteStore::open(&dir.db()).await.unwrap();
    reopened_as_it_was(&store, &before).await;
}

#[tokio::test]
async fn second_open_in_the_same_process_is_refused_while_the_first_lives() {
    let dir = TempDir::new("lock");
    let first = SqliteStore::open(&dir.db()).await.unwrap();
    let error = SqliteStore::open(&dir.db()).await.unwrap_err();
    match &error {
        OpenError::InUse { path, pid } => {
            assert_eq!(path, &dir.db());
            assert_eq!(*pid, Some(std::process::id()));
        }
        other => panic!("expected the database in use, got {other:?}"),
    }
    let text = error.to_string();
    assert!(
        text.contains(&dir.db().display().to_string()) && text.contains("already open"),
        "{text}"
    );
    drop(first);
    let again = SqliteStore::open(&dir.db()).await.unwrap();
    again
        .insert_assistant(&assistant("asst_1", "one"))
        .await
        .unwrap();
}

/// The environment variable that makes [`hold_lock_child`] hold a database.
const HOLD_ENV: &str = "ASSISTANT_STREAM_TEST_HOLD_DATABASE";

/// Not a test of its own: [`another_process_is_refused_until_it_dies`] runs
/// it in a child process, to hold a database open there.
#[tokio::test]
#[ignore = "run by another_process_is_refused_until_it_dies, in a child process"]
async fn hold_lock_child() {
    let Some(path) = std::env::var_os(HOLD_ENV) else {
        return;
    };
    let _store = SqliteStore::open(Path::new(&path)).await.unwrap();
    println!("holding");
    // Until killed; bounded, should the parent fail to kill it.
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
}

#[tokio::test]
async fn another_process_is_refused_until_it_dies() {
    use std::io::BufRead;
    let dir = TempDir::new("process");
    // The test's name in the harness: its module path without the crate's name.
    let (_, module) = module_path!().split_once("::").unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            &format!("{module}::hold_lock_child"),
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLD_ENV, dir.db())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    // The harness may print the test's name on the same line first.
    let held = lines.any(|line| line.is_ok_and(|line| line.trim_end().ends_with("holding")));
    if !held {
        let _ = child.kill();
        panic!("the child process did not open the database");
    }

    let error = SqliteStore::open(&dir.db()).await.unwrap_err();
    assert!(
        matches!(&error, OpenError::InUse { pid: Some(pid), .. } if *pid == child.id()),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "the database {} is in use by another assistant-stream process (pid {})",
            dir.db().display(),
            child.id()
        )
    );

    // SIGKILL: no destructor runs; the kernel drops the lock.
    child.kill().unwrap();
    child.wait().unwrap();
    let store = SqliteStore::open(&dir.db()).await.unwrap();
    store
        .insert_assistant(&assistant("asst_1", "one"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_left_alone() {
    use sqlx::Connection;
    let dir = TempDir::new("newer");
    let store = SqliteStore::open(&dir.db()).await.unwrap();
    populate(&store).await;
    store.close().await;

    // What a newer version would have left: a migration this one lacks.
    let mut conn = sqlx::SqliteConnection::connect_with(
        &sqlx::sqlite::SqliteConnectOptions::new().filename(dir.db()),
    )
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (7, 'from the future', TRUE, X'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let bytes = std::fs::read(dir.db()).unwrap();

    let error = SqliteStore::open(&dir.db()).await.unwrap_err();
    let OpenError::NewerSchema {
        found: 7, known, ..
    } = error
    else {
        panic!("{error:?}");
    };
    assert!(known < 7, "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "the database {} was written by a newer version of assistant-stream \
             (schema version 7; this version knows up to {known}); refusing to start",
            dir.db().display()
        )
    );
    assert!(
        std::fs::read(dir.db()).unwrap() == bytes,
        "the file changed"
    );
    // Opened again, the same words, and the file is still left alone.
    let error = SqliteStore::open(&dir.db())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("refusing to start"), "{error}");
    assert!(
        std::fs::read(dir.db()).unwrap() == bytes,
        "the file changed"
    );
}

#[tokio::test]
async fn bad_paths_are_named() {
    let dir = TempDir::new("paths");
    // A directory.
    let error = SqliteStore::open(&dir.path).await.unwrap_err();
    assert!(matches!(error, OpenError::IsDirectory { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "cannot open the database {}: it is a directory",
            dir.path.display()
        )
    );
    // In a missing directory, which is not made.
    let missing = dir.path.join("missing");
    let path = missing.join("store.db");
    let error = SqliteStore::open(&path).await.unwrap_err();
    assert!(
        matches!(error, OpenError::MissingDirectory { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "cannot open the database {}: its directory {} does not exist",
            path.display(),
            missing.display()
        )
    );
    assert!(!missing.exists());
    // Under a file.
    let file = dir.path.join("file");
    std::fs::write(&file, "x").unwrap();
    let path = file.join("store.db");
    let error = SqliteStore::open(&path).await.unwrap_err();
    assert!(
        matches!(error, OpenError::NotInDirectory { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("is not a directory"), "{error}");
    // Not a database: refused, and left as it was.
    let garbage = dir.path.join("garbage.db");
    let text = "not a database\n".repeat(1000);
    std::fs::write(&garbage, &text).unwrap();
    let error = SqliteStore::open(&garbage).await.unwrap_err();
    assert!(matches!(error, OpenError::NotADatabase { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "cannot open the database {}: the file is not a SQLite database",
            garbage.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&garbage).unwrap(), text);
}

#[tokio::test]
async fn a_full_database_fails_the_commit_and_keeps_what_it_had() {
    let dir = TempDir::new("full");
    let store = SqliteStore::open_with(
        &dir.db(),
        SqliteOptions {
            // 64 pages of 4 KiB: the schema, and a little room.
            max_page_count: Some(64),
        },
    )
    .await
    .unwrap();
    thread_with_run(&store, "thread_1", "run_1").await;
    // 8 KiB of text that does not compress (the store compresses events),
    // different for each event.
    let noise = |seq: u64| -> String {
        let mut state = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..8 * 1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                char::from(b'!' + (state % 94) as u8)
            })
            .collect()
    };
    let mut written = 0u64;
    let error = loop {
        let mut update = batch("thread_1", "run_1");
        update.events = (written + 1..=written + 4)
            .map(|seq| StoredEvent {
                seq,
                event: "thread.message.delta".to_owned(),
                data: noise(seq),
            })
            .collect();
        let mut record = with_status(run("thread_1", "run_1", "queued", 1), RunStatus::InProgress);
        record.progress.last_event = written + 4;
        update.run = Some(record);
        match store.commit(&update).await {
            Ok(()) => written += 4,
            Err(error) => break error,
        }
        assert!(written < 400, "the database never filled up");
    };
    assert!(written > 0, "the first commit already failed: {error:?}");
    match &error {
        StoreError::Database { action, source } => {
            assert_eq!(action, "writing run run_1");
            assert!(
                matches!(
                    source.downcast_ref::<SqliteFault>(),
                    Some(SqliteFault::Full(_))
                ),
                "{source:?}"
            );
            assert!(source.to_string().contains("full"), "{source}");
        }
        other => panic!("expected a database error, got {other:?}"),
    }

    // What was committed before is all there, and nothing of the failed commit.
    let events = store
        .events_after("thread_1", "run_1", 0, 1000)
        .await
        .unwrap();
    assert_eq!(events.len() as u64, written);
    assert!(
        events
            .iter()
            .zip(1..)
            .all(|(e, seq)| e.seq == seq && e.data == noise(seq))
    );
    let record = store.run("thread_1", "run_1").await.unwrap();
    assert_eq!(record.progress.last_event, written);
    assert_eq!(record.run.status, RunStatus::InProgress);

    // The writer still works: room made, a write goes through.
    assert_eq!(store.prune_events(i64::MAX).await.unwrap(), 0);
    store.delete_thread("thread_1").await.unwrap();
    thread_with_run(&store, "thread_2", "run_2").await;
    let mut update = batch("thread_2", "run_2");
    update.events = vec![event(1)];
    store.commit(&update).await.unwrap();
    store.close().await;

    // And it all survives a reopen.
    let store = SqliteStore::open(&dir.db()).await.unwrap();
    assert_eq!(
        store
            .events_after("thread_2", "run_2", 0, 10)
            .await
            .unwrap(),
        [event(1)]
    );
    assert_not_found(store.thread("thread_1").await, "thread", "thread_1");
}
