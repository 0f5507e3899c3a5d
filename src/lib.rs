//! # assistant-stream
//!
//! A streaming engine, client, agent layer and embedded server for the
//! Assistants v2 API (assistants, threads, messages, runs, run steps).
//!
//! Data flows one way, each stage in its own module:
//!
//! | stage | module | type |
//! |---|---|---|
//! | bytes → frames | [`sse`] | [`sse::SseParser`] |
//! | frames → events | [`event`] | [`AssistantEvent`] |
//! | events → snapshots | [`accumulate`] | [`Snapshots`] |
//! | snapshots → callbacks | [`handler`] | [`EventHandler`] |
//! | all of it over a byte stream | [`stream`] | [`AssistantStream`] |
//!
//! Around it: [`types`] (the wire types of the OpenAPI description),
//! `client` (feature `client`, on by default: every REST resource, streams
//! whose tool calls are answered mid-stream), `server` (feature `server`: an
//! Assistants-v2-compatible server with a scripted model and recorded-stream
//! replay), `agent` (feature `agent`: Rust functions as tools, `say()`,
//! threads, monitors; `blocking` without async) and [`render`] (live
//! rendering and printing for terminals). The guides are in [`docs`].
//!
//! This crate is a facade over the crates of its workspace, as `sqlx` is
//! over its core and drivers: `assistant-stream-core` (the engine),
//! `assistant-stream-client` (the client and agent layer) and
//! `assistant-stream-server` (the server, over `assistant-stream-store` and
//! `assistant-stream-sql`). Add this one; its features turn the others on.
//!
//! ```
//! use assistant_stream::{AssistantStream, EventHandler};
//! use assistant_stream::types::{Text, TextDelta};
//!
//! struct Print;
//!
//! impl EventHandler for Print {
//!     async fn on_text_delta(&mut self, delta: &TextDelta, _snapshot: &Text) {
//!         print!("{}", delta.value.as_deref().unwrap_or(""));
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let recorded = "event: thread.run.completed\ndata: {\"id\":\"run_1\",\"status\":\"completed\"}\n\n";
//! let mut stream = AssistantStream::from_bytes(recorded);
//! stream.drive(&mut Print).await?;
//! assert_eq!(stream.final_run().unwrap().id, "run_1");
//! # Ok::<(), assistant_stream::Error>(())
//! # }).unwrap();
//! ```
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[doc(inline)]
pub use assistant_stream_core::{accumulate, event, handler, render, sse, stream, types};

#[cfg(feature = "eventsource-stream")]
#[doc(inline)]
pub use assistant_stream_core::interop;

#[cfg(feature = "agent")]
#[doc(inline)]
pub use assistant_stream_client::agent;
#[cfg(feature = "client")]
#[doc(inline)]
pub use assistant_stream_client::client;

#[cfg(feature = "server")]
#[doc = include_str!("../docs/server.md")]
pub mod server {
    #[doc(inline)]
    pub use assistant_stream_server::*;
}

#[cfg(feature = "client")]
#[doc(inline)]
pub use assistant_stream_client::Client;
#[doc(inline)]
pub use assistant_stream_core::{
    AssistantEvent, AssistantStream, BoxError, Error, EventHandler, NoopHandler, Result, Snapshots,
    TextDeltas,
};

pub mod docs;

/// The README's examples, compiled and run as doc tests.
#[cfg(all(doctest, feature = "agent", feature = "server"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
