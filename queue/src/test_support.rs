//! Statements that only tests need: moving the clock of a job, or wiping
//! the queue between two scenarios of one test. Enabled by the
//! `test-support` feature, which only dev-dependencies turn on.

use sqlx::PgPool;

use crate::{JobStatus, QUEUE, QueueError};

/// Makes every scheduled retry due now, instead of sleeping until `run_at`.
pub async fn make_retries_due(pool: &PgPool) -> Result<u64, QueueError> {
    let done =
        sqlx::query("UPDATE apalis.jobs SET run_at = now() WHERE job_type = $1 AND status = $2")
            .bind(QUEUE)
            .bind(JobStatus::Failed.as_str())
            .execute(pool)
            .await?;
    Ok(done.rows_affected())
}

/// Sets every job's attempt count, as if that many claims had started.
pub async fn set_attempts(pool: &PgPool, attempts: i32) -> Result<(), QueueError> {
    sqlx::query("UPDATE apalis.jobs SET attempts = $2 WHERE job_type = $1")
        .bind(QUEUE)
        .bind(attempts)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes every tether job.
pub async fn clear(pool: &PgPool) -> Result<(), QueueError> {
    sqlx::query("DELETE FROM apalis.jobs WHERE job_type = $1")
        .bind(QUEUE)
        .execute(pool)
        .await?;
    Ok(())
}
