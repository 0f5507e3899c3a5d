//! Rendering runs for people: a live handler that shows tokens as they
//! arrive, with tool calls and code shown apart from the answer.
//!
//! Colour is used when asked for; [`LiveRenderer::stdout`] asks for it when
//! standard output is a terminal and `NO_COLOR` is not set.

mod live;
mod style;

pub use live::{LiveRenderer, RenderSummary};
pub use style::Style;
