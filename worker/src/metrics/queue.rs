//! The queue gauges: one task per process samples them every few seconds
//! (never per scrape), with the cheap statements of `tether_queue::gauges`.

use std::time::Duration;

use sqlx::PgPool;
use tether_shared::telemetry::metrics::{
    QUEUE_DEAD_LETTERS, QUEUE_OLDEST_PENDING_AGE, QUEUE_PENDING, QUEUE_SCHEDULED_RETRIES,
    WORKERS_LIVE,
};
use tokio_util::sync::CancellationToken;

const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Samples until `shutdown`. A worker counts as live while its heartbeat
/// is younger than `live_within`.
pub async fn sample_queue(pool: PgPool, live_within: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! { _ = shutdown.cancelled() => return, _ = tick.tick() => {} }
        match tether_queue::gauges::sample(&pool, live_within).await {
            Ok(sample) => {
                failing = false;
                ::metrics::gauge!(QUEUE_PENDING).set(sample.pending as f64);
                ::metrics::gauge!(QUEUE_SCHEDULED_RETRIES).set(sample.scheduled_retries as f64);
                ::metrics::gauge!(QUEUE_DEAD_LETTERS).set(sample.dead_letters as f64);
                ::metrics::gauge!(QUEUE_OLDEST_PENDING_AGE)
                    .set(sample.oldest_pending_age.as_secs_f64());
                ::metrics::gauge!(WORKERS_LIVE).set(sample.workers_live as f64);
            }
            // Once per outage: the consumer already reports a database
            // that is down; the gauges keep their last values meanwhile.
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(error = %error, "cannot sample the queue gauges; retrying every 5 s");
            }
            Err(_) => {}
        }
    }
}
