//! HTTP routes of the receiver.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Serialize;
use tether_shared::telemetry::{SPANS, sampling};
use tether_shared::{config::Mode, telemetry::context};
use tether_stripe::envelope::{EnvelopeError, parse_envelope_str};
use tracing::Instrument;

pub use crate::state::AppState;
use crate::{
    body::BufferedBody,
    committer::{CommitError, IncomingEvent, Receipt},
    error::{IngestError, json_error},
    metrics::{self, WebhookOutcome},
    refusals::{self, Rejected},
};

pub fn router(state: Arc<AppState>, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/webhooks/stripe", post(receive_stripe_webhook))
        .route(
            "/webhooks/supabase",
            post(crate::supabase::receive_supabase_webhook),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::scrape))
        .merge(crate::admin::routes(state.clone()))
        .merge(crate::console::routes(state.clone()))
        .fallback(|| async { json_error(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async {
            json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            )
        })
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), check_host))
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
    let reason = status
        .canonical_reason()
        .unwrap_or("request failed")
        .to_lowercase();
    json_error(status, &reason)
}

#[derive(Serialize, Debug, PartialEq, Eq)]
pub struct Ack {
    pub received: bool,
    pub duplicate: bool,
}

/// A delivery's root span ([`sampling::DELIVERY`]): the root of its
/// trace, and the context of its log lines. Its outcome is the metric's
/// label.
macro_rules! delivery_span {
    ($target:expr) => {
        tracing::info_span!(target: $target, sampling::DELIVERY,
            otel.kind = "server", event_id = tracing::field::Empty,
            event_type = tracing::field::Empty, object_id = tracing::field::Empty,
            outcome = tracing::field::Empty)
    };
}

/// A delivery, traced or not as drawn before any of its spans exist.
async fn receive_stripe_webhook(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Result<Json<Ack>, IngestError> {
    let traced = sampling::delivery_traced();
    let span = if traced {
        delivery_span!(module_path!())
    } else {
        delivery_span!(sampling::UNTRACED)
    };
    sampling::delivery(traced, answer(state, request).instrument(span)).await
}

async fn answer(state: Arc<AppState>, request: Request) -> Result<Json<Ack>, IngestError> {
    let started = Instant::now();
    let answer = receive(&state, request).await;
    let outcome = match &answer {
        Ok(Json(Ack {
            duplicate: true, ..
        })) => WebhookOutcome::Duplicate,
        Ok(_) => WebhookOutcome::Accepted,
        Err(error) => WebhookOutcome::of_error(error),
    };
    tracing::Span::current().record("outcome", outcome.as_str());
    metrics::webhook_answered(outcome, started);
    answer
}

/// Check what is cheap, read the body within bounds, verify, check the
/// envelope, store with its job, and only then answer.
async fn receive(state: &AppState, request: Request) -> Result<Json<Ack>, IngestError> {
    let (parts, body) = request.into_parts();
    let verified = async {
        let now = chrono::Utc::now().timestamp();
        let signature = parts
            .headers
            .get("stripe-signature")
            .and_then(|v| v.to_str().ok());
        // Before a byte of the body is read: a request with no plausible
        // signature header, or announcing too much, costs no memory.
        let signature = state.verifier.check_header(signature, now)?;
        state.body_limits.check_announced(&parts.headers)?;
        let body = state.body_limits.read(&parts.headers, body).await?;
        let signed_at = state.verifier.verify_body(&signature, &body.bytes)?;
        Ok::<_, IngestError>((body, signed_at))
    }
    .instrument(sampling::trace_span(
        || tracing::info_span!(target: SPANS, "verify_signature"),
    ))
    .await;
    let (BufferedBody { bytes, held }, signed_at) = verified?;
    let stored = store_verified(state, bytes.clone(), signed_at).await;
    drop(held);
    if let Err(error @ (IngestError::Envelope(_) | IngestError::Commit(CommitError::Rejected(_)))) =
        &stored
    {
        // Signed, so from Stripe (or a holder of the secret), yet not
        // stored: an operator must be able to find it.
        let reason = error.to_string();
        let event = tether_stripe::envelope::parse_envelope(&bytes).ok();
        refusals::keep(
            &state.pool,
            Rejected {
                event_id: event.as_ref().map(|e| e.id.as_str()),
                event_type: event.as_ref().map(|e| e.event_type.as_str()),
                reason: &reason,
                body: &bytes,
            },
        )
        .await;
    }
    stored
}

async fn store_verified(
    state: &AppState,
    body: Bytes,
    signed_at: i64,
) -> Result<Json<Ack>, IngestError> {
    // The stored body must be text; checking it here is the one UTF-8 pass.
    let body =
        String::from_utf8(Vec::from(body)).map_err(|e| EnvelopeError::not_utf8(e.utf8_error()))?;
    let envelope = parse_envelope_str(&body)?;
    // Stripe signs an event after it happens. One "created" in the future
    // would win every ordering comparison and freeze its object.
    if envelope.created > signed_at.saturating_add(state.verifier.tolerance_secs()) {
        return Err(
            EnvelopeError::NotAnEvent("created is later than the time it was signed").into(),
        );
    }
    if let Some(mode) = state.mode
        && Mode::of_livemode(envelope.livemode) != mode
    {
        return Err(IngestError::WrongMode {
            deployment: mode.name(),
            event: Mode::of_livemode(envelope.livemode).name(),
        });
    }
    if let (Some(allowed), Some(account)) = (&state.accounts, &envelope.account)
        && !allowed.contains(account)
    {
        return Err(IngestError::AccountNotAllowed(account.clone()));
    }
    let span = tracing::Span::current();
    span.record("event_id", envelope.id.as_str());
    span.record("event_type", envelope.event_type.as_str());
    if let Some(object_id) = &envelope.object_id {
        span.record("object_id", object_id.as_str());
    }
    // The job keeps this span's context, so the worker's spans for the
    // event join this trace.
    let commit = sampling::trace_span(|| tracing::info_span!(target: SPANS, "commit"));
    let traceparent = context::traceparent(&commit);
    let stored = state
        .committer
        .store(IncomingEvent {
            envelope,
            body,
            traceparent,
        })
        .instrument(commit)
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

/// A development receiver answers only requests addressed to a loopback
/// name, so a web page cannot reach it through DNS rebinding.
async fn check_host(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if let Some(allowed) = &state.allowed_hosts {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(host_name)
            .unwrap_or_default();
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(host)) {
            return IngestError::HostNotAllowed.into_response();
        }
    }
    next.run(request).await
}

/// `localhost:8080` -> `localhost`, `[::1]:8080` -> `[::1]`.
pub(crate) fn host_name(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port))
            if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() =>
        {
            name
        }
        _ => host,
    }
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

#[cfg(test)]
mod tests {
    use super::host_name;

    #[test]
    fn the_host_name_is_the_host_header_without_its_port() {
        assert_eq!(host_name("localhost:8080"), "localhost");
        assert_eq!(host_name("127.0.0.1"), "127.0.0.1");
        assert_eq!(host_name("[::1]:80"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
        assert_eq!(host_name("evil.example:8080"), "evil.example");
    }
}
