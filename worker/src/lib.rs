//! The worker: applies queued Stripe events to the synced tables, each once
//! in effect, never letting older state overwrite newer, with persisted
//! retries and dead letters.
//!
//! The front door is [`run`] (a worker process) and [`drain`] (run what is
//! due, then return; for tests and one-shot use). What each event does to
//! the synced tables is declared by the `tether-sync` crate. The path of a
//! claim: `consumer` claims, `run` groups, `apply` applies in one
//! transaction, `failure` records what went wrong.

mod apply;
mod consumer;
mod error;
mod failure;
mod logs;
pub mod metrics;
mod retry;
mod run;
mod split;
mod trace;

use sqlx::PgPool;
use tether_queue::QueueError;
use tether_shared::config::WorkerConfig;
use tokio_util::sync::CancellationToken;

/// Runs a worker until `shutdown`: then it stops fetching, finishes the jobs
/// in flight, puts back any it claimed but did not start, and returns. If
/// its heartbeat or its NOTIFY listener fails, it shuts down the same way
/// and returns that failure. `listen` is where it LISTENs for new jobs
/// (`tether_shared::db::listen_pool`); without one it polls.
pub async fn run(
    pool: PgPool,
    listen: Option<PgPool>,
    config: WorkerConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let name = worker_name();
    tracing::info!(worker = %name, concurrency = config.concurrency, "worker starting");
    let stopped = consumer::Consumer::new(pool, config, name)
        .run(listen, shutdown)
        .await;
    tracing::info!("worker stopped");
    stopped
}

/// Runs every job that is due, claim after claim, until none is left.
/// Returns how many jobs ran.
pub async fn drain(pool: &PgPool, config: &WorkerConfig) -> Result<usize, QueueError> {
    let name = worker_name();
    tether_queue::workers::register(pool, &name).await?;
    let mut ran = 0;
    loop {
        let claimed = tether_queue::claim(pool, &name, config.fetch_size as i64).await?;
        if claimed.is_empty() {
            return Ok(ran);
        }
        ran += claimed.len();
        run::run_claim(pool, config, claimed).await;
    }
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
