//! What happens to a job whose transaction failed.
//!
//! A job of several events is split: each event becomes a job of its own, so
//! one bad event cannot hold back the others, and retries, delays and dead
//! letters are per event. A job of one event is retried after a persisted,
//! growing delay, or dead-lettered once it has used TETHER_MAX_ATTEMPTS, or
//! at once when the failure is permanent. Every failed attempt of a single
//! event is logged; a split logs nothing, since no event has failed alone.

use sqlx::PgPool;
use tether_shared::config::WorkerConfig;

use tether_queue::ClaimedJob;

use crate::{
    error::ApplyError,
    logs::{LogRow, LogStatus, write_logs},
    retry::retry_delay,
};

/// Records the failure. If even that fails (the database is down), the job
/// stays claimed by this worker, and the next heartbeat that reaches the
/// database puts it back on the queue.
pub(crate) async fn record_failure(
    pool: &PgPool,
    config: &WorkerConfig,
    job: &ClaimedJob,
    error: &ApplyError,
) {
    if let Err(db_error) = try_record(pool, config, job, error).await {
        tracing::error!(job = %job.id, error = %db_error, "could not record the failure; the job will be released");
    }
}

async fn try_record(
    pool: &PgPool,
    config: &WorkerConfig,
    job: &ClaimedJob,
    error: &ApplyError,
) -> Result<(), ApplyError> {
    let event_ids: &[String] = job.events.as_deref().unwrap_or_default();
    let mut tx = pool.begin().await?;
    let types: Vec<(String, String)> =
        sqlx::query_as("SELECT id, type FROM received_events WHERE id = ANY($1)")
            .bind(event_ids)
            .fetch_all(&mut *tx)
            .await?;
    let message = error.to_string();
    if types.len() > 1 {
        // Which event failed is not known yet, so none of them gets an
        // `error` row for it: each runs alone next and logs its own outcome.
        let singles = crate::split::one_job_per_event(&mut tx, job).await?;
        tether_queue::split(&mut tx, &job.id, &singles).await?;
        tracing::warn!(job = %job.id, events = singles.len(), error = %message, "batch failed; retrying each event alone");
        tx.commit().await?;
        return Ok(());
    }
    let status = if error.is_permanent() || job.attempt >= config.max_attempts as i32 {
        tether_queue::kill(&mut tx, &job.id, &message).await?;
        tracing::error!(job = %job.id, attempt = job.attempt, error = %message, "job is dead");
        LogStatus::Dead
    } else {
        let delay = retry_delay(config, job.attempt as u32);
        tether_queue::schedule_retry(&mut tx, &job.id, delay, config.max_attempts, &message)
            .await?;
        tracing::warn!(job = %job.id, attempt = job.attempt, retry_in_ms = delay.as_millis() as u64,
                       error = %message, "job failed; retry scheduled");
        LogStatus::Error
    };
    let logs: Vec<LogRow> = types
        .into_iter()
        .map(|(event_id, event_type)| LogRow {
            event_id,
            event_type,
            status,
            error_message: Some(message.clone()),
            attempt: job.attempt,
        })
        .collect();
    write_logs(&mut tx, &logs).await?;
    tx.commit().await?;
    crate::metrics::outcomes_logged(&logs);
    Ok(())
}
