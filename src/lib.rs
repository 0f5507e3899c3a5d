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
//! rendering and printing for terminals).
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

pub mod accumulate;
#[cfg(feature = "agent")]
pub mod agent;
#[cfg(feature = "client")]
pub mod client;
mod error;
pub mod event;
pub mod handler;
#[cfg(feature = "eventsource-stream")]
pub mod interop;
pub mod render;
#[cfg(feature = "server")]
pub mod server;
pub mod sse;
pub mod stream;
pub mod types;

pub use accumulate::Snapshots;
#[cfg(feature = "client")]
pub use client::Client;
pub use error::{BoxError, Error, Result};
pub use event::AssistantEvent;
pub use handler::{EventHandler, NoopHandler};
pub use stream::{AssistantStream, TextDeltas};

/// The README's examples, compiled and run as doc tests.
#[cfg(all(doctest, feature = "agent", feature = "server"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
