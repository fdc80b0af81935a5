//! The dead-letters page's listing: `ops::dlq::page`, one keyset page at a
//! time, each reading at most `dlq::PAGE_BUDGET` letters. Replaying and
//! discarding are the admin API's own handlers (`admin::replay_dead`,
//! `admin::discard_dead`), mounted in `mod.rs`.

use std::sync::Arc;

use axum::extract::{Query, State, rejection::QueryRejection};
use serde::Deserialize;
use tether_ops::dlq;
use tether_shared::bounds::parse_limit;

use crate::{
    admin::{AdminError, Answer, duration, json, optional_account, optional_id},
    state::AppState,
};

/// A page is this many letters unless the page asks for another number.
const PAGE: usize = 50;

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(rename = "type")]
    event_type: Option<String>,
    since: Option<String>,
    error: Option<String>,
    /// A connected account's id (`acct_...`).
    account: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Answer {
    let Query(query) = query.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let limit = match query.limit.as_deref() {
        Some(raw) => parse_limit(raw).map_err(|e| AdminError::BadRequest(e.to_string()))?,
        None => PAGE,
    };
    let after = match query.after.as_deref().filter(|a| !a.is_empty()) {
        Some(raw) => Some(
            dlq::Cursor::parse(raw)
                .ok_or_else(|| AdminError::BadRequest(format!("`{raw}` is not a page cursor")))?,
        ),
        None => None,
    };
    let filter = dlq::Filter {
        event_type: optional_id(nonempty(&query.event_type))?,
        since: duration(nonempty(&query.since))?,
        error_contains: optional_id(nonempty(&query.error))?,
        account: optional_account(nonempty(&query.account))?,
        limit: Some(limit),
        ..dlq::Filter::default()
    };
    let budget = Some(dlq::PAGE_BUDGET);
    json(dlq::page(&state.pool, &filter, after.as_ref(), budget).await?)
}

/// A form's empty field is no filter.
fn nonempty(raw: &Option<String>) -> Option<&str> {
    raw.as_deref().filter(|s| !s.trim().is_empty())
}
