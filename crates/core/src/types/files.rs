//! Files and vector stores, as the whole public API's OpenAPI document
//! (`openai-openapi.json`) shapes them: `OpenAIFile`, `VectorStoreObject`,
//! `VectorStoreFileObject`, `VectorStoreFileBatchObject` and
//! `VectorStoreSearchResultsPage`. The Assistants document lacks them; the
//! `file_search` tool and `tool_resources` refer to them by id.

use super::common::Metadata;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

string_enum! {
    /// What a file is for.
    pub enum FilePurpose {
        /// For assistants and their tools.
        Assistants = "assistants",
        /// Written by an assistant's tool (code interpreter).
        AssistantsOutput = "assistants_output",
        /// Input of a batch.
        Batch = "batch",
        /// Output of a batch.
        BatchOutput = "batch_output",
        /// Fine-tuning data.
        FineTune = "fine-tune",
        /// Fine-tuning results.
        FineTuneResults = "fine-tune-results",
        /// Images for vision.
        Vision = "vision",
        /// Any other use.
        UserData = "user_data",
    }
}

string_enum! {
    /// A file's state (deprecated by the API, still sent).
    pub enum FileStatus {
        /// Stored.
        Uploaded = "uploaded",
        /// Processed.
        Processed = "processed",
        /// Failed.
        Error = "error",
    }
}

/// An uploaded file (`OpenAIFile`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileObject {
    /// The file's id (`file-...`).
    pub id: String,
    /// Always `file`.
    #[serde(default)]
    pub object: String,
    /// Its size in bytes.
    #[serde(default)]
    pub bytes: u64,
    /// Unix time of the upload, in seconds.
    #[serde(default)]
    pub created_at: i64,
    /// Unix time at which it expires, if it does.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Its name, as uploaded.
    #[serde(default)]
    pub filename: String,
    /// What it is for.
    pub purpose: FilePurpose,
    /// Its state.
    #[serde(default = "uploaded")]
    pub status: FileStatus,
    /// Why it failed, for a file in error.
    #[serde(default)]
    pub status_details: Option<String>,
}

fn uploaded() -> FileStatus {
    FileStatus::Uploaded
}

string_enum! {
    /// A vector store's state: derived from its files'.
    pub enum VectorStoreStatus {
        /// Past its expiry.
        Expired = "expired",
        /// Some file is still being processed.
        InProgress = "in_progress",
        /// Ready to search.
        Completed = "completed",
    }
}

// `string_enum!` declares the enum, so `#[derive(Default)]` cannot be used.
#[allow(clippy::derivable_impls)]
impl Default for VectorStoreStatus {
    fn default() -> Self {
        VectorStoreStatus::Completed
    }
}

/// How many of a store's (or a batch's) files are in each state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileCounts {
    /// Being processed.
    #[serde(default)]
    pub in_progress: u64,
    /// Ready.
    #[serde(default)]
    pub completed: u64,
    /// Failed.
    #[serde(default)]
    pub failed: u64,
    /// Cancelled.
    #[serde(default)]
    pub cancelled: u64,
    /// All of them.
    #[serde(default)]
    pub total: u64,
}

/// When a vector store expires: `days` after its `anchor`
/// (`last_active_at`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VectorStoreExpiration {
    /// The time the days count from: `last_active_at`.
    pub anchor: String,
    /// Days after the anchor (1 to 365).
    pub days: u32,
}

/// A vector store (`VectorStoreObject`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VectorStore {
    /// The store's id (`vs_...`).
    pub id: String,
    /// Always `vector_store`.
    #[serde(default)]
    pub object: String,
    /// Unix time of creation, in seconds.
    #[serde(default)]
    pub created_at: i64,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// The bytes its files take.
    #[serde(default)]
    pub usage_bytes: u64,
    /// Its files by state.
    #[serde(default)]
    pub file_counts: FileCounts,
    /// Its state (`completed` when an answer leaves it out).
    #[serde(default)]
    pub status: VectorStoreStatus,
    /// Its expiry policy.
    #[serde(default)]
    pub expires_after: Option<VectorStoreExpiration>,
    /// Unix time at which it expires, if it does.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Unix time it was last used.
    #[serde(default)]
    pub last_active_at: Option<i64>,
    /// Up to 16 key-value pairs.
    #[serde(default, deserialize_with = "super::tagged::null_as_default")]
    pub metadata: Metadata,
}

string_enum! {
    /// A vector store file's (or a batch's) state.
    pub enum VectorStoreFileStatus {
        /// Being processed.
        InProgress = "in_progress",
        /// Ready to search.
        Completed = "completed",
        /// Cancelled.
        Cancelled = "cancelled",
        /// Failed: see `last_error`.
        Failed = "failed",
    }
}

// `string_enum!` declares the enum, so `#[derive(Default)]` cannot be used.
#[allow(clippy::derivable_impls)]
impl Default for VectorStoreFileStatus {
    fn default() -> Self {
        VectorStoreFileStatus::Completed
    }
}

string_enum! {
    /// Why a vector store file failed.
    pub enum VectorStoreFileErrorCode {
        /// The server failed.
        ServerError = "server_error",
        /// The file's type cannot be searched.
        UnsupportedFile = "unsupported_file",
        /// The file is broken.
        InvalidFile = "invalid_file",
    }
}

/// The error of a failed vector store file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VectorStoreFileError {
    /// Its kind.
    pub code: VectorStoreFileErrorCode,
    /// What went wrong.
    #[serde(default)]
    pub message: String,
}

/// The `static` chunking strategy's sizes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StaticChunking {
    /// The most tokens in a chunk (100 to 4096; `auto` is 800).
    pub max_chunk_size_tokens: u32,
    /// Tokens shared by neighbouring chunks (at most half the size; `auto`
    /// is 400).
    pub chunk_overlap_tokens: u32,
}

/// How a file is cut into chunks.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ChunkingStrategy {
    /// `{"type": "auto"}`: 800 tokens, 400 overlap (requests only).
    Auto,
    /// `{"type": "static", "static": {...}}`.
    Static(StaticChunking),
    /// `{"type": "other"}`: a file chunked before strategies were recorded.
    Other,
    /// Any other shape, kept as sent.
    Unknown(Value),
}

impl Serialize for ChunkingStrategy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ChunkingStrategy::Auto => serde_json::json!({"type": "auto"}).serialize(serializer),
            ChunkingStrategy::Static(sizes) => {
                serde_json::json!({"type": "static", "static": sizes}).serialize(serializer)
            }
            ChunkingStrategy::Other => serde_json::json!({"type": "other"}).serialize(serializer),
            ChunkingStrategy::Unknown(raw) => raw.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for ChunkingStrategy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(deserializer)?;
        Ok(match raw.get("type").and_then(Value::as_str) {
            Some("auto") => ChunkingStrategy::Auto,
            Some("other") => ChunkingStrategy::Other,
            Some("static") => match raw
                .get("static")
                .cloned()
                .map(serde_json::from_value::<StaticChunking>)
            {
                Some(Ok(sizes)) => ChunkingStrategy::Static(sizes),
                _ => ChunkingStrategy::Unknown(raw),
            },
            _ => ChunkingStrategy::Unknown(raw),
        })
    }
}

/// A file in a vector store (`VectorStoreFileObject`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VectorStoreFile {
    /// The file's id.
    pub id: String,
    /// Always `vector_store.file`.
    #[serde(default)]
    pub object: String,
    /// The bytes its chunks take in the store.
    #[serde(default)]
    pub usage_bytes: u64,
    /// Unix time it was added, in seconds.
    #[serde(default)]
    pub created_at: i64,
    /// The store.
    #[serde(default)]
    pub vector_store_id: String,
    /// Its state (`completed` when an answer leaves it out).
    #[serde(default)]
    pub status: VectorStoreFileStatus,
    /// Why it failed.
    #[serde(default)]
    pub last_error: Option<VectorStoreFileError>,
    /// How it was chunked.
    #[serde(default)]
    pub chunking_strategy: Option<ChunkingStrategy>,
    /// Up to 16 attributes (strings, numbers, booleans) for search filters.
    #[serde(default)]
    pub attributes: Option<Map<String, Value>>,
}

/// A batch of files added to a vector store
/// (`VectorStoreFileBatchObject`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VectorStoreFileBatch {
    /// The batch's id (`vsfb_...`).
    pub id: String,
    /// Always `vector_store.files_batch`.
    #[serde(default)]
    pub object: String,
    /// Unix time of creation, in seconds.
    #[serde(default)]
    pub created_at: i64,
    /// The store.
    #[serde(default)]
    pub vector_store_id: String,
    /// Its state.
    pub status: VectorStoreFileStatus,
    /// Its files by state.
    #[serde(default)]
    pub file_counts: FileCounts,
}

/// A page of search results (`VectorStoreSearchResultsPage`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VectorStoreSearchResults {
    /// Always `vector_store.search_results.page`.
    #[serde(default)]
    pub object: String,
    /// The queries searched (a single query is sent as a string too).
    #[serde(default, deserialize_with = "one_or_many")]
    pub search_query: Vec<String>,
    /// The results, best first.
    #[serde(default)]
    pub data: Vec<VectorStoreSearchResult>,
    /// Whether more results follow.
    #[serde(default)]
    pub has_more: bool,
    /// The cursor of the next page.
    #[serde(default)]
    pub next_page: Option<String>,
}

/// One result of a search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VectorStoreSearchResult {
    /// The file it is from.
    pub file_id: String,
    /// The file's name.
    #[serde(default)]
    pub filename: String,
    /// How well it matches, 0 to 1.
    #[serde(default)]
    pub score: f64,
    /// The file's attributes.
    #[serde(default)]
    pub attributes: Option<Map<String, Value>>,
    /// The matching chunks.
    #[serde(default)]
    pub content: Vec<SearchResultContent>,
}

/// A chunk of a search result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SearchResultContent {
    /// `text`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The chunk's text.
    #[serde(default)]
    pub text: String,
}

/// A string, or a list of strings, as a list.
fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
        Null(()),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
        OneOrMany::Null(()) => Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_values_are_kept() {
        let file: FileObject = serde_json::from_value(json!({
            "id": "file-1", "object": "file", "bytes": 3, "created_at": 1, "filename": "a.txt",
            "purpose": "hologram", "status": "processed"}))
        .unwrap();
        assert_eq!(file.purpose, FilePurpose::Unknown("hologram".into()));
        assert_eq!(serde_json::to_value(&file).unwrap()["purpose"], "hologram");
        let strategy: ChunkingStrategy =
            serde_json::from_value(json!({"type": "semantic", "x": 1})).unwrap();
        assert!(matches!(strategy, ChunkingStrategy::Unknown(_)));
        let strategy: ChunkingStrategy = serde_json::from_value(
            json!({"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(&strategy).unwrap(),
            json!({"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}})
        );
    }

    #[test]
    fn a_search_query_may_be_one_string() {
        let page: VectorStoreSearchResults = serde_json::from_value(json!({
            "object": "vector_store.search_results.page", "search_query": "return policy",
            "data": [], "has_more": false, "next_page": null}))
        .unwrap();
        assert_eq!(page.search_query, ["return policy"]);
    }
}
