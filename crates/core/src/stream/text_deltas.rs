//! [`TextDeltas`]: only the text, as it arrives.

use super::AssistantStream;
use crate::error::{BoxError, Error};
use crate::event::AssistantEvent;
use crate::types::MessageContentDelta;
use futures_core::Stream;
use pin_project_lite::pin_project;
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

pin_project! {
    /// The text deltas of an [`AssistantStream`], each as a `String`.
    ///
    /// Made by [`AssistantStream::text_deltas`]. Errors of the underlying
    /// stream are passed on.
    ///
    /// ```
    /// use assistant_stream::AssistantStream;
    /// use futures_util::TryStreamExt;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let body = concat!(
    ///     "event: thread.message.delta\n",
    ///     "data: {\"id\":\"msg_1\",\"delta\":{\"content\":[{\"index\":0,\"type\":\"text\",\"text\":{\"value\":\"Hi \"}}]}}\n\n",
    ///     "event: thread.message.delta\n",
    ///     "data: {\"id\":\"msg_1\",\"delta\":{\"content\":[{\"index\":0,\"type\":\"text\",\"text\":{\"value\":\"there\"}}]}}\n\n",
    ///     "event: thread.run.completed\n",
    ///     "data: {\"id\":\"run_1\",\"status\":\"completed\"}\n\n",
    /// );
    /// let text: Vec<String> = AssistantStream::from_bytes(body).text_deltas().try_collect().await?;
    /// assert_eq!(text.concat(), "Hi there");
    /// # Ok::<(), assistant_stream::Error>(())
    /// # }).unwrap();
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct TextDeltas<S> {
        #[pin]
        inner: AssistantStream<S>,
        pending: VecDeque<String>,
    }
}

impl<S> TextDeltas<S> {
    pub(crate) fn new(inner: AssistantStream<S>) -> Self {
        TextDeltas {
            inner,
            pending: VecDeque::new(),
        }
    }

    /// The underlying stream, with its snapshots.
    pub fn get_ref(&self) -> &AssistantStream<S> {
        &self.inner
    }

    /// Gives back the underlying stream.
    pub fn into_inner(self) -> AssistantStream<S> {
        self.inner
    }
}

impl<S, B, E> Stream for TextDeltas<S>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    E: Into<BoxError>,
{
    type Item = Result<String, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        loop {
            if let Some(text) = this.pending.pop_front() {
                return Poll::Ready(Some(Ok(text)));
            }
            match ready!(this.inner.as_mut().poll_next(cx)) {
                Some(Ok(AssistantEvent::MessageDelta(delta))) => {
                    for part in delta.delta.content {
                        if let MessageContentDelta::Text(text) = part
                            && let Some(value) = text.text.and_then(|t| t.value)
                        {
                            this.pending.push_back(value);
                        }
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => return Poll::Ready(None),
            }
        }
    }
}
