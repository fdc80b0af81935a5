//! `tether prune`: retention for raw events and logs.

use std::time::Duration;

use clap::Args;
use tether_shared::{config::DatabaseConfig, db, duration::parse_duration};

#[derive(Args)]
pub struct Prune {
    #[command(flatten)]
    pub db: DatabaseConfig,

    /// Remove processed events and logs older than this (90s, 30m, 24h, 7d).
    #[arg(long, env = "TETHER_RETENTION", value_name = "DURATION", default_value = "30d",
          value_parser = parse_duration)]
    pub older_than: Duration,

    /// Say how many, change nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Prune) -> anyhow::Result<()> {
    let pool = db::connect(&args.db).await?;
    let pruned = tether_ops::prune::prune(&pool, args.older_than, args.dry_run).await?;
    if args.json {
        println!("{}", serde_json::to_string(&pruned)?);
    } else {
        let verb = if args.dry_run {
            "would remove"
        } else {
            "removed"
        };
        println!(
            "{verb} {} event(s) and {} log row(s) from before {}",
            pruned.events,
            pruned.logs,
            pruned.cutoff.format("%Y-%m-%d %H:%M:%S UTC")
        );
    }
    Ok(())
}
