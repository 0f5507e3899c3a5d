//! [`ThreadMonitor`]: new messages of a thread, as they are completed.

use crate::client::Client;
use crate::error::Error;
use crate::types::{ListQuery, Message, MessageStatus, Order, Role};
use std::future::Future;
use std::time::Duration;
pub use tokio_util::sync::CancellationToken;

/// Polls a thread for new messages and reports each complete one once, in
/// order, until stopped.
///
/// A message is complete when it is the user's, or the assistant finished
/// writing it (status `completed` or `incomplete`). The monitor pages
/// forward from the last message it reported (`after`, oldest first,
/// following `has_more`), and stops at the first message still being
/// written, so nothing is reported twice and nothing is skipped.
///
/// ```
/// use assistant_stream::Client;
/// use assistant_stream::agent::{CancellationToken, Thread, ThreadMonitor};
/// use assistant_stream::server::Server;
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let server = Server::builder().spawn().await?;
/// let client = Client::builder().base_url(server.base_url()).api_key("sk-local").build()?;
/// let thread = Thread::new(&client);
/// thread.add("one").await?;
/// thread.add("two").await?;
///
/// let stop = CancellationToken::new();
/// let mut seen = Vec::new();
/// let mut monitor = ThreadMonitor::new(&client, thread.id().unwrap()).interval(Duration::from_millis(50));
/// monitor
///     .run(stop.clone(), |message| {
///         seen.push(message.text());
///         if seen.len() == 2 {
///             stop.cancel();
///         }
///     })
///     .await?;
/// assert_eq!(seen, ["one", "two"]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ThreadMonitor {
    client: Client,
    thread_id: String,
    interval: Duration,
    page_size: u32,
    last_seen: Option<String>,
}

impl ThreadMonitor {
    /// A monitor of `thread_id` that reports every message from the
    /// first, polling every second.
    pub fn new(client: &Client, thread_id: impl Into<String>) -> Self {
        ThreadMonitor {
            client: client.clone(),
            thread_id: thread_id.into(),
            interval: Duration::from_secs(1),
            page_size: 100,
            last_seen: None,
        }
    }

    /// Sets how long to wait between polls (default 1 s).
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets how many messages to ask for per page (1 to 100; default 100).
    #[must_use]
    pub fn page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size.clamp(1, 100);
        self
    }

    /// Reports only the messages after `message_id`.
    #[must_use]
    pub fn after(mut self, message_id: impl Into<String>) -> Self {
        self.last_seen = Some(message_id.into());
        self
    }

    /// The thread watched.
    pub fn thread_id(&self) -> &str {
        &self.thread_id
    }

    /// The last message reported (or given to [`after`](Self::after)).
    pub fn last_seen(&self) -> Option<&str> {
        self.last_seen.as_deref()
    }

    /// One poll: the complete messages after the last one reported, oldest
    /// first, across as many pages as there are. They count as reported.
    pub async fn poll_once(&mut self) -> Result<Vec<Message>, Error> {
        let messages = self.fetch_new().await?;
        if let Some(last) = messages.last() {
            self.last_seen = Some(last.id.clone());
        }
        Ok(messages)
    }

    /// The complete messages after the last one reported, without marking
    /// them reported.
    async fn fetch_new(&self) -> Result<Vec<Message>, Error> {
        let mut out = Vec::new();
        let mut cursor = self.last_seen.clone();
        loop {
            let mut query = ListQuery::new().order(Order::Asc).limit(self.page_size);
            query.after = cursor.clone();
            let page = self.client.messages().list(&self.thread_id, query).await?;
            let count = page.data.len();
            for message in page.data {
                if !is_complete(&message) {
                    // Wait for it: reporting what follows would skip it.
                    return Ok(out);
                }
                cursor = Some(message.id.clone());
                out.push(message);
            }
            if !page.has_more || count == 0 {
                return Ok(out);
            }
        }
    }

    /// Polls until `stop` is cancelled, calling `callback` for each new
    /// complete message. Returns the first error of a poll.
    pub async fn run<F>(&mut self, stop: CancellationToken, mut callback: F) -> Result<(), Error>
    where
        F: FnMut(&Message),
    {
        self.run_async(stop, move |message| {
            callback(&message);
            std::future::ready(())
        })
        .await
    }

    /// Like [`run`](Self::run), with an async callback.
    pub async fn run_async<F, Fut>(
        &mut self,
        stop: CancellationToken,
        mut callback: F,
    ) -> Result<(), Error>
    where
        F: FnMut(Message) -> Fut,
        Fut: Future<Output = ()>,
    {
        loop {
            if stop.is_cancelled() {
                return Ok(());
            }
            let messages = tokio::select! {
                biased;
                () = stop.cancelled() => return Ok(()),
                polled = self.fetch_new() => polled?,
            };
            for message in messages {
                if stop.is_cancelled() {
                    return Ok(());
                }
                let id = message.id.clone();
                callback(message).await;
                self.last_seen = Some(id);
            }
            tokio::select! {
                biased;
                () = stop.cancelled() => return Ok(()),
                () = tokio::time::sleep(self.interval) => {}
            }
        }
    }
}

fn is_complete(message: &Message) -> bool {
    message.role == Role::User || !matches!(message.status, Some(MessageStatus::InProgress))
}
