//! Two servers on one shared store, in one process: what a client sees
//! when its requests go to either (the tests of two `serve` processes on
//! PostgreSQL do the same across processes).

#[cfg(feature = "postgres")]
use crate::store::Wakeup;
use crate::store::{MemoryStore, RunBatch, RunProgress, RunRecord, Store, StoreError};
use crate::{RunningServer, Server};
#[cfg(feature = "postgres")]
use assistant_stream_sql::testing::TestDatabase;
use assistant_stream_store::prelude::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// Two servers sharing one memory store, with a short lease.
struct Pair {
    a: RunningServer,
    b: RunningServer,
    http: reqwest::Client,
}

fn http() -> reqwest::Client {
    crate::client::install_crypto_provider();
    reqwest::Client::new()
}

async fn server(store: &Arc<MemoryStore>, tokens_per_second: Option<f64>) -> RunningServer {
    let mut builder = Server::builder()
        .store(Arc::clone(store) as Arc<dyn Store>)
        .instance_lease(Duration::from_millis(400));
    if let Some(rate) = tokens_per_second {
        builder = builder.tokens_per_second(rate);
    }
    builder.spawn().await.unwrap()
}

impl Pair {
    async fn new(tokens_per_second: Option<f64>) -> Self {
        let store = Arc::new(MemoryStore::shared());
        let a = server(&store, tokens_per_second).await;
        let b = server(&store, tokens_per_second).await;
        Pair { a, b, http: http() }
    }

    async fn post(&self, on: &RunningServer, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", on.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, on: &RunningServer, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", on.base_url()))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "GET {path}");
        response.json().await.unwrap()
    }

    /// The whole body of a streaming request.
    async fn stream(&self, on: &RunningServer, path: &str, body: Option<Value>) -> String {
        let url = format!("{}{path}", on.base_url());
        let request = match body {
            Some(body) => self.http.post(url).json(&body),
            None => self.http.get(url),
        };
        let response = tokio::time::timeout(Duration::from_secs(20), async {
            let response = request.send().await.unwrap();
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
            response.text().await.unwrap()
        })
        .await;
        response.expect("the stream ended")
    }

    /// An assistant (with the function tool `add`), and a thread holding
    /// `message`, made on `a`.
    async fn thread(&self, message: &str) -> (String, String) {
        let (_, assistant) = self
            .post(
                &self.a,
                "/assistants",
                json!({"model": "scripted", "tools": [
                    {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}
                ]}),
            )
            .await;
        let (_, thread) = self
            .post(
                &self.a,
                "/threads",
                json!({"messages": [{"role": "user", "content": message}]}),
            )
            .await;
        (
            assistant["id"].as_str().unwrap().to_owned(),
            thread["id"].as_str().unwrap().to_owned(),
        )
    }

    /// Starts a run of `assistant` on `thread`, on `on`; its id.
    async fn run(&self, on: &RunningServer, thread: &str, assistant: &str) -> String {
        let (status, run) = self
            .post(
                on,
                &format!("/threads/{thread}/runs"),
                json!({"assistant_id": assistant}),
            )
            .await;
        assert_eq!(status, 200, "{run}");
        run["id"].as_str().unwrap().to_owned()
    }

    /// Polls the run on `on` until its status is `status`.
    async fn wait_status(
        &self,
        on: &RunningServer,
        thread: &str,
        run: &str,
        status: &str,
    ) -> Value {
        for _ in 0..400 {
            let found = self.get(on, &format!("/threads/{thread}/runs/{run}")).await;
            if found["status"] == status {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("run {run} never became {status}");
    }
}

/// `(id, event)` of each event of an SSE body, in order.
fn events(body: &str) -> Vec<(u64, String)> {
    body.split("\n\n")
        .filter_map(|frame| {
            let field = |name: &str| {
                frame
                    .lines()
                    .find_map(|line| line.strip_prefix(name).map(str::trim))
            };
            Some((
                field("id: ")?.parse().unwrap(),
                field("event: ")?.to_owned(),
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_made_on_one_instance_streams_from_the_other() {
    let pair = Pair::new(Some(400.0)).await;
    let (assistant, thread) = pair.thread("/long 60").await;
    let run_id = &pair.run(&pair.a, &thread, &assistant).await;
    // While `a` drives it, `b` follows it from the store, to its end.
    let on_b = pair
        .stream(
            &pair.b,
            &format!("/threads/{thread}/runs/{run_id}/events"),
            None,
        )
        .await;
    let followed = events(&on_b);
    let ids: Vec<u64> = followed.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>(), "{on_b}");
    assert_eq!(followed.last().unwrap().1, "done");
    assert!(
        followed.iter().any(|(_, e)| e == "thread.run.completed"),
        "{followed:?}"
    );
    assert_eq!(
        followed
            .iter()
            .filter(|(_, e)| e == "thread.message.delta")
            .count(),
        60
    );
    // The same events as the instance that ran it keeps.
    let on_a = pair
        .stream(
            &pair.a,
            &format!("/threads/{thread}/runs/{run_id}/events"),
            None,
        )
        .await;
    assert_eq!(on_a, on_b);
    // Resuming from the middle on `b` gives the rest.
    let resumed = pair
        .stream(
            &pair.b,
            &format!("/threads/{thread}/runs/{run_id}/events?after=10"),
            None,
        )
        .await;
    assert_eq!(events(&resumed)[0].0, 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_has_one_active_run_across_instances() {
    let pair = Pair::new(Some(50.0)).await;
    let (assistant, thread) = pair.thread("/long 200").await;
    let path = format!("/threads/{thread}/runs");
    let (status, _) = pair
        .post(&pair.a, &path, json!({"assistant_id": assistant}))
        .await;
    assert_eq!(status, 200);
    let (status, refused) = pair
        .post(&pair.b, &path, json!({"assistant_id": assistant}))
        .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already has an active run"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_cancelled_from_the_instance_not_running_it() {
    let pair = Pair::new(Some(50.0)).await;
    let (assistant, thread) = pair.thread("/long 200").await;
    let run_id = &pair.run(&pair.a, &thread, &assistant).await;
    pair.wait_status(&pair.b, &thread, run_id, "in_progress")
        .await;
    let (status, cancelled) = pair
        .post(
            &pair.b,
            &format!("/threads/{thread}/runs/{run_id}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    assert!(
        ["cancelling", "cancelled"].contains(&cancelled["status"].as_str().unwrap()),
        "{cancelled}"
    );
    let ended = pair
        .wait_status(&pair.b, &thread, run_id, "cancelled")
        .await;
    assert!(ended["cancelled_at"].is_i64());
    // Cancelling again, anywhere, is refused as with one instance.
    let (status, _) = pair
        .post(
            &pair.a,
            &format!("/threads/{thread}/runs/{run_id}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_outputs_are_taken_by_the_other_instance() {
    let pair = Pair::new(None).await;
    let (assistant, thread) = pair.thread("/tool add {\"a\": 1}").await;
    let run_id = &pair.run(&pair.a, &thread, &assistant).await;
    let waiting = pair
        .wait_status(&pair.b, &thread, run_id, "requires_action")
        .await;
    let call = waiting["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]
        .as_str()
        .unwrap();
    let body = pair
        .stream(
            &pair.b,
            &format!("/threads/{thread}/runs/{run_id}/submit_tool_outputs"),
            Some(json!({"stream": true, "tool_outputs": [{"tool_call_id": call, "output": "2"}]})),
        )
        .await;
    let names: Vec<String> = events(&body).into_iter().map(|(_, e)| e).collect();
    assert!(
        names.contains(&"thread.run.completed".to_owned()),
        "{names:?}"
    );
    assert_eq!(names.last().unwrap(), "done");
    // Both instances see it ended, and the thread takes a new run on `a`.
    pair.wait_status(&pair.a, &thread, run_id, "completed")
        .await;
    let (status, again) = pair
        .post(
            &pair.a,
            &format!("/threads/{thread}/runs/{run_id}/submit_tool_outputs"),
            json!({"tool_outputs": [{"tool_call_id": call, "output": "2"}]}),
        )
        .await;
    assert_eq!(status, 400, "{again}");
}

/// A run as the store holds it, with a status and a holder.
fn record(thread: &str, run: &str, status: &str, owner: Option<&str>) -> RunRecord {
    RunRecord {
        run: serde_json::from_value(json!({
            "id": run, "object": "thread.run", "created_at": 1_700_000_000,
            "thread_id": thread, "assistant_id": "asst_1", "status": status,
            "model": "scripted", "tools": [], "metadata": {},
        }))
        .unwrap(),
        progress: RunProgress::default(),
        owner: owner.map(str::to_owned),
    }
}

async fn stored_run(store: &dyn Store, thread: &str, run: &str, status: &str, owner: &str) {
    let thread_object = serde_json::from_value(json!({
        "id": thread, "object": "thread", "created_at": 1_700_000_000,
        "metadata": {}, "tool_resources": {},
    }))
    .unwrap();
    store.insert_thread(&thread_object, &[]).await.unwrap();
    store
        .insert_run(&record(thread, run, "queued", Some(owner)), &[])
        .await
        .unwrap();
    let mut batch = RunBatch::new(thread, run);
    batch.owner = Some(owner.to_owned());
    batch.run = Some(record(thread, run, status, Some(owner)));
    store.commit(&batch).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runs_of_a_lapsed_instance_are_taken_over() {
    let store = Arc::new(MemoryStore::shared());
    // An instance that said it was alive once, then died mid-run.
    store.heartbeat("instance_gone").await.unwrap();
    stored_run(&*store, "thread_1", "run_1", "in_progress", "instance_gone").await;
    stored_run(&*store, "thread_2", "run_2", "cancelling", "instance_gone").await;
    let survivor = server(&store, None).await;
    let http = http();
    let get = |path: String| {
        let http = http.clone();
        let url = format!("{}{path}", survivor.base_url());
        async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let mut settled = (Value::Null, Value::Null);
    for _ in 0..200 {
        settled = (
            get("/threads/thread_1/runs/run_1".into()).await,
            get("/threads/thread_2/runs/run_2".into()).await,
        );
        if settled.0["status"] == "failed" && settled.1["status"] == "cancelled" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(settled.0["status"], "failed", "{settled:?}");
    assert_eq!(
        settled.0["last_error"]["message"],
        "The server instance running this run stopped."
    );
    assert_eq!(settled.1["status"], "cancelled", "{settled:?}");
    // Their threads are free again, and their streams end.
    let thread = store.thread("thread_1").await.unwrap();
    assert_eq!(thread.active_run, None);
    let events = get("/threads/thread_1/runs/run_1/steps".into()).await;
    assert!(events["data"].is_array());
}

#[tokio::test]
async fn a_store_writes_only_for_the_holder_and_gives_a_run_to_one_claimant() {
    holder_and_claims(&MemoryStore::shared()).await;
}

/// The same on PostgreSQL, across two stores (two pools, as two processes
/// have): fenced commits and claims are the database's.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_writes_only_for_the_holder_and_gives_a_run_to_one_claimant() {
    let Some(db) = TestDatabase::new("holder_and_claims").await else {
        return;
    };
    let store = db.open().await;
    holder_and_claims(&store).await;
    store.close().await;
}

/// What `a_store_writes_only_for_the_holder_and_gives_a_run_to_one_claimant`
/// checks, on any shared store.
async fn holder_and_claims(store: &dyn Store) {
    for instance in ["instance_a", "instance_b", "instance_c"] {
        store.heartbeat(instance).await.unwrap();
    }
    stored_run(store, "thread_1", "run_1", "in_progress", "instance_a").await;
    // `b` may not write `a`'s run, nor take it while `a` is alive.
    let mut intruder = RunBatch::new("thread_1", "run_1");
    intruder.owner = Some("instance_b".to_owned());
    intruder.run = Some(record("thread_1", "run_1", "completed", None));
    assert!(matches!(
        store.commit(&intruder).await,
        Err(StoreError::Lost { .. })
    ));
    let alive_since = crate::services::runs::ownership::now_millis() - 60_000;
    assert!(
        store
            .claim_run("thread_1", "run_1", "instance_b", alive_since)
            .await
            .unwrap()
            .is_none()
    );
    // Once `a` lapses (`b` and `c` are heard of since), one claimant gets
    // it, and `a` can write no more.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let lapsed = crate::services::runs::ownership::now_millis();
    tokio::time::sleep(Duration::from_millis(5)).await;
    for instance in ["instance_b", "instance_c"] {
        store.heartbeat(instance).await.unwrap();
    }
    let taken = store
        .claim_lapsed_runs("instance_b", lapsed, 0, 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].owner.as_deref(), Some("instance_b"));
    assert!(
        store
            .claim_lapsed_runs("instance_c", lapsed, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let mut late = RunBatch::new("thread_1", "run_1");
    late.owner = Some("instance_a".to_owned());
    late.run = Some(record("thread_1", "run_1", "completed", None));
    assert!(matches!(
        store.commit(&late).await,
        Err(StoreError::Lost { .. })
    ));
    // A release lets anyone take it; an ended run is nobody's to take.
    let mut release = RunBatch::new("thread_1", "run_1");
    release.owner = Some("instance_b".to_owned());
    release.release = true;
    store.commit(&release).await.unwrap();
    let claimed = store
        .claim_run("thread_1", "run_1", "instance_c", alive_since)
        .await
        .unwrap();
    assert_eq!(claimed.unwrap().owner.as_deref(), Some("instance_c"));
    let mut end = RunBatch::new("thread_1", "run_1");
    end.owner = Some("instance_c".to_owned());
    end.run = Some(record("thread_1", "run_1", "completed", None));
    store.commit(&end).await.unwrap();
    assert!(
        store
            .claim_run("thread_1", "run_1", "instance_d", lapsed)
            .await
            .unwrap()
            .is_none()
    );
}

/// The heartbeat forgets instances not heard of for an hour that hold no
/// run (each start of a server is a new instance), and keeps those that
/// hold one, however old, until their runs are taken.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_heartbeats_forget_long_dead_instances_that_hold_nothing() {
    use sqlx::Connection;
    let Some(db) = TestDatabase::new("forget_instances").await else {
        return;
    };
    let store = db.open().await;
    stored_run(
        &store,
        "thread_1",
        "run_1",
        "in_progress",
        "instance_old_busy",
    )
    .await;
    let mut conn = sqlx::PgConnection::connect(db.url.as_secret_str())
        .await
        .unwrap();
    let now = crate::services::runs::ownership::now_millis();
    for (id, seen_at) in [
        ("instance_old_idle", now - 2 * 3600 * 1000),
        ("instance_old_busy", now - 2 * 3600 * 1000),
        ("instance_recent_idle", now - 60 * 1000),
    ] {
        sqlx::query(
            "INSERT INTO instances (id, seen_at) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        )
        .bind(id)
        .bind(seen_at)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    store.heartbeat("instance_me").await.unwrap();
    let left: Vec<String> = sqlx::query_scalar("SELECT id FROM instances ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        left,
        ["instance_me", "instance_old_busy", "instance_recent_idle"]
    );
    // Once its run is taken, the old instance goes too.
    let taken = store
        .claim_lapsed_runs("instance_me", now - 1000, 0, 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    store.heartbeat("instance_me").await.unwrap();
    let left: Vec<String> = sqlx::query_scalar("SELECT id FROM instances ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, ["instance_me", "instance_recent_idle"]);
    conn.close().await.unwrap();
    store.close().await;
}

/// A run held by an instance that is gone, on a thread of its own.
#[cfg(feature = "postgres")]
async fn orphan(store: &dyn Store, n: usize) -> (String, String) {
    let (thread, run) = (format!("thread_{n}"), format!("run_{n}"));
    stored_run(store, &thread, &run, "in_progress", "instance_gone").await;
    (thread, run)
}

/// Two stores (as two instances) claiming the runs of a lapsed instance
/// together, a batch at a time: every run is taken, each by one of them.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_postgres_stores_racing_for_lapsed_runs_take_each_once() {
    let Some(db) = TestDatabase::new("racing_claims").await else {
        return;
    };
    let (one, two) = (db.open().await, db.open().await);
    const RUNS: usize = 300;
    for n in 0..RUNS {
        orphan(&one, n).await;
    }
    // `instance_gone` was never heard of; the claimants are, after `lapsed`
    // (or their own claims would count as lapsed too).
    let lapsed = crate::services::runs::ownership::now_millis();
    tokio::time::sleep(Duration::from_millis(5)).await;
    one.heartbeat("instance_one").await.unwrap();
    two.heartbeat("instance_two").await.unwrap();
    let claim = |store: assistant_stream_sql::postgres::PostgresStore, name: &'static str| {
        tokio::spawn(async move {
            let mut taken = Vec::new();
            loop {
                let batch = store.claim_lapsed_runs(name, lapsed, 0, 7).await.unwrap();
                if batch.is_empty() {
                    return taken;
                }
                for record in batch {
                    assert_eq!(record.owner.as_deref(), Some(name));
                    taken.push(record.run.id);
                }
            }
        })
    };
    let (a, b) = tokio::join!(
        claim(one.clone(), "instance_one"),
        claim(two.clone(), "instance_two")
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut all: Vec<String> = a.iter().chain(&b).cloned().collect();
    all.sort();
    let total = all.len();
    all.dedup();
    assert_eq!(all.len(), total, "a run was claimed twice");
    assert_eq!(total, RUNS, "every run is claimed");
    // Both took some (they raced), and each holds what it took: the other's
    // commits are refused.
    eprintln!("claimed: {} by one, {} by two", a.len(), b.len());
    let run = &a[0];
    let thread = run.replace("run_", "thread_");
    let mut intruder = RunBatch::new(&thread, run);
    intruder.owner = Some("instance_two".to_owned());
    intruder.run = Some(record(&thread, run, "failed", None));
    assert!(matches!(
        two.commit(&intruder).await,
        Err(StoreError::Lost { .. })
    ));
    one.close().await;
    two.close().await;
}

/// A run held by nobody past its `expires_at` is taken; one not yet expired
/// is not.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_claims_runs_held_by_nobody_past_their_expiry() {
    let Some(db) = TestDatabase::new("expired_claims").await else {
        return;
    };
    let store = db.open().await;
    for (n, expires_at) in [(1, 1_000), (2, 5_000)] {
        let (thread, run) = (format!("thread_{n}"), format!("run_{n}"));
        stored_run(&store, &thread, &run, "requires_action", "instance_a").await;
        let mut release = RunBatch::new(&thread, &run);
        release.owner = Some("instance_a".to_owned());
        let mut waiting = record(&thread, &run, "requires_action", None);
        waiting.run.expires_at = Some(expires_at);
        release.run = Some(waiting);
        release.release = true;
        store.commit(&release).await.unwrap();
    }
    let taken = store
        .claim_lapsed_runs("instance_b", 0, 2_000, 10)
        .await
        .unwrap();
    let ids: Vec<&str> = taken.iter().map(|r| r.run.id.as_str()).collect();
    assert_eq!(ids, ["run_1"]);
    store.close().await;
}

/// Wake-ups cross stores: a commit's events and a cancel request on one
/// store reach the receivers of another, after the commit.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_wakeups_reach_another_store() {
    let Some(db) = TestDatabase::new("wakeups").await else {
        return;
    };
    let (one, two) = (db.open().await, db.open().await);
    one.heartbeat("instance_a").await.unwrap();
    stored_run(&one, "thread_1", "run_1", "in_progress", "instance_a").await;
    let mut wakeups = two.wakeups().unwrap();
    // The listener connects in the background: send until one arrives.
    let mut seq = 0;
    let woken = loop {
        seq += 1;
        let mut batch = RunBatch::new("thread_1", "run_1");
        batch.owner = Some("instance_a".to_owned());
        batch.events.push(crate::store::StoredEvent {
            seq,
            event: "thread.run.step.delta".to_owned(),
            data: "{}".to_owned(),
        });
        one.commit(&batch).await.unwrap();
        if let Ok(Ok(wakeup)) =
            tokio::time::timeout(Duration::from_millis(200), wakeups.recv()).await
        {
            break wakeup;
        }
        assert!(seq < 50, "no wake-up came");
    };
    let Wakeup::Events { run_id, last_seq } = woken else {
        panic!("{woken:?}");
    };
    assert_eq!(run_id, "run_1");
    // The events it announces are committed.
    let stored = two.events_after("thread_1", "run_1", 0, 100).await.unwrap();
    assert!(stored.iter().any(|event| event.seq == last_seq));
    one.request_cancel("thread_1", "run_1").await.unwrap();
    let cancel = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(Wakeup::Cancel { run_id }) = wakeups.recv().await {
                return run_id;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(cancel, "run_1");
    assert!(matches!(
        one.request_cancel("thread_1", "run_404").await,
        Err(StoreError::NotFound { .. })
    ));
    one.close().await;
    two.close().await;
}
