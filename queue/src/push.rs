//! Making jobs. Every job tether creates is made here, with one statement
//! shape, so the rows ingest pushes and the rows a worker splits off look
//! alike.

use sqlx::PgConnection;

use crate::{JobPayload, JobStatus, QUEUE, QueueError};

/// `max_attempts` of a job nobody has failed yet. The worker owns the retry
/// policy and writes its TETHER_MAX_ATTEMPTS when it schedules a retry;
/// until then the column must only keep apalis's fetch-index predicate
/// (`attempts < max_attempts`) true.
const NOT_YET_LIMITED: i32 = i32::MAX;

/// Pushes one job per payload inside the caller's transaction, so a job
/// exists exactly when the rows it names do. Each insert wakes listening
/// workers through apalis's trigger.
pub async fn push(conn: &mut PgConnection, payloads: &[JobPayload]) -> Result<(), QueueError> {
    if payloads.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority)
         SELECT id, $2, job, $3, 0, $4, now(), 0
         FROM unnest($1::text[], $5::bytea[]) AS j(id, job)",
    )
    .bind(payloads.iter().map(|_| new_job_id()).collect::<Vec<_>>())
    .bind(QUEUE)
    .bind(JobStatus::Pending.as_str())
    .bind(NOT_YET_LIMITED)
    .bind(payloads.iter().map(JobPayload::to_bytes).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// Replaces a job by the smaller jobs `parts`: one per event after a
/// failure, so each retries, or dies, on its own and a bad event holds back
/// no neighbour; or parts small enough for a worker to load at once.
pub async fn split(
    conn: &mut PgConnection,
    job_id: &str,
    parts: &[JobPayload],
) -> Result<(), QueueError> {
    push(conn, parts).await?;
    crate::complete(conn, &[job_id]).await
}

/// A dead letter for one event of a job that otherwise applied: the event
/// can never apply (its payload is not what its type says), and it keeps
/// the job's attempt count and the reason.
pub async fn push_dead(
    conn: &mut PgConnection,
    event_id: &str,
    attempts: i32,
    max_attempts: u32,
    error: &str,
) -> Result<(), QueueError> {
    push_dead_traced(conn, event_id, None, attempts, max_attempts, error).await
}

/// [`push_dead`], keeping the event's trace context, so a replay of the
/// dead letter continues the trace it was delivered in.
pub async fn push_dead_traced(
    conn: &mut PgConnection,
    event_id: &str,
    traceparent: Option<&str>,
    attempts: i32,
    max_attempts: u32,
    error: &str,
) -> Result<(), QueueError> {
    sqlx::query(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority,
                                  last_result, done_at)
         VALUES ($1, $2, $3, $4, $5, $6, now(), 0, jsonb_build_object('Err', $7::text), now())",
    )
    .bind(new_job_id())
    .bind(QUEUE)
    .bind(JobPayload::one_traced(event_id, traceparent).to_bytes())
    .bind(JobStatus::Killed.as_str())
    .bind(attempts)
    .bind(i32::try_from(max_attempts).unwrap_or(i32::MAX))
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// apalis's id shape: a ULID, so ids sort by creation time.
fn new_job_id() -> String {
    ulid::Ulid::new().to_string()
}
