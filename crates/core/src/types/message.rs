//! Messages, their content parts and their streamed deltas.

use super::common::{IncompleteDetails, Metadata, Tool};
use super::tagged::null_as_default;
use serde::{Deserialize, Serialize};

string_enum! {
    /// Who wrote a message.
    pub enum Role {
        /// The user.
        User = "user",
        /// The assistant.
        Assistant = "assistant",
    }
}

string_enum! {
    /// Where a message is in its life.
    pub enum MessageStatus {
        /// Being written.
        InProgress = "in_progress",
        /// Ended early; see `incomplete_details`.
        Incomplete = "incomplete",
        /// Written.
        Completed = "completed",
    }
}

/// A message in a thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Message {
    /// The message's id (`msg_...`).
    pub id: String,
    /// Always `thread.message`.
    #[serde(default)]
    pub object: String,
    /// Unix time of creation, in seconds.
    #[serde(default)]
    pub created_at: i64,
    /// The thread it belongs to.
    #[serde(default)]
    pub thread_id: String,
    /// Where the message is in its life.
    #[serde(default)]
    pub status: Option<MessageStatus>,
    /// Why the message is incomplete.
    #[serde(default)]
    pub incomplete_details: Option<IncompleteDetails>,
    /// When it was completed.
    #[serde(default)]
    pub completed_at: Option<i64>,
    /// When it was marked incomplete.
    #[serde(default)]
    pub incomplete_at: Option<i64>,
    /// Who wrote it.
    pub role: Role,
    /// Text and images, in order.
    #[serde(default, deserialize_with = "null_as_default")]
    pub content: Vec<MessageContent>,
    /// The assistant that wrote it, if any.
    #[serde(default)]
    pub assistant_id: Option<String>,
    /// The run that wrote it, if any.
    #[serde(default)]
    pub run_id: Option<String>,
    /// Files attached, and the tools they go to.
    #[serde(default, deserialize_with = "null_as_default")]
    pub attachments: Vec<Attachment>,
    /// Metadata.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
}

/// An empty message: no id, from the `user`, with no content; for
/// building one field by field (the type is `#[non_exhaustive]`).
impl Default for Message {
    fn default() -> Self {
        Message {
            id: String::new(),
            object: String::new(),
            created_at: 0,
            thread_id: String::new(),
            status: None,
            incomplete_details: None,
            completed_at: None,
            incomplete_at: None,
            role: Role::User,
            content: Vec::new(),
            assistant_id: None,
            run_id: None,
            attachments: Vec::new(),
            metadata: Metadata::default(),
        }
    }
}

impl Message {
    /// All text parts joined (no separator), without images.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for part in &self.content {
            if let MessageContent::Text(text) = part {
                out.push_str(&text.text.value);
            }
        }
        out
    }
}

/// A file attached to a message.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Attachment {
    /// The file's id.
    pub file_id: String,
    /// The tools the file is for.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tools: Vec<Tool>,
}

impl Attachment {
    /// A file for these tools.
    pub fn new(file_id: impl Into<String>, tools: Vec<Tool>) -> Self {
        Attachment {
            file_id: file_id.into(),
            tools,
        }
    }
}

tagged_enum! {
    /// A part of a message.
    pub enum MessageContent {
        /// An image file.
        ImageFile(ImageFileContent) = "image_file",
        /// An image URL.
        ImageUrl(ImageUrlContent) = "image_url",
        /// Text.
        Text(TextContent) = "text",
        /// A refusal.
        Refusal(RefusalContent) = "refusal",
    }
}

impl MessageContent {
    /// A text part.
    pub fn text(value: impl Into<String>) -> Self {
        MessageContent::Text(TextContent {
            text: Text {
                value: value.into(),
                annotations: Vec::new(),
            },
        })
    }

    /// The text of a text part.
    pub fn as_text(&self) -> Option<&Text> {
        match self {
            MessageContent::Text(text) => Some(&text.text),
            _ => None,
        }
    }
}

/// An image file part.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageFileContent {
    /// The image.
    #[serde(default)]
    pub image_file: ImageFile,
}

/// An image file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageFile {
    /// The file's id.
    #[serde(default, deserialize_with = "null_as_default")]
    pub file_id: String,
    /// `auto`, `low` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ImageFile {
    /// An image file by id.
    pub fn new(file_id: impl Into<String>) -> Self {
        ImageFile {
            file_id: file_id.into(),
            detail: None,
        }
    }
}

/// An image URL part.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageUrlContent {
    /// The image.
    #[serde(default)]
    pub image_url: ImageUrl,
}

/// An image URL.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageUrl {
    /// The URL.
    #[serde(default, deserialize_with = "null_as_default")]
    pub url: String,
    /// `auto`, `low` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ImageUrl {
    /// An image by URL.
    pub fn new(url: impl Into<String>) -> Self {
        ImageUrl {
            url: url.into(),
            detail: None,
        }
    }
}

/// A text part.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TextContent {
    /// The text.
    #[serde(default)]
    pub text: Text,
}

/// Text with its annotations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Text {
    /// The text.
    #[serde(default)]
    pub value: String,
    /// Citations and file paths within it.
    #[serde(default, deserialize_with = "null_as_default")]
    pub annotations: Vec<Annotation>,
}

impl Text {
    /// Text without annotations.
    pub fn new(value: impl Into<String>) -> Self {
        Text {
            value: value.into(),
            annotations: Vec::new(),
        }
    }
}

/// A refusal part.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RefusalContent {
    /// The refusal.
    #[serde(default)]
    pub refusal: String,
}

tagged_enum! {
    /// An annotation of a span of text.
    pub enum Annotation {
        /// A citation of a file found by `file_search`.
        FileCitation(FileCitationAnnotation) = "file_citation",
        /// A file written by the code interpreter.
        FilePath(FilePathAnnotation) = "file_path",
    }
}

impl Eq for Annotation {}

/// A citation of a file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileCitationAnnotation {
    /// The text to replace.
    #[serde(default)]
    pub text: String,
    /// The file cited.
    #[serde(default)]
    pub file_citation: FileCitation,
    /// Where the span starts (in characters).
    #[serde(default)]
    pub start_index: u64,
    /// Where the span ends.
    #[serde(default)]
    pub end_index: u64,
}

/// The file cited.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileCitation {
    /// The file's id.
    #[serde(default)]
    pub file_id: String,
    /// The quote (older servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
}

/// A file written by the code interpreter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FilePathAnnotation {
    /// The text to replace.
    #[serde(default)]
    pub text: String,
    /// The file.
    #[serde(default)]
    pub file_path: FilePath,
    /// Where the span starts.
    #[serde(default)]
    pub start_index: u64,
    /// Where the span ends.
    #[serde(default)]
    pub end_index: u64,
}

/// A file written by the code interpreter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FilePath {
    /// The file's id.
    #[serde(default)]
    pub file_id: String,
}

/// The payload of `thread.message.delta`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessageDeltaEvent {
    /// The message's id.
    pub id: String,
    /// Always `thread.message.delta`.
    #[serde(default)]
    pub object: String,
    /// What changed.
    #[serde(default)]
    pub delta: MessageDelta,
}

/// What changed in a message.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MessageDelta {
    /// The role, when it is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Content fragments, each placed by its `index`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub content: Vec<MessageContentDelta>,
}

tagged_enum! {
    /// A fragment of a message part.
    pub enum MessageContentDelta {
        /// Of an image file.
        ImageFile(ImageFileContentDelta) = "image_file",
        /// Of text.
        Text(TextContentDelta) = "text",
        /// Of a refusal.
        Refusal(RefusalContentDelta) = "refusal",
        /// Of an image URL.
        ImageUrl(ImageUrlContentDelta) = "image_url",
    }
}

impl MessageContentDelta {
    /// The position of the part in the message's `content`.
    pub fn index(&self) -> Option<u64> {
        match self {
            MessageContentDelta::ImageFile(d) => Some(d.index),
            MessageContentDelta::Text(d) => Some(d.index),
            MessageContentDelta::Refusal(d) => Some(d.index),
            MessageContentDelta::ImageUrl(d) => Some(d.index),
            MessageContentDelta::Unknown(raw) => raw.get("index").and_then(|i| i.as_u64()),
        }
    }
}

/// A fragment of an image file part.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageFileContentDelta {
    /// Position in the message's `content`.
    #[serde(default)]
    pub index: u64,
    /// The image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_file: Option<ImageFileDelta>,
}

/// A fragment of an image file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageFileDelta {
    /// The file's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// `auto`, `low` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A fragment of an image URL part.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageUrlContentDelta {
    /// Position in the message's `content`.
    #[serde(default)]
    pub index: u64,
    /// The image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<ImageUrlDelta>,
}

/// A fragment of an image URL.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageUrlDelta {
    /// The URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `auto`, `low` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A fragment of a text part.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TextContentDelta {
    /// Position in the message's `content`.
    #[serde(default)]
    pub index: u64,
    /// Text and annotations to add.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextDelta>,
}

/// Text and annotations to add to a text part.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TextDelta {
    /// Text to append.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Annotation fragments, each placed by its `index`.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub annotations: Vec<AnnotationDelta>,
}

/// A fragment of a refusal part.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RefusalContentDelta {
    /// Position in the message's `content`.
    #[serde(default)]
    pub index: u64,
    /// Refusal text to append.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

tagged_enum! {
    /// A fragment of an annotation.
    pub enum AnnotationDelta {
        /// Of a file citation.
        FileCitation(FileCitationAnnotationDelta) = "file_citation",
        /// Of a file path.
        FilePath(FilePathAnnotationDelta) = "file_path",
    }
}

impl Eq for AnnotationDelta {}

impl AnnotationDelta {
    /// The position of the annotation in the text's `annotations`.
    pub fn index(&self) -> Option<u64> {
        match self {
            AnnotationDelta::FileCitation(d) => Some(d.index),
            AnnotationDelta::FilePath(d) => Some(d.index),
            AnnotationDelta::Unknown(raw) => raw.get("index").and_then(|i| i.as_u64()),
        }
    }
}

/// A fragment of a file citation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileCitationAnnotationDelta {
    /// Position in the text's `annotations`.
    #[serde(default)]
    pub index: u64,
    /// The text to replace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The file cited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_citation: Option<FileCitationDelta>,
    /// Where the span starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_index: Option<u64>,
    /// Where the span ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_index: Option<u64>,
}

/// A fragment of a cited file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileCitationDelta {
    /// The file's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// The quote (older servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
}

/// A fragment of a file path annotation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FilePathAnnotationDelta {
    /// Position in the text's `annotations`.
    #[serde(default)]
    pub index: u64,
    /// The text to replace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_path: Option<FilePathDelta>,
    /// Where the span starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_index: Option<u64>,
    /// Where the span ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_index: Option<u64>,
}

/// A fragment of a file path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FilePathDelta {
    /// The file's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
}

impl MessageDeltaEvent {
    /// The delta that appends `token` to the first text part of a message.
    #[doc(hidden)]
    pub fn text(message_id: &str, token: String) -> Self {
        MessageDeltaEvent {
            id: message_id.to_owned(),
            object: "thread.message.delta".to_owned(),
            delta: MessageDelta {
                role: None,
                content: vec![MessageContentDelta::Text(TextContentDelta {
                    index: 0,
                    text: Some(TextDelta {
                        value: Some(token),
                        annotations: Vec::new(),
                    }),
                })],
            },
        }
    }
}
