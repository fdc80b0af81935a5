//! The process's Prometheus recorder. The `metrics` macros anywhere in
//! tether record into it once [`recorder`] has run (before that they are
//! no-ops); `/metrics` routes render it with [`PrometheusHandle::render`].
//! The exposition text is the exporter's, never formatted by hand.
//!
//! The names are a contract with dashboards and alert rules (README lists
//! them): rename none.

use std::{sync::OnceLock, time::Duration};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

pub use metrics_exporter_prometheus::PrometheusHandle;

pub const WEBHOOKS: &str = "tether_webhooks_total";
pub const INGEST_REQUEST_DURATION: &str = "tether_ingest_request_duration_seconds";
pub const INGEST_BATCH_SIZE: &str = "tether_ingest_batch_size";
pub const JOBS: &str = "tether_jobs_total";
pub const APPLY_DURATION: &str = "tether_apply_duration_seconds";
pub const CLAIM_SIZE: &str = "tether_claim_size";
pub const ACK_TO_APPLIED: &str = "tether_ack_to_applied_seconds";
pub const QUEUE_PENDING: &str = "tether_queue_pending";
pub const QUEUE_SCHEDULED_RETRIES: &str = "tether_queue_scheduled_retries";
pub const QUEUE_DEAD_LETTERS: &str = "tether_queue_dead_letters";
pub const QUEUE_OLDEST_PENDING_AGE: &str = "tether_queue_oldest_pending_age_seconds";
pub const WORKERS_LIVE: &str = "tether_workers_live";

/// Every metric tether exposes: what alert rules and dashboards may name.
pub const ALL: &[&str] = &[
    WEBHOOKS,
    INGEST_REQUEST_DURATION,
    INGEST_BATCH_SIZE,
    JOBS,
    APPLY_DURATION,
    CLAIM_SIZE,
    ACK_TO_APPLIED,
    QUEUE_PENDING,
    QUEUE_SCHEDULED_RETRIES,
    QUEUE_DEAD_LETTERS,
    QUEUE_OLDEST_PENDING_AGE,
    WORKERS_LIVE,
];

/// Seconds, from a fast commit to a slow one.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Events per group commit (at most 512) or per claim.
const SIZE_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
];
/// Seconds from Stripe's delivery to the synced row: idle is well under a
/// second, a backlog or a retry takes minutes to hours.
const LAG_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder on first use and returns its handle.
/// Later calls (tests run many servers in one process) share it.
pub fn recorder() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let buckets = [
                (INGEST_REQUEST_DURATION, LATENCY_BUCKETS),
                (APPLY_DURATION, LATENCY_BUCKETS),
                (INGEST_BATCH_SIZE, SIZE_BUCKETS),
                (CLAIM_SIZE, SIZE_BUCKETS),
                (ACK_TO_APPLIED, LAG_BUCKETS),
            ];
            let mut builder = PrometheusBuilder::new();
            for (name, bounds) in buckets {
                builder = builder
                    .set_buckets_for_metric(Matcher::Full(name.to_owned()), bounds)
                    .expect("bucket lists are not empty");
            }
            let handle = builder
                .install_recorder()
                .expect("no other metrics recorder is installed");
            start_upkeep(handle.clone());
            handle
        })
        .clone()
}

/// Histogram samples wait in a buffer until upkeep (or a scrape) folds them
/// into buckets; without a scraper that buffer would grow for ever.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

fn start_upkeep(handle: PrometheusHandle) {
    // A plain thread: the recorder outlives any one async runtime (tests).
    let started = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                handle.run_upkeep();
            }
        });
    if let Err(error) = started {
        tracing::warn!(error = %error, "no metrics upkeep thread; histograms grow until scraped");
    }
}
