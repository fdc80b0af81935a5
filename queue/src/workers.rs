//! Liveness: each worker process has an `apalis.workers` row whose
//! `last_seen` its heartbeat refreshes. Claims name the worker in
//! `lock_by`, a foreign key to that row, so a worker registers before it
//! claims.

use std::time::Duration;

use sqlx::PgPool;

use crate::{JobStatus, QUEUE, QueueError};

pub async fn register(pool: &PgPool, worker: &str) -> Result<(), QueueError> {
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

/// Refreshes `worker`'s row and puts back the jobs stranded in `Running`
/// by either of two causes: their worker died (silent longer than
/// `orphan_after`), or this worker lost track of them (their failure could
/// not be recorded while the database was down; `in_flight` is what it
/// still holds). Returns how many went back to `Pending`.
pub async fn heartbeat(
    pool: &PgPool,
    worker: &str,
    in_flight: &[String],
    orphan_after: Duration,
) -> Result<u64, QueueError> {
    register(pool, worker).await?;
    let released = sqlx::query(
        "UPDATE apalis.jobs j SET status = $5, lock_by = NULL, lock_at = NULL
         WHERE j.job_type = ANY($7) AND j.status = ANY($6)
           AND ((j.lock_by = $2 AND NOT (j.id = ANY($3)))
                OR j.lock_by IN (SELECT w.id FROM apalis.workers w
                                 WHERE w.worker_type = $1 AND w.id <> $2
                                   AND w.last_seen < now() - make_interval(secs => $4)))",
    )
    .bind(QUEUE)
    .bind(worker)
    .bind(in_flight)
    .bind(orphan_after.as_secs_f64())
    .bind(JobStatus::Pending.as_str())
    .bind(held())
    .bind(crate::JOB_TYPES)
    .execute(pool)
    .await?;
    Ok(released.rows_affected())
}

/// On shutdown: the jobs this worker claimed but will not run go back at
/// once, with the attempt their claim counted given back.
pub async fn release_all(pool: &PgPool, worker: &str) -> Result<u64, QueueError> {
    let released = sqlx::query(
        "UPDATE apalis.jobs SET status = $2, lock_by = NULL, lock_at = NULL,
                attempts = greatest(attempts - 1, 0)
         WHERE lock_by = $1 AND status = ANY($3)",
    )
    .bind(worker)
    .bind(JobStatus::Pending.as_str())
    .bind(held())
    .execute(pool)
    .await?;
    Ok(released.rows_affected())
}

/// The states in which a worker holds a job.
fn held() -> [&'static str; 2] {
    [JobStatus::Running.as_str(), JobStatus::Queued.as_str()]
}
