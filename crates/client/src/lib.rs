//! # assistant-stream-client
//!
//! The HTTP client of [assistant-stream](https://docs.rs/assistant-stream)
//! for every Assistants v2 resource ([`client`]), and the agent layer on top
//! of it ([`agent`], feature `agent`: Rust functions as tools, `say()`,
//! threads, monitors; `blocking` without async). Use it through the
//! `assistant-stream` crate, which re-exports both modules.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "agent")]
pub mod agent;
pub mod client;

pub use client::Client;

// The engine's modules under the paths this crate's code has always used.
#[cfg(feature = "agent")]
pub(crate) use assistant_stream_core::handler;
pub(crate) use assistant_stream_core::{error, stream, types};
