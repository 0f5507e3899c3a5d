//! The HTTP client (being written).

/// The client (placeholder).
#[derive(Clone, Debug, Default)]
pub struct Client;
