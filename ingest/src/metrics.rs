//! What ingest counts: every webhook answer by outcome, how long requests
//! take, and how many events each group commit carries. Recording never
//! fails a request: with no recorder installed the macros do nothing.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use tether_shared::telemetry::metrics::{INGEST_BATCH_SIZE, INGEST_REQUEST_DURATION, WEBHOOKS};

use crate::{committer::CommitError, error::IngestError, routes::AppState};

/// The `outcome` label of `tether_webhooks_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    Accepted,
    Duplicate,
    BadSignature,
    /// Any other 4xx: not an event, a body that never arrived whole,
    /// the wrong mode, a payload PostgreSQL refuses.
    BadRequest,
    TooLarge,
    /// 503: Stripe will deliver again.
    Unavailable,
}

impl WebhookOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Accepted => "accepted",
            WebhookOutcome::Duplicate => "duplicate",
            WebhookOutcome::BadSignature => "bad_signature",
            WebhookOutcome::BadRequest => "bad_request",
            WebhookOutcome::TooLarge => "too_large",
            WebhookOutcome::Unavailable => "unavailable",
        }
    }

    pub fn of_error(error: &IngestError) -> Self {
        match error {
            IngestError::Signature(_) => WebhookOutcome::BadSignature,
            IngestError::TooLarge => WebhookOutcome::TooLarge,
            IngestError::Busy
            | IngestError::Commit(
                CommitError::Unavailable | CommitError::TimedOut | CommitError::ShuttingDown,
            ) => WebhookOutcome::Unavailable,
            IngestError::Envelope(_)
            | IngestError::UnreadableBody
            | IngestError::BodyTimeout
            | IngestError::HostNotAllowed
            | IngestError::WrongMode { .. }
            | IngestError::AccountNotAllowed(_)
            | IngestError::Commit(CommitError::Rejected(_)) => WebhookOutcome::BadRequest,
        }
    }
}

/// One answered webhook request, received at `started`.
pub fn webhook_answered(outcome: WebhookOutcome, started: Instant) {
    ::metrics::counter!(WEBHOOKS, "outcome" => outcome.as_str()).increment(1);
    ::metrics::histogram!(INGEST_REQUEST_DURATION).record(started.elapsed().as_secs_f64());
}

/// A connection refused over TETHER_MAX_CONNECTIONS: Stripe sees a 503.
pub fn connection_refused() {
    ::metrics::counter!(WEBHOOKS, "outcome" => WebhookOutcome::Unavailable.as_str()).increment(1);
}

pub fn batch_committed(events: usize) {
    ::metrics::histogram!(INGEST_BATCH_SIZE).record(events as f64);
}

/// `GET /metrics`: Prometheus text.
pub async fn scrape(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
