//! The integration tests, built as one binary: one test binary with the
//! HTTP stack to build and link instead of one per file cut the cold build
//! of the tests by minutes (see docs/development.md, "Build times"). Each
//! module is one file of `tests/`; run one with
//! `cargo test --test integration MODULE::`.

#[cfg(all(feature = "agent", feature = "server"))]
mod agent_support;
mod common;
#[cfg(feature = "server")]
mod openapi;
#[cfg(feature = "server")]
mod server_support;
#[cfg(feature = "client")]
mod support;
#[cfg(feature = "server")]
mod third_party;

mod agent_blocking;
mod agent_lifecycle;
mod agent_monitor;
mod agent_print;
mod agent_thread;
mod agent_tools;
mod autogen;
mod chunking_props;
mod cli_trace;
mod client_errors;
mod client_resources;
mod client_resume;
mod client_server;
mod client_streaming;
mod completions_clients;
mod files_types;
mod fixtures_replay;
mod handler_order;
mod marvin;
mod openai_node;
mod openai_python;
mod server_chat;
mod server_checks;
mod server_cluster;
mod server_completions;
mod server_completions_openapi;
mod server_load;
mod server_nulls;
mod server_plumbing;
mod server_restart;
mod server_resume;
mod server_routes;
mod server_run_options;
mod server_runs;
mod server_shutdown;
mod sse_roundtrip;
