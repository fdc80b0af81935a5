//! HTTP routes of the receiver.

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode, header},
    middleware,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Serialize;
use sqlx::PgPool;
use tether_stripe::{
    envelope::{EnvelopeError, parse_envelope_str},
    signature::SignatureVerifier,
};

use crate::{
    committer::{Committer, IncomingEvent, Receipt},
    error::{IngestError, json_error},
};

pub struct AppState {
    pub verifier: SignatureVerifier,
    pub committer: Committer,
    pub pool: PgPool,
}

pub fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/webhooks/stripe", post(receive_stripe_webhook))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async {
            json_error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed on this route")
        })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::map_response(errors_as_json))
        .with_state(state)
}

/// Every error answers `{"error": ...}`, also the ones the framework makes
/// itself (a rejected extractor, a body limit) before a handler runs.
async fn errors_as_json(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let reason = status.canonical_reason().unwrap_or("request failed").to_lowercase();
    json_error(status, &reason)
}

#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct Ack {
    pub received: bool,
    pub duplicate: bool,
}

/// Verify, check the envelope, store with its job, and only then answer.
#[tracing::instrument(name = "stripe_webhook", skip_all,
    fields(event_id = tracing::field::Empty, event_type = tracing::field::Empty))]
async fn receive_stripe_webhook(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Ack>, IngestError> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => IngestError::TooLarge,
        _ => IngestError::UnreadableBody,
    })?;
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let signed_at =
        state
            .verifier
            .verify_signed_at(signature, &body, chrono::Utc::now().timestamp())?;
    // The stored body must be text; checking it here is the one UTF-8 pass.
    let body =
        String::from_utf8(Vec::from(body)).map_err(|e| EnvelopeError::not_utf8(e.utf8_error()))?;
    let envelope = parse_envelope_str(&body)?;
    // Stripe signs an event after it happens. One "created" in the future
    // would win every ordering comparison and freeze its object.
    if envelope.created > signed_at.saturating_add(state.verifier.tolerance_secs()) {
        return Err(EnvelopeError::NotAnEvent("created is later than the time it was signed").into());
    }
    let span = tracing::Span::current();
    span.record("event_id", envelope.id.as_str());
    span.record("event_type", envelope.event_type.as_str());
    let stored = state
        .committer
        .store(IncomingEvent { envelope, body })
        .await?;
    let duplicate = stored == Receipt::Duplicate;
    // Per event, so debug: at thousands a second an info line each would
    // cost more than the request; webhook_logs is the per-event record.
    tracing::debug!(duplicate, "event stored");
    Ok(Json(Ack {
        received: true,
        duplicate,
    }))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let ping = sqlx::query("SELECT 1").execute(&state.pool);
    match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(Ok(_)) => Json(serde_json::json!({ "status": "ready" })).into_response(),
        _ => json_error(StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}
