//! A worker's side of a job: claim it, then finish it one way or another.
//!
//! Every way out of `Running` is here: [`complete`] (deleted, inside the
//! transaction that applied it), [`schedule_retry`] (`Failed`, due at
//! `run_at`), [`kill`] (`Killed`, a dead letter). A finished job is deleted
//! rather than kept as apalis's `Done`: `stripe_events.processed_at` and
//! `webhook_logs` keep the record, and the table stays the size of the
//! backlog, so claims never wade through history.

use std::{collections::BTreeMap, time::Duration};

use sqlx::{PgConnection, PgPool};

use crate::{JobPayload, JobStatus, PayloadError, QUEUE, QueueError};

#[derive(Debug)]
pub struct ClaimedJob {
    pub id: String,
    /// The event ids the job names, read once at claim.
    pub events: Result<Vec<String>, PayloadError>,
    /// Their body bytes (0 when unknown).
    pub bytes: u64,
    /// Counting this one.
    pub attempt: i32,
    /// Event id -> the `traceparent` its delivery carried (see [`JobPayload`]).
    pub traceparents: BTreeMap<String, String>,
}

impl ClaimedJob {
    /// How many events the job names (a broken payload counts as one).
    pub fn event_count(&self) -> usize {
        self.events.as_ref().map_or(1, Vec::len)
    }

    /// The trace context `event_id` was delivered with, if any.
    pub fn traceparent(&self, event_id: &str) -> Option<&str> {
        self.traceparents.get(event_id).map(String::as_str)
    }
}

/// Claims up to `limit` runnable jobs for `worker`. The attempt is counted
/// now, when it starts, so a job that kills its worker every time still
/// reaches the worker's attempt limit. The statement matches apalis's
/// partial fetch index (`idx_apalis_jobs_fetch_partial`), so its status
/// literals must stay literals.
pub async fn claim(pool: &PgPool, worker: &str, limit: i64) -> Result<Vec<ClaimedJob>, QueueError> {
    let rows = claim_of(pool, worker, QUEUE, limit).await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, payload, attempt)| match JobPayload::from_bytes(&payload) {
                Ok(payload) => ClaimedJob {
                    id,
                    bytes: payload.bytes,
                    events: Ok(payload.events),
                    attempt,
                    traceparents: payload.traceparents,
                },
                Err(error) => ClaimedJob {
                    id,
                    bytes: 0,
                    events: Err(error),
                    attempt,
                    traceparents: BTreeMap::new(),
                },
            },
        )
        .collect())
}

/// Claims up to `limit` runnable jobs of `job_type`: (id, payload, attempt).
pub(crate) async fn claim_of(
    pool: &PgPool,
    worker: &str,
    job_type: &str,
    limit: i64,
) -> Result<Vec<(String, Vec<u8>, i32)>, QueueError> {
    Ok(sqlx::query_as(
        "WITH next AS (
             SELECT id FROM apalis.jobs
             WHERE job_type = $1
               AND (status = 'Pending' OR (status = 'Failed' AND attempts < max_attempts))
               AND run_at <= now()
             ORDER BY priority DESC, run_at ASC
             LIMIT $2
             FOR UPDATE SKIP LOCKED)
         UPDATE apalis.jobs j
         SET status = $4, lock_by = $3, lock_at = now(), attempts = j.attempts + 1
         FROM next WHERE j.id = next.id
         RETURNING j.id, j.job, j.attempts",
    )
    .bind(job_type)
    .bind(limit)
    .bind(worker)
    .bind(JobStatus::Running.as_str())
    .fetch_all(pool)
    .await?)
}

/// Removes finished jobs, inside the transaction that applied them.
pub async fn complete(conn: &mut PgConnection, job_ids: &[&str]) -> Result<(), QueueError> {
    sqlx::query("DELETE FROM apalis.jobs WHERE id = ANY($1)")
        .bind(job_ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// Schedules the next attempt at `now() + delay`. `max_attempts` is the
/// worker's limit, recorded so the job stays claimable until it is reached.
pub async fn schedule_retry(
    conn: &mut PgConnection,
    job_id: &str,
    delay: Duration,
    max_attempts: u32,
    error: &str,
) -> Result<(), QueueError> {
    sqlx::query(
        "UPDATE apalis.jobs SET status = $5, lock_by = NULL, lock_at = NULL,
                run_at = now() + make_interval(secs => $2), max_attempts = $3,
                last_result = jsonb_build_object('Err', $4::text)
         WHERE id = $1",
    )
    .bind(job_id)
    .bind(delay.as_secs_f64())
    .bind(i32::try_from(max_attempts).unwrap_or(i32::MAX))
    .bind(error)
    .bind(JobStatus::Failed.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Dead-letters the job: kept, with its attempts and last error, never run
/// again until an operator replays it.
pub async fn kill(conn: &mut PgConnection, job_id: &str, error: &str) -> Result<(), QueueError> {
    sqlx::query(
        "UPDATE apalis.jobs SET status = $3, done_at = now(), lock_by = NULL,
                last_result = jsonb_build_object('Err', $2::text)
         WHERE id = $1",
    )
    .bind(job_id)
    .bind(error)
    .bind(JobStatus::Killed.as_str())
    .execute(conn)
    .await?;
    Ok(())
}
