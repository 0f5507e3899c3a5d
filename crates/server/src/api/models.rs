//! `/models`: the model names this server answers with.
//!
//! The list is what the [`Model`](crate::Model) behind the server
//! names in [`Model::models`](crate::Model::models), then the embeddings
//! backend's model, if the server has one. Runs accept any
//! model name (the server never checks one), so `GET /models/{id}` answers
//! every id too, listed or not: an app that checks its configured model
//! before it starts works unchanged.

use crate::services::Services;
use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use std::sync::Arc;

/// A model as the API describes it.
#[derive(Debug, Serialize)]
pub(crate) struct ModelObject {
    id: String,
    object: &'static str,
    /// When the server started: it has no better date for a name.
    created: i64,
    owned_by: &'static str,
}

impl ModelObject {
    fn new(app: &Services, id: String) -> Self {
        ModelObject {
            id,
            object: "model",
            created: app.started_at,
            owned_by: "assistant-stream",
        }
    }
}

/// The list's shape: `{"object": "list", "data": [...]}` (no cursors: the
/// API does not page models).
#[derive(Debug, Serialize)]
pub(crate) struct ModelList {
    object: &'static str,
    data: Vec<ModelObject>,
}

pub(crate) async fn list(State(app): State<Arc<Services>>) -> Json<ModelList> {
    let names = crate::services::completions::models(&app).await;
    Json(ModelList {
        object: "list",
        data: names
            .into_iter()
            .map(|id| ModelObject::new(&app, id))
            .collect(),
    })
}

pub(crate) async fn get(
    State(app): State<Arc<Services>>,
    Path(model): Path<String>,
) -> Json<ModelObject> {
    Json(ModelObject::new(&app, model))
}
