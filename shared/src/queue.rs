//! The queue contract between ingest and worker.
//!
//! The queue is apalis-postgres's `apalis.jobs` table. One job carries a batch
//! of event ids: ingest pushes one job per commit (all the events that commit
//! stored), so under load the per-job cost is spread over many events, and at
//! rest a job holds one event and latency stays low. The events themselves
//! are rows of `stripe_events`; a job only names them.

use apalis_core::task::builder::TaskBuilder;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

/// The apalis `job_type` all tether jobs use.
pub const QUEUE: &str = "tether::stripe_events";

/// Sent by the insert trigger of `apalis.jobs` for each job runnable now.
pub const NOTIFY_CHANNEL: &str = "apalis::job::insert";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventBatch {
    /// `stripe_events.id` values.
    pub events: Vec<String>,
}

impl EventBatch {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a list of strings always serializes")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// Pushes one job per batch inside the caller's transaction, so the job
/// exists exactly when the rows it names do.
pub async fn enqueue(
    conn: &mut PgConnection,
    batches: Vec<EventBatch>,
    max_attempts: u32,
) -> Result<(), apalis_postgres::Error> {
    let tasks = batches
        .into_iter()
        .map(|b| {
            TaskBuilder::new(b.to_bytes())
                .max_attempts(max_attempts as usize)
                .build()
        })
        .collect();
    apalis_postgres::queries::push_tasks(conn, QUEUE, tasks).await
}
