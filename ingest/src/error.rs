//! Every way a request can fail, and the status Stripe should see for it.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use tether_stripe::{envelope::EnvelopeError, signature::SignatureError};

use crate::{committer::CommitError, refusals::REFUSALS};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error("body is larger than TETHER_MAX_BODY_BYTES")]
    TooLarge,
    #[error("could not read the request body")]
    UnreadableBody,
    #[error("the request body did not arrive within TETHER_BODY_TIMEOUT_MS")]
    BodyTimeout,
    #[error("the receiver is busy; try again")]
    Busy,
    #[error("this development receiver only answers requests addressed to localhost")]
    HostNotAllowed,
    #[error("events of connected account {0} are not stored here (TETHER_ACCOUNTS)")]
    AccountNotAllowed(String),
    #[error("this deployment is in {deployment} mode; a {event} mode event is not stored here")]
    WrongMode {
        deployment: &'static str,
        event: &'static str,
    },
    #[error(transparent)]
    Commit(#[from] CommitError),
}

impl IngestError {
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::Signature(_)
            | IngestError::Envelope(_)
            | IngestError::UnreadableBody
            | IngestError::WrongMode { .. }
            | IngestError::AccountNotAllowed(_) => StatusCode::BAD_REQUEST,
            IngestError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            IngestError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            IngestError::HostNotAllowed => StatusCode::FORBIDDEN,
            IngestError::Commit(CommitError::Rejected(_)) => StatusCode::BAD_REQUEST,
            IngestError::Commit(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Anyone can cause these, so they are logged at a bounded rate.
        if let Some(unlogged) = REFUSALS.record() {
            let total = REFUSALS.total();
            if status.is_server_error() {
                tracing::warn!(error = %self, unlogged, total, "webhook not stored; Stripe will retry");
            } else {
                tracing::info!(error = %self, unlogged, total, "webhook refused");
            }
        }
        json_error(status, &self.to_string())
    }
}

/// The one error body shape: `{"error": "..."}`. Messages never hold secrets.
pub fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}
