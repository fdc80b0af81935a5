//! The event page and search: `ops::lookup`.

use std::sync::Arc;

use axum::extract::{Path, Query, State, rejection::PathRejection};
use serde::Deserialize;
use tether_ops::lookup;

use crate::{
    admin::{AdminError, Answer, id, json},
    state::AppState,
};

pub async fn show(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let Path(raw) = path.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    json(lookup::event(&state.pool, &id(&raw)?).await?)
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: String,
}

pub async fn search(
    State(state): State<Arc<AppState>>,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let Query(query) = query.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    json(lookup::search(&state.pool, &id(query.q.trim())?).await?)
}
