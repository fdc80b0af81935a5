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
use tether_shared::config::WorkerConfig;
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
    let mut alone = Vec::new();
    for group in by_event_count(fresh, MAX_EVENTS_PER_TRANSACTION) {
        if group.len() < 2 {
            alone.extend(group);
            continue;
        }
        match apply::apply_jobs(pool, &group, config.max_attempts).await {
            Ok(applied) => tracing::debug!(jobs = group.len(), ?applied, "jobs applied"),
            Err(error) => {
                tracing::warn!(jobs = group.len(), error = %error, "jobs applied together failed; running each alone");
                alone.extend(group);
            }
        }
    }
    for job in alone.into_iter().chain(retried) {
        run_one(pool, config, job).await;
    }
}

/// Most events one transaction applies when it merges jobs: bounds the
/// payloads a worker holds in memory (measured: 16 merged jobs of ~32
/// events each took a worker to 90 MB).
const MAX_EVENTS_PER_TRANSACTION: usize = 256;

/// Consecutive jobs grouped so each group names at most `limit` events
/// (a single larger job stays a group of its own).
fn by_event_count(jobs: Vec<ClaimedJob>, limit: usize) -> Vec<Vec<ClaimedJob>> {
    let mut groups: Vec<Vec<ClaimedJob>> = Vec::new();
    let mut events_in_last = 0;
    for job in jobs {
        let events = job.events.as_ref().map_or(1, Vec::len);
        match groups.last_mut() {
            Some(last) if events_in_last + events <= limit => {
                last.push(job);
                events_in_last += events;
            }
            _ => {
                groups.push(vec![job]);
                events_in_last = events;
            }
        }
    }
    groups
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

fn job_event_ids(job: &ClaimedJob) -> Result<&[String], ApplyError> {
    job.events
        .as_deref()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn job(events: usize) -> ClaimedJob {
        ClaimedJob {
            id: format!("job_{events}"),
            events: Ok((0..events).map(|i| format!("evt_{i}")).collect()),
            attempt: 1,
        }
    }

    fn sizes(groups: &[Vec<ClaimedJob>]) -> Vec<Vec<usize>> {
        groups
            .iter()
            .map(|g| g.iter().map(|j| j.events.as_ref().unwrap().len()).collect())
            .collect()
    }

    #[test]
    fn jobs_are_grouped_up_to_the_event_limit() {
        let groups = by_event_count(
            vec![job(100), job(100), job(60), job(1), job(300), job(5)],
            256,
        );
        assert_eq!(
            sizes(&groups),
            vec![vec![100, 100], vec![60, 1], vec![300], vec![5]]
        );
    }
}
