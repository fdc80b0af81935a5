//! `tether replay`: apply already-processed events again, for example after
//! an upgrade gave a handler to a type that used to be `ignored`. The
//! events go back on the queue like new deliveries; the version guard keeps
//! every row where it is unless an event is newer than what the row holds,
//! so replaying history never moves a row backwards.

use std::{collections::HashSet, time::Duration};

use serde::Serialize;
use sqlx::PgPool;
use tether_queue::JobPayload;

use crate::OpsError;

/// Events replayed per transaction, so a large replay never holds locks long.
const EVENTS_PER_TRANSACTION: usize = 5_000;
/// Most events, and bytes of their bodies, one job names (as ingest's jobs).
const EVENTS_PER_JOB: usize = 256;
const BYTES_PER_JOB: u64 = 2 * 1024 * 1024;

#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub event_type: String,
    /// Received within this long.
    pub since: Option<Duration>,
    /// Only events about this Stripe object.
    pub object_id: Option<String>,
    /// Only events of this connected account.
    pub account: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Replayed {
    pub events: usize,
    pub dry_run: bool,
}

pub async fn replay(
    pool: &PgPool,
    selection: &Selection,
    dry_run: bool,
) -> Result<Replayed, OpsError> {
    let events = select(pool, selection).await?;
    if dry_run {
        return Ok(Replayed {
            events: events.len(),
            dry_run,
        });
    }
    let mut replayed = 0;
    for chunk in events.chunks(EVENTS_PER_TRANSACTION) {
        replayed += requeue(pool, chunk).await?;
    }
    tracing::info!(events = replayed, event_type = %selection.event_type, "events replayed");
    Ok(Replayed {
        events: replayed,
        dry_run,
    })
}

/// The processed events the selection names, oldest first, with their
/// body sizes. Read without locks: [`requeue`] checks each again.
async fn select(pool: &PgPool, selection: &Selection) -> Result<Vec<(String, i64)>, OpsError> {
    Ok(sqlx::query_as(
        "SELECT e.id, octet_length(e.body)::int8 FROM received_events e
         WHERE e.type = $1 AND EXISTS (SELECT 1 FROM processed_events p WHERE p.id = e.id)
           AND ($2::float8 IS NULL OR e.received_at > now() - make_interval(secs => $2))
           -- The text search only spares parsing bodies that cannot match.
           AND ($3::text IS NULL OR strpos(e.body, $3) > 0
                AND tether_event_payload(e.body) -> 'data' -> 'object' ->> 'id' = $3)
           AND ($4::text IS NULL OR e.account = $4)
         ORDER BY e.created, e.id",
    )
    .bind(&selection.event_type)
    .bind(selection.since.map(|s| s.as_secs_f64()))
    .bind(&selection.object_id)
    .bind(&selection.account)
    .fetch_all(pool)
    .await?)
}

/// Un-marks and queues again, in one transaction, the events of `chunk`
/// that are still stored and still processed; returns how many. Under the
/// events' locks (see [`crate::locks`]): an event pruned meanwhile, or
/// already queued again by a concurrent replay, is left out and not
/// counted.
async fn requeue(pool: &PgPool, chunk: &[(String, i64)]) -> Result<usize, OpsError> {
    let ids: Vec<&str> = chunk.iter().map(|(id, _)| id.as_str()).collect();
    let mut tx = pool.begin().await?;
    let held = crate::locks::lock_events(&mut tx, &ids).await?;
    // A statement of its own, begun after the locks are ours: it sees every
    // change committed before them.
    let unmarked: HashSet<String> =
        sqlx::query_scalar("DELETE FROM processed_events WHERE id = ANY($1) RETURNING id")
            .bind(&held)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect();
    let requeued: Vec<(String, i64)> = chunk
        .iter()
        .filter(|(id, _)| unmarked.contains(id))
        .cloned()
        .collect();
    tether_queue::push(&mut tx, &jobs(&requeued)).await?;
    tx.commit().await?;
    Ok(requeued.len())
}

/// Consecutive events packed into jobs of at most `EVENTS_PER_JOB` events
/// and `BYTES_PER_JOB` bytes.
fn jobs(events: &[(String, i64)]) -> Vec<JobPayload> {
    let mut jobs: Vec<JobPayload> = Vec::new();
    for (id, bytes) in events {
        let bytes = u64::try_from(*bytes).unwrap_or(0);
        match jobs.last_mut() {
            Some(job)
                if job.events.len() < EVENTS_PER_JOB && job.bytes + bytes <= BYTES_PER_JOB =>
            {
                job.events.push(id.clone());
                job.bytes += bytes;
            }
            _ => jobs.push(JobPayload {
                events: vec![id.clone()],
                bytes,
                ..JobPayload::default()
            }),
        }
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_packed_by_count_and_bytes() {
        let events: Vec<(String, i64)> = (0..600).map(|i| (format!("evt_{i}"), 1_000)).collect();
        let sizes: Vec<usize> = jobs(&events).iter().map(|j| j.events.len()).collect();
        assert_eq!(sizes, [256, 256, 88]);
        let big: Vec<(String, i64)> = (0..3).map(|i| (format!("evt_{i}"), 1_500_000)).collect();
        assert_eq!(jobs(&big).len(), 3);
    }
}
