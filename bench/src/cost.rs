//! What a run cost the database: PostgreSQL's CPU time, the WAL it wrote
//! and the transactions it committed, read before the run and after it.
//!
//! WAL and CPU are the whole server's (every database on it); commits are
//! the bench's database only. Commits come from the cumulative statistics,
//! which a backend flushes at most once a second while busy and, once idle,
//! only after PostgreSQL's 10-second idle interval; so they are read after
//! `--stats-wait` seconds, when every commit of the run has been flushed.

use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

mod server_cpu;

/// The counters at one moment.
pub struct Reading {
    lsn: String,
    commits: i64,
    cpu: Option<server_cpu::Postmaster>,
    cpu_ticks: Option<u64>,
}

/// Reads the counters before a run. `None` (with a warning) when the server
/// does not let us: the run itself does not depend on it.
pub async fn before(pool: &PgPool) -> Option<Reading> {
    match read(pool, None).await {
        Ok(reading) => Some(reading),
        Err(error) => {
            eprintln!("bench: cannot read the database's counters, no cost report: {error}");
            None
        }
    }
}

async fn read(pool: &PgPool, cpu: Option<server_cpu::Postmaster>) -> Result<Reading, sqlx::Error> {
    type Row = (String, i64, i32, Option<String>, f64);
    let (lsn, commits, backend, server_addr, backend_start): Row = sqlx::query_as(
        "SELECT pg_current_wal_lsn()::text, d.xact_commit, pg_backend_pid(),
                host(inet_server_addr()), extract(epoch FROM a.backend_start)::float8
         FROM pg_stat_database d, pg_stat_activity a
         WHERE d.datname = current_database() AND a.pid = pg_backend_pid()",
    )
    .fetch_one(pool)
    .await?;
    let cpu = cpu
        .or_else(|| server_cpu::Postmaster::find(backend, server_addr.as_deref(), backend_start));
    let cpu_ticks = cpu.as_ref().and_then(server_cpu::Postmaster::ticks);
    Ok(Reading {
        lsn,
        commits,
        cpu,
        cpu_ticks,
    })
}

#[derive(Debug, Serialize)]
pub struct DatabaseCost {
    /// CPU seconds of the PostgreSQL server's processes; `None` when the
    /// server is not on this host or its processes cannot be read.
    pub server_cpu_secs: Option<f64>,
    pub wal_bytes: u64,
    pub commits: u64,
    /// How long the commits reading waited for the statistics to flush.
    pub stats_wait_secs: f64,
    /// The same, divided by `per_event.events`.
    pub per_event: Option<PerEvent>,
}

#[derive(Debug, Serialize)]
pub struct PerEvent {
    /// What the totals are divided by.
    pub basis: Basis,
    pub events: u64,
    pub server_cpu_ms: Option<f64>,
    pub wal_bytes: f64,
    pub commits: f64,
}

#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Events applied by the workers (ingest and apply together).
    AppliedEvent,
    /// Events acknowledged by ingest (a `--no-wait` run: ingest alone).
    AckedEvent,
}

/// Reads the counters again now the run is over: WAL and CPU at once,
/// commits after `stats_wait` (cut short by a stop signal).
pub async fn after(
    pool: &PgPool,
    before: Reading,
    stats_wait: Duration,
    stop: &CancellationToken,
) -> Result<DatabaseCost, sqlx::Error> {
    let now = read(pool, before.cpu.clone()).await?;
    let wal_bytes: f64 =
        sqlx::query_scalar("SELECT pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::float8")
            .bind(&now.lsn)
            .bind(&before.lsn)
            .fetch_one(pool)
            .await?;
    let waited = Instant::now();
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = tokio::time::sleep(stats_wait) => {}
    }
    let commits: i64 = sqlx::query_scalar(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(pool)
    .await?;
    let server_cpu_secs = match (before.cpu_ticks, now.cpu_ticks) {
        (Some(b), Some(a)) => Some(server_cpu::secs(a.saturating_sub(b))),
        _ => None,
    };
    Ok(DatabaseCost {
        server_cpu_secs,
        wal_bytes: wal_bytes.max(0.0) as u64,
        commits: (commits - before.commits).max(0) as u64,
        stats_wait_secs: waited.elapsed().as_secs_f64(),
        per_event: None,
    })
}

impl DatabaseCost {
    /// Divides the totals by `events` (none when no event counts).
    pub fn per(&mut self, basis: Basis, events: u64) {
        self.per_event = (events > 0).then(|| {
            let n = events as f64;
            PerEvent {
                basis,
                events,
                server_cpu_ms: self.server_cpu_secs.map(|s| s * 1000.0 / n),
                wal_bytes: self.wal_bytes as f64 / n,
                commits: self.commits as f64 / n,
            }
        });
    }

    /// One line of the human report.
    pub fn line(&self) -> String {
        let cpu = |secs: Option<f64>, unit: &str| match secs {
            Some(v) => format!("{v:.2} {unit} PostgreSQL CPU"),
            None => "PostgreSQL CPU unknown (not on this host)".into(),
        };
        let mut line = format!(
            "database {}, {:.1} MB WAL, {} commits",
            cpu(self.server_cpu_secs, "s"),
            self.wal_bytes as f64 / 1e6,
            self.commits
        );
        if let Some(p) = &self.per_event {
            let basis = match p.basis {
                Basis::AppliedEvent => "applied",
                Basis::AckedEvent => "acked",
            };
            line.push_str(&format!(
                "; per {basis} event {}, {:.0} B WAL, {:.2} commits",
                cpu(p.server_cpu_ms, "ms"),
                p.wal_bytes,
                p.commits
            ));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_event_values_are_the_totals_divided_by_the_events() {
        let mut cost = DatabaseCost {
            server_cpu_secs: Some(3.0),
            wal_bytes: 5_000_000,
            commits: 1_200,
            stats_wait_secs: 11.0,
            per_event: None,
        };
        cost.per(Basis::AppliedEvent, 2_000);
        let p = cost.per_event.as_ref().unwrap();
        assert_eq!(p.server_cpu_ms, Some(1.5));
        assert_eq!(p.wal_bytes, 2_500.0);
        assert_eq!(p.commits, 0.6);
        assert_eq!(
            cost.line(),
            "database 3.00 s PostgreSQL CPU, 5.0 MB WAL, 1200 commits; \
             per applied event 1.50 ms PostgreSQL CPU, 2500 B WAL, 0.60 commits"
        );
    }

    #[test]
    fn no_events_means_no_per_event_values() {
        let mut cost = DatabaseCost {
            server_cpu_secs: None,
            wal_bytes: 10,
            commits: 1,
            stats_wait_secs: 11.0,
            per_event: None,
        };
        cost.per(Basis::AckedEvent, 0);
        assert!(cost.per_event.is_none());
    }
}
