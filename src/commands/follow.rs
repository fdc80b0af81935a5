//! `tether follow`: sync from Stripe's event log, with no public URL.

use std::time::Duration;

use clap::Args;
use tether_shared::{
    config::{DatabaseConfig, StripeApiConfig},
    db,
    duration::parse_duration,
    shutdown,
};

#[derive(Args)]
pub struct Follow {
    /// How often to read the event log (at least 1s).
    #[arg(long, default_value = "5s", value_parser = parse_every, value_name = "DURATION")]
    pub every: Duration,

    /// On the very first poll (no cursor saved yet), how far back to start
    /// (at most 30d, Stripe's event retention).
    #[arg(long, default_value = "1h", value_parser = super::reconcile::parse_look_back,
          value_name = "DURATION")]
    pub since: Duration,

    /// Poll once and exit.
    #[arg(long)]
    pub once: bool,

    /// One JSON object per poll.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub db: DatabaseConfig,

    #[command(flatten)]
    pub stripe: StripeApiConfig,
}

/// A poll interval that cannot spin: a usage error (exit 2) under a second.
fn parse_every(raw: &str) -> anyhow::Result<Duration> {
    let every = parse_duration(raw)?;
    anyhow::ensure!(
        every >= Duration::from_secs(1),
        "`{}` is shorter than 1s",
        raw.trim()
    );
    Ok(every)
}

pub async fn run(args: Follow) -> anyhow::Result<()> {
    let api = super::stripe_api::client(&args.stripe)?;
    let pool = db::connect(&args.db).await?;
    let print = |polled: &tether_ops::follow::Polled| {
        if args.json {
            println!("{}", serde_json::to_string(polled).unwrap_or_default());
        } else if polled.events.new > 0 || args.once {
            println!(
                "{} events found, {} new (stored and queued), {} already stored",
                polled.events.found, polled.events.new, polled.events.already_stored
            );
        }
    };
    if args.once {
        print(&tether_ops::follow::poll(&pool, &api, args.since).await?);
        return Ok(());
    }
    let token = shutdown::on_signal();
    tether_ops::follow::follow(&pool, &api, args.every, args.since, &token, print).await?;
    Ok(())
}
