//! # assistant-stream-core
//!
//! The streaming engine of [assistant-stream](https://docs.rs/assistant-stream):
//! use it through the `assistant-stream` crate, which re-exports it whole.
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
//! [`render`] (live rendering and printing for terminals) and the one
//! [`Error`] type of every crate of the workspace.
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
#[doc(hidden)]
pub mod error;
pub mod event;
pub mod handler;
#[cfg(feature = "eventsource-stream")]
pub mod interop;
pub mod render;
pub mod sse;
pub mod stream;
pub mod types;

pub use accumulate::Snapshots;
pub use error::{BoxError, Error, Result};
pub use event::AssistantEvent;
pub use handler::{EventHandler, NoopHandler};
pub use stream::{AssistantStream, TextDeltas};
