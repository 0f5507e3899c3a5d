//! # assistant-stream-store
//!
//! Where the [assistant-stream](https://docs.rs/assistant-stream) server's
//! data lives: one trait per resource, the records they keep, the
//! reference store ([`MemoryStore`]) and, behind the `testing` feature, the
//! conformance suite every store passes ([`testing`]). The SQL stores are
//! in `assistant-stream-sql`; the server opens the one a [`Database`]
//! names.
//!
//! | trait | resource |
//! |---|---|
//! | [`AssistantStore`] | assistants |
//! | [`ThreadStore`] | threads and their messages |
//! | [`RunStore`] | runs and their steps, written in batches ([`RunBatch`]) |
//! | [`EventLog`] | the events of runs, for resumable streams |
//! | [`Ownership`] | which server instance holds which run, on a shared store |
//!
//! [`Store`] is all of them: what the server holds (`Arc<dyn Store>`).
//! A store implements each trait and is a `Store` by that alone. A new
//! resource adds a trait (a module of its own here), its implementation in
//! each store, its checks in [`testing`], and its place in `Store`'s list.
//!
//! A store knows nothing of HTTP (its errors are [`StoreError`]s, which the
//! server turns into API errors) and nothing of what is running: cancel
//! signals, expiry timers and the live fan-out of events belong to the
//! server's services, and status changes to its run lifecycle.
//!
//! Objects are kept whole, as the API shows them (the SQL stores keep them
//! as JSON next to the columns they are found and ordered by). Each
//! collection lists in insertion order.
//!
//! # The semantics every store keeps
//!
//! [`MemoryStore`] is the reference: its behaviour is what the server's
//! HTTP tests check, and the conformance suite holds every store to it.
//!
//! - [`RunStore::insert_run`] and [`ThreadStore::insert_message`] are
//!   atomic with the thread's lock: a thread with an active run refuses
//!   both ([`StoreError::ThreadLocked`]);
//! - [`RunStore::commit`] writes a [`RunBatch`] in one transaction, and a
//!   run that it leaves in a terminal status unlocks its thread and starts
//!   the retention window of its events;
//! - deleting a thread deletes its messages, runs, steps and events.
#![deny(missing_docs)]

mod assistants;
pub mod database;
mod error;
mod events;
pub mod ids;
pub mod memory;
mod ownership;
mod records;
mod runs;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod threads;

pub use assistants::AssistantStore;
pub use database::{Database, ParseDatabaseError, PostgresUrl};
pub use error::{StoreError, StoreResult};
pub use events::EventLog;
pub use memory::MemoryStore;
pub use ownership::Ownership;
pub use records::{
    Page, PageQuery, RunBatch, RunProgress, RunRecord, StoredEvent, ThreadRecord, Wakeup,
};
pub use runs::RunStore;
pub use threads::ThreadStore;

/// The server's storage: every store trait, one per resource (see the
/// [crate docs](crate) for the semantics an implementation must keep). A
/// store implements each trait, and is a `Store` by that alone.
pub trait Store: AssistantStore + ThreadStore + RunStore + EventLog + Ownership + 'static {}

impl<T> Store for T where T: AssistantStore + ThreadStore + RunStore + EventLog + Ownership + 'static
{}

/// Every store trait, for code that calls them on a concrete store
/// (`use assistant_stream_store::prelude::*;`); on `dyn Store` they need
/// no import.
pub mod prelude {
    pub use crate::{AssistantStore, EventLog, Ownership, RunStore, Store, ThreadStore};
}
