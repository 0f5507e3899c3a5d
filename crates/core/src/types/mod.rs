//! Wire types of the Assistants v2 API, as described by its OpenAPI document.
//!
//! Every enum is `#[non_exhaustive]` and has an `Unknown` variant: string
//! enums keep the unknown string, tagged objects keep the raw JSON. Unknown
//! fields are ignored and `null` lists read as empty, so objects from older
//! (v1) and newer servers decode alike.
//!
//! ```
//! use assistant_stream::types::{MessageContent, Message};
//!
//! let message: Message = serde_json::from_str(
//!     r#"{"id":"msg_1","role":"assistant","content":[
//!         {"type":"text","text":{"value":"Hi","annotations":[]}},
//!         {"type":"hologram","hologram":{"depth":3}}]}"#,
//! )?;
//! assert_eq!(message.text(), "Hi");
//! assert!(matches!(message.content[1], MessageContent::Unknown(_)));
//! assert_eq!(message.content[1].type_name(), "hologram");
//! # Ok::<(), serde_json::Error>(())
//! ```

#[macro_use]
mod macros;
mod common;
mod files;
mod filters;
mod message;
mod requests;
pub(crate) mod reuse;
mod run;
mod run_step;
#[doc(hidden)]
pub mod tagged;
mod thread;

pub use common::*;
pub use files::*;
pub use filters::*;
pub use message::*;
pub use requests::*;
pub use run::*;
pub use run_step::*;
pub use thread::*;
