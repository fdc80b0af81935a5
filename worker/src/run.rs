//! Running the jobs of one claim, and what to do when they fail.

use sqlx::PgPool;
use tether_queue::ClaimedJob;
use tether_shared::config::WorkerConfig;

use crate::{apply, error::ApplyError, failure};

/// Most events one transaction applies when it merges jobs: bounds the
/// payloads a worker holds in memory (BENCHMARKS.md has the measurement).
const MAX_EVENTS_PER_TRANSACTION: usize = 256;

/// Runs the jobs of one claim. First attempts are applied together in one
/// transaction; if that fails, each runs alone, so a bad event gets its own
/// retries and dead letter without holding back the others. Retries (and
/// a lone job) run alone from the start.
pub(crate) async fn run_claim(pool: &PgPool, config: &WorkerConfig, claimed: Vec<ClaimedJob>) {
    let (fresh, retried): (Vec<_>, Vec<_>) = claimed.into_iter().partition(|j| j.attempt == 1);
    let mut alone = Vec::new();
    for group in by_event_count(fresh, MAX_EVENTS_PER_TRANSACTION) {
        if group.len() < 2 {
            alone.extend(group);
            continue;
        }
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

/// Consecutive jobs grouped so each group names at most `limit` events
/// (a single larger job stays a group of its own).
fn by_event_count(jobs: Vec<ClaimedJob>, limit: usize) -> Vec<Vec<ClaimedJob>> {
    let mut groups: Vec<Vec<ClaimedJob>> = Vec::new();
    let mut events_in_last = 0;
    for job in jobs {
        let events = job.event_count();
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
        let error = ApplyError::NeverFinished {
            attempts: job.attempt - 1,
        };
        return failure::record_failure(pool, config, &job, &error).await;
    }
    match apply::apply_jobs(pool, std::slice::from_ref(&job), config.max_attempts).await {
        Ok(outcomes) => tracing::debug!(job = %job.id, ?outcomes, "job applied"),
        Err(error) => failure::record_failure(pool, config, &job, &error).await,
    }
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
            .map(|g| g.iter().map(ClaimedJob::event_count).collect())
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
