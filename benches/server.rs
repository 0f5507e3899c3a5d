//! The embedded server's store: memory against SQLite (and PostgreSQL, given
//! a server), under concurrent streamed runs.
//!
//! For each store (`Database::Memory`, `Database::Sqlite` on a fresh file
//! in a temporary directory and, when `BENCH_POSTGRES_URL` or
//! `ASSISTANT_STREAM_TEST_POSTGRES` names a PostgreSQL server whose role
//! may create databases, `Database::Postgres` on a fresh database made for
//! the configuration and dropped after it) and each number of runs at once,
//! a fresh server
//! runs the scripted model, and clients run streamed runs against it over
//! 127.0.0.1. A run is what an app does: `POST /threads` with one user
//! message `/long 200` (a reply of 200 tokens, 211 events in all), then
//! `POST /threads/{id}/runs` with `stream: true`, read to `done` by the
//! crate's `AssistantStream` (through `Client`). Measured per configuration:
//!
//! - runs per second and events per second (SSE events the clients read, all
//!   runs together), over the wall time of all its runs;
//! - time to first token, p50 and p99: from sending the run's POST to the
//!   first `thread.message.delta` read;
//! - the server's peak RSS (`VmHWM`) and its CPU time per run, next to the
//!   clients' CPU time per run (which shows when the clients, on the same
//!   cores, weigh on the figures);
//! - what the server writes per run: write system calls and bytes
//!   (`/proc/PID/io`: sockets and files alike, so SQLite's less memory's is
//!   what the store writes), and the size of the SQLite file and its WAL.
//!
//! The memory store is SQLite's peer: the two run in the same process,
//! interleaved (memory then SQLite at each concurrency), and the table ends
//! with SQLite ÷ memory for events per second. PostgreSQL is SQLite's peer
//! for a store that survives restarts: PostgreSQL ÷ SQLite follows (the
//! target is 0.5, within 2× of SQLite). The PostgreSQL server's own
//! processes are not the server's: their CPU time and writes are not in the
//! table's server columns, which is what PostgreSQL costs on top.
//!
//! **The server runs in a child process**: this bench binary started again
//! with `--serve-child DATABASE`. So its RSS is its own (not the clients'
//! buffers for 500 streams), each configuration starts from a fresh process
//! (no allocator pages kept from the one before), and the server is the
//! library as built into this bench, whatever `assistant-stream serve`
//! accepts. Tokens are not paced (`tokens_per_second` unset): this measures
//! the server saturated, on cores it shares with the clients.
//!
//! The memory store keeps every thread, run and event it is given (as the
//! SQLite file does), so the peak RSS grows with the runs made in the
//! configuration (warm-up included), not only with the runs at once: the
//! table gives both counts.
//!
//! A store the build lacks (the server fails to open it) is reported and
//! skipped. Results also go to `$BENCH_SERVER_JSON`, by default
//! `bench-server.json` in the target directory. `BENCH_SERVER_ONLY=sqlite:1`
//! (or `postgres:64`, or `sqlite+postgres:500`: stores joined by `+`, and
//! optionally runs at once) measures those configurations alone, to profile
//! one or to take one ratio quickly.
//!
//! `cargo bench -p assistant-stream-benches --bench server`. Run without
//! `--bench` (as `cargo test --benches` does) it is a quick smoke test with
//! few runs.

use assistant_stream::server::{Database, Server};
use assistant_stream::types::{
    CreateAssistantRequest, CreateMessageRequest, CreateRunRequest, CreateThreadRequest, RunStatus,
};
use assistant_stream::{AssistantEvent, Client, EventHandler};
use serde::Serialize;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Tokens in each reply: with the run's, step's and message's lifecycle
/// events and `done`, 211 events a run as the client counts them.
const TOKENS: usize = 200;

const API_KEY: &str = "sk-bench";

/// The argument that makes this binary the server of a configuration.
const SERVE_CHILD: &str = "--serve-child";

/// Runs at once, and how many runs each of them makes in a row.
#[derive(Clone, Copy)]
struct Load {
    at_once: usize,
    runs_each: usize,
}

const FULL: &[Load] = &[
    Load {
        at_once: 1,
        runs_each: 1000,
    },
    Load {
        at_once: 64,
        runs_each: 30,
    },
    Load {
        at_once: 500,
        runs_each: 4,
    },
];

/// Without `--bench`: a smoke test of the same code.
const QUICK: &[Load] = &[
    Load {
        at_once: 1,
        runs_each: 3,
    },
    Load {
        at_once: 8,
        runs_each: 2,
    },
];

/// Warm-up runs before measuring, at least: at the configuration's
/// concurrency, so that the client's pool holds its connections already.
const WARM_UP_RUNS: usize = 10;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == SERVE_CHILD) {
        let database = args.get(at + 1).expect("a database after --serve-child");
        serve_child(database);
        return;
    }
    let loads = if args.iter().any(|arg| arg == "--bench") {
        FULL
    } else {
        QUICK
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    // One HTTP client for every configuration, with room for every stream's
    // connection to stay in its pool between runs. reqwest takes the TLS
    // provider the crate installs (it is built without one of its own).
    assistant_stream::client::install_crypto_provider();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()
        .expect("an HTTP client");
    let scratch = Scratch::new();

    println!(
        "\nStore: memory against SQLite and PostgreSQL. Each run: POST /threads with `/long {TOKENS}`, then a streamed run read to `done` by the client; the scripted model, unpaced, over 127.0.0.1\n"
    );
    let postgres = postgres_server();
    // `BENCH_SERVER_ONLY=cluster`: the instances table alone.
    if std::env::var("BENCH_SERVER_ONLY").as_deref() == Ok("cluster") {
        match &postgres {
            Ok(admin) => runtime.block_on(cluster(&http, admin, std::ptr::eq(loads, FULL))),
            Err(reason) => println!("Several instances: skipped: {reason}"),
        }
        return;
    }
    let mut rows: Vec<Row> = Vec::new();
    let mut skipped: Vec<(Store, String)> = Vec::new();
    let only = Only::from_env();
    if let Err(reason) = &postgres {
        println!("PostgreSQL: skipped: {reason}");
        skipped.push((Store::Postgres, reason.clone()));
    }
    for load in loads {
        for store in [Store::Memory, Store::Sqlite, Store::Postgres] {
            if skipped.iter().any(|(s, _)| *s == store) || !only.wants(store, load.at_once) {
                continue;
            }
            let file = scratch.fresh_file(load.at_once);
            // The database as the server child parses it: for PostgreSQL the
            // URL itself, since a `Database` prints its password as `***`.
            let (database, pg) = match (store, &postgres) {
                (Store::Memory, _) => (Database::Memory.to_string(), None),
                (Store::Sqlite, _) => (Database::sqlite(&file).to_string(), None),
                (Store::Postgres, Ok(admin)) => {
                    let db = runtime.block_on(BenchDatabase::create(admin, load.at_once));
                    (db.url.clone(), Some(db))
                }
                (Store::Postgres, Err(_)) => unreachable!("skipped above"),
            };
            match ServerProcess::start(&database) {
                Ok(server) => {
                    let mut row = runtime.block_on(configuration(&http, &server, store, *load));
                    drop(server);
                    if store == Store::Sqlite {
                        row.file_mb = Some(sqlite_files_mb(&file));
                    }
                    if let Some(db) = &pg {
                        row.file_mb = Some(runtime.block_on(db.size_mb()));
                    }
                    if let Some(db) = pg {
                        runtime.block_on(db.drop_database());
                    }
                    rows.push(row);
                }
                Err(reason) => {
                    println!("{}: skipped: {reason}", store.label());
                    skipped.push((store, reason));
                }
            }
        }
    }

    println!(
        "\n| runs at once | store | runs (+ warm-up) | runs/s | events/s | first token p50 ms | p99 ms | server peak RSS MB (at start) | server CPU ms/run | clients CPU ms/run |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    for row in &rows {
        println!(
            "| {} | {} | {} (+{}) | {:.0} | {:.0} | {:.2} | {:.2} | {:.1} ({:.1}) | {:.2} | {:.2} |",
            row.at_once,
            row.store.label(),
            row.runs,
            row.warm_up_runs,
            row.runs_per_second,
            row.events_per_second,
            row.first_token_p50_ms,
            row.first_token_p99_ms,
            row.peak_rss_mb,
            row.start_rss_mb,
            row.server_cpu_ms_per_run,
            row.clients_cpu_ms_per_run,
        );
    }

    println!(
        "\n| runs at once | store | server write calls/run | server KB written/run | SQLite file + WAL, or PostgreSQL database, MB |\n|---|---|---|---|---|"
    );
    for row in &rows {
        println!(
            "| {} | {} | {:.0} | {:.0} | {} |",
            row.at_once,
            row.store.label(),
            row.server_write_calls_per_run,
            row.server_kb_written_per_run,
            row.file_mb.map_or("–".to_owned(), |mb| format!("{mb:.1}")),
        );
    }

    let ratios = ratios(&rows);
    if !ratios.is_empty() {
        println!(
            "\n| runs at once | events/s SQLite ÷ memory | target ≥ 0.67 | peak RSS SQLite ÷ memory |\n|---|---|---|---|"
        );
        for ratio in &ratios {
            println!(
                "| {} | **{:.2}** | {} | {:.2} |",
                ratio.at_once,
                ratio.events_per_second,
                if ratio.events_per_second >= TARGET_RATIO {
                    "met"
                } else {
                    "missed"
                },
                ratio.peak_rss,
            );
        }
    }

    let postgres_ratios = postgres_ratios(&rows);
    if !postgres_ratios.is_empty() {
        println!(
            "\n| runs at once | events/s PostgreSQL ÷ SQLite | target ≥ {POSTGRES_TARGET_RATIO} | runs/s PostgreSQL ÷ SQLite | first token p99 PostgreSQL ÷ SQLite |\n|---|---|---|---|---|"
        );
        for ratio in &postgres_ratios {
            println!(
                "| {} | **{:.2}** | {} | {:.2} | {:.2} |",
                ratio.at_once,
                ratio.events_per_second,
                if ratio.events_per_second >= POSTGRES_TARGET_RATIO {
                    "met"
                } else {
                    "missed"
                },
                ratio.runs_per_second,
                ratio.first_token_p99,
            );
        }
    }

    let report = Report {
        unix_time: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs()),
        tokens_per_run: TOKENS,
        rows,
        sqlite_over_memory: ratios,
        postgres_over_sqlite: postgres_ratios,
        skipped: skipped
            .into_iter()
            .map(|(store, reason)| Skipped { store, reason })
            .collect(),
    };
    let path = report_path();
    let json = serde_json::to_string_pretty(&report).expect("the report is JSON");
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&path, json) {
        Ok(()) => println!("\nWritten to {}", path.display()),
        Err(err) => println!("\nNot written to {}: {err}", path.display()),
    }
}

/// Several server instances (child processes) on one PostgreSQL database,
/// the clients spread over them round robin (run `n` on instance `n mod
/// N`, as a round-robin load balancer would): total runs/s and events/s
/// with 1, 2 and 3 instances, at 64 and 500 runs at once. Every process
/// (the instances, PostgreSQL's backends, the clients) shares the
/// machine's cores, so a second instance adds throughput only where one
/// instance does not already saturate them.
async fn cluster(http: &reqwest::Client, admin: &str, full: bool) {
    let loads: &[Load] = if full {
        &[
            Load {
                at_once: 64,
                runs_each: 10,
            },
            Load {
                at_once: 500,
                runs_each: 2,
            },
        ]
    } else {
        &[Load {
            at_once: 8,
            runs_each: 2,
        }]
    };
    println!(
        "\nSeveral instances on one PostgreSQL database (child processes; clients round robin)\n\n| runs at once | instances | runs | runs/s | events/s | first token p99 ms | instances CPU ms/run | PostgreSQL backends CPU ms/run | clients CPU ms/run |\n|---|---|---|---|---|---|---|---|---|"
    );
    for load in loads {
        for instances in 1..=3 {
            let db = BenchDatabase::create(admin, 10_000 + load.at_once * 10 + instances).await;
            let servers: Vec<ServerProcess> = (0..instances)
                .map(|_| ServerProcess::start(&db.url).expect("an instance starts"))
                .collect();
            let clients: Vec<Client> = servers
                .iter()
                .map(|server| {
                    Client::builder()
                        .base_url(&server.base_url)
                        .api_key(API_KEY)
                        .http_client(http.clone())
                        .max_retries(0)
                        .build()
                        .expect("the client")
                })
                .collect();
            let assistant_id = clients[0]
                .assistants()
                .create(CreateAssistantRequest::new("scripted"))
                .await
                .expect("an assistant")
                .id;
            run_all(
                &clients,
                &assistant_id,
                load.at_once,
                WARM_UP_RUNS.div_ceil(load.at_once),
            )
            .await;
            let cpu = |servers: &[ServerProcess]| {
                servers.iter().map(ServerProcess::cpu_seconds).sum::<f64>()
            };
            let (servers_cpu, clients_cpu) = (cpu(&servers), process_cpu_seconds());
            let database_cpu = backends_cpu_seconds(&db.name);
            let start = Instant::now();
            let outcomes = run_all(&clients, &assistant_id, load.at_once, load.runs_each).await;
            let seconds = start.elapsed().as_secs_f64();
            let servers_cpu = cpu(&servers) - servers_cpu;
            let clients_cpu = process_cpu_seconds() - clients_cpu;
            let database_cpu = backends_cpu_seconds(&db.name) - database_cpu;
            let runs = outcomes.len();
            let events: u64 = outcomes.iter().map(|run| run.events).sum();
            let mut first_tokens: Vec<f64> = outcomes
                .iter()
                .map(|run| run.first_token.as_secs_f64() * 1e3)
                .collect();
            first_tokens.sort_by(f64::total_cmp);
            println!(
                "| {} | {instances} | {runs} | {:.0} | {:.0} | {:.1} | {:.2} | {:.2} | {:.2} |",
                load.at_once,
                runs as f64 / seconds,
                events as f64 / seconds,
                percentile(&first_tokens, 0.99),
                servers_cpu * 1e3 / runs as f64,
                database_cpu * 1e3 / runs as f64,
                clients_cpu * 1e3 / runs as f64,
            );
            drop(servers);
            db.drop_database().await;
        }
    }
}

/// The CPU time of the PostgreSQL backends serving the database `name`
/// (each connection's process, titled `postgres: USER DB ...`; not the
/// server's shared processes, the WAL writer and checkpointer), for those
/// on this machine that this user may read.
fn backends_cpu_seconds(name: &str) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let title = format!(" {name} ");
    let mut ticks = 0.0;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(cmdline) = std::fs::read(path.join("cmdline")) else {
            continue;
        };
        if !String::from_utf8_lossy(&cmdline).starts_with("postgres:")
            || !String::from_utf8_lossy(&cmdline).contains(&title)
        {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(path.join("stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if let (Some(utime), Some(stime)) = (fields.get(11), fields.get(12)) {
            ticks += utime.parse::<f64>().unwrap_or(0.0) + stime.parse::<f64>().unwrap_or(0.0);
        }
    }
    ticks / clock_ticks_per_second()
}

/// `BENCH_SERVER_ONLY=STORES[:RUNS_AT_ONCE]` (`sqlite:1`, `memory`, `postgres:64`,
/// `sqlite+postgres:500`) keeps some stores (joined by `+`), and one
/// concurrency of the table, for a profile or a quicker ratio.
struct Only {
    stores: Option<Vec<Store>>,
    at_once: Option<usize>,
}

impl Only {
    fn from_env() -> Self {
        let Ok(value) = std::env::var("BENCH_SERVER_ONLY") else {
            return Only {
                stores: None,
                at_once: None,
            };
        };
        let (stores, at_once) = value.split_once(':').unwrap_or((&value, ""));
        let stores = stores
            .split('+')
            .map(|store| match store {
                "memory" => Store::Memory,
                "sqlite" => Store::Sqlite,
                "postgres" => Store::Postgres,
                other => panic!("BENCH_SERVER_ONLY: `{other}` is not memory, sqlite or postgres"),
            })
            .collect();
        let at_once = (!at_once.is_empty()).then(|| {
            at_once
                .parse()
                .expect("BENCH_SERVER_ONLY: runs at once after `:` is a number")
        });
        Only {
            stores: Some(stores),
            at_once,
        }
    }

    fn wants(&self, store: Store, at_once: usize) -> bool {
        self.stores
            .as_ref()
            .is_none_or(|only| only.contains(&store))
            && self.at_once.is_none_or(|only| only == at_once)
    }
}

/// SQLite's events per second over memory's that the store must reach
/// (within 1.5× of memory).
const TARGET_RATIO: f64 = 0.67;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Store {
    Memory,
    Sqlite,
    Postgres,
}

impl Store {
    fn label(self) -> &'static str {
        match self {
            Store::Memory => "memory",
            Store::Sqlite => "SQLite",
            Store::Postgres => "PostgreSQL",
        }
    }
}

/// PostgreSQL's events per second over SQLite's that the store must reach
/// (within 2× of SQLite, on one server instance).
const POSTGRES_TARGET_RATIO: f64 = 0.5;

#[derive(Debug, Serialize)]
struct Row {
    store: Store,
    at_once: usize,
    runs: usize,
    warm_up_runs: usize,
    seconds: f64,
    events: u64,
    runs_per_second: f64,
    events_per_second: f64,
    first_token_p50_ms: f64,
    first_token_p99_ms: f64,
    start_rss_mb: f64,
    peak_rss_mb: f64,
    server_cpu_ms_per_run: f64,
    clients_cpu_ms_per_run: f64,
    server_write_calls_per_run: f64,
    server_kb_written_per_run: f64,
    /// The SQLite file and its `-wal` after the server stopped, or the
    /// PostgreSQL database (`pg_database_size`).
    file_mb: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Ratio {
    at_once: usize,
    events_per_second: f64,
    runs_per_second: f64,
    peak_rss: f64,
}

#[derive(Debug, Serialize)]
struct PostgresRatio {
    at_once: usize,
    events_per_second: f64,
    runs_per_second: f64,
    first_token_p99: f64,
}

#[derive(Debug, Serialize)]
struct Skipped {
    store: Store,
    reason: String,
}

#[derive(Debug, Serialize)]
struct Report {
    unix_time: u64,
    tokens_per_run: usize,
    rows: Vec<Row>,
    sqlite_over_memory: Vec<Ratio>,
    postgres_over_sqlite: Vec<PostgresRatio>,
    skipped: Vec<Skipped>,
}

fn ratios(rows: &[Row]) -> Vec<Ratio> {
    let find = |store, at_once| {
        rows.iter()
            .find(|row| row.store == store && row.at_once == at_once)
    };
    rows.iter()
        .filter(|row| row.store == Store::Memory)
        .filter_map(|memory| {
            let sqlite = find(Store::Sqlite, memory.at_once)?;
            Some(Ratio {
                at_once: memory.at_once,
                events_per_second: sqlite.events_per_second / memory.events_per_second,
                runs_per_second: sqlite.runs_per_second / memory.runs_per_second,
                peak_rss: sqlite.peak_rss_mb / memory.peak_rss_mb,
            })
        })
        .collect()
}

fn postgres_ratios(rows: &[Row]) -> Vec<PostgresRatio> {
    rows.iter()
        .filter(|row| row.store == Store::Postgres)
        .filter_map(|postgres| {
            let sqlite = rows
                .iter()
                .find(|row| row.store == Store::Sqlite && row.at_once == postgres.at_once)?;
            Some(PostgresRatio {
                at_once: postgres.at_once,
                events_per_second: postgres.events_per_second / sqlite.events_per_second,
                runs_per_second: postgres.runs_per_second / sqlite.runs_per_second,
                first_token_p99: postgres.first_token_p99_ms / sqlite.first_token_p99_ms,
            })
        })
        .collect()
}

/// The PostgreSQL server to measure on: `BENCH_POSTGRES_URL`, else
/// `ASSISTANT_STREAM_TEST_POSTGRES` (what `scripts/postgres.sh start`
/// prints); why not, without either.
fn postgres_server() -> Result<String, String> {
    ["BENCH_POSTGRES_URL", "ASSISTANT_STREAM_TEST_POSTGRES"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|url| !url.trim().is_empty()))
        .ok_or_else(|| {
            "neither BENCH_POSTGRES_URL nor ASSISTANT_STREAM_TEST_POSTGRES names a server \
             (scripts/postgres.sh start prints one)"
                .to_owned()
        })
}

/// A database made for one PostgreSQL configuration, on the server
/// `admin` names; dropped by [`BenchDatabase::drop_database`].
struct BenchDatabase {
    admin: String,
    name: String,
    url: String,
}

impl BenchDatabase {
    async fn create(admin: &str, at_once: usize) -> Self {
        use sqlx::Connection;
        let name = format!("bench_{}_{at_once}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(admin)
            .await
            .expect("a connection to the PostgreSQL server");
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .expect("a fresh database");
        }
        let _ = conn.close().await;
        // The admin URL with its path replaced by the new database.
        let (base, query) = admin.split_once('?').unwrap_or((admin, ""));
        let (scheme, rest) = base.split_once("://").expect("a URL");
        let authority = rest.split('/').next().unwrap_or("");
        let mut url = format!("{scheme}://{authority}/{name}");
        if !query.is_empty() {
            url.push('?');
            url.push_str(query);
        }
        BenchDatabase {
            admin: admin.to_owned(),
            name,
            url,
        }
    }

    async fn size_mb(&self) -> f64 {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.url)
            .await
            .expect("a connection to the bench's database");
        let bytes: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
            .fetch_one(&mut conn)
            .await
            .expect("the database's size");
        let _ = conn.close().await;
        bytes as f64 / 1e6
    }

    async fn drop_database(self) {
        use sqlx::Connection;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.admin).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }
}

fn report_path() -> PathBuf {
    if let Some(path) = std::env::var_os("BENCH_SERVER_JSON") {
        return PathBuf::from(path);
    }
    // Cargo runs benches from the package's directory, one below the
    // workspace's target directory.
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("bench-server.json")
}

// ---- one configuration ----

async fn configuration(
    http: &reqwest::Client,
    server: &ServerProcess,
    store: Store,
    load: Load,
) -> Row {
    let client = Client::builder()
        .base_url(&server.base_url)
        .api_key(API_KEY)
        .http_client(http.clone())
        // A failed request is a failed bench, not a retried one.
        .max_retries(0)
        .build()
        .expect("the client");
    let assistant_id = client
        .assistants()
        .create(CreateAssistantRequest::new("scripted"))
        .await
        .expect("an assistant")
        .id;
    let start_rss_mb = server.rss_mb("VmRSS");

    let warm_up_each = WARM_UP_RUNS.div_ceil(load.at_once);
    run_all(
        std::slice::from_ref(&client),
        &assistant_id,
        load.at_once,
        warm_up_each,
    )
    .await;

    let server_cpu = server.cpu_seconds();
    let server_writes = server.writes();
    let clients_cpu = process_cpu_seconds();
    let start = Instant::now();
    let outcomes = run_all(
        std::slice::from_ref(&client),
        &assistant_id,
        load.at_once,
        load.runs_each,
    )
    .await;
    let seconds = start.elapsed().as_secs_f64();
    let server_cpu = server.cpu_seconds() - server_cpu;
    let server_writes = server.writes().since(server_writes);
    let clients_cpu = process_cpu_seconds() - clients_cpu;

    let runs = outcomes.len();
    let events: u64 = outcomes.iter().map(|run| run.events).sum();
    let mut first_tokens: Vec<f64> = outcomes
        .iter()
        .map(|run| run.first_token.as_secs_f64() * 1e3)
        .collect();
    first_tokens.sort_by(f64::total_cmp);
    let row = Row {
        store,
        at_once: load.at_once,
        runs,
        warm_up_runs: warm_up_each * load.at_once,
        seconds,
        events,
        runs_per_second: runs as f64 / seconds,
        events_per_second: events as f64 / seconds,
        first_token_p50_ms: percentile(&first_tokens, 0.5),
        first_token_p99_ms: percentile(&first_tokens, 0.99),
        start_rss_mb,
        peak_rss_mb: server.rss_mb("VmHWM"),
        server_cpu_ms_per_run: server_cpu * 1e3 / runs as f64,
        clients_cpu_ms_per_run: clients_cpu * 1e3 / runs as f64,
        server_write_calls_per_run: server_writes.calls as f64 / runs as f64,
        server_kb_written_per_run: server_writes.bytes as f64 / 1e3 / runs as f64,
        file_mb: None,
    };
    println!(
        "{} runs at once, {}: {runs} runs in {seconds:.2} s, {:.0} events/s, first token p99 {:.1} ms, peak RSS {:.1} MB",
        load.at_once,
        store.label(),
        row.events_per_second,
        row.first_token_p99_ms,
        row.peak_rss_mb,
    );
    row
}

/// Nearest rank of a sorted, non-empty list.
fn percentile(sorted: &[f64], quantile: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * quantile).round() as usize]
}

/// `at_once` tasks, each making `runs_each` runs in a row; task `n` on
/// `clients[n % clients.len()]` (round robin, as a load balancer would).
async fn run_all(
    clients: &[Client],
    assistant_id: &str,
    at_once: usize,
    runs_each: usize,
) -> Vec<RunOutcome> {
    let tasks: Vec<_> = (0..at_once)
        .map(|n| {
            let client = clients[n % clients.len()].clone();
            let assistant_id = assistant_id.to_owned();
            tokio::spawn(async move {
                let mut outcomes = Vec::with_capacity(runs_each);
                for _ in 0..runs_each {
                    outcomes.push(streamed_run(&client, &assistant_id).await);
                }
                outcomes
            })
        })
        .collect();
    let mut outcomes = Vec::with_capacity(at_once * runs_each);
    for task in tasks {
        outcomes.extend(task.await.expect("a client task"));
    }
    outcomes
}

struct RunOutcome {
    events: u64,
    /// From sending the run's POST to the first message delta read.
    first_token: Duration,
}

/// Stamps the first message delta and counts them.
struct FirstToken {
    first: Option<Instant>,
    deltas: usize,
}

impl EventHandler for FirstToken {
    async fn on_event(&mut self, event: &AssistantEvent) {
        if let AssistantEvent::MessageDelta(_) = event {
            self.first.get_or_insert_with(Instant::now);
            self.deltas += 1;
        }
    }
}

async fn streamed_run(client: &Client, assistant_id: &str) -> RunOutcome {
    let thread = client
        .threads()
        .create(
            CreateThreadRequest::new()
                .message(CreateMessageRequest::user(format!("/long {TOKENS}"))),
        )
        .await
        .expect("a thread");
    let sent = Instant::now();
    let mut stream = client
        .threads()
        .runs()
        .create_and_stream(&thread.id, CreateRunRequest::new(assistant_id))
        .await
        .expect("the run starts");
    let mut handler = FirstToken {
        first: None,
        deltas: 0,
    };
    stream.drive(&mut handler).await.expect("the run streams");
    let status = stream.final_run().map(|run| run.status.clone());
    assert_eq!(status, Some(RunStatus::Completed), "the run ends");
    assert_eq!(handler.deltas, TOKENS, "every token arrives");
    RunOutcome {
        events: stream.event_count(),
        first_token: handler.first.expect("a first token") - sent,
    }
}

// ---- the server's process ----

/// A server in a child process; killed when dropped if it has not stopped.
struct ServerProcess {
    child: Child,
    /// Closed to tell the server to stop.
    stdin: Option<ChildStdin>,
    base_url: String,
}

impl ServerProcess {
    /// Starts this binary as a server of `database` and waits for its address.
    fn start(database: &str) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|err| format!("no current exe: {err}"))?;
        let mut child = Command::new(exe)
            .arg(SERVE_CHILD)
            .arg(database)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|err| format!("the server process did not start: {err}"))?;
        let stdin = child.stdin.take();
        let mut line = String::new();
        let stdout = child.stdout.take().expect("a piped stdout");
        let read = BufReader::new(stdout).read_line(&mut line);
        let mut server = ServerProcess {
            child,
            stdin,
            base_url: String::new(),
        };
        match (read, line.trim().split_once(' ')) {
            (Ok(_), Some(("listening", url))) => {
                server.base_url = url.to_owned();
                Ok(server)
            }
            (Ok(_), Some(("failed", reason))) => Err(reason.to_owned()),
            (read, _) => Err(format!("the server process said {line:?} ({read:?})")),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A size field of `/proc/PID/status`, in MB.
    fn rss_mb(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("the server's /proc status (Linux)");
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.trim().strip_suffix("kB")?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{field} in /proc/PID/status"));
        kib * 1024.0 / 1e6
    }

    /// The server's user + system CPU time.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .expect("the server's /proc stat (Linux)");
        // After the command name, in parentheses, which may hold spaces:
        // utime and stime are fields 14 and 15, in clock ticks.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .expect("a command name")
            .1
            .split_whitespace()
            .collect();
        let ticks: f64 =
            fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
        ticks / clock_ticks_per_second()
    }

    /// What the server has written so far, to sockets and files.
    fn writes(&self) -> Writes {
        let io = std::fs::read_to_string(format!("/proc/{}/io", self.pid()))
            .expect("the server's /proc io (Linux)");
        let field = |name: &str| -> u64 {
            io.lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or_else(|| panic!("{name} in /proc/PID/io"))
        };
        Writes {
            calls: field("syscw"),
            bytes: field("wchar"),
        }
    }
}

#[derive(Clone, Copy)]
struct Writes {
    calls: u64,
    bytes: u64,
}

impl Writes {
    fn since(self, before: Writes) -> Writes {
        Writes {
            calls: self.calls - before.calls,
            bytes: self.bytes - before.bytes,
        }
    }
}

/// The SQLite file and its write-ahead log, in MB.
fn sqlite_files_mb(file: &Path) -> f64 {
    let mut wal = file.as_os_str().to_owned();
    wal.push("-wal");
    [file.to_path_buf(), PathBuf::from(wal)]
        .iter()
        .filter_map(|path| std::fs::metadata(path).ok())
        .map(|meta| meta.len() as f64 / 1e6)
        .sum()
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // Closing stdin asks for a graceful shutdown; a server that takes
        // longer than this is killed.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("the server did not stop within 10 s: killed");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child's side: serves `database` until stdin closes. Prints
/// `listening URL` or `failed REASON` as its first line.
fn serve_child(database: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    runtime.block_on(async {
        let started = match database.parse::<Database>() {
            Ok(database) => Server::builder()
                .database(database)
                .api_key(API_KEY)
                .spawn()
                .await
                .map_err(|err| describe_error(&err)),
            Err(err) => Err(err.to_string()),
        };
        let mut stdout = std::io::stdout();
        let server = match started {
            Ok(server) => {
                writeln!(stdout, "listening {}", server.base_url()).expect("stdout");
                stdout.flush().expect("stdout");
                server
            }
            Err(reason) => {
                writeln!(stdout, "failed {reason}").expect("stdout");
                return;
            }
        };
        // Stdin closes when the bench is done with this server, or dies.
        tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new()))
            .await
            .expect("the stdin reader")
            .ok();
        server.shutdown().await.expect("a graceful shutdown");
    });
}

/// An error and its sources, on one line.
fn describe_error(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

// ---- the bench's own process ----

#[cfg(target_os = "linux")]
fn process_cpu_seconds() -> f64 {
    // SAFETY: `getrusage` fills the struct it is given, which is plain data.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

#[cfg(not(target_os = "linux"))]
fn process_cpu_seconds() -> f64 {
    f64::NAN
}

#[cfg(target_os = "linux")]
fn clock_ticks_per_second() -> f64 {
    // SAFETY: `sysconf` only reads a configuration value.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

#[cfg(not(target_os = "linux"))]
fn clock_ticks_per_second() -> f64 {
    f64::NAN
}

// ---- temporary files ----

/// A temporary directory for the SQLite files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "assistant-stream-bench-server-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Scratch(dir)
    }

    /// A path no configuration used before (SQLite makes the file, and its
    /// `-wal` and `-shm` beside it).
    fn fresh_file(&self, at_once: usize) -> PathBuf {
        self.0.join(format!("at-once-{at_once}.db"))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
