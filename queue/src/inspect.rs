//! Reading the queue for reports: how much is waiting, and what each job
//! holds. Cheap by construction: the table holds only the backlog and the
//! dead letters, never finished jobs.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use crate::{JobPayload, JobStatus, PayloadError, QUEUE, QueueError};

/// One job as stored.
#[derive(Debug)]
pub struct JobRecord {
    pub id: String,
    pub status: JobStatus,
    pub attempts: i32,
    pub events: Result<Vec<String>, PayloadError>,
    pub run_at: DateTime<Utc>,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
}

/// Every tether job, in the order they become due (then by id, which is
/// creation order).
pub async fn jobs(pool: &PgPool) -> Result<Vec<JobRecord>, QueueError> {
    type Row = (String, String, i32, Vec<u8>, DateTime<Utc>, Option<String>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, status, attempts, job, run_at, last_result->>'Err'
         FROM apalis.jobs WHERE job_type = $1 ORDER BY run_at, id",
    )
    .bind(QUEUE)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, status, attempts, job, run_at, last_error)| JobRecord {
                id,
                // apalis owns the column; a state it adds later reads as Pending
                // rather than failing a report.
                status: JobStatus::parse(&status).unwrap_or(JobStatus::Pending),
                attempts,
                events: JobPayload::from_bytes(&job).map(|p| p.events),
                run_at,
                last_error,
            },
        )
        .collect())
}

/// How many tether jobs, of every type, are in each state (states with
/// none are absent).
pub async fn counts(pool: &PgPool) -> Result<BTreeMap<JobStatus, i64>, QueueError> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM apalis.jobs WHERE job_type = ANY($1) GROUP BY status",
    )
    .bind(crate::JOB_TYPES)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(status, n)| Some((JobStatus::parse(&status)?, n)))
        .collect())
}

/// Jobs that still have work to do, retries included.
pub async fn outstanding(pool: &PgPool) -> Result<i64, QueueError> {
    let outstanding: Vec<&str> = JobStatus::ALL
        .into_iter()
        .filter(|s| s.is_outstanding())
        .map(JobStatus::as_str)
        .collect();
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM apalis.jobs WHERE job_type = $1 AND status = ANY($2)",
    )
    .bind(QUEUE)
    .bind(outstanding)
    .fetch_one(pool)
    .await?)
}

/// How long the oldest runnable job has waited (jobs due now, not future
/// retries), or `None` when nothing waits. Uses apalis's fetch index.
pub async fn oldest_pending_age(pool: &PgPool) -> Result<Option<std::time::Duration>, QueueError> {
    let secs: Option<f64> = sqlx::query_scalar(
        // A literal status, so the planner can use the partial fetch index.
        "SELECT extract(epoch FROM now() - min(run_at))::float8 FROM apalis.jobs
         WHERE job_type = $1 AND status = 'Pending' AND run_at <= now()",
    )
    .bind(QUEUE)
    .fetch_one(pool)
    .await?;
    Ok(secs.map(|s| std::time::Duration::from_secs_f64(s.max(0.0))))
}

/// Workers whose heartbeat is more recent than `within`.
pub async fn live_workers(
    pool: &PgPool,
    within: std::time::Duration,
) -> Result<Vec<String>, QueueError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM apalis.workers
         WHERE worker_type = $1 AND last_seen > now() - make_interval(secs => $2) ORDER BY id",
    )
    .bind(QUEUE)
    .bind(within.as_secs_f64())
    .fetch_all(pool)
    .await?)
}
