//! What a bench prints: progress on stderr while it runs, then one report on
//! stdout, human-readable or `--json`.

use std::{
    collections::BTreeMap,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{
    Bench,
    cost::DatabaseCost,
    load::{LoadResult, Progress},
    settle::{Applied, Percentiles},
    verify::Verdict,
    workload::Workload,
};

#[derive(Serialize)]
pub struct Report {
    pub run_id: String,
    pub url: String,
    pub connections: usize,
    pub rate_limit: Option<f64>,
    /// Distinct events sent.
    pub events: u64,
    /// HTTP requests, duplicates included.
    pub requests: u64,
    pub acks: u64,
    pub acks_per_sec: f64,
    /// Distinct events that never got a 2xx.
    pub events_unacked: u64,
    pub latency_ms: Percentiles,
    pub statuses: BTreeMap<String, u64>,
    pub transport_errors: u64,
    pub send_secs: f64,
    pub drained: Option<bool>,
    pub drain_wait_secs: Option<f64>,
    pub applied: Option<Applied>,
    /// What the run cost PostgreSQL, ingest and apply together.
    pub database: Option<DatabaseCost>,
    pub verify: Option<Verdict>,
}

impl Report {
    pub fn from_load(workload: &Workload, args: &Bench, load: &LoadResult) -> Self {
        let mut distinct = load.sent.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let mut acked = load.acked.clone();
        acked.sort_unstable();
        acked.dedup();
        let secs = load.elapsed.as_secs_f64();
        Self {
            run_id: workload.options().run_id.clone(),
            url: args.target.url.clone(),
            connections: args.connections,
            rate_limit: args.rate,
            events: distinct.len() as u64,
            requests: load.requests,
            acks: load.acks(),
            acks_per_sec: if secs > 0.0 {
                load.acks() as f64 / secs
            } else {
                0.0
            },
            events_unacked: (distinct.len() - acked.len()) as u64,
            latency_ms: Percentiles::of(
                load.latencies_us
                    .iter()
                    .map(|&us| us as f64 / 1000.0)
                    .collect(),
            ),
            statuses: load
                .statuses
                .iter()
                .map(|(s, n)| (s.to_string(), *n))
                .collect(),
            transport_errors: load.transport_errors,
            send_secs: secs,
            drained: None,
            drain_wait_secs: None,
            applied: None,
            database: None,
            verify: None,
        }
    }

    pub fn print(&self, json: bool) {
        if json {
            println!(
                "{}",
                serde_json::to_string(self).expect("a report serialises")
            );
            return;
        }
        let l = &self.latency_ms;
        println!("run {} -> {}", self.run_id, self.url);
        println!(
            "sent     {} events in {} requests over {} connections in {:.1} s",
            self.events, self.requests, self.connections, self.send_secs
        );
        println!(
            "acked    {} ({:.0}/s); {} events never acknowledged",
            self.acks, self.acks_per_sec, self.events_unacked
        );
        println!(
            "latency  p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            l.p50, l.p95, l.p99, l.max
        );
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        println!(
            "statuses {}{}",
            statuses.join(", "),
            match self.transport_errors {
                0 => String::new(),
                n => format!(", no answer: {n}"),
            }
        );
        if let Some(applied) = &self.applied {
            let lag = &applied.lag_ms;
            println!(
                "applied  {} of {} stored ({:.0}/s end to end, {:.0}/s from first to last applied{})",
                applied.applied,
                applied.stored,
                applied.events_per_sec,
                applied.apply_per_sec,
                if self.drained == Some(false) {
                    "; queue NOT drained before the timeout"
                } else {
                    ""
                }
            );
            println!(
                "lag      stored -> applied p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
                lag.p50, lag.p95, lag.p99, lag.max
            );
        }
        if let Some(cost) = &self.database {
            println!("{}", cost.line());
        }
        if let Some(verdict) = &self.verify {
            if verdict.passed() {
                println!(
                    "verify   ok: {} objects match their newest event; every event applied once",
                    verdict.objects_checked
                );
            } else {
                println!("verify   FAILED: {verdict:?}");
            }
        }
    }

    /// A run fails when the workers did not finish or verification failed.
    pub fn outcome(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.drained != Some(false),
            "the queue did not drain within --wait-timeout"
        );
        if let Some(verdict) = &self.verify {
            anyhow::ensure!(
                verdict.passed(),
                "verification failed: {}",
                verdict.examples.join("; ")
            );
        }
        Ok(())
    }
}

/// Prints a progress line to stderr every two seconds until cancelled.
pub fn spawn_progress(progress: Arc<Progress>, stop: CancellationToken) -> CancellationToken {
    let token = stop.clone();
    tokio::spawn(async move {
        let started = Instant::now();
        let mut last = 0;
        let mut ticks = tokio::time::interval(Duration::from_secs(2));
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = ticks.tick() => {}
            }
            let acked = progress.acked.load(Ordering::Relaxed);
            eprintln!(
                "bench: {:>5.0} s  answered {}  acked {} ({:.0}/s now)",
                started.elapsed().as_secs_f64(),
                progress.answered.load(Ordering::Relaxed),
                acked,
                (acked - last) as f64 / 2.0
            );
            last = acked;
        }
    });
    token
}

/// A progress callback for the wait: one stderr line every two seconds.
pub fn drain_progress() -> impl FnMut(Option<i64>) {
    let mut last_print = Instant::now();
    move |outstanding| {
        if last_print.elapsed() >= Duration::from_secs(2) {
            last_print = Instant::now();
            match outstanding {
                Some(n) => eprintln!("bench: waiting for workers, {n} jobs outstanding"),
                None => eprintln!("bench: waiting for workers, database unreachable"),
            }
        }
    }
}
