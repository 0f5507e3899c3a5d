//! The official SDKs on `POST /v1/chat/completions` and `POST /v1/embeddings` (being written).
