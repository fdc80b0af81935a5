//! What a worker counts and measures (README lists every name), its
//! `--metrics-listen` route, and the queue gauges it samples. Recording
//! never changes what a job does: with no recorder installed (no
//! `--metrics-listen`) the macros do nothing.

mod queue;
mod server;

use std::time::Duration;

use tether_shared::telemetry::metrics::{ACK_TO_APPLIED, APPLY_DURATION, CLAIM_SIZE, JOBS};

pub use queue::sample_queue;
pub use server::MetricsServer;

use crate::logs::LogRow;

/// One `tether_jobs_total` per logged outcome: counted once the outcome
/// has committed, like its `webhook_logs` row.
pub(crate) fn outcomes_logged(rows: &[LogRow]) {
    for row in rows {
        ::metrics::counter!(JOBS, "event_type" => row.event_type.clone(), "outcome" => row.status.as_str())
            .increment(1);
    }
}

pub(crate) fn claimed(events: usize) {
    ::metrics::histogram!(CLAIM_SIZE).record(events as f64);
}

pub(crate) fn applied_in(elapsed: Duration) {
    ::metrics::histogram!(APPLY_DURATION).record(elapsed.as_secs_f64());
}

/// From `stripe_events.received_at` to the commit that applied the event.
pub(crate) fn ack_to_applied(lag: Duration) {
    ::metrics::histogram!(ACK_TO_APPLIED).record(lag.as_secs_f64());
}
