//! Every way a request can fail, and the status Stripe should see for it.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use tether_stripe::{envelope::EnvelopeError, signature::SignatureError};

use crate::committer::CommitError;

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
    #[error(transparent)]
    Commit(#[from] CommitError),
}

impl IngestError {
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::Signature(_) | IngestError::Envelope(_) | IngestError::UnreadableBody => {
                StatusCode::BAD_REQUEST
            }
            IngestError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::Commit(CommitError::Rejected(_)) => StatusCode::BAD_REQUEST,
            IngestError::Commit(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "webhook not stored; Stripe will retry");
        } else {
            tracing::info!(error = %self, "webhook refused");
        }
        json_error(status, &self.to_string())
    }
}

/// The one error body shape: `{"error": "..."}`. Messages never hold secrets.
pub fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}
