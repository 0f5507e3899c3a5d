//! # assistant-stream-sql
//!
//! The SQL stores of the [assistant-stream](https://docs.rs/assistant-stream)
//! server, each implementing the store traits of `assistant-stream-store`:
//! [`sqlite`] (a file one process owns) and, with the `postgres` feature,
//! `postgres` (a database several server instances share). The only crate
//! of the workspace that depends on sqlx.
//!
//! One crate for both, because they share what is SQL and not a driver's
//! (`common`: JSON columns, run records, list windows and cursors, the
//! migrator); sqlx's own features pick the drivers built.

#![deny(missing_docs)]

mod common;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod sqlite;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

#[cfg(test)]
mod conformance;

// The store crate's traits and records, under the names this crate's code
// has always used (`super::Store`, `super::RunBatch`, ...).
use assistant_stream_core::types;
#[cfg(feature = "postgres")]
use assistant_stream_store::Wakeup;
use assistant_stream_store::{
    Page, PageQuery, RunBatch, RunRecord, StoreError, StoreResult, StoredEvent, ThreadRecord,
};
