//! The worker's side of apalis-postgres's `apalis.jobs` table.
//!
//! Ingest enqueues with apalis-postgres's own `push_tasks`; the worker claims,
//! acknowledges and reschedules with the statements below, written against
//! apalis's schema and its fetch index (`idx_apalis_jobs_fetch_partial`).
//! Why not apalis's `Worker`: it acknowledges outside the job's transaction,
//! retries at once with no persisted delay, has no dead-letter replay, runs
//! one query per job, and a single fetch error ends it (see QUEUE.md and
//! docs/queue.md). Here the acknowledgement commits with the sync itself.
//!
//! Statuses: `Pending` (new or back from a dead worker), `Running`
//! (claimed), `Failed` (retry scheduled at `run_at`), `Killed` (dead letter,
//! kept with its attempts and last error). A finished job is deleted in the
//! transaction that applied it: `stripe_events.processed_at` and
//! `webhook_logs` keep the record, and the table stays the size of the
//! backlog. apalis would keep it as `Done` forever, and every claim and
//! acknowledgement would then wade through that history.

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use tether_shared::queue::{EventBatch, QUEUE};

#[derive(Debug)]
pub struct ClaimedJob {
    pub id: String,
    /// The event ids the job names, read once at claim; `Err` holds why the
    /// payload is not an event batch (such a job can only be dead-lettered).
    pub events: Result<Vec<String>, String>,
    /// Including this one.
    pub attempt: i32,
}

pub async fn register_worker(pool: &PgPool, worker: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO apalis.workers (id, worker_type, storage_name, layers, last_seen)
         VALUES ($1, $2, 'tether', '', now())
         ON CONFLICT (id) DO UPDATE SET last_seen = now()",
    )
    .bind(worker)
    .bind(QUEUE)
    .execute(pool)
    .await?;
    Ok(())
}

/// Claims up to `limit` runnable jobs. An attempt is counted when it starts,
/// so a job that kills its worker every time still reaches its limit.
pub async fn claim(
    pool: &PgPool,
    worker: &str,
    limit: i64,
) -> Result<Vec<ClaimedJob>, sqlx::Error> {
    let rows: Vec<(String, Vec<u8>, i32)> = sqlx::query_as(
        "WITH next AS (
             SELECT id FROM apalis.jobs
             WHERE job_type = $1
               AND (status = 'Pending' OR (status = 'Failed' AND attempts < max_attempts))
               AND run_at <= now()
             ORDER BY priority DESC, run_at ASC
             LIMIT $2
             FOR UPDATE SKIP LOCKED)
         UPDATE apalis.jobs j
         SET status = 'Running', lock_by = $3, lock_at = now(), attempts = j.attempts + 1
         FROM next WHERE j.id = next.id
         RETURNING j.id, j.job, j.attempts",
    )
    .bind(QUEUE)
    .bind(limit)
    .bind(worker)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, payload, attempt)| ClaimedJob {
            id,
            events: EventBatch::from_bytes(&payload)
                .map(|b| b.events)
                .map_err(|e| e.to_string()),
            attempt,
        })
        .collect())
}

/// Removes finished jobs, inside the transaction that applied them.
pub async fn complete(conn: &mut PgConnection, job_ids: &[&str]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM apalis.jobs WHERE id = ANY($1)")
        .bind(job_ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// Schedules the next attempt at `now() + delay`.
pub async fn schedule_retry(
    conn: &mut PgConnection,
    job_id: &str,
    delay: Duration,
    max_attempts: u32,
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE apalis.jobs SET status = 'Failed', lock_by = NULL, lock_at = NULL,
                run_at = now() + make_interval(secs => $2), max_attempts = $3,
                last_result = jsonb_build_object('Err', $4::text)
         WHERE id = $1",
    )
    .bind(job_id)
    .bind(delay.as_secs_f64())
    .bind(max_attempts as i32)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Dead-letters the job: kept, with its attempts and last error, never run
/// again until an operator replays it.
pub async fn kill(conn: &mut PgConnection, job_id: &str, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE apalis.jobs SET status = 'Killed', done_at = now(), lock_by = NULL,
                last_result = jsonb_build_object('Err', $2::text)
         WHERE id = $1",
    )
    .bind(job_id)
    .bind(error)
    .execute(conn)
    .await?;
    Ok(())
}

/// A new job for one event, so that it retries, or dies, on its own.
/// `dead_error` creates it already dead (a payload that can never apply).
pub async fn insert_single(
    conn: &mut PgConnection,
    event_id: &str,
    attempts: i32,
    max_attempts: u32,
    dead_error: Option<&str>,
) -> Result<(), sqlx::Error> {
    let batch = EventBatch {
        events: vec![event_id.to_owned()],
    };
    sqlx::query(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority,
                                  last_result, done_at)
         VALUES ($1, $2, $3, CASE WHEN $6::text IS NULL THEN 'Pending' ELSE 'Killed' END, $4, $5, now(), 0,
                 CASE WHEN $6::text IS NULL THEN NULL ELSE jsonb_build_object('Err', $6::text) END,
                 CASE WHEN $6::text IS NULL THEN NULL ELSE now() END)",
    )
    .bind(ulid::Ulid::new().to_string())
    .bind(QUEUE)
    .bind(batch.to_bytes())
    .bind(attempts)
    .bind(max_attempts as i32)
    .bind(dead_error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Liveness, and the two ways a job can be stranded in `Running`:
/// its worker died (silent longer than `orphan_after`), or this worker lost
/// track of it (its failure could not be recorded while the database was
/// down). Both go back to `Pending`.
pub async fn heartbeat(
    pool: &PgPool,
    worker: &str,
    in_flight: &[String],
    orphan_after: Duration,
) -> Result<u64, sqlx::Error> {
    register_worker(pool, worker).await?;
    let released = sqlx::query(
        "UPDATE apalis.jobs j SET status = 'Pending', lock_by = NULL, lock_at = NULL
         WHERE j.job_type = $1 AND j.status IN ('Running', 'Queued')
           AND ((j.lock_by = $2 AND NOT (j.id = ANY($3)))
                OR j.lock_by IN (SELECT w.id FROM apalis.workers w
                                 WHERE w.worker_type = $1 AND w.id <> $2
                                   AND w.last_seen < now() - make_interval(secs => $4)))",
    )
    .bind(QUEUE)
    .bind(worker)
    .bind(in_flight)
    .bind(orphan_after.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(released.rows_affected())
}

/// On shutdown: jobs this worker claimed but will not run go back at once.
pub async fn release_all(pool: &PgPool, worker: &str) -> Result<u64, sqlx::Error> {
    let released = sqlx::query(
        "UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL,
                attempts = greatest(attempts - 1, 0)
         WHERE lock_by = $1 AND status IN ('Running', 'Queued')",
    )
    .bind(worker)
    .execute(pool)
    .await?;
    Ok(released.rows_affected())
}
