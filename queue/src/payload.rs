//! What a job carries: the ids of the events one batch stored. The events
//! themselves are rows of `stripe_events`; a job only names them.

use std::{collections::BTreeMap, sync::Arc};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobPayload {
    /// `stripe_events.id` values.
    pub events: Vec<String>,
    /// The body bytes of those events, so a worker can bound what it loads
    /// into memory at once; 0 when unknown.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bytes: u64,
    /// Event id -> the W3C `traceparent` of the request that delivered it,
    /// so the worker continues that event's trace. A map, not a list
    /// parallel to `events`: jobs are split and merged by event. Empty (and
    /// not written) when trace export is off, and in jobs made before it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub traceparents: BTreeMap<String, String>,
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
        Self::one_traced(event_id, None)
    }

    /// A job of one event, carrying its trace context if it has one.
    pub fn one_traced(event_id: &str, traceparent: Option<&str>) -> Self {
        Self {
            events: vec![event_id.to_owned()],
            bytes: 0,
            traceparents: traceparent
                .map(|t| BTreeMap::from([(event_id.to_owned(), t.to_owned())]))
                .unwrap_or_default(),
        }
    }

    /// The trace context of `event_id`, if its delivery had one.
    pub fn traceparent(&self, event_id: &str) -> Option<&str> {
        self.traceparents.get(event_id).map(String::as_str)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a list of strings always serializes")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PayloadError> {
        serde_json::from_slice(bytes).map_err(|e| PayloadError(Arc::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_written_before_trace_contexts_still_reads() {
        let old = JobPayload::from_bytes(br#"{"events":["evt_1","evt_2"],"bytes":42}"#).unwrap();
        assert_eq!(old.events, ["evt_1", "evt_2"]);
        assert_eq!(old.bytes, 42);
        assert!(old.traceparents.is_empty());
    }

    #[test]
    fn a_job_without_trace_contexts_is_written_as_before() {
        let job = JobPayload {
            events: vec!["evt_1".into()],
            bytes: 7,
            traceparents: BTreeMap::new(),
        };
        assert_eq!(job.to_bytes(), br#"{"events":["evt_1"],"bytes":7}"#);
    }

    #[test]
    fn trace_contexts_survive_the_round_trip() {
        let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let job = JobPayload::one_traced("evt_1", Some(parent));
        let read = JobPayload::from_bytes(&job.to_bytes()).unwrap();
        assert_eq!(read.traceparent("evt_1"), Some(parent));
    }
}
