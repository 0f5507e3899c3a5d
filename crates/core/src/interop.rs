//! Interop with the `eventsource-stream` crate (feature `eventsource-stream`).
//!
//! This crate's own parser ([`sse`](crate::sse)) is the one on the hot path:
//! `eventsource-stream` is quadratic on long lines when they arrive in chunks,
//! panics on a UTF-8 BOM and ends the stream at the first invalid UTF-8 (see
//! docs/performance.md for the measurements). Use this module when your
//! code already has `eventsource_stream::Event`s.
//!
//! ```
//! use assistant_stream::AssistantEvent;
//!
//! let event = eventsource_stream::Event {
//!     event: "thread.run.completed".into(),
//!     data: r#"{"id":"run_1","status":"completed"}"#.into(),
//!     id: String::new(),
//!     retry: None,
//! };
//! let decoded = AssistantEvent::try_from(&event)?;
//! assert_eq!(decoded.name(), "thread.run.completed");
//! # Ok::<(), assistant_stream::Error>(())
//! ```

use crate::error::{BoxError, Error};
use crate::event::AssistantEvent;
use futures_core::Stream;
use futures_util::StreamExt;

impl TryFrom<&eventsource_stream::Event> for AssistantEvent {
    type Error = Error;

    fn try_from(event: &eventsource_stream::Event) -> Result<Self, Error> {
        AssistantEvent::decode(&event.event, &event.data)
    }
}

/// Decodes a stream of `eventsource-stream` events into [`AssistantEvent`]s.
///
/// Parser errors become [`Error`]s for which [`Error::is_sse`] is true.
pub fn decode_eventsource<S, E>(events: S) -> impl Stream<Item = Result<AssistantEvent, Error>>
where
    S: Stream<Item = Result<eventsource_stream::Event, E>>,
    E: Into<BoxError>,
{
    events.map(|item| match item {
        Ok(event) => AssistantEvent::try_from(&event),
        Err(err) => {
            let err: BoxError = err.into();
            Err(Error::new(crate::error::Kind::Sse, "eventsource-stream failed").with_source(err))
        }
    })
}
