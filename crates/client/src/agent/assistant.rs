//! [`Assistant`]: an assistant with Rust tools, its lifecycle, and `say`.

use super::thread::Thread;
use super::tool::Tool;
use crate::client::Client;
use crate::error::Error;

use crate::types::{self, CreateAssistantRequest, Metadata, ResponseFormat, ToolResources};
use futures_util::FutureExt;
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

/// The model of an assistant made without [`Assistant::model`].
pub const DEFAULT_MODEL: &str = "gpt-4o";

/// How an [`Assistant`] came to exist on the server, which decides who
/// deletes it.
///
/// ```
/// use assistant_stream::Client;
/// use assistant_stream::agent::{Assistant, Lifecycle};
///
/// let client = Client::builder().base_url("http://127.0.0.1:9/v1").build()?;
/// assert_eq!(Assistant::new(&client).lifecycle(), Lifecycle::Lazy);
/// # Ok::<(), assistant_stream::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lifecycle {
    /// Not on the server: each call creates it first and deletes it after.
    Lazy,
    /// Made by [`Assistant::create`]; deleted by [`Assistant::delete`].
    Manual,
    /// Made by [`Assistant::scoped`]; deleted when the block ends.
    Scoped,
    /// Loaded by [`Assistant::load`]; never deleted automatically.
    Loaded,
}

/// A difference between the Rust tools given to [`Assistant::load`] and the
/// function tools stored on the server. The assistant still loads: calls of
/// a tool missing in Rust are answered with an error the model sees, and a
/// tool missing on the server is never called. Check
/// [`Assistant::tool_mismatches`] to refuse a mismatch:
///
/// ```no_run
/// # async fn example(client: assistant_stream::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use assistant_stream::agent::Assistant;
///
/// let assistant = Assistant::load(&client, "asst_abc", Vec::new()).await?;
/// if let Some(mismatch) = assistant.tool_mismatches().first() {
///     return Err(mismatch.to_string().into());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ToolMismatch {
    /// The server's assistant has a function tool no Rust tool answers.
    MissingInRust {
        /// The function's name.
        name: String,
    },
    /// A Rust tool is not among the server's function tools.
    MissingOnServer {
        /// The tool's name.
        name: String,
    },
    /// Both have the tool, with different parameter schemas.
    DifferentParameters {
        /// The tool's name.
        name: String,
        /// The schema of the Rust tool.
        rust: Option<Value>,
        /// The schema stored on the server.
        server: Option<Value>,
    },
}

impl fmt::Display for ToolMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolMismatch::MissingInRust { name } => {
                write!(
                    f,
                    "the assistant has a function tool `{name}` that no Rust tool answers"
                )
            }
            ToolMismatch::MissingOnServer { name } => {
                write!(
                    f,
                    "the Rust tool `{name}` is not a function tool of the assistant"
                )
            }
            ToolMismatch::DifferentParameters { name, .. } => write!(
                f,
                "the Rust tool `{name}` and the assistant's function tool `{name}` have different parameter schemas"
            ),
        }
    }
}

#[derive(Clone)]
struct Config {
    name: Option<String>,
    description: Option<String>,
    instructions: Option<String>,
    model: String,
    tools: Vec<Arc<dyn Tool>>,
    tool_resources: Option<ToolResources>,
    metadata: Option<Metadata>,
    response_format: Option<ResponseFormat>,
    temperature: Option<f64>,
    top_p: Option<f64>,
}

struct State {
    id: Option<String>,
    lifecycle: Lifecycle,
    mismatches: Vec<ToolMismatch>,
}

/// An assistant whose function tools are Rust functions.
///
/// It talks to a server through a [`Client`]; clones share the server-side
/// assistant and the default thread.
///
/// # Lifecycle
///
/// What the assistant creates on the server, it deletes:
///
/// - **Lazy** (the default): each call that needs the assistant
///   ([`say`](Self::say), [`Thread::run`]) creates it first and deletes it
///   after, also when the call fails.
/// - **Scoped**: [`scoped`](Self::scoped) creates it for a block and deletes
///   it (and the default thread) when the block ends, returns an error or
///   panics.
/// - **Manual**: [`create`](Self::create), then [`delete`](Self::delete).
/// - **Loaded**: [`load`](Self::load) an existing assistant by id; it is
///   never deleted automatically.
///
/// [`say`](Self::say) talks on the assistant's default thread, created on
/// the first `say` and kept for the next ones (the conversation goes on).
/// [`delete`](Self::delete) deletes it, as does the end of a scope.
///
/// # Example
///
/// ```
/// use assistant_stream::Client;
/// use assistant_stream::agent::{Assistant, FunctionTool};
/// use assistant_stream::server::Server;
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// /// Roll dice.
/// #[derive(Deserialize, JsonSchema)]
/// struct RollDice {
///     n_dice: u32,
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let server = Server::builder().spawn().await?;
/// let client = Client::builder().base_url(server.base_url()).api_key("sk-local").build()?;
///
/// let assistant = Assistant::new(&client)
///     .name("Dice")
///     .tool(FunctionTool::from_fn(|args: RollDice| async move { vec![4; args.n_dice as usize] }));
/// let reply = assistant.say("/tool roll_dice {\"n_dice\": 2}").await?;
/// assert_eq!(reply.text(), "roll_dice returned: [4,4]");
/// assistant.delete().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Assistant {
    client: Client,
    config: Arc<Config>,
    state: Arc<Mutex<State>>,
    default_thread: Thread,
}

impl fmt::Debug for Assistant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Assistant")
            .field("id", &state.id)
            .field("lifecycle", &state.lifecycle)
            .field("name", &self.config.name)
            .field("model", &self.config.model)
            .field(
                "tools",
                &self
                    .config
                    .tools
                    .iter()
                    .map(|t| t.name())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

macro_rules! config_setters {
    ($( $(#[$doc:meta])* $field:ident: $ty:ty => $conv:expr ),* $(,)?) => {$(
        $(#[$doc])*
        #[must_use]
        pub fn $field(mut self, value: $ty) -> Self {
            #[allow(clippy::redundant_closure_call)]
            { Arc::make_mut(&mut self.config).$field = ($conv)(value); }
            self
        }
    )*};
}

impl Assistant {
    /// A lazy assistant on [`DEFAULT_MODEL`], with no tools yet.
    pub fn new(client: &Client) -> Self {
        Assistant {
            client: client.clone(),
            config: Arc::new(Config {
                name: None,
                description: None,
                instructions: None,
                model: DEFAULT_MODEL.to_owned(),
                tools: Vec::new(),
                tool_resources: None,
                metadata: None,
                response_format: None,
                temperature: None,
                top_p: None,
            }),
            state: Arc::new(Mutex::new(State {
                id: None,
                lifecycle: Lifecycle::Lazy,
                mismatches: Vec::new(),
            })),
            default_thread: Thread::new(client),
        }
    }

    config_setters! {
        /// Sets the name.
        name: impl Into<String> => |v| Some(Into::<String>::into(v)),
        /// Sets the description.
        description: impl Into<String> => |v| Some(Into::<String>::into(v)),
        /// Sets the instructions.
        instructions: impl Into<String> => |v| Some(Into::<String>::into(v)),
        /// Sets the model.
        model: impl Into<String> => |v| Into::<String>::into(v),
        /// Sets the tool resources (files for the code interpreter, vector stores).
        tool_resources: ToolResources => Some,
        /// Sets the metadata.
        metadata: Metadata => Some,
        /// Sets the response format.
        response_format: ResponseFormat => Some,
        /// Sets the sampling temperature.
        temperature: f64 => Some,
        /// Sets nucleus sampling.
        top_p: f64 => Some,
    }

    /// Adds a tool: a [`FunctionTool`](super::FunctionTool), a built-in
    /// ([`CodeInterpreter`](super::CodeInterpreter),
    /// [`FileSearch`](super::FileSearch)) or a [`Tool`] of your own.
    #[must_use]
    pub fn tool(self, tool: impl Tool) -> Self {
        self.tool_arc(Arc::new(tool))
    }

    /// Adds a shared tool.
    #[must_use]
    pub fn tool_arc(mut self, tool: Arc<dyn Tool>) -> Self {
        Arc::make_mut(&mut self.config).tools.push(tool);
        self
    }

    /// Loads an existing assistant, with the Rust tools that answer its
    /// function tools. It is never deleted automatically.
    ///
    /// Differences between `tools` and the stored function tools (a name on
    /// one side only, or different parameter schemas) do not fail the load:
    /// they are logged as warnings and kept in
    /// [`tool_mismatches`](Self::tool_mismatches), for the caller to decide.
    ///
    /// ```no_run
    /// # async fn example(client: assistant_stream::Client, roll_dice: assistant_stream::agent::FunctionTool) -> Result<(), assistant_stream::Error> {
    /// use assistant_stream::agent::Assistant;
    /// use std::sync::Arc;
    ///
    /// let assistant = Assistant::load(&client, "asst_abc", vec![Arc::new(roll_dice)]).await?;
    /// for mismatch in assistant.tool_mismatches() {
    ///     eprintln!("warning: {mismatch}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn load(
        client: &Client,
        id: &str,
        tools: Vec<Arc<dyn Tool>>,
    ) -> Result<Assistant, Error> {
        let stored = client.assistants().retrieve(id).await?;
        let mismatches = compare_tools(&tools, &stored.tools);
        for mismatch in &mismatches {
            tracing::warn!(assistant = %stored.id, "{mismatch}");
        }
        let mut assistant = Assistant::new(client);
        {
            let config = Arc::make_mut(&mut assistant.config);
            config.name = stored.name;
            config.description = stored.description;
            config.instructions = stored.instructions;
            config.model = stored.model;
            config.tools = tools;
            config.tool_resources = stored.tool_resources;
            config.metadata = Some(stored.metadata);
            config.response_format = stored.response_format;
            config.temperature = stored.temperature;
            config.top_p = stored.top_p;
        }
        {
            let mut state = assistant.lock();
            state.id = Some(stored.id);
            state.lifecycle = Lifecycle::Loaded;
            state.mismatches = mismatches;
        }
        Ok(assistant)
    }

    /// The server-side id, while the assistant exists there.
    pub fn id(&self) -> Option<String> {
        self.lock().id.clone()
    }

    /// How the assistant came to exist, which decides who deletes it.
    pub fn lifecycle(&self) -> Lifecycle {
        self.lock().lifecycle
    }

    /// The tools.
    pub fn tools(&self) -> &[Arc<dyn Tool>] {
        &self.config.tools
    }

    /// The client it talks through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The thread [`say`](Self::say) talks on.
    pub fn default_thread(&self) -> &Thread {
        &self.default_thread
    }

    /// What [`load`](Self::load) found different between the Rust tools and
    /// the stored ones (empty for assistants made here).
    pub fn tool_mismatches(&self) -> Vec<ToolMismatch> {
        self.lock().mismatches.clone()
    }

    /// The request that creates this assistant.
    pub fn create_request(&self) -> CreateAssistantRequest {
        let config = &self.config;
        let mut request = CreateAssistantRequest::new(config.model.clone());
        request.name = config.name.clone();
        request.description = config.description.clone();
        request.instructions = config.instructions.clone();
        request.tools = config.tools.iter().map(|tool| tool.spec()).collect();
        request.tool_resources = config.tool_resources.clone();
        request.metadata = config.metadata.clone();
        request.response_format = config.response_format.clone();
        request.temperature = config.temperature;
        request.top_p = config.top_p;
        request
    }

    /// Creates the assistant on the server (manual lifecycle) and returns its
    /// id; [`delete`](Self::delete) deletes it. Does nothing but return the
    /// id if it already exists.
    pub async fn create(&self) -> Result<String, Error> {
        self.create_as(Lifecycle::Manual).await.map(|(id, _)| id)
    }

    /// Returns the id, creating the assistant if needed; `true` if created.
    pub(crate) async fn create_as(&self, lifecycle: Lifecycle) -> Result<(String, bool), Error> {
        if let Some(id) = self.id() {
            return Ok((id, false));
        }
        let created = self
            .client
            .assistants()
            .create(self.create_request())
            .await?;
        let winner = {
            let mut state = self.lock();
            match &state.id {
                Some(id) => Some(id.clone()),
                None => {
                    state.id = Some(created.id.clone());
                    state.lifecycle = lifecycle;
                    None
                }
            }
        };
        if let Some(winner) = winner {
            // Another clone created it meanwhile: keep theirs, drop ours.
            if let Err(err) = self.client.assistants().delete(&created.id).await {
                tracing::warn!(assistant = %created.id, "could not delete a duplicate assistant: {err:#}");
            }
            return Ok((winner, false));
        }
        Ok((created.id, true))
    }

    /// Deletes the assistant from the server, whatever its lifecycle (also a
    /// loaded one: this is an explicit request), and the default thread if
    /// it was created. The value goes back to the lazy lifecycle.
    pub async fn delete(&self) -> Result<(), Error> {
        let thread = self.default_thread.delete().await;
        let id = self.lock().id.clone();
        if let Some(id) = id {
            self.client.assistants().delete(&id).await?;
            let mut state = self.lock();
            if state.id.as_deref() == Some(id.as_str()) {
                state.id = None;
                state.lifecycle = Lifecycle::Lazy;
            }
        }
        thread
    }

    /// Runs `block` with this assistant created on the server, then deletes
    /// it and its default thread, also when the block returns an error or
    /// panics (the panic goes on after the cleanup). An assistant or
    /// default thread that existed before the block is used and left in
    /// place.
    ///
    /// ```no_run
    /// # async fn example(client: assistant_stream::Client) -> Result<(), assistant_stream::Error> {
    /// use assistant_stream::agent::Assistant;
    ///
    /// let replies = Assistant::new(&client)
    ///     .instructions("Answer in one word.")
    ///     .scoped(|assistant| async move {
    ///         let first = assistant.say("Hello").await?;
    ///         let second = assistant.say("And again").await?;
    ///         Ok::<_, assistant_stream::Error>((first.text(), second.text()))
    ///     })
    ///     .await?;
    /// # let _ = replies;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn scoped<F, Fut, T, E>(&self, block: F) -> Result<T, E>
    where
        F: FnOnce(Assistant) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: From<Error>,
    {
        let had_thread = self.default_thread.id().is_some();
        let (_, created) = self.create_as(Lifecycle::Scoped).await?;
        let outcome = AssertUnwindSafe(block(self.clone())).catch_unwind().await;
        let cleanup = self.delete_created(!had_thread, created).await;
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

    /// Deletes what a scope created: the default thread and the assistant.
    pub(crate) async fn delete_created(&self, thread: bool, assistant: bool) -> Result<(), Error> {
        let thread = if thread {
            self.default_thread.delete().await
        } else {
            Ok(())
        };
        if assistant {
            let id = {
                let mut state = self.lock();
                state.lifecycle = Lifecycle::Lazy;
                state.id.take()
            };
            if let Some(id) = id {
                self.client.assistants().delete(&id).await?;
            }
        }
        thread
    }

    /// Runs `f` with the assistant's id: as it is, or for a lazy assistant,
    /// created for the call and deleted after it (also on error or panic).
    pub(crate) async fn with_id<F, Fut, T>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        if let Some(id) = self.id() {
            return f(id).await;
        }
        let created = self
            .client
            .assistants()
            .create(self.create_request())
            .await?;
        let id = created.id;
        let outcome = AssertUnwindSafe(f(id.clone())).catch_unwind().await;
        let deleted = self.client.assistants().delete(&id).await;
        match outcome {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(Err(err)) => {
                if let Err(cleanup) = deleted {
                    tracing::warn!(assistant = %id, "deleting a lazy assistant failed: {cleanup}");
                }
                Err(err)
            }
            Ok(Ok(value)) => deleted.map(|_| value),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The differences between Rust tools and stored tools.
fn compare_tools(rust: &[Arc<dyn Tool>], stored: &[types::Tool]) -> Vec<ToolMismatch> {
    let stored: Vec<&types::FunctionDefinition> =
        stored.iter().filter_map(types::Tool::as_function).collect();
    let callable: Vec<&Arc<dyn Tool>> = rust.iter().filter(|tool| tool.is_callable()).collect();
    let mut out = Vec::new();
    for function in &stored {
        if !callable.iter().any(|tool| tool.name() == function.name) {
            out.push(ToolMismatch::MissingInRust {
                name: function.name.clone(),
            });
        }
    }
    for tool in callable {
        match stored.iter().find(|function| function.name == tool.name()) {
            None => out.push(ToolMismatch::MissingOnServer {
                name: tool.name().to_owned(),
            }),
            Some(function) => {
                let rust = tool.parameters();
                if rust != function.parameters {
                    out.push(ToolMismatch::DifferentParameters {
                        name: tool.name().to_owned(),
                        rust,
                        server: function.parameters.clone(),
                    });
                }
            }
        }
    }
    out
}
