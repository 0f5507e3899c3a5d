//! [`Thread`]: a conversation, created when first needed, and
//! [`RunResult`]: what a run left behind.

use crate::client::Client;
use crate::error::{Error, Kind};

use crate::types::{
    CreateMessageRequest, CreateThreadRequest, ListQuery, Message, MessageInput, Order, Run,
    RunStatus, RunStep,
};
use serde_json::Value;
use std::fmt;
use std::sync::{Arc, Mutex};

/// What a run left behind.
///
/// ```no_run
/// # async fn example(assistant: assistant_stream::agent::Assistant) -> Result<(), assistant_stream::Error> {
/// use assistant_stream::render::print_run;
///
/// let result = assistant.say("Roll two dice").await?;
/// if let Some(value) = &result.ended_early {
///     println!("a tool ended the run with {value}");
/// } else if result.is_completed() {
///     println!("{}", result.text());
/// } else {
///     print_run(&result.run, &result.steps, &result.messages).ok();
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RunResult {
    /// The run as it ended (`completed`, `failed`, `cancelled`, ...).
    pub run: Run,
    /// The messages the run wrote, in order.
    pub messages: Vec<Message>,
    /// The run's steps, in order.
    pub steps: Vec<RunStep>,
    /// The value of the tool that ended the run early, if one did (the run
    /// was then cancelled).
    pub ended_early: Option<Value>,
}

impl RunResult {
    /// The text of the run's messages, one message a line.
    pub fn text(&self) -> String {
        self.messages
            .iter()
            .map(Message::text)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Whether the run completed.
    pub fn is_completed(&self) -> bool {
        self.run.status == RunStatus::Completed
    }
}

/// Which messages [`Thread::messages`] returns.
///
/// ```
/// use assistant_stream::agent::MessageQuery;
///
/// let newest_five = MessageQuery::new().limit(5);
/// let after = MessageQuery::new().after("msg_abc");
/// # let _ = (newest_five, after);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MessageQuery {
    /// At most this many (1 to 100; the server's default is 20).
    pub limit: Option<u32>,
    /// Only messages older than this one (by id).
    pub before: Option<String>,
    /// Only messages newer than this one (by id); the first ones after it
    /// are returned.
    pub after: Option<String>,
}

impl MessageQuery {
    /// The newest messages, as many as the server gives by default.
    pub fn new() -> Self {
        MessageQuery::default()
    }

    /// Sets the limit.
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Only messages older than `message_id`.
    #[must_use]
    pub fn before(mut self, message_id: impl Into<String>) -> Self {
        self.before = Some(message_id.into());
        self
    }

    /// Only messages newer than `message_id`.
    #[must_use]
    pub fn after(mut self, message_id: impl Into<String>) -> Self {
        self.after = Some(message_id.into());
        self
    }
}

struct ThreadState {
    id: Option<String>,
}

/// A thread of messages, created on the server when first needed (or
/// taken by id), and runs of assistants on it.
///
/// Clones share the thread. [`delete`](Self::delete) deletes it; a thread
/// made here is otherwise kept (threads outlive programs).
///
/// ```
/// use assistant_stream::Client;
/// use assistant_stream::agent::{Assistant, MessageQuery, Thread};
/// use assistant_stream::server::Server;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let server = Server::builder().spawn().await?;
/// let client = Client::builder().base_url(server.base_url()).api_key("sk-local").build()?;
/// let assistant = Assistant::new(&client);
///
/// let thread = Thread::new(&client);
/// thread.add("Hello").await?;
/// let result = thread.run(&assistant).await?;
/// assert_eq!(result.text(), "You said: Hello");
///
/// let messages = thread.messages(MessageQuery::new()).await?;
/// assert_eq!(messages.iter().map(|m| m.text()).collect::<Vec<_>>(), ["Hello", "You said: Hello"]);
/// thread.delete().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Thread {
    client: Client,
    request: Arc<CreateThreadRequest>,
    state: Arc<Mutex<ThreadState>>,
    create_gate: Arc<tokio::sync::Mutex<()>>,
}

impl fmt::Debug for Thread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl Thread {
    /// A thread created on the server when first needed.
    pub fn new(client: &Client) -> Self {
        Thread::with_request(client, CreateThreadRequest::new())
    }

    /// A thread created when first needed from `request` (metadata, tool
    /// resources, first messages).
    pub fn with_request(client: &Client, request: CreateThreadRequest) -> Self {
        Thread {
            client: client.clone(),
            request: Arc::new(request),
            state: Arc::new(Mutex::new(ThreadState { id: None })),
            create_gate: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// An existing thread.
    pub fn from_id(client: &Client, id: impl Into<String>) -> Self {
        let thread = Thread::new(client);
        thread.lock().id = Some(id.into());
        thread
    }

    /// The id, once the thread exists on the server.
    pub fn id(&self) -> Option<String> {
        self.lock().id.clone()
    }

    /// The client it talks through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates the thread on the server if it does not exist yet, and
    /// returns its id.
    pub async fn create(&self) -> Result<String, Error> {
        if let Some(id) = self.id() {
            return Ok(id);
        }
        let _gate = self.create_gate.lock().await;
        if let Some(id) = self.id() {
            return Ok(id);
        }
        let thread = self
            .client
            .threads()
            .create((*self.request).clone())
            .await?;
        self.lock().id = Some(thread.id.clone());
        Ok(thread.id)
    }

    /// Adds a user message.
    ///
    /// Fails with [`Error::is_active_run`] while a run of the thread is
    /// active.
    pub async fn add(&self, content: impl Into<MessageInput>) -> Result<Message, Error> {
        self.add_message(CreateMessageRequest::user(content)).await
    }

    /// Adds a message with attachments, image parts or metadata.
    ///
    /// ```no_run
    /// # async fn example(thread: assistant_stream::agent::Thread) -> Result<(), assistant_stream::Error> {
    /// use assistant_stream::types::{Attachment, CreateMessageRequest, MessageInputPart, Tool};
    ///
    /// thread
    ///     .add_message(
    ///         CreateMessageRequest::user(vec![
    ///             MessageInputPart::text("What is in this picture, and in the file?"),
    ///             MessageInputPart::image_url("https://example.com/cat.png"),
    ///         ])
    ///         .attachment(Attachment::new("file-abc", vec![Tool::file_search()])),
    ///     )
    ///     .await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn add_message(&self, message: CreateMessageRequest) -> Result<Message, Error> {
        let id = self.create().await?;
        self.client
            .messages()
            .create(&id, message)
            .await
            .map_err(|err| active_run_error(err, &id, "add a message to"))
    }

    /// Messages of the thread, oldest first. With [`MessageQuery::after`],
    /// the first `limit` messages after that one (and before
    /// [`MessageQuery::before`], if set); otherwise the newest `limit`
    /// messages (older than `before`, if set). Empty for a thread not
    /// created yet.
    pub async fn messages(&self, query: MessageQuery) -> Result<Vec<Message>, Error> {
        let Some(id) = self.id() else {
            return Ok(Vec::new());
        };
        let forward = query.after.is_some();
        let mut list = ListQuery::new().order(if forward { Order::Asc } else { Order::Desc });
        list.limit = query.limit;
        if forward {
            list.after = query.after;
            list.before = query.before;
        } else {
            // Listed newest first, "after" a message means older than it.
            list.after = query.before;
        }
        let page = self.client.messages().list(&id, list).await?;
        let mut messages = page.data;
        if !forward {
            messages.reverse();
        }
        Ok(messages)
    }

    /// Deletes the thread from the server, if it exists there; the value
    /// then stands for a new thread, created when next needed.
    pub async fn delete(&self) -> Result<(), Error> {
        let _gate = self.create_gate.lock().await;
        let Some(id) = self.id() else {
            return Ok(());
        };
        match self.client.threads().delete(&id).await {
            Ok(_) => {}
            // Already gone: the goal is reached.
            Err(err) if err.status() == Some(404) => {}
            Err(err) => return Err(err),
        }
        self.lock().id = None;
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ThreadState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Turns the server's "thread has an active run" 400 into an error that
/// says so ([`Error::is_active_run`]).
pub(super) fn active_run_error(err: Error, thread_id: &str, action: &str) -> Error {
    let Some(api_error) = err.api_error().filter(|_| err.status() == Some(400)) else {
        return err;
    };
    let message = api_error.message.to_ascii_lowercase();
    let busy = message.contains("active run")
        || (message.contains("while a run") && message.contains("active"));
    if !busy {
        return err;
    }
    Error::new(
        Kind::ActiveRun,
        format!(
            "cannot {action} thread {thread_id}: a run of it is still active; wait for it to end or cancel it (server: {})",
            api_error.message
        ),
    )
    .with_status(400)
    .with_api_error(api_error.clone())
    .with_request_id(err.request_id().map(str::to_owned))
}
