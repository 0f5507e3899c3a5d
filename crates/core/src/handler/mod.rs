//! The [`EventHandler`] trait: callbacks for everything a run streams.
//!
//! Every callback has a no-op default and may `.await`; the futures are
//! `Send`, so a stream driving a handler can run on a spawned tokio task.
//! Delta callbacks receive the delta and the accumulated snapshot (the state
//! after the whole event was applied).
//!
//! The order of callbacks fixes the known bugs of the official SDK helpers:
//! `on_text_done` fires exactly once per text part, before the next part's
//! `on_text_created`; `on_tool_call_done` fires exactly once per tool call;
//! the current content index and tool-call index start afresh with each
//! message and each step.
//!
//! ```
//! use assistant_stream::{AssistantStream, EventHandler};
//! use assistant_stream::types::{RunToolCall, Text, TextDelta};
//!
//! #[derive(Default)]
//! struct Printer {
//!     out: String,
//! }
//!
//! impl EventHandler for Printer {
//!     async fn on_text_delta(&mut self, delta: &TextDelta, _snapshot: &Text) {
//!         self.out.push_str(delta.value.as_deref().unwrap_or(""));
//!     }
//!
//!     async fn on_tool_call(&self, call: &RunToolCall) -> Option<String> {
//!         Some(format!("{{\"weather\":\"sunny\",\"asked\":{}}}", call.function.arguments))
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let body = concat!(
//!     "event: thread.message.created\n",
//!     "data: {\"id\":\"msg_1\",\"role\":\"assistant\",\"content\":[]}\n\n",
//!     "event: thread.message.delta\n",
//!     "data: {\"id\":\"msg_1\",\"delta\":{\"content\":[{\"index\":0,\"type\":\"text\",\"text\":{\"value\":\"Hi\"}}]}}\n\n",
//!     "event: thread.run.completed\n",
//!     "data: {\"id\":\"run_1\",\"status\":\"completed\"}\n\n",
//! );
//! let mut printer = Printer::default();
//! let mut stream = AssistantStream::from_bytes(body);
//! stream.drive(&mut printer).await?;
//! assert_eq!(printer.out, "Hi");
//! # Ok::<(), assistant_stream::Error>(())
//! # }).unwrap();
//! ```

mod dispatch;
mod trace;

pub(crate) use dispatch::Dispatch;
pub use trace::TraceHandler;

use crate::error::Error;
use crate::event::AssistantEvent;
use crate::types::{
    ImageFile, Message, MessageDelta, Run, RunStep, RunStepDelta, RunToolCall, Text, TextDelta,
    Thread, ToolCall, ToolCallDelta,
};
use std::future::Future;

/// Callbacks for the events of a run. All have no-op defaults.
///
/// Implement the ones you need with `async fn`.
pub trait EventHandler: Send {
    /// Every event, before the more specific callbacks.
    fn on_event(&mut self, event: &AssistantEvent) -> impl Future<Output = ()> + Send {
        let _ = event;
        async {}
    }

    /// `thread.created`.
    fn on_thread_created(&mut self, thread: &Thread) -> impl Future<Output = ()> + Send {
        let _ = thread;
        async {}
    }

    /// Every run status event (`thread.run.*`).
    fn on_run(&mut self, run: &Run) -> impl Future<Output = ()> + Send {
        let _ = run;
        async {}
    }

    /// A run step was created.
    fn on_run_step_created(&mut self, run_step: &RunStep) -> impl Future<Output = ()> + Send {
        let _ = run_step;
        async {}
    }

    /// A run step changed.
    fn on_run_step_delta(
        &mut self,
        delta: &RunStepDelta,
        snapshot: &RunStep,
    ) -> impl Future<Output = ()> + Send {
        let _ = (delta, snapshot);
        async {}
    }

    /// A run step ended (completed, failed, cancelled or expired), with the server's final object.
    fn on_run_step_done(&mut self, run_step: &RunStep) -> impl Future<Output = ()> + Send {
        let _ = run_step;
        async {}
    }

    /// A tool call started.
    fn on_tool_call_created(&mut self, tool_call: &ToolCall) -> impl Future<Output = ()> + Send {
        let _ = tool_call;
        async {}
    }

    /// A tool call changed (more arguments, code or output).
    fn on_tool_call_delta(
        &mut self,
        delta: &ToolCallDelta,
        snapshot: &ToolCall,
    ) -> impl Future<Output = ()> + Send {
        let _ = (delta, snapshot);
        async {}
    }

    /// A tool call is complete: its step ended, or the run stopped (for
    /// `requires_action`, say). Fires exactly once per call. Not fired when
    /// the next call starts, since parallel calls may interleave fragments.
    fn on_tool_call_done(&mut self, tool_call: &ToolCall) -> impl Future<Output = ()> + Send {
        let _ = tool_call;
        async {}
    }

    /// A message was created.
    fn on_message_created(&mut self, message: &Message) -> impl Future<Output = ()> + Send {
        let _ = message;
        async {}
    }

    /// A message changed.
    fn on_message_delta(
        &mut self,
        delta: &MessageDelta,
        snapshot: &Message,
    ) -> impl Future<Output = ()> + Send {
        let _ = (delta, snapshot);
        async {}
    }

    /// A message ended (completed or incomplete), with the server's final object.
    fn on_message_done(&mut self, message: &Message) -> impl Future<Output = ()> + Send {
        let _ = message;
        async {}
    }

    /// A text part started.
    fn on_text_created(&mut self, text: &Text) -> impl Future<Output = ()> + Send {
        let _ = text;
        async {}
    }

    /// More text arrived.
    fn on_text_delta(
        &mut self,
        delta: &TextDelta,
        snapshot: &Text,
    ) -> impl Future<Output = ()> + Send {
        let _ = (delta, snapshot);
        async {}
    }

    /// A text part is complete. Fires exactly once per part.
    fn on_text_done(&mut self, text: &Text) -> impl Future<Output = ()> + Send {
        let _ = text;
        async {}
    }

    /// An image file part is complete.
    fn on_image_file_done(&mut self, image_file: &ImageFile) -> impl Future<Output = ()> + Send {
        let _ = image_file;
        async {}
    }

    /// Something went wrong: a server `error` event, an event that did not
    /// decode, a broken body, a stream cut short.
    fn on_error(&mut self, error: &Error) -> impl Future<Output = ()> + Send {
        let _ = error;
        async {}
    }

    /// The stream is over (after the last event, or after a fatal error).
    fn on_end(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// A `requires_action` run asks for the output of this function call.
    ///
    /// Return the output to submit, or `None` to stop at `requires_action`.
    /// Calls of one run are asked concurrently, which is why this takes
    /// `&self`. When every call is answered and the stream came from a
    /// client, the outputs are submitted and the run's continuation is
    /// streamed through the same handler; otherwise they stay on the stream
    /// ([`AssistantStream::tool_outputs`](crate::AssistantStream::tool_outputs)).
    fn on_tool_call(&self, call: &RunToolCall) -> impl Future<Output = Option<String>> + Send {
        let _ = call;
        async { None }
    }
}

/// Forwards every callback but `on_tool_call` to an inner handler:
/// `forward_event_callbacks!(deref)` to `**self`, `forward_event_callbacks!(field NAME)`
/// to `self.NAME`. One list of callbacks for every wrapper, so a new callback
/// cannot be forgotten in one of them.
#[doc(hidden)]
#[macro_export]
macro_rules! forward_event_callbacks {
    (@target $this:ident deref) => { (**$this) };
    (@target $this:ident field $field:ident) => { $this.$field };
    ($($target:tt)+) => {
        fn on_event(&mut self, event: &$crate::event::AssistantEvent) -> impl ::std::future::Future<Output = ()> + Send {
            $crate::handler::forward_event_callbacks!(@target self $($target)+).on_event(event)
        }
        fn on_thread_created(&mut self, thread: &$crate::types::Thread) -> impl ::std::future::Future<Output = ()> + Send {
            $crate::handler::forward_event_callbacks!(@target self $($target)+).on_thread_created(thread)
        }
        fn on_run(&mut self, run: &$crate::types::Run) -> impl ::std::future::Future<Output = ()> + Send {
            $crate::handler::forward_event_callbacks!(@target self $($target)+).on_run(run)
        }
        fn on_run_step_created(&mut self, run_step: &$crate::types::RunStep) -> impl ::std::future::Future<Output = ()> + Send {
            $crate::handler::forward_event_callbacks!(@target self $($target)+).on_run_step_created(run_step)
        }
        fn on_run_step_delta(&mut self, delta: &$crate::types::RunStepDelta, snapshot: &$crate::types::RunStep) -> impl ::std::future::Future<Output = ()> + Send {
            $crate::handler::forward_event_callbacks!(@target self $($target)+).on_run_step_delta(delta, snapshot)
        }
        fn on_run_step_done(&mut self, run_step: &$crate::types::RunStep) -> impl ::std::future::Future<Output = ()> + Send {
            $crate::handler::forward_event_callbacks!(@target self $($target)+).on_run_step_done(run_step)
        }
        fn on_tool_call_created(&mut self, tool_call: &$crate::types::ToolCall) -> impl ::std::future::Future<Output = ()> + Send {
            $crate::handler::forward_event_callbacks!(@target self $($target)+).on_tool_call_created(tool_call)
        }
        fn on_tool_call_delta(&mut self, delta: &$crate::types::ToolCallDelta, snapshot: &$crate::types::ToolCall) -> impl ::std::future::Future<Output = ()> + Send {
            $crate::handler::forward_event_callbacks!(@target self $($target)+).on_tool_call_delta(delta, snapshot)
        }
        fn on_tool_call_done(&mut self, tool_call: &$crate::types::ToolCall) -> impl ::std::future::Future<Output = ()> + Send {
            $crate::handler::forward_event_callbacks!(@target self $($target)+).on_tool_call_done(tool_call)
        }
        fn on_message_created(&mut self, message: &$crate::types::Message) -> impl ::std::future::Future<Output = ()> + Send {
            $crate::handler::forward_event_callbacks!(@target self $($target)+).on_message_created(message)
        }
        fn on_message_delta(&mut self, delta: &$crate::types::MessageDelta, snapshot: &$crate::types::Message) -> impl ::std::future::Future<Output = ()> + Send {
            $crate::handler::forward_event_callbacks!(@target self $($target)+).on_message_delta(delta, snapshot)
        }
        fn on_message_done(&mut self, message: &$crate::types::Message) -> impl ::std::future::Future<Output = ()> + Send {
            $crate::handler::forward_event_callbacks!(@target self $($target)+).on_message_done(message)
        }
        fn on_text_created(&mut self, text: &$crate::types::Text) -> impl ::std::future::Future<Output = ()> + Send {
            $crate::handler::forward_event_callbacks!(@target self $($target)+).on_text_created(text)
        }
        fn on_text_delta(&mut self, delta: &$crate::types::TextDelta, snapshot: &$crate::types::Text) -> impl ::std::future::Future<Output = ()> + Send {
            $crate::handler::forward_event_callbacks!(@target self $($target)+).on_text_delta(delta, snapshot)
        }
        fn on_text_done(&mut self, text: &$crate::types::Text) -> impl ::std::future::Future<Output = ()> + Send {
            $crate::handler::forward_event_callbacks!(@target self $($target)+).on_text_done(text)
        }
        fn on_image_file_done(&mut self, image_file: &$crate::types::ImageFile) -> impl ::std::future::Future<Output = ()> + Send {
            $crate::handler::forward_event_callbacks!(@target self $($target)+).on_image_file_done(image_file)
        }
        fn on_error(&mut self, error: &$crate::Error) -> impl ::std::future::Future<Output = ()> + Send {
            $crate::handler::forward_event_callbacks!(@target self $($target)+).on_error(error)
        }
        fn on_end(&mut self) -> impl ::std::future::Future<Output = ()> + Send {
            $crate::handler::forward_event_callbacks!(@target self $($target)+).on_end()
        }
    };
}

#[doc(hidden)]
pub use crate::forward_event_callbacks;

impl<H: EventHandler + ?Sized> EventHandler for &mut H {
    forward_event_callbacks!(deref);

    fn on_tool_call(&self, call: &RunToolCall) -> impl Future<Output = Option<String>> + Send {
        (**self).on_tool_call(call)
    }
}

/// A handler that does nothing: drive a stream for its snapshots alone.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopHandler;

impl EventHandler for NoopHandler {}
