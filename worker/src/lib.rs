//! The worker: applies queued Stripe events to the synced tables, each once
//! in effect, never letting older state overwrite newer, with persisted
//! retries and dead letters.

mod apply;
mod consumer;
pub mod error;
mod failure;
pub mod jobs;
pub mod logs;
pub mod retry;
pub mod sync;

use sqlx::PgPool;
use tether_shared::{config::WorkerConfig, queue::EventBatch};
use tokio_util::sync::CancellationToken;

pub use crate::apply::Applied;
use crate::{error::ApplyError, jobs::ClaimedJob};

/// Runs a worker until `shutdown`: then it stops fetching, finishes the jobs
/// in flight, puts back any it claimed but did not start, and returns.
pub async fn run(
    pool: PgPool,
    config: WorkerConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let name = worker_name();
    tracing::info!(worker = %name, concurrency = config.concurrency, "worker starting");
    consumer::Consumer::new(pool, config, name)
        .run(shutdown)
        .await;
    tracing::info!("worker stopped");
    Ok(())
}

/// Runs every job that is due, one after another, until none is left; for
/// tests and one-shot use. Returns how many jobs ran.
pub async fn drain(pool: &PgPool, config: &WorkerConfig) -> Result<usize, sqlx::Error> {
    let name = worker_name();
    jobs::register_worker(pool, &name).await?;
    let mut ran = 0;
    loop {
        let claimed = jobs::claim(pool, &name, config.fetch_size as i64).await?;
        if claimed.is_empty() {
            return Ok(ran);
        }
        ran += claimed.len();
        run_group(pool, config, claimed).await;
    }
}

/// Runs the jobs of one claim. First attempts are applied together in one
/// transaction; if that fails, each runs alone, so a bad event gets its own
/// retries and dead letter without holding back the others. Retries (and
/// a lone job) run alone from the start.
async fn run_group(pool: &PgPool, config: &WorkerConfig, claimed: Vec<ClaimedJob>) {
    let (fresh, retried): (Vec<_>, Vec<_>) = claimed.into_iter().partition(|j| j.attempt == 1);
    let alone = if fresh.len() < 2 {
        fresh
    } else {
        match apply::apply_jobs(pool, &fresh, config.max_attempts).await {
            Ok(applied) => {
                tracing::debug!(jobs = fresh.len(), ?applied, "jobs applied");
                Vec::new()
            }
            Err(error) => {
                tracing::warn!(jobs = fresh.len(), error = %error, "jobs applied together failed; running each alone");
                fresh
            }
        }
    };
    for job in alone.into_iter().chain(retried) {
        run_one(pool, config, job).await;
    }
}

async fn run_one(pool: &PgPool, config: &WorkerConfig, job: ClaimedJob) {
    // Attempts are counted at claim, so a job whose runs never finish (it
    // kills or hangs its worker) arrives here over the limit: stop it
    // before it takes down another worker.
    if job.attempt > config.max_attempts as i32 {
        let error = ApplyError::Permanent(format!(
            "gave up after {} attempts that never finished (the worker died or was stopped mid-job)",
            job.attempt - 1
        ));
        return failure::record_failure(pool, config, &job, &error).await;
    }
    match apply::apply_jobs(pool, std::slice::from_ref(&job), config.max_attempts).await {
        Ok(applied) => tracing::debug!(job = %job.id, ?applied, "job applied"),
        Err(error) => failure::record_failure(pool, config, &job, &error).await,
    }
}

fn job_event_ids(job: &ClaimedJob) -> Result<Vec<String>, ApplyError> {
    EventBatch::from_bytes(&job.payload)
        .map(|b| b.events)
        .map_err(|e| ApplyError::Permanent(format!("job payload is not an event batch: {e}")))
}

/// Unique per process: `tether-<host>-<pid>-<random>`.
fn worker_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "host".into());
    format!(
        "tether-{host}-{}-{:04x}",
        std::process::id(),
        fastrand::u16(..)
    )
}
