//! [`Include`]: extra fields the API leaves out unless asked (`include[]`).

/// An extra field to include in run steps (`include[]` query parameter of
/// creating runs and of listing and retrieving run steps).
///
/// ```
/// use assistant_stream::client::Include;
///
/// assert_eq!(
///     Include::FileSearchResultContent.as_str(),
///     "step_details.tool_calls[*].file_search.results[*].content",
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Include {
    /// The content of file search results.
    FileSearchResultContent,
    /// Any other value, sent as given.
    Other(String),
}

impl Include {
    /// The value as sent.
    pub fn as_str(&self) -> &str {
        match self {
            Include::FileSearchResultContent => {
                "step_details.tool_calls[*].file_search.results[*].content"
            }
            Include::Other(value) => value,
        }
    }
}

impl std::fmt::Display for Include {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
