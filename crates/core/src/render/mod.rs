//! Rendering runs for people: a live handler that shows tokens as they
//! arrive, with tool calls and code shown apart from the answer.
//!
//! [`write_messages`] and [`write_run`] (or [`print_messages`] and
//! [`print_run`] to standard output) print finished messages and runs.
//!
//! Colour is used when asked for; [`LiveRenderer::stdout`] asks for it when
//! standard output is a terminal and `NO_COLOR` is not set.

mod live;
mod print;
mod style;

pub use live::{LiveRenderer, RenderSummary};
pub use print::{print_messages, print_run, write_message, write_messages, write_run, write_step};
pub use style::Style;
