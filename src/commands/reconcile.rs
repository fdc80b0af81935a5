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
    pub accounts: super::stripe_api::AccountArgs,

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
    let mut reports = Vec::new();
    for api in args.accounts.chosen().clients(&api).await? {
        let report = tether_ops::reconcile::reconcile(&pool, &api, args.since).await?;
        if !args.json {
            print_line(&report);
        }
        reports.push(report);
    }
    if args.json {
        // One object for the platform alone, as before Connect; a list
        // when accounts were chosen.
        match reports.as_slice() {
            [report] if report.account.is_none() => {
                println!("{}", serde_json::to_string(report)?)
            }
            _ => println!("{}", serde_json::to_string(&reports)?),
        }
    }
    Ok(())
}

fn print_line(report: &tether_ops::reconcile::Reconciled) {
    println!(
        "{}{} events found, {} new (stored and queued), {} already stored{}",
        report
            .account
            .as_deref()
            .map(|a| format!("{a}: "))
            .unwrap_or_default(),
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
