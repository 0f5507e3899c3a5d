//! Threads and assistants.

use super::common::{Metadata, ResponseFormat, Tool, ToolResources};
use super::tagged::null_as_default;
use serde::{Deserialize, Serialize};

/// A thread: a conversation of messages.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Thread {
    /// The thread's id (`thread_...`).
    pub id: String,
    /// Always `thread`.
    #[serde(default)]
    pub object: String,
    /// Unix time of creation, in seconds.
    #[serde(default)]
    pub created_at: i64,
    /// Resources for the tools.
    #[serde(default)]
    pub tool_resources: Option<ToolResources>,
    /// Metadata.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
}

/// An assistant: a model with instructions and tools.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Assistant {
    /// The assistant's id (`asst_...`).
    pub id: String,
    /// Always `assistant`.
    #[serde(default)]
    pub object: String,
    /// Unix time of creation, in seconds.
    #[serde(default)]
    pub created_at: i64,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
    /// The model it uses.
    #[serde(default)]
    pub model: String,
    /// Its system instructions.
    #[serde(default)]
    pub instructions: Option<String>,
    /// Its tools.
    #[serde(default, deserialize_with = "null_as_default")]
    pub tools: Vec<Tool>,
    /// Resources for the tools.
    #[serde(default)]
    pub tool_resources: Option<ToolResources>,
    /// Metadata.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// Sampling temperature.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// The answer format.
    #[serde(default)]
    pub response_format: Option<ResponseFormat>,
    /// Reasoning effort, for reasoning models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
}
