//! `tether reconcile`: recover events Stripe gave up delivering.

use std::time::Duration;

use clap::Args;
use tether_shared::{
    config::{DatabaseConfig, StripeApiConfig},
    db,
    duration::parse_duration,
};

#[derive(Args)]
pub struct Reconcile {
    /// How far back to look (at most 30d, Stripe's event retention).
    #[arg(long, default_value = "72h", value_parser = parse_look_back, value_name = "DURATION")]
    pub since: Duration,

    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub db: DatabaseConfig,

    #[command(flatten)]
    pub stripe: StripeApiConfig,
}

/// A look-back Stripe can answer: a usage error (exit 2) past 30 days.
pub(super) fn parse_look_back(raw: &str) -> anyhow::Result<Duration> {
    let since = parse_duration(raw)?;
    anyhow::ensure!(
        since <= tether_ops::reconcile::LONGEST,
        "`{}` reaches back past 30d, Stripe's event retention",
        raw.trim()
    );
    Ok(since)
}

pub async fn run(args: Reconcile) -> anyhow::Result<()> {
    let api = super::stripe_api::client(&args.stripe)?;
    let pool = db::connect(&args.db).await?;
    let report = tether_ops::reconcile::reconcile(&pool, &api, args.since).await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} events found, {} new (stored and queued), {} already stored{}",
            report.found,
            report.new,
            report.already_stored,
            if report.refused > 0 {
                format!(", {} skipped", report.refused)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}
