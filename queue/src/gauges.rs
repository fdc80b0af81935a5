//! The queue's gauges for metrics: sampled by one task per worker every few
//! seconds, never per scrape, so each statement must stay cheap however
//! long the history is. Finished jobs are deleted, so `apalis.jobs` holds
//! only the backlog and the dead letters; the claimable part is read
//! through apalis's partial fetch index, which also orders by `run_at`.

use std::time::Duration;

use sqlx::PgPool;

use crate::{QUEUE, QueueError};

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueueGauges {
    /// Jobs waiting for a worker (not yet claimed).
    pub pending: i64,
    /// Failed attempts waiting for their retry time.
    pub scheduled_retries: i64,
    pub dead_letters: i64,
    /// How long the oldest job due now has waited; 0 when none waits.
    pub oldest_pending_age: Duration,
    /// Workers whose heartbeat is more recent than `live_within`.
    pub workers_live: i64,
}

/// One statement, one round trip. The counts are one pass over
/// `apalis.jobs`, which holds only the backlog and the dead letters, never
/// history; the oldest pending job is found through apalis's partial fetch
/// index (`idx_apalis_jobs_fetch_partial`), so the status literals must
/// stay literals and the order must stay the index's. tether gives every
/// job priority 0, so the first row in that order is the oldest.
pub async fn sample(pool: &PgPool, live_within: Duration) -> Result<QueueGauges, QueueError> {
    let (pending, scheduled_retries, dead_letters, oldest, workers_live): (
        i64,
        i64,
        i64,
        Option<f64>,
        i64,
    ) = sqlx::query_as(SAMPLE)
        .bind(QUEUE)
        .bind(live_within.as_secs_f64())
        .fetch_one(pool)
        .await?;
    Ok(QueueGauges {
        pending,
        scheduled_retries,
        dead_letters,
        oldest_pending_age: Duration::from_secs_f64(oldest.unwrap_or(0.0).max(0.0)),
        workers_live,
    })
}

/// Public so a test can EXPLAIN it (`tests/it/metrics.rs`).
pub const SAMPLE: &str = "SELECT c.pending, c.retries, c.dead,
    (SELECT extract(epoch FROM now() - run_at)::float8 FROM apalis.jobs
      WHERE job_type = $1 AND status = 'Pending' AND run_at <= now()
      ORDER BY priority DESC, run_at ASC LIMIT 1),
    (SELECT count(*) FROM apalis.workers
      WHERE worker_type = $1 AND last_seen > now() - make_interval(secs => $2))
  FROM (SELECT count(*) FILTER (WHERE status = 'Pending') AS pending,
               count(*) FILTER (WHERE status = 'Failed' AND attempts < max_attempts) AS retries,
               count(*) FILTER (WHERE status = 'Killed') AS dead
        FROM apalis.jobs WHERE job_type = $1) AS c";
