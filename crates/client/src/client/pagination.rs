//! [`Page`]: one page of a list, and [`PageItems`]: every item of every page.

use super::Client;
use super::request::ApiRequest;
use crate::error::{Error, Kind};
use crate::types::{ListQuery, ListResponse};
use futures_core::Stream;
use serde::de::DeserializeOwned;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

/// One page of a list endpoint, which knows how to fetch the next one.
///
/// Pages follow the API's cursors: `after` the last id of this page, or,
/// for a query that pages backwards with `before`, `before` its first id.
///
/// ```no_run
/// use assistant_stream::Client;
/// use assistant_stream::types::ListQuery;
/// use futures_util::TryStreamExt;
///
/// # async fn example() -> Result<(), assistant_stream::Error> {
/// let client = Client::new()?;
/// // One page at a time...
/// let mut page = client.assistants().list(ListQuery::new().limit(20)).await?;
/// loop {
///     for assistant in &page.data {
///         println!("{}", assistant.id);
///     }
///     match page.next_page().await? {
///         Some(next) => page = next,
///         None => break,
///     }
/// }
/// // ...or every item, fetching pages as they are needed.
/// let all: Vec<_> = client.assistants().list(ListQuery::new()).await?.into_stream().try_collect().await?;
/// # let _ = all;
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct Page<T> {
    /// The items of this page.
    pub data: Vec<T>,
    /// The id of the first item.
    pub first_id: Option<String>,
    /// The id of the last item.
    pub last_id: Option<String>,
    /// Whether more items follow.
    pub has_more: bool,
    source: PageSource,
}

#[derive(Clone)]
struct PageSource {
    client: Client,
    request: ApiRequest,
    query: ListQuery,
}

impl<T: fmt::Debug> fmt::Debug for Page<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Page")
            .field("data", &self.data)
            .field("first_id", &self.first_id)
            .field("last_id", &self.last_id)
            .field("has_more", &self.has_more)
            .field("request", &self.source.request.path())
            .field("query", &self.source.query)
            .finish()
    }
}

impl<T: DeserializeOwned> Page<T> {
    /// Fetches the page `query` asks for.
    pub(crate) async fn fetch(
        client: Client,
        request: ApiRequest,
        query: ListQuery,
    ) -> Result<Page<T>, Error> {
        let list: ListResponse<T> = client.json(request.clone().list_query(&query)).await?;
        Ok(Page {
            data: list.data,
            first_id: list.first_id,
            last_id: list.last_id,
            has_more: list.has_more,
            source: PageSource {
                client,
                request,
                query,
            },
        })
    }

    /// The query of the next page, if there is one.
    pub fn next_query(&self) -> Option<ListQuery> {
        if !self.has_more {
            return None;
        }
        let mut query = self.source.query.clone();
        if query.before.is_some() && query.after.is_none() {
            query.before = Some(self.first_id.clone()?);
        } else {
            query.after = Some(self.last_id.clone()?);
        }
        Some(query)
    }

    /// Whether [`next_page`](Self::next_page) would fetch anything.
    pub fn has_next_page(&self) -> bool {
        self.next_query().is_some()
    }

    /// Fetches the next page, or `None` after the last one.
    ///
    /// A server that hands back the cursor it was given (which would page
    /// forever) is reported as an error.
    pub async fn next_page(&self) -> Result<Option<Page<T>>, Error> {
        match self.next_source()? {
            Some((source, query)) => Page::fetch(source.client, source.request, query)
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_source(&self) -> Result<Option<(PageSource, ListQuery)>, Error> {
        let Some(query) = self.next_query() else {
            return Ok(None);
        };
        if query == self.source.query {
            return Err(Error::new(
                Kind::Request,
                format!(
                    "{} returned the cursor it was given (after={:?}, before={:?}) with has_more=true; stopping rather than paging forever",
                    self.source.request.describe(),
                    query.after,
                    query.before,
                ),
            ));
        }
        Ok(Some((self.source.clone(), query)))
    }
}

impl<T: DeserializeOwned + Send + 'static> Page<T> {
    /// Every item of this page and the pages after it, as a stream that
    /// fetches the next page only when the items before are consumed.
    pub fn into_stream(mut self) -> PageItems<T> {
        let items = std::mem::take(&mut self.data).into_iter();
        let stream =
            futures_util::stream::unfold((items, Some(self)), |(mut items, mut page)| async move {
                loop {
                    if let Some(item) = items.next() {
                        return Some((Ok(item), (items, page)));
                    }
                    let next = page.take()?.next_source();
                    let fetched = match next {
                        Ok(Some((source, query))) => {
                            Page::fetch(source.client, source.request, query)
                                .await
                                .map(Some)
                        }
                        Ok(None) => Ok(None),
                        Err(err) => Err(err),
                    };
                    match fetched {
                        Ok(Some(mut next)) => {
                            items = std::mem::take(&mut next.data).into_iter();
                            page = Some(next);
                        }
                        Ok(None) => return None,
                        Err(err) => return Some((Err(err), (items, None))),
                    }
                }
            });
        PageItems {
            inner: Box::pin(stream),
        }
    }
}

/// The items of a list, page after page; made by [`Page::into_stream`].
///
/// An error ends the stream after it is yielded.
#[must_use = "streams do nothing unless polled"]
pub struct PageItems<T> {
    inner: Pin<Box<dyn Stream<Item = Result<T, Error>> + Send>>,
}

impl<T> fmt::Debug for PageItems<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PageItems").finish_non_exhaustive()
    }
}

impl<T> Stream for PageItems<T> {
    type Item = Result<T, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}
