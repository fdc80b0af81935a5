//! When a failed job runs again: TETHER_RETRY_BASE_MS, doubling per attempt,
//! with up to 100% random jitter so that jobs failing together do not retry
//! together, capped at TETHER_RETRY_MAX_MS. The delay is written to the job's
//! `run_at`, so it survives a worker restart.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tether_shared::config::WorkerConfig;

/// The delay before attempt `failed_attempts + 1`.
pub(crate) fn retry_delay(config: &WorkerConfig, failed_attempts: u32) -> Duration {
    let cap = Duration::from_millis(config.retry_max_ms);
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(config.retry_base_ms))
        .with_factor(2.0)
        .with_max_delay(cap)
        .with_jitter()
        .without_max_times()
        .build()
        .nth(failed_attempts.saturating_sub(1) as usize)
        .unwrap_or(cap)
        .min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_and_stays_under_the_cap() {
        let config = WorkerConfig {
            retry_base_ms: 100,
            retry_max_ms: 1_000,
            ..WorkerConfig::DEFAULT
        };
        for _ in 0..200 {
            let first = retry_delay(&config, 1).as_millis();
            let third = retry_delay(&config, 3).as_millis();
            let tenth = retry_delay(&config, 10).as_millis();
            assert!((100..200).contains(&first), "first retry {first} ms");
            assert!((400..800).contains(&third), "third retry {third} ms");
            assert_eq!(tenth, 1_000, "capped");
        }
    }
}
