//! The operator API: `tether status`, `dlq`, `replay` and `prune` as JSON
//! under `/admin/`, behind `Authorization: Bearer <TETHER_ADMIN_TOKEN>`.
//! Without a configured token the API does not exist (404); a missing or
//! wrong token gets 401. The token is compared in constant time.

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::{
        Path, Query, Request, State,
        rejection::{JsonRejection, PathRejection, QueryRejection},
    },
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tether_ops::{OpsError, dlq, prune, replay, status};
use tether_shared::{
    bounds::{parse_id, parse_limit},
    duration::parse_duration,
};

use crate::{error::json_error, state::AppState};

pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/status", get(get_status))
        .route("/admin/dlq", get(list_dead))
        .route("/admin/dlq/{id}", get(show_dead))
        .route("/admin/dlq/replay", post(replay_dead))
        .route("/admin/dlq/discard", post(discard_dead))
        .route("/admin/replay", post(replay_history))
        .route("/admin/prune", post(prune_old))
        .layer(middleware::from_fn_with_state(state, authorize))
}

async fn authorize(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let Some(token) = &state.admin_token else {
        return json_error(StatusCode::NOT_FOUND, "no such route");
    };
    let offered = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !token_matches(token, offered) {
        return json_error(StatusCode::UNAUTHORIZED, "missing or wrong admin token");
    }
    next.run(request).await
}

/// The one comparison of an offered admin token (the API's bearer token,
/// the console's sign-in), in constant time.
pub(crate) fn token_matches(token: &SecretString, offered: &str) -> bool {
    bool::from(offered.as_bytes().ct_eq(token.expose_secret().as_bytes()))
}

/// An admin request that failed, and its status.
pub(crate) enum AdminError {
    BadRequest(String),
    Ops(OpsError),
}

impl From<OpsError> for AdminError {
    fn from(error: OpsError) -> Self {
        AdminError::Ops(error)
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        match self {
            AdminError::BadRequest(why) => json_error(StatusCode::BAD_REQUEST, &why),
            AdminError::Ops(error @ OpsError::OutOfBounds(_)) => {
                json_error(StatusCode::BAD_REQUEST, &error.to_string())
            }
            AdminError::Ops(error @ (OpsError::NotFound(_) | OpsError::NoSuchEvent(_))) => {
                json_error(StatusCode::NOT_FOUND, &error.to_string())
            }
            AdminError::Ops(error) => {
                tracing::warn!(error = %error, "admin operation failed");
                json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database could not answer",
                )
            }
        }
    }
}

pub(crate) type Answer = Result<Response, AdminError>;

pub(crate) fn json(value: impl serde::Serialize) -> Answer {
    Ok(Json(value).into_response())
}

// Every value from a query, a path or a body passes `tether_shared::bounds`
// here, as the CLI's flags do, so a bad one is a 400 naming it.

pub(crate) fn duration(raw: Option<&str>) -> Result<Option<Duration>, AdminError> {
    raw.map(parse_duration)
        .transpose()
        .map_err(|e| AdminError::BadRequest(e.to_string()))
}

pub(crate) fn id(raw: &str) -> Result<String, AdminError> {
    parse_id(raw).map_err(|e| AdminError::BadRequest(e.to_string()))
}

pub(crate) fn optional_id(raw: Option<&str>) -> Result<Option<String>, AdminError> {
    raw.map(id).transpose()
}

pub(crate) fn optional_account(raw: Option<&str>) -> Result<Option<String>, AdminError> {
    raw.map(|raw| {
        tether_shared::bounds::parse_account(raw).map_err(|e| AdminError::BadRequest(e.to_string()))
    })
    .transpose()
}

/// A body axum could not read is a 400 in the admin API's JSON shape, not
/// axum's plain-text 400 or 422.
fn body<T>(read: Result<Json<T>, JsonRejection>) -> Result<T, AdminError> {
    read.map(|Json(value)| value)
        .map_err(|e| AdminError::BadRequest(e.body_text()))
}

#[derive(Deserialize, Default)]
pub(crate) struct StatusQuery {
    account: Option<String>,
}

pub(crate) async fn get_status(
    State(state): State<Arc<AppState>>,
    query: Result<Query<StatusQuery>, QueryRejection>,
) -> Answer {
    let Query(query) = query.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let account = optional_account(query.account.as_deref())?;
    let status = status::status(&state.pool, account.as_deref()).await?;
    let attention = status::needs_attention(&status, Duration::from_secs(300));
    let mut out = serde_json::to_value(&status).unwrap_or_default();
    out["needs_attention"] = serde_json::json!(attention);
    json(out)
}

#[derive(Deserialize, Default)]
struct ListQuery {
    #[serde(rename = "type")]
    event_type: Option<String>,
    account: Option<String>,
    since: Option<String>,
    /// Text the last error contains.
    error: Option<String>,
    limit: Option<String>,
}

async fn list_dead(
    State(state): State<Arc<AppState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Answer {
    let Query(query) = query.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    let limit = match query.limit.as_deref() {
        Some(raw) => parse_limit(raw).map_err(|e| AdminError::BadRequest(e.to_string()))?,
        None => 50,
    };
    let filter = dlq::Filter {
        event_type: optional_id(query.event_type.as_deref())?,
        account: optional_account(query.account.as_deref())?,
        since: duration(query.since.as_deref())?,
        error_contains: optional_id(query.error.as_deref())?,
        limit: Some(limit),
        ..dlq::Filter::default()
    };
    json(dlq::list(&state.pool, &filter).await?)
}

async fn show_dead(
    State(state): State<Arc<AppState>>,
    path: Result<Path<String>, PathRejection>,
) -> Answer {
    let Path(raw) = path.map_err(|e| AdminError::BadRequest(e.body_text()))?;
    json(dlq::show(&state.pool, &id(&raw)?).await?)
}

/// Which dead letters: `ids`, or `all` narrowed by `type`, `since` and
/// `error` (text the last error contains).
#[derive(Deserialize, Default)]
pub(crate) struct Selection {
    #[serde(default)]
    ids: Vec<String>,
    #[serde(default)]
    all: bool,
    #[serde(rename = "type")]
    event_type: Option<String>,
    account: Option<String>,
    since: Option<String>,
    error: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

impl Selection {
    fn filter(&self) -> Result<dlq::Filter, AdminError> {
        // Exactly one of the two: ids, or all.
        if self.ids.is_empty() != self.all {
            return Err(AdminError::BadRequest(
                "give either \"ids\" or \"all\": true".into(),
            ));
        }
        Ok(dlq::Filter {
            ids: self
                .ids
                .iter()
                .map(|raw| id(raw))
                .collect::<Result<_, _>>()?,
            event_type: optional_id(self.event_type.as_deref())?,
            account: optional_account(self.account.as_deref())?,
            since: duration(self.since.as_deref())?,
            error_contains: optional_id(self.error.as_deref())?,
            limit: None,
        })
    }
}

pub(crate) async fn replay_dead(
    State(state): State<Arc<AppState>>,
    selection: Result<Json<Selection>, JsonRejection>,
) -> Answer {
    let selection = body(selection)?;
    json(dlq::replay(&state.pool, &selection.filter()?, selection.dry_run).await?)
}

pub(crate) async fn discard_dead(
    State(state): State<Arc<AppState>>,
    selection: Result<Json<Selection>, JsonRejection>,
) -> Answer {
    let selection = body(selection)?;
    json(dlq::discard(&state.pool, &selection.filter()?, selection.dry_run).await?)
}

#[derive(Deserialize)]
struct ReplayRequest {
    #[serde(rename = "type")]
    event_type: String,
    since: Option<String>,
    object: Option<String>,
    account: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

async fn replay_history(
    State(state): State<Arc<AppState>>,
    request: Result<Json<ReplayRequest>, JsonRejection>,
) -> Answer {
    let request = body(request)?;
    let selection = replay::Selection {
        event_type: id(&request.event_type)?,
        since: duration(request.since.as_deref())?,
        object_id: optional_id(request.object.as_deref())?,
        account: optional_account(request.account.as_deref())?,
    };
    json(replay::replay(&state.pool, &selection, request.dry_run).await?)
}

#[derive(Deserialize)]
struct PruneRequest {
    older_than: String,
    #[serde(default)]
    dry_run: bool,
}

async fn prune_old(
    State(state): State<Arc<AppState>>,
    request: Result<Json<PruneRequest>, JsonRejection>,
) -> Answer {
    let request = body(request)?;
    let older_than = duration(Some(&request.older_than))?.unwrap_or_default();
    json(prune::prune(&state.pool, older_than, request.dry_run).await?)
}

/// The configured token, if any (an empty one is no token).
pub fn token(raw: Option<&SecretString>) -> Option<SecretString> {
    raw.filter(|t| !t.expose_secret().is_empty()).cloned()
}
