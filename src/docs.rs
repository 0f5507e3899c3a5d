//! The guides, as rustdoc pages; every Rust example in them is compiled
//! and run as a doc test. Their sources are the markdown files in `docs/`.
//! The server's guide is the page of the [`server`](crate::server) module
//! (feature `server`).

#[doc = include_str!("../docs/streaming.md")]
pub mod streaming {}

#[doc = include_str!("../docs/client.md")]
pub mod client {}

#[doc = include_str!("../docs/performance.md")]
pub mod performance {}

#[doc = include_str!("../docs/development.md")]
pub mod development {}

#[doc = include_str!("../docs/ARCHITECTURE.md")]
pub mod architecture {}
