//! A worker's settings.

use std::{net::SocketAddr, time::Duration};

use clap::Args;
use secrecy::SecretString;

use crate::bounds::{MAX_DURATION_MS, MAX_DURATION_SECS};

#[derive(Args, Clone, Debug)]
pub struct WorkerConfig {
    /// Claims this process applies at once; more only overlap round trips
    /// to a distant database (docs/operations.md).
    #[arg(long = "concurrency", env = "TETHER_CONCURRENCY", value_name = "TETHER_CONCURRENCY",
          default_value_t = WorkerConfig::DEFAULT.concurrency, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,

    /// Attempts before a job is dead-lettered.
    #[arg(long = "max-attempts", env = "TETHER_MAX_ATTEMPTS", value_name = "TETHER_MAX_ATTEMPTS",
          default_value_t = WorkerConfig::DEFAULT.max_attempts, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_attempts: u32,

    /// First retry delay; doubles each attempt, with jitter, capped at TETHER_RETRY_MAX_MS.
    #[arg(long = "retry-base-ms", env = "TETHER_RETRY_BASE_MS", value_name = "TETHER_RETRY_BASE_MS",
          default_value_t = WorkerConfig::DEFAULT.retry_base_ms, value_parser = clap::value_parser!(u64).range(1..=MAX_DURATION_MS))]
    pub retry_base_ms: u64,

    /// Longest delay between two attempts.
    #[arg(long = "retry-max-ms", env = "TETHER_RETRY_MAX_MS", value_name = "TETHER_RETRY_MAX_MS",
          default_value_t = WorkerConfig::DEFAULT.retry_max_ms, value_parser = clap::value_parser!(u64).range(1..=MAX_DURATION_MS))]
    pub retry_max_ms: u64,

    /// A worker silent this long is presumed dead and its jobs run elsewhere.
    #[arg(long = "orphan-after-secs", env = "TETHER_ORPHAN_AFTER_SECS",
          value_name = "TETHER_ORPHAN_AFTER_SECS", default_value_t = WorkerConfig::DEFAULT.orphan_after_secs,
          value_parser = clap::value_parser!(u64).range(2..=MAX_DURATION_SECS))]
    pub orphan_after_secs: u64,

    /// Polling interval for jobs nobody announced (retries whose time has come).
    #[arg(long = "poll-ms", env = "TETHER_POLL_MS", value_name = "TETHER_POLL_MS",
          default_value_t = WorkerConfig::DEFAULT.poll_ms, value_parser = clap::value_parser!(u64).range(10..=MAX_DURATION_MS))]
    pub poll_ms: u64,

    /// Prune processed events and logs older than this in the background
    /// (hourly), as `tether prune` does. Unset: keep everything.
    #[arg(long = "retention", env = "TETHER_RETENTION", value_name = "TETHER_RETENTION",
          value_parser = crate::duration::parse_duration)]
    pub retention: Option<Duration>,

    /// Jobs claimed at once and applied in one transaction: one under light
    /// load, up to this many under a backlog.
    #[arg(long = "fetch-size", env = "TETHER_FETCH_SIZE", value_name = "TETHER_FETCH_SIZE",
          default_value_t = WorkerConfig::DEFAULT.fetch_size, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub fetch_size: u32,

    /// Below a backlog (a claim took some jobs, but fewer than
    /// TETHER_FETCH_SIZE), wait this long before the next claim, so jobs
    /// committed close together are applied in one transaction; 0 claims at
    /// once. A worker woken from idle waits at most 3 ms of it, so an event
    /// at rest is not held back; after a claim of jobs that held several
    /// events each (deliveries that overlapped), three times as long.
    #[arg(long = "gather-ms", env = "TETHER_GATHER_MS", value_name = "TETHER_GATHER_MS",
          default_value_t = WorkerConfig::DEFAULT.gather_ms, value_parser = clap::value_parser!(u64).range(0..=100))]
    pub gather_ms: u64,

    /// Serve `GET /metrics` (Prometheus text) and `GET /healthz` on this
    /// address. Unset: no metrics listener.
    #[arg(
        long = "metrics-listen",
        env = "TETHER_METRICS_LISTEN",
        value_name = "TETHER_METRICS_LISTEN"
    )]
    pub metrics_listen: Option<SocketAddr>,

    /// A connection that keeps its session (direct, or a session-mode
    /// pooler), used only to LISTEN for new jobs. Meant for a DATABASE_URL
    /// through a transaction-mode pooler, where a worker without it polls
    /// every TETHER_POLL_MS.
    #[arg(long = "listen-database-url", env = "TETHER_LISTEN_DATABASE_URL",
          value_name = "TETHER_LISTEN_DATABASE_URL", value_parser = super::parse_secret,
          hide_env_values = true)]
    pub listen_database_url: Option<SecretString>,
}

impl WorkerConfig {
    /// Every default, in one place: the flags show these, and code that
    /// builds a config without a command line (tests) starts from them.
    pub const DEFAULT: WorkerConfig = WorkerConfig {
        // One claim at a time: claims in flight together lock the objects
        // their events share (a customer and the subscription naming it)
        // and wait on each other, so on a nearby database a second claim
        // costs more than it overlaps (BENCHMARKS.md, "Claims in flight").
        concurrency: 1,
        max_attempts: 10,
        retry_base_ms: 1000,
        retry_max_ms: 3_600_000,
        orphan_after_secs: 60,
        poll_ms: 500,
        fetch_size: 16,
        gather_ms: 10,
        retention: None,
        metrics_listen: None,
        listen_database_url: None,
    };

    pub fn heartbeat_interval(&self) -> Duration {
        // Several beats fit in one orphan window, so one slow beat is not a death.
        Duration::from_secs(self.orphan_after_secs).div_f64(4.0)
    }

    pub fn orphan_after(&self) -> Duration {
        Duration::from_secs(self.orphan_after_secs)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_ms)
    }

    pub fn gather(&self) -> Duration {
        Duration::from_millis(self.gather_ms)
    }

    /// The gather of a worker woken from idle: short, since at rest the
    /// next event is seldom close behind, and whatever it waits is latency.
    pub fn gather_after_idle(&self) -> Duration {
        self.gather().min(Self::IDLE_GATHER)
    }

    /// The gather after a claim whose jobs held more than one event each on
    /// average: ingest committed deliveries that overlapped, so Stripe is
    /// sending several at once, and a longer wait fills the next
    /// transaction. Deliveries one at a time keep the plain gather, so
    /// their row lags their ack by no more than it.
    pub fn gather_when_overlapping(&self) -> Duration {
        self.gather() * Self::OVERLAP_GATHER_FACTOR
    }

    const IDLE_GATHER: Duration = Duration::from_millis(3);
    const OVERLAP_GATHER_FACTOR: u32 = 3;
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}
