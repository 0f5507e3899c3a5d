//! `assistant-stream serve`: the embedded Assistants v2 server on a local address.

use assistant_stream_server::{ChatCompletions, Database, Embeddings, Server};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The log filter of `serve` when `RUST_LOG` is not set: warnings, and the
/// server's own INFO lines (one per request: method, path, status, latency,
/// request id and, for an error, its message).
pub const DEFAULT_LOG_FILTER: &str = "warn,assistant_stream::server=info,assistant_stream_server=info,assistant_stream_sql=info,assistant_stream_store=info";

/// Options of `assistant-stream serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Require `Authorization: Bearer KEY` on every request (without it, any key is accepted).
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Stream tokens at this rate, to watch them render (default: as fast as possible).
    #[arg(long, value_name = "N")]
    pub tokens_per_second: Option<f64>,
    /// Replay this recorded `.sse` stream for every streamed run instead of the scripted
    /// model; repeat for the turns after tool outputs.
    #[arg(long, value_name = "FILE", conflicts_with = "backend_url")]
    pub replay: Vec<PathBuf>,
    /// Run every run on this Chat Completions backend (`http://HOST:PORT/v1`: vLLM,
    /// Ollama, llama.cpp, LiteLLM, OpenAI, ...) instead of the scripted model.
    #[arg(long, value_name = "URL")]
    pub backend_url: Option<String>,
    /// The backend's key, sent as `Authorization: Bearer KEY` (never logged).
    #[arg(
        long,
        value_name = "KEY",
        requires = "backend_url",
        env = "ASSISTANT_STREAM_BACKEND_API_KEY",
        hide_env_values = true
    )]
    pub backend_api_key: Option<String>,
    /// The backend model every run uses, whatever its `model` says (default: the
    /// run's `model` is passed through).
    #[arg(long, value_name = "NAME", requires = "backend_url")]
    pub backend_model: Option<String>,
    /// How long a backend (the model's, or the embeddings') may send nothing before a run
    /// or request fails, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub backend_timeout: u64,
    /// Answer `POST /v1/embeddings` with this OpenAI-compatible backend
    /// (`http://HOST:PORT/v1`: OpenAI, vLLM, Ollama, llama.cpp,
    /// text-embeddings-inference, ...). Without it the route answers an error naming this flag.
    #[arg(long, value_name = "URL")]
    pub embeddings_url: Option<String>,
    /// The embeddings model every request uses, whatever its `model` says (default: the
    /// request's `model` is passed through); `/v1/models` lists it.
    #[arg(long, value_name = "NAME", requires = "embeddings_url")]
    pub embeddings_model: Option<String>,
    /// The embeddings backend's key, sent as `Authorization: Bearer KEY` (never logged).
    #[arg(
        long,
        value_name = "KEY",
        requires = "embeddings_url",
        env = "ASSISTANT_STREAM_EMBEDDINGS_API_KEY",
        hide_env_values = true
    )]
    pub embeddings_api_key: Option<String>,
    /// The most inputs sent to the embeddings backend in one request; longer lists go in
    /// batches.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 32,
        requires = "embeddings_url"
    )]
    pub embeddings_batch: usize,
    /// The wait suggested to polling clients in `openai-poll-after-ms` on runs still active.
    #[arg(long, value_name = "MS", default_value_t = 25)]
    pub poll_after_ms: u64,
    /// Send no CORS headers and answer no preflights (by default any origin may call).
    #[arg(long)]
    pub no_cors: bool,
    /// Where to keep assistants, threads, messages, runs and their events:
    /// `sqlite://PATH` (made if missing, migrated on start, held by this process alone),
    /// `postgres://USER:PASSWORD@HOST:PORT/DB` (an existing PostgreSQL database, migrated
    /// on start; plain TCP, no TLS) or `memory` (gone when the server stops). Default:
    /// `assistants.db` in the working directory.
    #[arg(
        long,
        value_name = "URL",
        default_value = "sqlite://assistants.db",
        env = "ASSISTANT_STREAM_DATABASE"
    )]
    pub database: Database,
    /// The most connections to a PostgreSQL database (default: four per core of this
    /// machine, from 4 to 32). Set it from the database server's cores; with several
    /// instances, keep their sum under its `max_connections`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub database_connections: Option<u32>,
    /// How long the events of an ended run are kept for clients resuming its stream
    /// (`GET /v1/threads/{thread_id}/runs/{run_id}/events`), in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub event_retention: u64,
    /// With several instances on one PostgreSQL database: how long an instance may go
    /// unheard of before the others take over its runs, in seconds (fractions allowed,
    /// at least 0.1). Each instance says it is alive every quarter of this; a shorter
    /// lease settles a dead instance's runs sooner for more writes.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = parse_lease)]
    pub instance_lease: f64,
    /// How long a shutdown (SIGTERM or Ctrl-C) waits for what is in flight, in seconds:
    /// streams end at once with an `error` event that says to resume, run drivers write
    /// what they have, and the runs are left for the next start to settle.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub shutdown_grace: u64,
}

/// A lease in seconds: a finite number, at least 0.1.
fn parse_lease(text: &str) -> Result<f64, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    if !seconds.is_finite() || seconds < 0.1 {
        return Err(format!("'{text}': the lease must be at least 0.1 seconds"));
    }
    Ok(seconds)
}

/// Serves until Ctrl-C or SIGTERM, then shuts down gracefully within the grace period
/// (a second signal stops at once).
pub async fn serve(args: ServeArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut builder = Server::builder()
        .addr(args.addr)
        .poll_after(Duration::from_millis(args.poll_after_ms))
        .cors(!args.no_cors)
        .database(args.database.clone())
        .event_retention(Duration::from_secs(args.event_retention))
        .instance_lease(Duration::from_secs_f64(args.instance_lease))
        .shutdown_grace(Duration::from_secs(args.shutdown_grace));
    if let Some(connections) = args.database_connections {
        builder = builder.database_connections(connections);
    }
    if let Some(key) = args.api_key {
        builder = builder.api_key(key);
    }
    if let Some(rate) = args.tokens_per_second {
        builder = builder.tokens_per_second(rate);
    }
    for path in args.replay {
        builder = builder.replay(path);
    }
    if let Some(url) = &args.backend_url {
        let mut model = ChatCompletions::builder(url.as_str())
            .stall_timeout(Duration::from_secs(args.backend_timeout.max(1)));
        if let Some(key) = args.backend_api_key {
            model = model.api_key(key);
        }
        if let Some(name) = args.backend_model {
            model = model.model(name);
        }
        builder = builder.model(model.build()?);
    }
    if let Some(url) = &args.embeddings_url {
        let mut embeddings = Embeddings::builder(url.as_str())
            .stall_timeout(Duration::from_secs(args.backend_timeout.max(1)))
            .batch_size(args.embeddings_batch);
        if let Some(key) = args.embeddings_api_key {
            embeddings = embeddings.api_key(key);
        }
        if let Some(name) = args.embeddings_model {
            embeddings = embeddings.model(name);
        }
        builder = builder.embeddings(embeddings.build()?);
    }
    let server = builder.spawn().await?;
    println!("{}", server.base_url());
    let model = match &args.backend_url {
        Some(url) => format!("the Chat Completions backend {url}"),
        None => "the scripted model".to_owned(),
    };
    eprintln!(
        "serving the Assistants v2 API at {} with {model} and data in {}; Ctrl-C to stop",
        server.base_url(),
        args.database
    );
    let mut terminate = stop_signals()?;
    terminate.recv().await;
    eprintln!(
        "shutting down (at most {} s; Ctrl-C or SIGTERM again to stop now)",
        args.shutdown_grace
    );
    tokio::select! {
        result = server.shutdown() => result?,
        _ = terminate.recv() => eprintln!("stopped"),
    }
    Ok(())
}

/// Ctrl-C (SIGINT) and, on Unix, SIGTERM (what service managers and
/// container runtimes send), as one stream of stop requests.
fn stop_signals() -> std::io::Result<tokio::sync::mpsc::Receiver<()>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    let on_interrupt = sender.clone();
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if on_interrupt.send(()).await.is_err() {
                return;
            }
        }
    });
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        tokio::spawn(async move {
            while terminate.recv().await.is_some() {
                if sender.send(()).await.is_err() {
                    return;
                }
            }
        });
    }
    #[cfg(not(unix))]
    drop(sender);
    Ok(receiver)
}
