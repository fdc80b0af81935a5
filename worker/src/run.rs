//! Running the jobs of one claim, and what to do when they fail.

use std::sync::LazyLock;

use sqlx::PgPool;
use tether_queue::ClaimedJob;
use tether_shared::telemetry::SPANS;
use tether_shared::{config::WorkerConfig, telemetry::context};
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::{apply, error::ApplyError, failure, split};

/// Most events one transaction applies when it merges jobs.
const MAX_EVENTS_PER_TRANSACTION: usize = 256;

/// Most event body bytes one transaction loads when it merges jobs. A
/// parsed payload takes several times its text in memory, so this, not the
/// event count, is what bounds a worker's memory when events are large.
const MAX_BYTES_PER_TRANSACTION: u64 = 2 * 1024 * 1024;

/// Body bytes (in KiB) being applied at once in this process, over all
/// concurrent claims. A claim waits for its share before it loads.
static APPLY_BUDGET: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(BUDGET_KIB as usize));
const BUDGET_KIB: u32 = 4 * 1024;

/// Runs the jobs of one claim in a `claim` span that links the trace of
/// every event in it.
pub(crate) async fn run_claim(pool: &PgPool, config: &WorkerConfig, claimed: Vec<ClaimedJob>) {
    let events: usize = claimed.iter().map(ClaimedJob::event_count).sum();
    crate::metrics::claimed(events);
    let span = tracing::info_span!(target: SPANS, "claim", jobs = claimed.len(), events);
    for traceparent in claimed.iter().flat_map(|j| j.traceparents.values()) {
        context::add_link(&span, traceparent);
    }
    run_jobs(pool, config, claimed).instrument(span).await;
}

/// First attempts are applied together in one transaction; if that fails,
/// each runs alone, so a bad event gets its own retries and dead letter
/// without holding back the others. Retries (and a lone job) run alone
/// from the start.
async fn run_jobs(pool: &PgPool, config: &WorkerConfig, claimed: Vec<ClaimedJob>) {
    let (oversized, claimed): (Vec<_>, Vec<_>) = claimed
        .into_iter()
        .partition(|j| j.bytes > MAX_BYTES_PER_TRANSACTION && j.event_count() > 1);
    for job in oversized {
        split::split_oversized(pool, &job).await;
    }
    let (fresh, retried): (Vec<_>, Vec<_>) = claimed.into_iter().partition(|j| j.attempt == 1);
    let mut alone = Vec::new();
    for group in by_size(fresh, MAX_EVENTS_PER_TRANSACTION, MAX_BYTES_PER_TRANSACTION) {
        if group.len() < 2 {
            alone.extend(group);
            continue;
        }
        let _share = budget_share(&group).await;
        match apply::apply_jobs(pool, &group, config.max_attempts).await {
            Ok(outcomes) => tracing::debug!(jobs = group.len(), ?outcomes, "jobs applied"),
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

/// Consecutive jobs grouped so each group names at most `max_events`
/// events and `max_bytes` bytes (a single larger job stays a group of its
/// own).
fn by_size(jobs: Vec<ClaimedJob>, max_events: usize, max_bytes: u64) -> Vec<Vec<ClaimedJob>> {
    let mut groups: Vec<Vec<ClaimedJob>> = Vec::new();
    let (mut events_in_last, mut bytes_in_last) = (0, 0);
    for job in jobs {
        let (events, bytes) = (job.event_count(), job.bytes);
        match groups.last_mut() {
            Some(last)
                if events_in_last + events <= max_events && bytes_in_last + bytes <= max_bytes =>
            {
                last.push(job);
                events_in_last += events;
                bytes_in_last += bytes;
            }
            _ => {
                groups.push(vec![job]);
                (events_in_last, bytes_in_last) = (events, bytes);
            }
        }
    }
    groups
}

/// Waits until the process's apply budget has room for `group`'s bytes (a
/// group larger than the whole budget waits for all of it).
async fn budget_share(group: &[ClaimedJob]) -> tokio::sync::SemaphorePermit<'static> {
    let bytes: u64 = group.iter().map(|j| j.bytes).sum();
    let kib = u32::try_from(bytes.div_ceil(1024))
        .unwrap_or(u32::MAX)
        .clamp(1, BUDGET_KIB);
    APPLY_BUDGET
        .acquire_many(kib)
        .await
        .expect("the apply budget is never closed")
}

async fn run_one(pool: &PgPool, config: &WorkerConfig, job: ClaimedJob) {
    // Attempts are counted at claim, so a job whose runs never finish (it
    // kills or hangs its worker) arrives here over the limit: stop it
    // before it takes down another worker.
    if job.attempt > config.max_attempts as i32 {
        let error = ApplyError::NeverFinished {
            attempts: job.attempt - 1,
        };
        return failure::record_failure(pool, config, &job, &error).await;
    }
    let _share = budget_share(std::slice::from_ref(&job)).await;
    match apply::apply_jobs(pool, std::slice::from_ref(&job), config.max_attempts).await {
        Ok(outcomes) => tracing::debug!(job = %job.id, ?outcomes, "job applied"),
        Err(error) => failure::record_failure(pool, config, &job, &error).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(events: usize) -> ClaimedJob {
        sized(events, 0)
    }

    fn sized(events: usize, bytes: u64) -> ClaimedJob {
        ClaimedJob {
            id: format!("job_{events}"),
            events: Ok((0..events).map(|i| format!("evt_{i}")).collect()),
            bytes,
            attempt: 1,
            traceparents: Default::default(),
        }
    }

    fn sizes(groups: &[Vec<ClaimedJob>]) -> Vec<Vec<usize>> {
        groups
            .iter()
            .map(|g| g.iter().map(ClaimedJob::event_count).collect())
            .collect()
    }

    #[test]
    fn jobs_are_grouped_up_to_the_byte_limit_too() {
        let groups = by_size(
            vec![sized(1, 600), sized(1, 600), sized(1, 600), sized(2, 100)],
            256,
            1000,
        );
        assert_eq!(sizes(&groups), vec![vec![1], vec![1], vec![1, 2]]);
    }

    #[test]
    fn jobs_are_grouped_up_to_the_event_limit() {
        let groups = by_size(
            vec![job(100), job(100), job(60), job(1), job(300), job(5)],
            256,
            u64::MAX,
        );
        assert_eq!(
            sizes(&groups),
            vec![vec![100, 100], vec![60, 1], vec![300], vec![5]]
        );
    }
}
