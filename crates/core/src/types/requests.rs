//! Request bodies and list queries, shared by the client and the server.
//!
//! Every request is `Default` with builder methods, so the usual call is one
//! line:
//!
//! ```
//! use assistant_stream::types::{CreateAssistantRequest, FunctionDefinition, Tool};
//!
//! let request = CreateAssistantRequest::new("gpt-4o")
//!     .name("Weather bot")
//!     .instructions("Answer briefly.")
//!     .tool(Tool::function(FunctionDefinition::new("get_weather")));
//! assert_eq!(serde_json::to_value(&request)?["tools"][0]["function"]["name"], "get_weather");
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! When reading a request, `null` means absent for every optional field, as
//! the API reads it: SDKs and frameworks send `"messages": null` or
//! `"tools": null` for fields the caller left out. Fields that are not an
//! `Option` but have a default read `null` as that default.

use super::common::{
    Metadata, ResponseFormat, Tool, ToolChoice, ToolResources, TruncationStrategy,
};
use super::message::{Attachment, ImageFile, ImageUrl, Role};
use super::run::ToolOutput;
use super::tagged::null_as_default;
use serde::{Deserialize, Serialize};

macro_rules! setters {
    ($ty:ty { $( $(#[$doc:meta])* $field:ident: $arg:ty => $conv:expr ),* $(,)? }) => {
        impl $ty {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $field(mut self, value: $arg) -> Self {
                    #[allow(clippy::redundant_closure_call)]
                    { self.$field = Some(($conv)(value)); }
                    self
                }
            )*
        }
    };
}

/// `POST /assistants`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateAssistantRequest {
    /// The model.
    pub model: String,
    /// A name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// System instructions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Tools.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tools: Vec<Tool>,
    /// Resources for the tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_resources: Option<ToolResources>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// The answer format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Reasoning effort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
}

impl CreateAssistantRequest {
    /// An assistant on this model.
    pub fn new(model: impl Into<String>) -> Self {
        CreateAssistantRequest {
            model: model.into(),
            ..Default::default()
        }
    }

    /// Adds a tool.
    #[must_use]
    pub fn tool(mut self, tool: Tool) -> Self {
        self.tools.push(tool);
        self
    }
}

setters!(CreateAssistantRequest {
    /// Sets the name.
    name: impl Into<String> => Into::into,
    /// Sets the description.
    description: impl Into<String> => Into::into,
    /// Sets the instructions.
    instructions: impl Into<String> => Into::into,
    /// Sets the tool resources.
    tool_resources: ToolResources => std::convert::identity,
    /// Sets the metadata.
    metadata: Metadata => std::convert::identity,
    /// Sets the temperature.
    temperature: f64 => std::convert::identity,
    /// Sets top_p.
    top_p: f64 => std::convert::identity,
    /// Sets the response format.
    response_format: ResponseFormat => std::convert::identity,
});

/// `POST /assistants/{id}`: only the fields set are changed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModifyAssistantRequest {
    /// The model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// A name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// System instructions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Tools (replaces the list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Resources for the tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_resources: Option<ToolResources>,
    /// Metadata (replaces the map).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// The answer format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
}

setters!(ModifyAssistantRequest {
    /// Sets the model.
    model: impl Into<String> => Into::into,
    /// Sets the name.
    name: impl Into<String> => Into::into,
    /// Sets the description.
    description: impl Into<String> => Into::into,
    /// Sets the instructions.
    instructions: impl Into<String> => Into::into,
    /// Replaces the tools.
    tools: Vec<Tool> => std::convert::identity,
    /// Replaces the metadata.
    metadata: Metadata => std::convert::identity,
});

/// The content of a new message: a string or a list of parts.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum MessageInput {
    /// Plain text.
    Text(String),
    /// Text and image parts.
    Parts(Vec<MessageInputPart>),
}

// By hand rather than `untagged`: a bad part is reported where it is
// (`content[1].text`), not as "data did not match any variant".
impl<'de> Deserialize<'de> for MessageInput {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InputVisitor;
        impl<'de> serde::de::Visitor<'de> for InputVisitor {
            type Value = MessageInput;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an array of content parts")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<MessageInput, E> {
                Ok(MessageInput::Text(text.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<MessageInput, E> {
                Ok(MessageInput::Text(text))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<MessageInput, A::Error> {
                let mut parts = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(part) = seq.next_element()? {
                    parts.push(part);
                }
                Ok(MessageInput::Parts(parts))
            }
        }
        deserializer.deserialize_any(InputVisitor)
    }
}

impl Default for MessageInput {
    fn default() -> Self {
        MessageInput::Text(String::new())
    }
}

impl From<&str> for MessageInput {
    fn from(text: &str) -> Self {
        MessageInput::Text(text.to_owned())
    }
}

impl From<String> for MessageInput {
    fn from(text: String) -> Self {
        MessageInput::Text(text)
    }
}

impl From<Vec<MessageInputPart>> for MessageInput {
    fn from(parts: Vec<MessageInputPart>) -> Self {
        MessageInput::Parts(parts)
    }
}

/// A part of a new message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum MessageInputPart {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image file.
    ImageFile {
        /// The image.
        image_file: ImageFile,
    },
    /// An image URL.
    ImageUrl {
        /// The image.
        image_url: ImageUrl,
    },
}

impl MessageInputPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        MessageInputPart::Text { text: text.into() }
    }

    /// An image file part.
    pub fn image_file(file_id: impl Into<String>) -> Self {
        MessageInputPart::ImageFile {
            image_file: ImageFile::new(file_id),
        }
    }

    /// An image URL part.
    pub fn image_url(url: impl Into<String>) -> Self {
        MessageInputPart::ImageUrl {
            image_url: ImageUrl::new(url),
        }
    }
}

/// `POST /threads/{id}/messages`, and the messages of a new thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateMessageRequest {
    /// `user` or `assistant`.
    pub role: Role,
    /// The content.
    pub content: MessageInput,
    /// Files attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

impl Default for CreateMessageRequest {
    fn default() -> Self {
        CreateMessageRequest::user("")
    }
}

impl CreateMessageRequest {
    /// A user message.
    pub fn user(content: impl Into<MessageInput>) -> Self {
        CreateMessageRequest {
            role: Role::User,
            content: content.into(),
            attachments: None,
            metadata: None,
        }
    }

    /// An assistant message (to seed a conversation).
    pub fn assistant(content: impl Into<MessageInput>) -> Self {
        CreateMessageRequest {
            role: Role::Assistant,
            ..CreateMessageRequest::user(content)
        }
    }

    /// Attaches a file.
    #[must_use]
    pub fn attachment(mut self, attachment: Attachment) -> Self {
        self.attachments
            .get_or_insert_with(Vec::new)
            .push(attachment);
        self
    }
}

setters!(CreateMessageRequest {
    /// Sets the metadata.
    metadata: Metadata => std::convert::identity,
});

/// `POST /threads/{id}/messages/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModifyMessageRequest {
    /// Metadata (replaces the map).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

setters!(ModifyMessageRequest {
    /// Sets the metadata.
    metadata: Metadata => std::convert::identity,
});

/// `POST /threads`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateThreadRequest {
    /// Initial messages.
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub messages: Vec<CreateMessageRequest>,
    /// Resources for the tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_resources: Option<ToolResources>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

impl CreateThreadRequest {
    /// An empty thread.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an initial message.
    #[must_use]
    pub fn message(mut self, message: CreateMessageRequest) -> Self {
        self.messages.push(message);
        self
    }
}

setters!(CreateThreadRequest {
    /// Sets the tool resources.
    tool_resources: ToolResources => std::convert::identity,
    /// Sets the metadata.
    metadata: Metadata => std::convert::identity,
});

/// `POST /threads/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModifyThreadRequest {
    /// Resources for the tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_resources: Option<ToolResources>,
    /// Metadata (replaces the map).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

setters!(ModifyThreadRequest {
    /// Sets the tool resources.
    tool_resources: ToolResources => std::convert::identity,
    /// Sets the metadata.
    metadata: Metadata => std::convert::identity,
});

/// `POST /threads/{id}/runs`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateRunRequest {
    /// The assistant to run.
    pub assistant_id: String,
    /// Overrides the assistant's model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Overrides the assistant's instructions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Appended to the instructions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_instructions: Option<String>,
    /// Added to the thread before the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_messages: Option<Vec<CreateMessageRequest>>,
    /// Overrides the assistant's tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Stream the run as server-sent events (set by the streaming calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// The most prompt tokens the run may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_prompt_tokens: Option<u64>,
    /// The most completion tokens the run may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    /// How the thread is truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncation_strategy: Option<TruncationStrategy>,
    /// Which tool the model must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may call several functions at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// The answer format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Reasoning effort.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
}

impl CreateRunRequest {
    /// A run of this assistant.
    pub fn new(assistant_id: impl Into<String>) -> Self {
        CreateRunRequest {
            assistant_id: assistant_id.into(),
            ..Default::default()
        }
    }

    /// Adds a message to the thread before the run.
    #[must_use]
    pub fn additional_message(mut self, message: CreateMessageRequest) -> Self {
        self.additional_messages
            .get_or_insert_with(Vec::new)
            .push(message);
        self
    }
}

setters!(CreateRunRequest {
    /// Overrides the model.
    model: impl Into<String> => Into::into,
    /// Overrides the instructions.
    instructions: impl Into<String> => Into::into,
    /// Appends to the instructions.
    additional_instructions: impl Into<String> => Into::into,
    /// Overrides the tools.
    tools: Vec<Tool> => std::convert::identity,
    /// Sets the metadata.
    metadata: Metadata => std::convert::identity,
    /// Sets the temperature.
    temperature: f64 => std::convert::identity,
    /// Sets top_p.
    top_p: f64 => std::convert::identity,
    /// Sets the prompt token limit.
    max_prompt_tokens: u64 => std::convert::identity,
    /// Sets the completion token limit.
    max_completion_tokens: u64 => std::convert::identity,
    /// Sets the truncation strategy.
    truncation_strategy: TruncationStrategy => std::convert::identity,
    /// Sets the tool choice.
    tool_choice: ToolChoice => std::convert::identity,
    /// Allows or forbids parallel function calls.
    parallel_tool_calls: bool => std::convert::identity,
    /// Sets the response format.
    response_format: ResponseFormat => std::convert::identity,
});

/// `POST /threads/runs`: create a thread and run it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateThreadAndRunRequest {
    /// The assistant to run.
    pub assistant_id: String,
    /// The thread to create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<CreateThreadRequest>,
    /// Overrides the assistant's model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Overrides the assistant's instructions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Overrides the assistant's tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Tool>>,
    /// Resources for the tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_resources: Option<ToolResources>,
    /// Metadata of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Stream the run (set by the streaming calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// The most prompt tokens the run may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_prompt_tokens: Option<u64>,
    /// The most completion tokens the run may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    /// How the thread is truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncation_strategy: Option<TruncationStrategy>,
    /// Which tool the model must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// Whether the model may call several functions at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// The answer format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
}

impl CreateThreadAndRunRequest {
    /// A new thread run by this assistant.
    pub fn new(assistant_id: impl Into<String>) -> Self {
        CreateThreadAndRunRequest {
            assistant_id: assistant_id.into(),
            ..Default::default()
        }
    }
}

setters!(CreateThreadAndRunRequest {
    /// Sets the thread to create.
    thread: CreateThreadRequest => std::convert::identity,
    /// Overrides the model.
    model: impl Into<String> => Into::into,
    /// Overrides the instructions.
    instructions: impl Into<String> => Into::into,
    /// Overrides the tools.
    tools: Vec<Tool> => std::convert::identity,
    /// Sets the metadata.
    metadata: Metadata => std::convert::identity,
    /// Sets the tool choice.
    tool_choice: ToolChoice => std::convert::identity,
});

/// `POST /threads/{id}/runs/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModifyRunRequest {
    /// Metadata (replaces the map).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

setters!(ModifyRunRequest {
    /// Sets the metadata.
    metadata: Metadata => std::convert::identity,
});

/// `POST /threads/{id}/runs/{id}/submit_tool_outputs`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SubmitToolOutputsRequest {
    /// The outputs, one per call.
    pub tool_outputs: Vec<ToolOutput>,
    /// Stream the continuation (set by the streaming calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
}

impl SubmitToolOutputsRequest {
    /// These outputs.
    pub fn new(tool_outputs: Vec<ToolOutput>) -> Self {
        SubmitToolOutputsRequest {
            tool_outputs,
            stream: None,
        }
    }
}

string_enum! {
    /// Sort order of a list.
    pub enum Order {
        /// Oldest first.
        Asc = "asc",
        /// Newest first (the API's default).
        Desc = "desc",
    }
}

/// Query parameters of list endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ListQuery {
    /// Page size, 1 to 100 (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Sort order by `created_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Order>,
    /// Items after this id (the `last_id` of a page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Items before this id (the `first_id` of a page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    /// Messages of this run only (message lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

impl ListQuery {
    /// The default query.
    pub fn new() -> Self {
        Self::default()
    }
}

setters!(ListQuery {
    /// Sets the page size.
    limit: u32 => std::convert::identity,
    /// Sets the order.
    order: Order => std::convert::identity,
    /// Items after this id.
    after: impl Into<String> => Into::into,
    /// Items before this id.
    before: impl Into<String> => Into::into,
    /// Messages of this run only.
    run_id: impl Into<String> => Into::into,
});
