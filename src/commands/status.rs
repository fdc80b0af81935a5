//! `tether status`: the queue, the workers and recent throughput, for
//! people, scripts (`--json`) and monitors (`--check`).

use std::{process::ExitCode, time::Duration};

use clap::Args;
use tether_ops::status::{self, Status};
use tether_shared::{config::DatabaseConfig, db, duration::parse_duration};

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub db: DatabaseConfig,

    #[arg(long)]
    pub json: bool,

    /// Exit 1 with the reason when a person is needed: dead letters, no
    /// live worker, or a pending job older than --max-pending-age.
    #[arg(long)]
    pub check: bool,

    /// Count only the events of this connected account (acct_...) in the
    /// throughput windows; the queue and workers are shared.
    #[arg(long, value_parser = tether_shared::bounds::parse_account)]
    pub account: Option<String>,

    /// With --check: how long the oldest pending job may wait.
    #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub max_pending_age: Duration,
}

pub async fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let pool = db::connect(&args.db).await?;
    let status = status::status(&pool, args.account.as_deref()).await?;
    let attention = status::needs_attention(&status, args.max_pending_age);
    if args.json {
        let mut out = serde_json::to_value(&status)?;
        out["needs_attention"] = serde_json::json!(attention);
        println!("{out}");
    } else {
        print(&status);
    }
    match attention {
        Some(reason) if args.check => {
            eprintln!("error: {reason}");
            Ok(ExitCode::FAILURE)
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn print(status: &Status) {
    let q = &status.queue;
    println!(
        "queue     {} pending, {} running, {} retrying, {} dead; oldest pending {}",
        q.pending,
        q.running,
        q.retrying,
        q.dead,
        q.oldest_pending_secs
            .map(|s| format!("{s:.1} s"))
            .unwrap_or_else(|| "-".into())
    );
    println!("workers   {} live", status.live_workers.len());
    for name in &status.live_workers {
        println!("          {name}");
    }
    for w in &status.windows {
        println!(
            "last {:>2} m received {}, applied {}, errors {} ({:.1}%)",
            w.minutes,
            w.received,
            w.applied,
            w.errors,
            w.error_rate * 100.0
        );
    }
    if let Some(last) = status.windows.last() {
        for (event_type, outcomes) in &last.by_type {
            let outcomes: Vec<String> = outcomes.iter().map(|(s, n)| format!("{s} {n}")).collect();
            println!("          {event_type}: {}", outcomes.join(", "));
        }
    }
}
