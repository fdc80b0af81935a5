//! Sign-up jobs: a Supabase user to turn into a Stripe customer. Low
//! volume, one per job; pushed by ingest's `/webhooks/supabase` or, inside
//! the sign-up's own transaction, by the database function
//! `apalis.tether_push_job` (see [`install`]).

use sqlx::{PgConnection, PgPool};

use crate::{JobStatus, QueueError, SIGNUP_QUEUE};

#[derive(Debug)]
pub struct SignupJob {
    pub id: String,
    /// The `supabase_signups.id` it names.
    pub signup_id: String,
    /// Counting this one.
    pub attempt: i32,
}

pub async fn push(conn: &mut PgConnection, signup_id: &str) -> Result<(), QueueError> {
    sqlx::query("SELECT apalis.tether_push_job($1, $2)")
        .bind(SIGNUP_QUEUE)
        .bind(signup_id.as_bytes())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn claim(pool: &PgPool, worker: &str, limit: i64) -> Result<Vec<SignupJob>, QueueError> {
    Ok(crate::claim::claim_of(pool, worker, SIGNUP_QUEUE, limit)
        .await?
        .into_iter()
        .map(|(id, payload, attempt)| SignupJob {
            id,
            signup_id: String::from_utf8_lossy(&payload).into_owned(),
            attempt,
        })
        .collect())
}

/// How many sign-up jobs are dead letters.
pub async fn dead(pool: &PgPool) -> Result<i64, QueueError> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM apalis.jobs WHERE job_type = $1 AND status = $2")
            .bind(SIGNUP_QUEUE)
            .bind(JobStatus::Killed.as_str())
            .fetch_one(pool)
            .await?,
    )
}

/// `apalis.tether_push_job(job_type, job)`: pushes a job from SQL, so that a
/// database trigger can enqueue inside the transaction of the row it
/// reacts to. Created (or replaced) by `tether migrate`.
pub async fn install(db: impl sqlx::PgExecutor<'_>) -> Result<(), QueueError> {
    sqlx::raw_sql(
        "CREATE OR REPLACE FUNCTION apalis.tether_push_job(job_type text, job bytea) RETURNS void
         LANGUAGE sql AS $$
           INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority)
           VALUES (apalis.generate_ulid(), job_type, job, 'Pending', 0, 2147483647, now(), 0)
         $$;",
    )
    .execute(db)
    .await?;
    Ok(())
}
