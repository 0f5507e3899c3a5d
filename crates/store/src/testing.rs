//! The semantics every store keeps, as checks any store can run (feature
//! `testing`): [`conformance_checks!`](crate::conformance_checks) names
//! them, and each store crate runs every one on its own store. The memory
//! store (the reference) runs them here; the SQL stores in
//! `assistant-stream-sql`. Also the fixtures those tests share
//! ([`TempDir`]) and what a store that keeps its data must show when
//! opened again ([`populate`], [`snapshot`], [`reopened_as_it_was`]).
#![allow(missing_docs)]

use crate::ids::now;
use crate::memory::MemoryStore;
use crate::{
    Page, PageQuery, RunBatch, RunProgress, RunRecord, Store, StoreError, StoredEvent, ThreadRecord,
};
use assistant_stream_core::types::{Assistant, Message, Order, RunStatus, RunStep, Thread, Usage};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

// ---- fixtures ----

/// A fresh directory under the system's temp directory, removed with what
/// it holds when dropped (a failed test's too).
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(name: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "assistant-stream-store-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        // Left over by a killed run of the same pid: start clean.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    pub fn db(&self) -> PathBuf {
        self.path.join("store.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

pub fn assistant(id: &str, name: &str) -> Assistant {
    serde_json::from_value(json!({
        "id": id, "object": "assistant", "created_at": 1_700_000_000, "name": name,
        "model": "scripted", "instructions": "Be brief.", "metadata": {"team": "store"},
        "temperature": 0.5,
    }))
    .unwrap()
}

pub fn thread(id: &str) -> Thread {
    serde_json::from_value(json!({
        "id": id, "object": "thread", "created_at": 1_700_000_000, "metadata": {"k": "v"},
    }))
    .unwrap()
}

pub fn message(thread_id: &str, id: &str, run_id: Option<&str>, text: &str) -> Message {
    serde_json::from_value(json!({
        "id": id, "object": "thread.message", "created_at": 1_700_000_000,
        "thread_id": thread_id, "status": "completed",
        "role": if run_id.is_some() { "assistant" } else { "user" },
        "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
        "run_id": run_id, "attachments": [], "metadata": {},
    }))
    .unwrap()
}

pub fn run(thread_id: &str, id: &str, status: &str, created_at: i64) -> RunRecord {
    RunRecord {
        run: serde_json::from_value(json!({
            "id": id, "object": "thread.run", "created_at": created_at,
            "thread_id": thread_id, "assistant_id": "asst_1", "status": status,
            "model": "scripted", "tools": [], "metadata": {},
        }))
        .unwrap(),
        progress: RunProgress::default(),
        owner: None,
    }
}

pub fn with_status(mut record: RunRecord, status: RunStatus) -> RunRecord {
    record.run.status = status;
    record
}

pub fn step(thread_id: &str, run_id: &str, id: &str, status: &str) -> RunStep {
    serde_json::from_value(json!({
        "id": id, "object": "thread.run.step", "created_at": 1_700_000_000,
        "assistant_id": "asst_1", "thread_id": thread_id, "run_id": run_id,
        "type": "message_creation", "status": status,
        "step_details": {"type": "message_creation", "message_creation": {"message_id": "msg_x"}},
    }))
    .unwrap()
}

pub fn event(seq: u64) -> StoredEvent {
    StoredEvent {
        seq,
        event: "thread.message.delta".to_owned(),
        data: format!(r#"{{"id":"msg_x","delta":{{"n":{seq}}}}}"#),
    }
}

pub fn query(limit: usize, order: Order, after: Option<&str>, before: Option<&str>) -> PageQuery {
    PageQuery {
        limit,
        order,
        after: after.map(str::to_owned),
        before: before.map(str::to_owned),
    }
}

pub fn batch(thread_id: &str, run_id: &str) -> RunBatch {
    RunBatch::new(thread_id, run_id)
}

#[track_caller]
pub fn assert_not_found(result: Result<impl std::fmt::Debug, StoreError>, object: &str, id: &str) {
    match result {
        Err(StoreError::NotFound { object: o, id: i }) if o == object && i == id => {}
        other => panic!("expected no {object} {id}, got {other:?}"),
    }
}

#[track_caller]
pub fn assert_locked(result: Result<(), StoreError>, thread_id: &str, run_id: &str) {
    match result {
        Err(StoreError::ThreadLocked {
            thread_id: t,
            run_id: r,
        }) if t == thread_id && r == run_id => {}
        other => panic!("expected thread {thread_id} locked by {run_id}, got {other:?}"),
    }
}

/// A thread with one user message and an active run: the usual state a
/// commit finds.
pub async fn thread_with_run(store: &dyn Store, thread_id: &str, run_id: &str) {
    store
        .insert_thread(
            &thread(thread_id),
            &[message(
                thread_id,
                &format!("msg_{thread_id}_u"),
                None,
                "hi",
            )],
        )
        .await
        .unwrap();
    store
        .insert_run(&run(thread_id, run_id, "queued", 1), &[])
        .await
        .unwrap();
}

pub fn ids<T>(page: &Page<T>, id: impl Fn(&T) -> &str) -> Vec<String> {
    page.data.iter().map(|item| id(item).to_owned()).collect()
}

// ---- the checks, on any store ----

pub async fn assistants(store: &dyn Store) {
    let first = assistant("asst_1", "first");
    store.insert_assistant(&first).await.unwrap();
    store
        .insert_assistant(&assistant("asst_2", "second"))
        .await
        .unwrap();
    assert_eq!(store.assistant("asst_1").await.unwrap(), first);

    let renamed = assistant("asst_1", "renamed");
    store.update_assistant(&renamed).await.unwrap();
    assert_eq!(store.assistant("asst_1").await.unwrap(), renamed);
    // Replacing keeps its place in the list.
    let page = store
        .list_assistants(&query(10, Order::Asc, None, None))
        .await
        .unwrap();
    assert_eq!(ids(&page, |a| &a.id), ["asst_1", "asst_2"]);
    assert_eq!(page.data[0], renamed);

    assert_not_found(
        store.update_assistant(&assistant("asst_9", "x")).await,
        "assistant",
        "asst_9",
    );
    store.delete_assistant("asst_1").await.unwrap();
    assert_not_found(store.assistant("asst_1").await, "assistant", "asst_1");
    assert_not_found(
        store.delete_assistant("asst_1").await,
        "assistant",
        "asst_1",
    );
    assert_eq!(store.assistant("asst_2").await.unwrap().id, "asst_2");
}

/// The memory store's own paging table, through the trait, then every list
/// walked page by page both ways.
pub async fn paging(store: &dyn Store) {
    for i in 0..7 {
        store
            .insert_assistant(&assistant(&i.to_string(), "a"))
            .await
            .unwrap();
    }
    // (limit, order, after, before) and the page: (ids, has_more).
    type Case<'a> = (
        usize,
        Order,
        Option<&'a str>,
        Option<&'a str>,
        &'a [&'a str],
        bool,
    );
    let cases: &[Case] = &[
        (3, Order::Asc, None, None, &["0", "1", "2"], true),
        (3, Order::Asc, Some("2"), None, &["3", "4", "5"], true),
        (3, Order::Asc, Some("5"), None, &["6"], false),
        (3, Order::Desc, None, None, &["6", "5", "4"], true),
        (3, Order::Desc, Some("4"), None, &["3", "2", "1"], true),
        (3, Order::Desc, None, Some("1"), &["4", "3", "2"], true),
        (3, Order::Asc, None, Some("2"), &["0", "1"], false),
        (3, Order::Asc, None, Some("5"), &["2", "3", "4"], true),
        (10, Order::Asc, Some("1"), Some("4"), &["2", "3"], false),
        (10, Order::Desc, Some("4"), Some("1"), &["3", "2"], false),
        (
            7,
            Order::Asc,
            None,
            None,
            &["0", "1", "2", "3", "4", "5", "6"],
            false,
        ),
        (3, Order::Asc, Some("6"), None, &[], false),
    ];
    for &(limit, ref order, after, before, expected, has_more) in cases {
        let page = store
            .list_assistants(&query(limit, order.clone(), after, before))
            .await
            .unwrap();
        assert_eq!(
            (ids(&page, |a| &a.id), page.has_more),
            (expected.iter().map(|s| s.to_string()).collect(), has_more),
            "limit {limit}, {order:?}, after {after:?}, before {before:?}"
        );
    }
    for (param, after, before) in [
        ("after", Some("nope"), None),
        ("before", None, Some("nope")),
    ] {
        match store
            .list_assistants(&query(3, Order::Asc, after, before))
            .await
        {
            Err(StoreError::BadCursor { param: p, id }) if p == param && id == "nope" => {}
            other => panic!("expected a bad {param} cursor, got {other:?}"),
        }
    }

    // Messages (with and without the run filter), runs and steps.
    store
        .insert_thread(
            &thread("thread_p"),
            &(0..5)
                .map(|i| message("thread_p", &format!("msg_p{i}"), None, "hi"))
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    for i in 0..5 {
        let run_id = format!("run_p{i}");
        store
            .insert_run(&run("thread_p", &run_id, "queued", i), &[])
            .await
            .unwrap();
        let mut done = batch("thread_p", &run_id);
        done.messages = vec![message(
            "thread_p",
            &format!("msg_r{i}"),
            Some(&run_id),
            "ok",
        )];
        done.steps = (0..3)
            .map(|s| step("thread_p", &run_id, &format!("step_p{i}_{s}"), "completed"))
            .collect();
        done.run = Some(with_status(
            run("thread_p", &run_id, "completed", i),
            RunStatus::Completed,
        ));
        store.commit(&done).await.unwrap();
    }
    let all_messages: Vec<String> = (0..5)
        .map(|i| format!("msg_p{i}"))
        .chain((0..5).map(|i| format!("msg_r{i}")))
        .collect();
    for limit in 1..=4 {
        for order in [Order::Asc, Order::Desc] {
            let mut expected = all_messages.clone();
            if order == Order::Desc {
                expected.reverse();
            }
            // Forwards with `after`.
            let mut seen = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = store
                    .list_messages(
                        "thread_p",
                        &query(limit, order.clone(), after.as_deref(), None),
                        None,
                    )
                    .await
                    .unwrap();
                seen.extend(ids(&page, |m| &m.id));
                if !page.has_more {
                    break;
                }
                after = seen.last().cloned();
            }
            assert_eq!(seen, expected, "forwards, limit {limit}, {order:?}");
            // Backwards with `before`, from past the end.
            let last = expected.last().unwrap().clone();
            let mut seen = vec![last.clone()];
            let mut before = last;
            loop {
                let page = store
                    .list_messages(
                        "thread_p",
                        &query(limit, order.clone(), None, Some(&before)),
                        None,
                    )
                    .await
                    .unwrap();
                let mut chunk = ids(&page, |m| &m.id);
                chunk.extend(seen);
                seen = chunk;
                if !page.has_more {
                    break;
                }
                before = seen[0].clone();
            }
            assert_eq!(seen, expected, "backwards, limit {limit}, {order:?}");
        }
    }
    // The run filter; a cursor need not pass it.
    let page = store
        .list_messages(
            "thread_p",
            &query(10, Order::Asc, Some("msg_p0"), None),
            Some("run_p3"),
        )
        .await
        .unwrap();
    assert_eq!(ids(&page, |m| &m.id), ["msg_r3"]);
    assert!(!page.has_more);
    let page = store
        .list_messages(
            "thread_p",
            &query(10, Order::Desc, None, None),
            Some("run_none"),
        )
        .await
        .unwrap();
    assert!(page.data.is_empty() && !page.has_more);

    let page = store
        .list_runs("thread_p", &query(2, Order::Desc, Some("run_p3"), None))
        .await
        .unwrap();
    assert_eq!(ids(&page, |r| &r.id), ["run_p2", "run_p1"]);
    assert!(page.has_more);
    let page = store
        .list_runs("thread_p", &query(2, Order::Asc, None, Some("run_p3")))
        .await
        .unwrap();
    assert_eq!(ids(&page, |r| &r.id), ["run_p1", "run_p2"]);
    assert!(page.has_more);

    let page = store
        .list_steps(
            "thread_p",
            "run_p2",
            &query(2, Order::Asc, Some("step_p2_0"), None),
        )
        .await
        .unwrap();
    assert_eq!(ids(&page, |s| &s.id), ["step_p2_1", "step_p2_2"]);
    assert!(!page.has_more);
    let page = store
        .list_steps("thread_p", "run_p2", &query(1, Order::Desc, None, None))
        .await
        .unwrap();
    assert_eq!(ids(&page, |s| &s.id), ["step_p2_2"]);
    assert!(page.has_more);

    // Cursors of another list are not cursors of this one.
    for result in [
        store
            .list_steps(
                "thread_p",
                "run_p2",
                &query(2, Order::Asc, Some("step_p1_0"), None),
            )
            .await
            .map(drop),
        store
            .list_runs("thread_p", &query(2, Order::Asc, None, Some("msg_p1")))
            .await
            .map(drop),
        store
            .list_messages(
                "thread_p",
                &query(2, Order::Asc, Some("run_p1"), None),
                None,
            )
            .await
            .map(drop),
    ] {
        assert!(
            matches!(result, Err(StoreError::BadCursor { .. })),
            "{result:?}"
        );
    }
    // Lists under a missing parent.
    assert_not_found(
        store
            .list_messages("thread_no", &query(2, Order::Asc, None, None), None)
            .await,
        "thread",
        "thread_no",
    );
    assert_not_found(
        store
            .list_runs("thread_no", &query(2, Order::Asc, None, None))
            .await,
        "thread",
        "thread_no",
    );
    assert_not_found(
        store
            .list_steps("thread_p", "run_no", &query(2, Order::Asc, None, None))
            .await,
        "run",
        "run_no",
    );
    assert_not_found(
        store
            .list_steps("thread_no", "run_p1", &query(2, Order::Asc, None, None))
            .await,
        "thread",
        "thread_no",
    );
}

pub async fn threads_and_messages(store: &dyn Store) {
    let first = message("thread_1", "msg_1", None, "one");
    let second = message("thread_1", "msg_2", None, "two");
    store
        .insert_thread(&thread("thread_1"), &[first.clone(), second.clone()])
        .await
        .unwrap();
    store.insert_thread(&thread("thread_2"), &[]).await.unwrap();

    let ThreadRecord {
        thread: got,
        active_run,
    } = store.thread("thread_1").await.unwrap();
    assert_eq!(got, thread("thread_1"));
    assert_eq!(active_run, None);
    let mut renamed = thread("thread_1");
    renamed.metadata.insert("name".into(), "renamed".into());
    store.update_thread(&renamed).await.unwrap();
    assert_eq!(store.thread("thread_1").await.unwrap().thread, renamed);
    assert_not_found(
        store.update_thread(&thread("thread_9")).await,
        "thread",
        "thread_9",
    );
    assert_not_found(store.thread("thread_9").await, "thread", "thread_9");

    assert_eq!(store.message("thread_1", "msg_2").await.unwrap(), second);
    let third = message("thread_1", "msg_3", None, "three");
    store.insert_message(&third).await.unwrap();
    let edited = message("thread_1", "msg_1", None, "one, edited");
    store.update_message(&edited).await.unwrap();
    assert_eq!(
        store.thread_messages("thread_1").await.unwrap(),
        [edited.clone(), second.clone(), third.clone()]
    );
    store.delete_message("thread_1", "msg_2").await.unwrap();
    assert_eq!(
        store.thread_messages("thread_1").await.unwrap(),
        [edited, third]
    );
    assert!(store.thread_messages("thread_2").await.unwrap().is_empty());

    // Not found: the outermost missing object is named.
    assert_not_found(store.message("thread_1", "msg_2").await, "message", "msg_2");
    assert_not_found(
        store.message("thread_9", "msg_1").await,
        "thread",
        "thread_9",
    );
    // A message is found under its own thread only.
    assert_not_found(store.message("thread_2", "msg_1").await, "message", "msg_1");
    assert_not_found(
        store.delete_message("thread_1", "msg_2").await,
        "message",
        "msg_2",
    );
    assert_not_found(
        store.delete_message("thread_9", "msg_1").await,
        "thread",
        "thread_9",
    );
    assert_not_found(
        store
            .update_message(&message("thread_1", "msg_9", None, "x"))
            .await,
        "message",
        "msg_9",
    );
    assert_not_found(
        store
            .update_message(&message("thread_9", "msg_1", None, "x"))
            .await,
        "thread",
        "thread_9",
    );
    assert_not_found(
        store
            .insert_message(&message("thread_9", "msg_9", None, "x"))
            .await,
        "thread",
        "thread_9",
    );
    assert_not_found(
        store.thread_messages("thread_9").await,
        "thread",
        "thread_9",
    );
}

pub async fn thread_lock(store: &dyn Store) {
    store
        .insert_thread(
            &thread("thread_1"),
            &[message("thread_1", "msg_1", None, "hi")],
        )
        .await
        .unwrap();
    // The run's additional messages go in with it, after the thread's.
    let extra = message("thread_1", "msg_2", None, "also");
    let read_back = store
        .insert_run(
            &run("thread_1", "run_1", "queued", 1),
            std::slice::from_ref(&extra),
        )
        .await
        .unwrap();
    // ... and the insert reads the thread's messages back, the run's among
    // them, as the first turn shows them to the model.
    assert_eq!(read_back, store.thread_messages("thread_1").await.unwrap());
    assert_eq!(read_back.len(), 2);
    assert_eq!(
        store
            .thread("thread_1")
            .await
            .unwrap()
            .active_run
            .as_deref(),
        Some("run_1")
    );
    assert_eq!(store.thread_messages("thread_1").await.unwrap()[1], extra);

    // Locked: nothing of the refused calls is written.
    assert_locked(
        store
            .insert_message(&message("thread_1", "msg_3", None, "no"))
            .await,
        "thread_1",
        "run_1",
    );
    assert_locked(
        store
            .insert_run(
                &run("thread_1", "run_2", "queued", 2),
                &[message("thread_1", "msg_4", None, "no")],
            )
            .await
            .map(drop),
        "thread_1",
        "run_1",
    );
    assert_not_found(store.message("thread_1", "msg_3").await, "message", "msg_3");
    assert_not_found(store.message("thread_1", "msg_4").await, "message", "msg_4");
    assert_not_found(store.run("thread_1", "run_2").await, "run", "run_2");
    assert_not_found(
        store
            .insert_run(&run("thread_9", "run_9", "queued", 1), &[])
            .await,
        "thread",
        "thread_9",
    );

    // A non-terminal commit keeps the lock; a terminal one releases it.
    let mut update = batch("thread_1", "run_1");
    update.run = Some(with_status(
        run("thread_1", "run_1", "queued", 1),
        RunStatus::RequiresAction,
    ));
    store.commit(&update).await.unwrap();
    assert_eq!(
        store
            .thread("thread_1")
            .await
            .unwrap()
            .active_run
            .as_deref(),
        Some("run_1")
    );
    let mut end = batch("thread_1", "run_1");
    end.run = Some(with_status(
        run("thread_1", "run_1", "queued", 1),
        RunStatus::Cancelled,
    ));
    store.commit(&end).await.unwrap();
    assert_eq!(store.thread("thread_1").await.unwrap().active_run, None);
    store
        .insert_message(&message("thread_1", "msg_3", None, "now"))
        .await
        .unwrap();
    store
        .insert_run(&run("thread_1", "run_2", "queued", 2), &[])
        .await
        .unwrap();
    // An ended run's commit does not release another run's lock.
    store.commit(&end).await.unwrap();
    assert_eq!(
        store
            .thread("thread_1")
            .await
            .unwrap()
            .active_run
            .as_deref(),
        Some("run_2")
    );
}

pub async fn runs_and_steps(store: &dyn Store) {
    thread_with_run(store, "thread_1", "run_1").await;
    store.insert_thread(&thread("thread_2"), &[]).await.unwrap();
    let record = store.run("thread_1", "run_1").await.unwrap();
    assert_eq!(record.run, run("thread_1", "run_1", "queued", 1).run);
    assert_eq!(record.progress, RunProgress::default());
    assert_not_found(store.run("thread_1", "run_9").await, "run", "run_9");
    assert_not_found(store.run("thread_9", "run_1").await, "thread", "thread_9");
    // A run is found under its own thread only.
    assert_not_found(store.run("thread_2", "run_1").await, "run", "run_1");
    assert!(
        store
            .run_steps("thread_1", "run_1")
            .await
            .unwrap()
            .is_empty()
    );
    assert_not_found(store.run_steps("thread_1", "run_9").await, "run", "run_9");
    assert_not_found(
        store.run_steps("thread_9", "run_1").await,
        "thread",
        "thread_9",
    );
    assert_not_found(store.run_steps("thread_2", "run_1").await, "run", "run_1");

    let steps = [
        step("thread_1", "run_1", "step_1", "completed"),
        step("thread_1", "run_1", "step_2", "in_progress"),
    ];
    let mut update = batch("thread_1", "run_1");
    update.steps = steps.to_vec();
    store.commit(&update).await.unwrap();
    assert_eq!(
        store.step("thread_1", "run_1", "step_2").await.unwrap(),
        steps[1]
    );
    assert_eq!(store.run_steps("thread_1", "run_1").await.unwrap(), steps);
    assert_not_found(
        store.step("thread_1", "run_1", "step_9").await,
        "run step",
        "step_9",
    );
    assert_not_found(
        store.step("thread_1", "run_9", "step_1").await,
        "run",
        "run_9",
    );
    assert_not_found(
        store.step("thread_9", "run_1", "step_1").await,
        "thread",
        "thread_9",
    );
    assert_not_found(
        store.step("thread_2", "run_1", "step_1").await,
        "run",
        "run_1",
    );
    let page = store
        .list_runs("thread_1", &query(10, Order::Desc, None, None))
        .await
        .unwrap();
    assert_eq!(page.data, [record.run]);
}

/// A commit replaces steps and messages whole in their places, appends the
/// new ones, and writes the run with its progress.
pub async fn commit_upserts(store: &dyn Store) {
    thread_with_run(store, "thread_1", "run_1").await;
    let mut first = batch("thread_1", "run_1");
    first.steps = vec![
        step("thread_1", "run_1", "step_1", "in_progress"),
        step("thread_1", "run_1", "step_2", "in_progress"),
    ];
    first.messages = vec![message("thread_1", "msg_a", Some("run_1"), "partial")];
    first.events = vec![event(1), event(2)];
    store.commit(&first).await.unwrap();

    let mut second = batch("thread_1", "run_1");
    second.messages = vec![
        message("thread_1", "msg_b", Some("run_1"), "second"),
        message("thread_1", "msg_a", Some("run_1"), "whole"),
    ];
    second.steps = vec![
        step("thread_1", "run_1", "step_3", "in_progress"),
        step("thread_1", "run_1", "step_1", "completed"),
    ];
    let mut record = with_status(run("thread_1", "run_1", "queued", 1), RunStatus::InProgress);
    record.progress = RunProgress {
        turns: 2,
        usage: Usage::new(10, 5),
        pending_tool_usage: Some(Usage::new(1, 1)),
        usage_unreported: true,
        last_event: 2,
    };
    second.run = Some(record.clone());
    store.commit(&second).await.unwrap();
    // An empty batch is fine.
    store.commit(&batch("thread_1", "run_1")).await.unwrap();

    let messages = store.thread_messages("thread_1").await.unwrap();
    let texts: Vec<(String, String)> = messages.iter().map(|m| (m.id.clone(), m.text())).collect();
    assert_eq!(
        texts,
        [
            ("msg_thread_1_u".to_owned(), "hi".to_owned()),
            ("msg_a".to_owned(), "whole".to_owned()),
            ("msg_b".to_owned(), "second".to_owned()),
        ]
    );
    let steps = store.run_steps("thread_1", "run_1").await.unwrap();
    assert_eq!(
        steps
            .iter()
            .map(|s| (s.id.as_str(), s.status.as_str()))
            .collect::<Vec<_>>(),
        [
            ("step_1", "completed"),
            ("step_2", "in_progress"),
            ("step_3", "in_progress")
        ]
    );
    let stored = store.run("thread_1", "run_1").await.unwrap();
    assert_eq!(stored.run, record.run);
    assert_eq!(stored.progress, record.progress);
    let page = store
        .list_messages(
            "thread_1",
            &query(10, Order::Asc, None, None),
            Some("run_1"),
        )
        .await
        .unwrap();
    assert_eq!(ids(&page, |m| &m.id), ["msg_a", "msg_b"]);
}

/// A commit for a thread or run that is gone writes nothing.
pub async fn commit_on_deleted(store: &dyn Store) {
    thread_with_run(store, "thread_1", "run_1").await;
    let mut orphan = batch("thread_1", "run_9");
    orphan.messages = vec![message("thread_1", "msg_o", Some("run_9"), "x")];
    orphan.events = vec![event(1)];
    assert_not_found(store.commit(&orphan).await, "run", "run_9");
    assert_not_found(store.message("thread_1", "msg_o").await, "message", "msg_o");

    store.delete_thread("thread_1").await.unwrap();
    let mut late = batch("thread_1", "run_1");
    late.messages = vec![message("thread_1", "msg_l", Some("run_1"), "x")];
    late.steps = vec![step("thread_1", "run_1", "step_l", "completed")];
    late.events = vec![event(1)];
    late.run = Some(with_status(
        run("thread_1", "run_1", "queued", 1),
        RunStatus::Completed,
    ));
    assert_not_found(store.commit(&late).await, "thread", "thread_1");
    // Nothing came back: the thread can be made again from scratch.
    store.insert_thread(&thread("thread_1"), &[]).await.unwrap();
    assert!(store.thread_messages("thread_1").await.unwrap().is_empty());
    assert_not_found(store.run("thread_1", "run_1").await, "run", "run_1");
}

pub async fn events(store: &dyn Store) {
    thread_with_run(store, "thread_1", "run_1").await;
    store.insert_thread(&thread("thread_2"), &[]).await.unwrap();
    assert!(
        store
            .events_after("thread_1", "run_1", 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let mut first = batch("thread_1", "run_1");
    first.events = (1..=3).map(event).collect();
    store.commit(&first).await.unwrap();
    let mut second = batch("thread_1", "run_1");
    second.events = (4..=5).map(event).collect();
    store.commit(&second).await.unwrap();

    let all = store
        .events_after("thread_1", "run_1", 0, 100)
        .await
        .unwrap();
    assert_eq!(all, (1..=5).map(event).collect::<Vec<_>>());
    let some = store.events_after("thread_1", "run_1", 2, 2).await.unwrap();
    assert_eq!(some, [event(3), event(4)]);
    // Across and at the commits' boundaries (a store may keep each commit's
    // events together), with limits that end inside a commit's events.
    for (after, limit, expected) in [
        (0, 1, 1..=1),
        (1, 3, 2..=4),
        (3, 1, 4..=4),
        (3, 100, 4..=5),
        (1, 4, 2..=5),
        (4, 1, 5..=5),
    ] {
        assert_eq!(
            store
                .events_after("thread_1", "run_1", after, limit)
                .await
                .unwrap(),
            expected.map(event).collect::<Vec<_>>(),
            "after {after}, limit {limit}"
        );
    }
    assert!(
        store
            .events_after("thread_1", "run_1", 0, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .events_after("thread_1", "run_1", 5, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .events_after("thread_1", "run_1", u64::MAX, usize::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    assert_not_found(
        store.events_after("thread_1", "run_9", 0, 10).await,
        "run",
        "run_9",
    );
    assert_not_found(
        store.events_after("thread_9", "run_1", 0, 10).await,
        "thread",
        "thread_9",
    );
    assert_not_found(
        store.events_after("thread_2", "run_1", 0, 10).await,
        "run",
        "run_1",
    );

    // Only the events of runs that ended before the cut go.
    assert_eq!(store.prune_events(now() + 3600).await.unwrap(), 0);
    let mut end = batch("thread_1", "run_1");
    end.run = Some(with_status(
        run("thread_1", "run_1", "queued", 1),
        RunStatus::Completed,
    ));
    store.commit(&end).await.unwrap();
    assert_eq!(store.prune_events(now() - 3600).await.unwrap(), 0);
    assert_eq!(
        store
            .events_after("thread_1", "run_1", 0, 100)
            .await
            .unwrap()
            .len(),
        5
    );
    assert_eq!(store.prune_events(now() + 3600).await.unwrap(), 5);
    assert!(
        store
            .events_after("thread_1", "run_1", 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.prune_events(now() + 3600).await.unwrap(), 0);
    // The run itself stays.
    assert_eq!(
        store.run("thread_1", "run_1").await.unwrap().run.status,
        RunStatus::Completed
    );
}

/// Deleting a thread deletes everything under it, and nothing else.
pub async fn delete_thread_cascades(store: &dyn Store) {
    async fn fill(store: &dyn Store, thread_id: &str) {
        let run_id = format!("run_{thread_id}");
        thread_with_run(store, thread_id, &run_id).await;
        let mut update = batch(thread_id, &run_id);
        update.messages = vec![message(
            thread_id,
            &format!("msg_{thread_id}_a"),
            Some(&run_id),
            "x",
        )];
        update.steps = vec![step(
            thread_id,
            &run_id,
            &format!("step_{thread_id}"),
            "completed",
        )];
        update.events = (1..=3).map(event).collect();
        store.commit(&update).await.unwrap();
    }
    fill(store, "thread_1").await;
    fill(store, "thread_2").await;
    store.delete_thread("thread_1").await.unwrap();

    assert_not_found(store.thread("thread_1").await, "thread", "thread_1");
    assert_not_found(store.delete_thread("thread_1").await, "thread", "thread_1");
    assert_not_found(
        store.message("thread_1", "msg_thread_1_a").await,
        "thread",
        "thread_1",
    );
    assert_not_found(
        store.run("thread_1", "run_thread_1").await,
        "thread",
        "thread_1",
    );
    assert_not_found(
        store.events_after("thread_1", "run_thread_1", 0, 10).await,
        "thread",
        "thread_1",
    );
    let unfinished: Vec<String> = store
        .unfinished_runs()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.run.id)
        .collect();
    assert_eq!(unfinished, ["run_thread_2"]);
    // Nothing of it is left behind: the same ids can be used again.
    fill(store, "thread_1").await;
    assert_eq!(
        store
            .events_after("thread_1", "run_thread_1", 0, 10)
            .await
            .unwrap()
            .len(),
        3
    );
    // The other thread is untouched.
    assert_eq!(store.thread_messages("thread_2").await.unwrap().len(), 2);
    assert_eq!(
        store
            .run_steps("thread_2", "run_thread_2")
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .events_after("thread_2", "run_thread_2", 0, 10)
            .await
            .unwrap()
            .len(),
        3
    );
}

pub async fn unfinished_runs(store: &dyn Store) {
    let statuses = [
        ("run_a", "queued", 30),
        ("run_b", "completed", 5),
        ("run_c", "requires_action", 10),
        ("run_d", "failed", 1),
        ("run_e", "in_progress", 20),
        ("run_f", "cancelling", 40),
        ("run_g", "expired", 2),
        ("run_h", "incomplete", 3),
        ("run_i", "cancelled", 4),
        // A status this version does not know is not terminal.
        ("run_j", "paused", 15),
    ];
    for (run_id, status, created_at) in statuses {
        let thread_id = format!("thread_{run_id}");
        store.insert_thread(&thread(&thread_id), &[]).await.unwrap();
        store
            .insert_run(&run(&thread_id, run_id, "queued", created_at), &[])
            .await
            .unwrap();
        let mut update = batch(&thread_id, run_id);
        update.run = Some(run(&thread_id, run_id, status, created_at));
        store.commit(&update).await.unwrap();
    }
    let unfinished: Vec<(String, String)> = store
        .unfinished_runs()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.run.id, r.run.status.as_str().to_owned()))
        .collect();
    let expected = [
        ("run_c", "requires_action"),
        ("run_j", "paused"),
        ("run_e", "in_progress"),
        ("run_a", "queued"),
        ("run_f", "cancelling"),
    ];
    assert_eq!(
        unfinished,
        expected.map(|(id, status)| (id.to_owned(), status.to_owned()))
    );

    // A run's record says event 2 was its last; batches of events alone
    // (token deltas) came after it, up to event 7: a restart starts after 7.
    let mut update = batch("thread_run_e", "run_e");
    let mut record = run("thread_run_e", "run_e", "in_progress", 20);
    record.progress.last_event = 2;
    update.run = Some(record);
    update.events = (1..=2).map(event).collect();
    store.commit(&update).await.unwrap();
    for seqs in [3..=5, 6..=7] {
        let mut deltas = batch("thread_run_e", "run_e");
        deltas.events = seqs.map(event).collect();
        store.commit(&deltas).await.unwrap();
    }
    let last_events: Vec<(String, u64)> = store
        .unfinished_runs()
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.run.id, r.progress.last_event))
        .collect();
    assert!(
        last_events.contains(&("run_e".to_owned(), 7)),
        "{last_events:?}"
    );
    assert!(
        last_events.contains(&("run_a".to_owned(), 0)),
        "{last_events:?}"
    );
}

/// 200 tasks commit at once, each to its own run: all succeed and all is
/// written.
pub async fn concurrent_commits(store: Arc<dyn Store>) {
    const RUNS: usize = 200;
    for i in 0..RUNS {
        thread_with_run(&*store, &format!("thread_{i}"), &format!("run_{i}")).await;
    }
    let tasks: Vec<_> = (0..RUNS)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let (thread_id, run_id) = (format!("thread_{i}"), format!("run_{i}"));
                for round in 0..3u64 {
                    let mut update = batch(&thread_id, &run_id);
                    update.events = (1..=4).map(|n| event(round * 4 + n)).collect();
                    update.messages =
                        vec![message(&thread_id, &format!("msg_{i}"), Some(&run_id), "x")];
                    if round == 2 {
                        update.run = Some(with_status(
                            run(&thread_id, &run_id, "queued", 1),
                            RunStatus::Completed,
                        ));
                    }
                    store.commit(&update).await?;
                    // Batches for a run or thread that is not there, among
                    // the others (a store may write concurrent batches
                    // together): each fails alone, writing nothing.
                    if i % 10 == round as usize {
                        let mut orphan = batch(&thread_id, &format!("run_gone_{i}"));
                        orphan.events = vec![event(1)];
                        orphan.messages = vec![message(
                            &thread_id,
                            &format!("msg_gone_{i}"),
                            Some(&run_id),
                            "x",
                        )];
                        assert_not_found(
                            store.commit(&orphan).await,
                            "run",
                            &format!("run_gone_{i}"),
                        );
                        let mut orphan = batch(&format!("thread_gone_{i}"), &run_id);
                        orphan.events = vec![event(1)];
                        assert_not_found(
                            store.commit(&orphan).await,
                            "thread",
                            &format!("thread_gone_{i}"),
                        );
                    }
                }
                Ok::<(), StoreError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    for i in 0..RUNS {
        let (thread_id, run_id) = (format!("thread_{i}"), format!("run_{i}"));
        let events = store
            .events_after(&thread_id, &run_id, 0, 100)
            .await
            .unwrap();
        assert_eq!(events, (1..=12).map(event).collect::<Vec<_>>());
        assert_not_found(
            store.message(&thread_id, &format!("msg_gone_{i}")).await,
            "message",
            &format!("msg_gone_{i}"),
        );
        assert_eq!(store.thread(&thread_id).await.unwrap().active_run, None);
    }
    assert!(store.unfinished_runs().await.unwrap().is_empty());
}

/// Calls `$callback!` with the name of every check of the conformance
/// suite that takes a `&dyn Store` (`concurrent_commits`, which takes an
/// `Arc<dyn Store>`, is run on its own), so that each store crate makes one
/// test per check and store.
#[macro_export]
macro_rules! conformance_checks {
    ($callback:ident) => {
        $callback!(
            assistants,
            paging,
            threads_and_messages,
            thread_lock,
            runs_and_steps,
            commit_upserts,
            commit_on_deleted,
            events,
            delete_thread_cascades,
            unfinished_runs,
        );
    };
}

// ---- reopening a store that keeps its data ----

/// Everything a store holds, as JSON, to compare two opens of one file.
pub async fn snapshot(store: &dyn Store, threads: &[&str]) -> serde_json::Value {
    let all = query(100, Order::Asc, None, None);
    let mut out = json!({
        "assistants": store.list_assistants(&all).await.unwrap().data,
        "unfinished": store.unfinished_runs().await.unwrap().into_iter()
            .map(|r| json!([r.run, r.progress])).collect::<Vec<_>>(),
    });
    for &thread_id in threads {
        let record = store.thread(thread_id).await.unwrap();
        let runs = store.list_runs(thread_id, &all).await.unwrap().data;
        let mut per_run = Vec::new();
        for run in &runs {
            let record = store.run(thread_id, &run.id).await.unwrap();
            let events = store
                .events_after(thread_id, &run.id, 0, 1000)
                .await
                .unwrap();
            per_run.push(json!({
                "run": record.run,
                "progress": record.progress,
                "steps": store.run_steps(thread_id, &run.id).await.unwrap(),
                "events": events.iter().map(|e| json!([e.seq, e.event, e.data])).collect::<Vec<_>>(),
            }));
        }
        out[thread_id] = json!({
            "thread": record.thread,
            "active_run": record.active_run,
            "messages": store.thread_messages(thread_id).await.unwrap(),
            "runs": per_run,
        });
    }
    out
}

pub async fn populate(store: &dyn Store) {
    store
        .insert_assistant(&assistant("asst_1", "one"))
        .await
        .unwrap();
    store
        .insert_assistant(&assistant("asst_2", "two"))
        .await
        .unwrap();
    thread_with_run(store, "thread_1", "run_1").await;
    let mut update = batch("thread_1", "run_1");
    update.messages = vec![message("thread_1", "msg_a", Some("run_1"), "answer")];
    update.steps = vec![step("thread_1", "run_1", "step_1", "completed")];
    update.events = (1..=3).map(event).collect();
    let mut record = with_status(
        run("thread_1", "run_1", "queued", 1),
        RunStatus::RequiresAction,
    );
    record.progress.turns = 1;
    record.progress.last_event = 3;
    update.run = Some(record);
    store.commit(&update).await.unwrap();
    thread_with_run(store, "thread_2", "run_2").await;
    let mut end = batch("thread_2", "run_2");
    end.run = Some(with_status(
        run("thread_2", "run_2", "queued", 2),
        RunStatus::Completed,
    ));
    store.commit(&end).await.unwrap();
}

/// What `reopen_keeps_everything` checks of a store opened again on what
/// [`populate`] wrote (`before`, its [`snapshot`] then), on any store that
/// keeps its data.
pub async fn reopened_as_it_was(store: &dyn Store, before: &serde_json::Value) {
    let after = snapshot(store, &["thread_1", "thread_2"]).await;
    assert_eq!(&after, before);
    // The same data as the memory store holds after the same calls.
    let memory = MemoryStore::new();
    populate(&memory).await;
    assert_eq!(snapshot(&memory, &["thread_1", "thread_2"]).await, after);
    // The lock of thread_1 survived too.
    assert_locked(
        store
            .insert_message(&message("thread_1", "msg_9", None, "x"))
            .await,
        "thread_1",
        "run_1",
    );
    // And the list order goes on after the reopened rows.
    store
        .insert_assistant(&assistant("asst_3", "three"))
        .await
        .unwrap();
    let page = store
        .list_assistants(&query(10, Order::Desc, None, None))
        .await
        .unwrap();
    assert_eq!(ids(&page, |a| &a.id), ["asst_3", "asst_2", "asst_1"]);
}

#[cfg(test)]
mod memory_store {
    use super::*;

    macro_rules! on_memory {
        ($($check:ident),* $(,)?) => {
            $(
                #[tokio::test]
                async fn $check() {
                    super::$check(&MemoryStore::new()).await;
                }
            )*
        };
    }

    crate::conformance_checks!(on_memory);

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_commits() {
        super::concurrent_commits(Arc::new(MemoryStore::new())).await;
    }
}
