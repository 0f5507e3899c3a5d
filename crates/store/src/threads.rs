//! Threads and their messages ([`ThreadStore`]).

use crate::{Page, PageQuery, StoreResult, ThreadRecord};
use assistant_stream_core::types::{Message, Thread};

/// Threads and their messages. A thread with an active run is locked: it
/// refuses new messages (and runs,
/// [`RunStore::insert_run`](crate::RunStore::insert_run)) in the same
/// transaction as the lock is read.
#[async_trait::async_trait]
pub trait ThreadStore: Send + Sync {
    /// Stores a new thread with its first messages.
    async fn insert_thread(&self, thread: &Thread, messages: &[Message]) -> StoreResult<()>;

    /// A thread, with the run that locks it.
    async fn thread(&self, id: &str) -> StoreResult<ThreadRecord>;

    /// Replaces a thread whole (its lock is kept).
    async fn update_thread(&self, thread: &Thread) -> StoreResult<()>;

    /// Deletes a thread with its messages, runs, steps and events.
    async fn delete_thread(&self, id: &str) -> StoreResult<()>;

    /// Adds a message to an unlocked thread.
    async fn insert_message(&self, message: &Message) -> StoreResult<()>;

    /// A message of a thread.
    async fn message(&self, thread_id: &str, id: &str) -> StoreResult<Message>;

    /// Replaces a message whole.
    async fn update_message(&self, message: &Message) -> StoreResult<()>;

    /// Deletes a message of a thread.
    async fn delete_message(&self, thread_id: &str, id: &str) -> StoreResult<()>;

    /// A page of a thread's messages, those of one run if `run_id` is given.
    async fn list_messages(
        &self,
        thread_id: &str,
        page: &PageQuery,
        run_id: Option<&str>,
    ) -> StoreResult<Page<Message>>;

    /// All of a thread's messages, oldest first (what a model sees).
    async fn thread_messages(&self, thread_id: &str) -> StoreResult<Vec<Message>>;
}
