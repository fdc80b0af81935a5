//! Turning one job into one job per event: after a failure, so each event
//! retries or dies on its own; or before applying, when a job is too large
//! to load at once.

use sqlx::{PgConnection, PgPool};
use tether_queue::{ClaimedJob, JobPayload};

use crate::error::ApplyError;

/// A job too large to load at once becomes one job per event; the next
/// claims pick them up in groups that fit.
pub(crate) async fn split_oversized(pool: &PgPool, job: &ClaimedJob) {
    let split = async {
        let mut tx = pool.begin().await?;
        let singles = one_job_per_event(&mut tx, job).await?;
        tether_queue::split(&mut tx, &job.id, &singles).await?;
        tx.commit().await?;
        Ok::<_, ApplyError>(singles.len())
    };
    match split.await {
        Ok(events) => {
            tracing::debug!(job = %job.id, events, bytes = job.bytes, "large job split before applying")
        }
        // The job stays claimed; the heartbeat puts it back.
        Err(error) => tracing::warn!(job = %job.id, error = %error, "could not split a large job"),
    }
}

/// One job payload per stored event of `job`, each with its body size and
/// its trace context.
pub(crate) async fn one_job_per_event(
    conn: &mut PgConnection,
    job: &ClaimedJob,
) -> Result<Vec<JobPayload>, sqlx::Error> {
    let event_ids: &[String] = job.events.as_deref().unwrap_or_default();
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT id, octet_length(body)::int8 FROM received_events WHERE id = ANY($1)",
    )
    .bind(event_ids)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, bytes)| JobPayload {
            bytes: u64::try_from(bytes).unwrap_or(0),
            ..JobPayload::one_traced(&id, job.traceparent(&id))
        })
        .collect())
}
