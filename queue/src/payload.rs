//! What a job carries: the ids of the events one batch stored. The events
//! themselves are rows of `stripe_events`; a job only names them.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobPayload {
    /// `stripe_events.id` values.
    pub events: Vec<String>,
    /// The body bytes of those events, so a worker can bound what it loads
    /// into memory at once; 0 when unknown.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bytes: u64,
}

fn is_zero(bytes: &u64) -> bool {
    *bytes == 0
}

/// A job whose bytes are not a [`JobPayload`]: it can only be dead-lettered.
/// Cheap to clone: the claim keeps it, and each failure report takes a copy.
#[derive(Debug, Clone, thiserror::Error)]
#[error("job payload is not a list of event ids")]
pub struct PayloadError(#[source] Arc<serde_json::Error>);

impl JobPayload {
    pub fn one(event_id: &str) -> Self {
        Self {
            events: vec![event_id.to_owned()],
            bytes: 0,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a list of strings always serializes")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PayloadError> {
        serde_json::from_slice(bytes).map_err(|e| PayloadError(Arc::new(e)))
    }
}
