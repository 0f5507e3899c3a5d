//! The agent layer without async: [`Assistant`], [`Thread`] and
//! [`ThreadMonitor`] whose calls block until done.
//!
//! Calls run the async ones on an internal Tokio runtime (one for the whole
//! process, made on first use). They must not be made from within an async
//! runtime, where blocking would stall it: such a call fails with an error
//! for which [`Error::is_runtime`] is true, instead of panicking. Handlers
//! and monitor callbacks run on that runtime, so they must not make
//! blocking calls either.
//!
//! ```no_run
//! use assistant_stream::Client;
//! use assistant_stream::agent::blocking::Assistant;
//!
//! # fn main() -> Result<(), assistant_stream::Error> {
//! let client = Client::new()?;
//! let assistant = Assistant::new(&client).instructions("Answer briefly.");
//! let reply = assistant.say("Hello!")?;
//! println!("{}", reply.text());
//! assistant.delete()?;
//! # Ok(())
//! # }
//! ```

use super::{Lifecycle, MessageQuery, RunOptions, RunResult, Tool, ToolMismatch};
use crate::client::Client;
use crate::error::{Error, Kind};
use crate::handler::EventHandler;
use crate::types::{
    CreateMessageRequest, CreateThreadRequest, Message, MessageInput, Metadata, ResponseFormat,
    ToolResources,
};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use tokio_util::sync::CancellationToken;

static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();

/// Runs `future` to completion on the internal runtime.
fn block_on<F: Future>(future: F) -> Result<F::Output, Error> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Error::new(
            Kind::Runtime,
            "a blocking agent call was made from within an async runtime, where it would block the runtime; use the async agent API there",
        ));
    }
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("assistant-stream-blocking")
            .enable_all()
            .build()
            .map_err(|err| err.to_string())
    });
    match runtime {
        Ok(runtime) => Ok(runtime.block_on(future)),
        Err(err) => Err(Error::new(
            Kind::Runtime,
            format!("the runtime of blocking agent calls could not be built: {err}"),
        )),
    }
}

/// A blocking [`agent::Assistant`](super::Assistant): the same settings,
/// lifecycle and tools, with calls that block.
///
/// ```
/// use assistant_stream::Client;
/// use assistant_stream::agent::blocking::Assistant;
/// use assistant_stream::server::Server;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// # let runtime = tokio::runtime::Runtime::new()?;
/// # let server = runtime.block_on(Server::builder().spawn())?;
/// # let base_url = server.base_url();
/// let client = Client::builder().base_url(base_url).api_key("sk-local").build()?;
/// let text = Assistant::new(&client).scoped(|assistant| {
///     Ok::<_, assistant_stream::Error>(assistant.say("Hi")?.text())
/// })?;
/// assert_eq!(text, "You said: Hi");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Assistant {
    inner: super::Assistant,
}

macro_rules! delegate_setters {
    ($( $(#[$doc:meta])* $name:ident: $ty:ty ),* $(,)?) => {$(
        $(#[$doc])*
        #[must_use]
        pub fn $name(self, value: $ty) -> Self {
            Assistant { inner: self.inner.$name(value) }
        }
    )*};
}

impl Assistant {
    /// A lazy assistant on [`DEFAULT_MODEL`](super::DEFAULT_MODEL), with no tools yet.
    pub fn new(client: &Client) -> Self {
        Assistant {
            inner: super::Assistant::new(client),
        }
    }

    delegate_setters! {
        /// Sets the name.
        name: impl Into<String>,
        /// Sets the description.
        description: impl Into<String>,
        /// Sets the instructions.
        instructions: impl Into<String>,
        /// Sets the model.
        model: impl Into<String>,
        /// Sets the tool resources.
        tool_resources: ToolResources,
        /// Sets the metadata.
        metadata: Metadata,
        /// Sets the response format.
        response_format: ResponseFormat,
        /// Sets the sampling temperature.
        temperature: f64,
        /// Sets nucleus sampling.
        top_p: f64,
    }

    /// Adds a tool.
    #[must_use]
    pub fn tool(self, tool: impl Tool) -> Self {
        Assistant {
            inner: self.inner.tool(tool),
        }
    }

    /// Loads an existing assistant; see [`agent::Assistant::load`](super::Assistant::load).
    pub fn load(client: &Client, id: &str, tools: Vec<Arc<dyn Tool>>) -> Result<Assistant, Error> {
        let inner = block_on(super::Assistant::load(client, id, tools))??;
        Ok(Assistant { inner })
    }

    /// The server-side id, while the assistant exists there.
    pub fn id(&self) -> Option<String> {
        self.inner.id()
    }

    /// How the assistant came to exist.
    pub fn lifecycle(&self) -> Lifecycle {
        self.inner.lifecycle()
    }

    /// What [`load`](Self::load) found different between the tools.
    pub fn tool_mismatches(&self) -> Vec<ToolMismatch> {
        self.inner.tool_mismatches()
    }

    /// The thread [`say`](Self::say) talks on.
    pub fn default_thread(&self) -> Thread {
        Thread {
            inner: self.inner.default_thread().clone(),
        }
    }

    /// The async assistant behind this one.
    pub fn as_async(&self) -> &super::Assistant {
        &self.inner
    }

    /// Creates the assistant (manual lifecycle); see
    /// [`agent::Assistant::create`](super::Assistant::create).
    pub fn create(&self) -> Result<String, Error> {
        block_on(self.inner.create())?
    }

    /// Deletes the assistant and its default thread; see
    /// [`agent::Assistant::delete`](super::Assistant::delete).
    pub fn delete(&self) -> Result<(), Error> {
        block_on(self.inner.delete())?
    }

    /// Runs `block` with the assistant created, then deletes it and its
    /// default thread, also when the block returns an error or panics.
    pub fn scoped<F, T, E>(&self, block: F) -> Result<T, E>
    where
        F: FnOnce(&Assistant) -> Result<T, E>,
        E: From<Error>,
    {
        let had_thread = self.inner.default_thread().id().is_some();
        let (_, created) = block_on(self.inner.create_as(Lifecycle::Scoped))??;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| block(self)));
        let cleanup =
            block_on(self.inner.delete_created(!had_thread, created)).and_then(|deleted| deleted);
        match outcome {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(Err(err)) => {
                if let Err(cleanup) = cleanup {
                    tracing::warn!("cleaning up a scoped assistant failed: {cleanup}");
                }
                Err(err)
            }
            Ok(Ok(value)) => cleanup.map(|()| value).map_err(E::from),
        }
    }

    /// Says `text` on the default thread; see [`agent::Assistant::say`](super::Assistant::say).
    pub fn say(&self, text: impl Into<String>) -> Result<RunResult, Error> {
        block_on(self.inner.say(text))?
    }

    /// Says `text` with `handler` watching; see
    /// [`agent::Assistant::say_with`](super::Assistant::say_with).
    pub fn say_with<H: EventHandler>(
        &self,
        text: impl Into<String>,
        handler: H,
    ) -> Result<RunResult, Error> {
        block_on(self.inner.say_with(text, handler))?
    }
}

impl From<super::Assistant> for Assistant {
    fn from(inner: super::Assistant) -> Self {
        Assistant { inner }
    }
}

/// A blocking [`agent::Thread`](super::Thread).
///
/// ```no_run
/// # fn example(client: assistant_stream::Client) -> Result<(), assistant_stream::Error> {
/// use assistant_stream::agent::MessageQuery;
/// use assistant_stream::agent::blocking::{Assistant, Thread};
///
/// let thread = Thread::new(&client);
/// thread.add("Hello")?;
/// let result = thread.run(&Assistant::new(&client))?;
/// println!("{}", result.text());
/// for message in thread.messages(MessageQuery::new().limit(10))? {
///     println!("{}: {}", message.role, message.text());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Thread {
    inner: super::Thread,
}

impl Thread {
    /// A thread created when first needed.
    pub fn new(client: &Client) -> Self {
        Thread {
            inner: super::Thread::new(client),
        }
    }

    /// A thread created when first needed from `request`.
    pub fn with_request(client: &Client, request: CreateThreadRequest) -> Self {
        Thread {
            inner: super::Thread::with_request(client, request),
        }
    }

    /// An existing thread.
    pub fn from_id(client: &Client, id: impl Into<String>) -> Self {
        Thread {
            inner: super::Thread::from_id(client, id),
        }
    }

    /// The id, once the thread exists.
    pub fn id(&self) -> Option<String> {
        self.inner.id()
    }

    /// The async thread behind this one.
    pub fn as_async(&self) -> &super::Thread {
        &self.inner
    }

    /// Creates the thread if needed and returns its id.
    pub fn create(&self) -> Result<String, Error> {
        block_on(self.inner.create())?
    }

    /// Adds a user message.
    pub fn add(&self, content: impl Into<MessageInput>) -> Result<Message, Error> {
        block_on(self.inner.add(content))?
    }

    /// Adds a message with attachments, image parts or metadata.
    pub fn add_message(&self, message: CreateMessageRequest) -> Result<Message, Error> {
        block_on(self.inner.add_message(message))?
    }

    /// Messages, oldest first; see [`agent::Thread::messages`](super::Thread::messages).
    pub fn messages(&self, query: MessageQuery) -> Result<Vec<Message>, Error> {
        block_on(self.inner.messages(query))?
    }

    /// Runs `assistant` on the thread.
    pub fn run(&self, assistant: &Assistant) -> Result<RunResult, Error> {
        block_on(self.inner.run(&assistant.inner))?
    }

    /// Runs `assistant` with `handler` watching.
    pub fn stream<H: EventHandler>(
        &self,
        assistant: &Assistant,
        handler: H,
    ) -> Result<RunResult, Error> {
        block_on(self.inner.stream(&assistant.inner, handler))?
    }

    /// Runs `assistant` with per-run options and `handler` watching.
    pub fn run_with<H: EventHandler>(
        &self,
        assistant: &Assistant,
        handler: H,
        options: RunOptions,
    ) -> Result<RunResult, Error> {
        block_on(self.inner.run_with(&assistant.inner, handler, options))?
    }

    /// Deletes the thread, if it exists.
    pub fn delete(&self) -> Result<(), Error> {
        block_on(self.inner.delete())?
    }
}

impl From<super::Thread> for Thread {
    fn from(inner: super::Thread) -> Self {
        Thread { inner }
    }
}

/// A blocking [`agent::ThreadMonitor`](super::ThreadMonitor).
///
/// ```no_run
/// # fn example(client: assistant_stream::Client) -> Result<(), assistant_stream::Error> {
/// use assistant_stream::agent::CancellationToken;
/// use assistant_stream::agent::blocking::ThreadMonitor;
///
/// let stop = CancellationToken::new();
/// let stopper = stop.clone();
/// std::thread::spawn(move || {
///     std::thread::sleep(std::time::Duration::from_secs(60));
///     stopper.cancel();
/// });
/// ThreadMonitor::new(&client, "thread_abc").run(stop, |message| println!("{}", message.text()))?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ThreadMonitor {
    inner: super::ThreadMonitor,
}

impl ThreadMonitor {
    /// A monitor of `thread_id`; see [`agent::ThreadMonitor`](super::ThreadMonitor).
    pub fn new(client: &Client, thread_id: impl Into<String>) -> Self {
        ThreadMonitor {
            inner: super::ThreadMonitor::new(client, thread_id),
        }
    }

    /// Sets how long to wait between polls (default 1 s).
    #[must_use]
    pub fn interval(self, interval: std::time::Duration) -> Self {
        ThreadMonitor {
            inner: self.inner.interval(interval),
        }
    }

    /// Sets the page size (1 to 100).
    #[must_use]
    pub fn page_size(self, page_size: u32) -> Self {
        ThreadMonitor {
            inner: self.inner.page_size(page_size),
        }
    }

    /// Reports only the messages after `message_id`.
    #[must_use]
    pub fn after(self, message_id: impl Into<String>) -> Self {
        ThreadMonitor {
            inner: self.inner.after(message_id),
        }
    }

    /// One poll: the new complete messages.
    pub fn poll_once(&mut self) -> Result<Vec<Message>, Error> {
        block_on(self.inner.poll_once())?
    }

    /// Polls until `stop` is cancelled (from the callback or another
    /// thread), calling `callback` for each new complete message.
    pub fn run<F: FnMut(&Message)>(
        &mut self,
        stop: CancellationToken,
        callback: F,
    ) -> Result<(), Error> {
        block_on(self.inner.run(stop, callback))?
    }
}
