//! `tether bench`: the load generator shipped with the product, as pgbench
//! ships with PostgreSQL. It sends signed events to a running ingest over
//! keep-alive connections, reports acknowledgements and latency, then waits
//! for the workers and reports, from the database, how fast events were
//! applied and (with `--verify`) whether every one was applied correctly,
//! and what the run cost the database.

mod cost;
mod load;
mod report;
mod settle;
mod verify;
mod workload;

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use anyhow::Context;
use clap::Args;
use tether_shared::{
    bounds::{parse_rate, parse_seconds},
    config::{DatabaseConfig, IngestTarget},
    db, shutdown,
};
use tokio_util::sync::CancellationToken;

use self::{
    load::{Pace, Progress, Target},
    report::Report,
    workload::{DEFAULT_MIX, EVENTS_PER_CREATED_SECOND, Workload, WorkloadOptions, parse_mix},
};

#[derive(Args)]
pub struct Bench {
    #[command(flatten)]
    pub target: IngestTarget,

    #[command(flatten)]
    pub db: DatabaseConfig,

    /// Distinct events to send [default: 20000, or unbounded with --duration].
    #[arg(long, short = 'n')]
    pub events: Option<u64>,

    /// Stop sending after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub duration: Option<f64>,

    /// Keep-alive connections sending at once.
    #[arg(long, short = 'c', default_value_t = 64)]
    pub connections: usize,

    /// Send at this many events per second instead of as fast as possible.
    #[arg(long, value_name = "EVENTS_PER_SEC", value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// Distinct objects of each kind (customers, payment intents, subscriptions).
    #[arg(long, default_value_t = 1000)]
    pub objects: u64,

    /// Event types and their weights.
    #[arg(long, default_value = DEFAULT_MIX, value_parser = parse_mix)]
    pub mix: std::vec::Vec<(&'static str, u32)>,

    /// Share of events delivered a second time (0 to 1).
    #[arg(long, default_value_t = 0.0, value_parser = ratio)]
    pub duplicates: f64,

    /// Share of events sent out of order, within windows of 256 (0 to 1).
    #[arg(long, default_value_t = 0.0, value_parser = ratio)]
    pub reorder: f64,

    /// Seed of the workload: the same seed and run id send the same events.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Names this run's event and object ids [default: random].
    #[arg(long)]
    pub run_id: Option<String>,

    /// Deliver an event again after a 5xx or no answer (every 250 ms, up to
    /// 30 s), as Stripe retries; for soak runs that restart the database.
    #[arg(long)]
    pub redeliver: bool,

    /// Don't send: measure the workers on events 0..N of an earlier
    /// `--no-wait` run with the same --run-id, --seed and -n (for draining a
    /// queue filled while the workers were stopped).
    #[arg(
        long,
        requires = "run_id",
        requires = "events",
        conflicts_with = "no_wait"
    )]
    pub skip_send: bool,

    /// Only send; don't wait for the workers.
    #[arg(long)]
    pub no_wait: bool,

    /// Give up waiting for the workers after this long.
    #[arg(long, value_name = "SECS", default_value_t = 300.0, value_parser = parse_seconds)]
    pub wait_timeout: f64,

    /// After the queue drains, check every event was applied once and every
    /// row holds its newest event; exit 1 if not.
    #[arg(long, conflicts_with = "no_wait")]
    pub verify: bool,

    /// Seconds to wait after the run before reading the commit count:
    /// PostgreSQL flushes an idle backend's statistics only after 10 s.
    #[arg(long, value_name = "SECS", default_value_t = 11.0, value_parser = parse_seconds)]
    pub stats_wait: f64,

    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn ratio(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err("must be a number from 0 to 1".into()),
    }
}

pub async fn run(args: Bench) -> anyhow::Result<()> {
    anyhow::ensure!(args.connections > 0, "--connections must be at least 1");
    let workload = Arc::new(Workload::new(workload_options(&args))?);
    let target = Arc::new(Target::parse(
        &args.target.url,
        tether_shared::dev_secret::signing_secret(&args.target, &args.db).await?,
    )?);
    let pool = db::open_lazy(&args.db).await?.pool;
    if !args.no_wait {
        tether_queue::inspect::outstanding(&pool)
            .await
            .with_context(|| format!("cannot read the queue at {}", db::redacted(&args.db)))?;
    }
    let stop = shutdown::on_signal();
    let progress = Arc::new(Progress::default());
    let reporter = report::spawn_progress(progress.clone(), stop.child_token());
    let cost_before = cost::before(&pool).await;
    let started_at = SystemTime::now();
    let pace = Pace {
        rate: args.rate,
        deadline: args
            .duration
            .map(|d| Instant::now() + Duration::from_secs_f64(d)),
        redeliver: args.redeliver,
    };
    let sent = if args.skip_send {
        load::LoadResult::assumed(workload.options().events)
    } else {
        load::run(
            workload.clone(),
            target,
            args.connections,
            pace,
            progress,
            stop.clone(),
        )
        .await?
    };
    reporter.cancel();
    let mut report = Report::from_load(&workload, &args, &sent);
    if args.no_wait {
        report.database = database_cost(&pool, cost_before, &args, &stop).await;
        let acked = report.events - report.events_unacked;
        if let Some(cost) = &mut report.database {
            cost.per(cost::Basis::AckedEvent, acked);
        }
    } else {
        finish(
            &pool,
            &workload,
            &args,
            &sent,
            (started_at, cost_before),
            &stop,
            &mut report,
        )
        .await?;
    }
    report.print(args.json);
    report.outcome()
}

async fn finish(
    pool: &sqlx::PgPool,
    workload: &Workload,
    args: &Bench,
    sent: &load::LoadResult,
    (started_at, cost_before): (SystemTime, Option<cost::Reading>),
    stop: &CancellationToken,
    report: &mut Report,
) -> anyhow::Result<()> {
    let waited = Instant::now();
    let drained = settle::wait_until_drained(
        pool,
        Duration::from_secs_f64(args.wait_timeout),
        stop,
        report::drain_progress(),
    )
    .await;
    report.drained = Some(drained);
    report.drain_wait_secs = Some(waited.elapsed().as_secs_f64());
    report.database = database_cost(pool, cost_before, args, stop).await;
    let mut distinct = sent.sent.clone();
    distinct.sort_unstable();
    distinct.dedup();
    let stored = settle::stored_rows(pool, workload, &distinct).await?;
    let applied = settle::applied(&stored, started_at);
    if let Some(cost) = &mut report.database {
        cost.per(cost::Basis::AppliedEvent, applied.applied);
    }
    report.applied = Some(applied);
    if args.verify {
        let mut acked = sent.acked.clone();
        acked.sort_unstable();
        acked.dedup();
        report.verify = Some(verify::verify(pool, workload, &acked, &stored).await?);
    }
    Ok(())
}

/// The database's counters since `before`; a failure to read them is
/// reported and leaves the rest of the report intact.
async fn database_cost(
    pool: &sqlx::PgPool,
    before: Option<cost::Reading>,
    args: &Bench,
    stop: &CancellationToken,
) -> Option<cost::DatabaseCost> {
    let wait = Duration::from_secs_f64(args.stats_wait.max(0.0));
    match cost::after(pool, before?, wait, stop).await {
        Ok(cost) => Some(cost),
        Err(error) => {
            eprintln!("bench: cannot read the database's counters after the run: {error}");
            None
        }
    }
}

fn workload_options(args: &Bench) -> WorkloadOptions {
    let events = match (args.events, args.duration) {
        (Some(n), _) => n,
        (None, Some(_)) => u64::MAX,
        (None, None) => 20_000,
    };
    let expected = match (events, args.rate, args.duration) {
        (u64::MAX, Some(rate), Some(secs)) => (rate * secs) as u64,
        (u64::MAX, _, _) => 0,
        (n, _, _) => n,
    };
    let now = chrono::Utc::now().timestamp();
    WorkloadOptions {
        run_id: args.run_id.clone().unwrap_or_else(random_run_id),
        objects: args.objects,
        mix: args.mix.clone(),
        duplicates: args.duplicates,
        reorder: args.reorder,
        seed: args.seed,
        // Rising `created` that ends about now.
        first_created: now - (expected / EVENTS_PER_CREATED_SECOND) as i64,
        events,
    }
}

fn random_run_id() -> String {
    (0..6)
        .map(|_| fastrand::alphanumeric().to_ascii_lowercase())
        .collect()
}
