//! The intake page: rejected deliveries (`ops::rejected`, as `tether
//! rejected`) and how far backfill and follow have come (`ops::progress`).

use std::sync::Arc;

use axum::extract::State;
use serde::Serialize;
use tether_ops::{progress, rejected};

use crate::{
    admin::{Answer, json},
    state::AppState,
};

/// The newest rejected deliveries shown.
const REJECTED_SHOWN: i64 = 100;

#[derive(Serialize)]
struct Intake {
    rejected: Vec<rejected::RejectedDelivery>,
    progress: progress::Progress,
}

pub async fn show(State(state): State<Arc<AppState>>) -> Answer {
    json(Intake {
        rejected: rejected::list(&state.pool, REJECTED_SHOWN).await?,
        progress: progress::progress(&state.pool).await?,
    })
}
