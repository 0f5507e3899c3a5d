//! The agent layer: assistants whose tools are Rust functions, threads,
//! monitors, in a few lines.
//!
//! - [`FunctionTool`] turns an async function taking a `Deserialize +
//!   JsonSchema` argument into a tool: schema, name and description come
//!   from the argument type. [`CodeInterpreter`] and [`FileSearch`] declare
//!   the server's built-in tools. [`Tool`] is the trait behind them.
//! - [`Assistant`] holds the settings and tools, creates and deletes the
//!   server-side assistant ([`Lifecycle`]: lazy, scoped, manual, loaded) and
//!   [`say`](Assistant::say)s things on its default thread.
//! - [`Thread`] adds messages, lists them, and runs assistants on itself,
//!   with a handler watching ([`Thread::stream`]) and per-run overrides
//!   ([`RunOptions`]).
//! - [`ThreadMonitor`] reports the new messages of a thread as they are
//!   completed, until a [`CancellationToken`] is cancelled.
//! - [`blocking`] (feature `blocking`) does all of it without async.
//!
//! Function calls are answered mid-stream by the Rust tools, concurrently
//! when the model makes several at once. A tool's error, invalid arguments
//! or a panic is told to the model as the call's output (`Error calling tool
//! NAME: ...`) instead of failing the run. A tool can end the run early
//! with [`ToolResult::end_run`]: the run is cancelled and the value kept in
//! [`RunResult::ended_early`].
//!
//! ```
//! use assistant_stream::Client;
//! use assistant_stream::agent::{Assistant, FunctionTool};
//! use assistant_stream::server::Server;
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//!
//! /// Roll dice and return their values.
//! #[derive(Deserialize, JsonSchema)]
//! struct RollDice {
//!     /// How many dice.
//!     n_dice: u32,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! # let server = Server::builder().spawn().await?;
//! # let client = Client::builder().base_url(server.base_url()).api_key("sk-local").build()?;
//! let roll_dice = FunctionTool::from_fn(|args: RollDice| async move { vec![3; args.n_dice as usize] });
//! let assistant = Assistant::new(&client).name("Dice roller").tool(roll_dice);
//! // The embedded server's scripted model calls a tool when told to.
//! let reply = assistant.say("/tool roll_dice {\"n_dice\": 2}").await?;
//! assert_eq!(reply.text(), "roll_dice returned: [3,3]");
//! let reply = assistant.say("/tool roll_dice {\"dice\": 2}").await?;
//! assert!(reply.text().starts_with("roll_dice returned: Error calling tool roll_dice: invalid arguments: missing field `n_dice`"));
//! assistant.delete().await?;
//! # Ok(())
//! # }
//! ```

mod assistant;
#[cfg(feature = "blocking")]
pub mod blocking;
mod dispatch;
mod monitor;
mod options;
mod run;
mod thread;
mod tool;

pub use assistant::{Assistant, DEFAULT_MODEL, Lifecycle, ToolMismatch};
pub use monitor::{CancellationToken, ThreadMonitor};
pub use options::RunOptions;
pub use thread::{MessageQuery, RunResult, Thread};
pub use tool::{CodeInterpreter, FileSearch, FunctionTool, IntoToolResult, Tool, ToolResult};
