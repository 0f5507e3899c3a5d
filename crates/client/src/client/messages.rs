//! `/threads/{thread_id}/messages`.

use super::Client;
use super::pagination::Page;
use super::request::{ApiRequest, check_id};
use crate::error::Error;
use crate::types::{CreateMessageRequest, Deleted, ListQuery, Message, ModifyMessageRequest};

/// The messages of a thread: create, retrieve, update, list, delete. Made
/// by [`Client::messages`] or [`Threads::messages`](super::Threads::messages).
///
/// ```no_run
/// use assistant_stream::Client;
/// use assistant_stream::types::{CreateMessageRequest, ListQuery, MessageInputPart, Order};
///
/// # async fn example() -> Result<(), assistant_stream::Error> {
/// let client = Client::new()?;
/// client.messages().create("thread_abc", CreateMessageRequest::user("What's the weather?")).await?;
/// client
///     .messages()
///     .create(
///         "thread_abc",
///         CreateMessageRequest::user(vec![
///             MessageInputPart::text("And in this picture?"),
///             MessageInputPart::image_url("https://example.com/sky.png"),
///         ]),
///     )
///     .await?;
/// let newest = client.messages().list("thread_abc", ListQuery::new().order(Order::Desc).limit(1)).await?;
/// println!("{}", newest.data[0].text());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Messages<'c> {
    client: &'c Client,
}

impl<'c> Messages<'c> {
    pub(crate) fn new(client: &'c Client) -> Self {
        Messages { client }
    }

    /// `POST /threads/{thread_id}/messages`.
    pub async fn create(
        &self,
        thread_id: &str,
        request: CreateMessageRequest,
    ) -> Result<Message, Error> {
        let thread = check_id("thread id", thread_id)?;
        self.client
            .json(ApiRequest::post(
                &["threads", thread, "messages"],
                &request,
            )?)
            .await
    }

    /// `GET /threads/{thread_id}/messages/{message_id}`.
    pub async fn retrieve(&self, thread_id: &str, message_id: &str) -> Result<Message, Error> {
        let thread = check_id("thread id", thread_id)?;
        let message = check_id("message id", message_id)?;
        self.client
            .json(ApiRequest::get(&["threads", thread, "messages", message]))
            .await
    }

    /// `POST /threads/{thread_id}/messages/{message_id}`: changes the metadata.
    pub async fn update(
        &self,
        thread_id: &str,
        message_id: &str,
        request: ModifyMessageRequest,
    ) -> Result<Message, Error> {
        let thread = check_id("thread id", thread_id)?;
        let message = check_id("message id", message_id)?;
        self.client
            .json(ApiRequest::post(
                &["threads", thread, "messages", message],
                &request,
            )?)
            .await
    }

    /// `GET /threads/{thread_id}/messages`: the first page (`run_id` in the
    /// query keeps the messages of one run).
    pub async fn list(&self, thread_id: &str, query: ListQuery) -> Result<Page<Message>, Error> {
        let thread = check_id("thread id", thread_id)?;
        Page::fetch(
            self.client.clone(),
            ApiRequest::get(&["threads", thread, "messages"]),
            query,
        )
        .await
    }

    /// `DELETE /threads/{thread_id}/messages/{message_id}`.
    pub async fn delete(&self, thread_id: &str, message_id: &str) -> Result<Deleted, Error> {
        let thread = check_id("thread id", thread_id)?;
        let message = check_id("message id", message_id)?;
        self.client
            .json(ApiRequest::delete(&[
                "threads", thread, "messages", message,
            ]))
            .await
    }
}
