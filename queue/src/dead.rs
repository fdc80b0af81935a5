//! Dead letters: jobs in `Killed`, kept with their attempts and last error
//! until an operator replays or discards them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::{JOB_TYPES, JobPayload, JobStatus, NOTIFY_CHANNEL, QueueError, SIGNUP_QUEUE};

#[derive(Debug, Clone)]
pub struct DeadJob {
    pub job_id: String,
    /// `QUEUE` (Stripe events) or `SIGNUP_QUEUE` (a Supabase sign-up).
    pub job_type: String,
    /// What it names: the Stripe event ids, or the sign-up's id; empty when
    /// its payload is unreadable.
    pub events: Vec<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub died_at: Option<DateTime<Utc>>,
}

/// Every dead letter, newest first; with `since`, only those that died
/// within it.
pub async fn list(pool: &PgPool, since: Option<Duration>) -> Result<Vec<DeadJob>, QueueError> {
    type Row = (
        String,
        String,
        Vec<u8>,
        i32,
        Option<String>,
        Option<DateTime<Utc>>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, job_type, job, attempts, last_result->>'Err', done_at FROM apalis.jobs
         WHERE job_type = ANY($1) AND status = $2
           AND ($3::float8 IS NULL OR done_at >= now() - make_interval(secs => $3))
         ORDER BY done_at DESC NULLS LAST, id DESC",
    )
    .bind(JOB_TYPES)
    .bind(JobStatus::Killed.as_str())
    .bind(since.map(|s| s.as_secs_f64()))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(job_id, job_type, job, attempts, last_error, died_at)| DeadJob {
                job_id,
                events: if job_type == SIGNUP_QUEUE {
                    vec![String::from_utf8_lossy(&job).into_owned()]
                } else {
                    JobPayload::from_bytes(&job)
                        .map(|p| p.events)
                        .unwrap_or_default()
                },
                job_type,
                attempts,
                last_error,
                died_at,
            },
        )
        .collect())
}

/// Puts dead letters back on the queue with their attempts reset, and
/// wakes the workers. Returns the ids of the jobs that were dead and are
/// now pending: a job no longer dead (replayed or discarded meanwhile,
/// even by a transaction this one waited for) is left alone and not
/// returned, so two operators never both count one letter.
pub async fn revive(
    conn: &mut PgConnection,
    job_ids: &[String],
) -> Result<Vec<String>, QueueError> {
    let held = hold(conn, job_ids).await?;
    let revived: Vec<String> = sqlx::query_scalar(
        "UPDATE apalis.jobs SET status = $2, attempts = 0, run_at = now(), lock_by = NULL,
                lock_at = NULL, done_at = NULL, last_result = NULL
         WHERE id = ANY($1) RETURNING id",
    )
    .bind(&held)
    .bind(JobStatus::Pending.as_str())
    .fetch_all(&mut *conn)
    .await?;
    // apalis's trigger announces inserts only.
    sqlx::query("SELECT pg_notify($1, 'revived')")
        .bind(NOTIFY_CHANNEL)
        .execute(conn)
        .await?;
    Ok(revived)
}

/// Deletes dead letters; returns the ids that were dead (as [`revive`],
/// a job no longer dead is left alone).
pub async fn remove(
    conn: &mut PgConnection,
    job_ids: &[String],
) -> Result<Vec<String>, QueueError> {
    let held = hold(conn, job_ids).await?;
    Ok(
        sqlx::query_scalar("DELETE FROM apalis.jobs WHERE id = ANY($1) RETURNING id")
            .bind(&held)
            .fetch_all(conn)
            .await?,
    )
}

/// Locks the dead letters among `job_ids` until the transaction ends, in
/// id order, so that two operators replaying and discarding overlapping
/// sets wait for each other instead of deadlocking. Returns the ids still
/// dead once locked: after waiting, PostgreSQL checks the status again.
async fn hold(conn: &mut PgConnection, job_ids: &[String]) -> Result<Vec<String>, QueueError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM apalis.jobs WHERE job_type = ANY($1) AND status = $3 AND id = ANY($2)
         ORDER BY id FOR UPDATE",
    )
    .bind(JOB_TYPES)
    .bind(job_ids)
    .bind(JobStatus::Killed.as_str())
    .fetch_all(conn)
    .await?)
}
