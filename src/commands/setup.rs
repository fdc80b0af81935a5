//! `tether setup`: find or create the Stripe webhook endpoint.

use std::time::Duration;

use clap::Args;
use tether_ops::setup::{Action, Audience, Options, Secret};
use tether_shared::{
    config::{DatabaseConfig, StripeApiConfig},
    db,
    duration::parse_duration,
};

#[derive(Args)]
pub struct Setup {
    /// The public URL Stripe delivers to (https://.../webhooks/stripe).
    #[arg(long = "url", id = "endpoint_url", value_name = "URL")]
    pub endpoint_url: String,

    /// The endpoint for connected accounts' events (Stripe Connect)
    /// instead of the platform's own; each has its own secret, and ingest
    /// accepts both.
    #[arg(long)]
    pub connect: bool,

    /// Say what would change, change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Replace the endpoint and its secret; the old ones keep working for
    /// `--overlap`, and the first `setup` after that retires them.
    #[arg(long)]
    pub rotate: bool,

    /// How long a rotated-out secret stays accepted (90s, 30m, 24h, 7d).
    #[arg(long, default_value = "24h", value_parser = parse_duration, value_name = "DURATION")]
    pub overlap: Duration,

    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub db: DatabaseConfig,

    #[command(flatten)]
    pub stripe: StripeApiConfig,
}

pub async fn run(args: Setup) -> anyhow::Result<()> {
    let api = super::stripe_api::client(&args.stripe)?;
    let pool = db::connect(&args.db).await?;
    let options = Options {
        audience: if args.connect {
            Audience::Connect
        } else {
            Audience::Platform
        },
        dry_run: args.dry_run,
        rotate: args.rotate.then_some(args.overlap),
    };
    let report = tether_ops::setup::setup(&pool, &api, &args.endpoint_url, options).await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let endpoint = report.endpoint.as_deref().unwrap_or("a new endpoint");
    let verb = match (report.action, report.dry_run) {
        (Action::Unchanged, _) => "is up to date",
        (Action::Created, false) => "created",
        (Action::Updated, false) => "updated",
        (Action::Rotated, false) => "replaces the old endpoint",
        (_, true) => "would change",
    };
    println!("{endpoint} {verb}");
    for change in &report.changes {
        println!("  {change}");
    }
    match report.secret {
        Secret::Stored => println!(
            "  its signing secret is stored; ingest reads it when STRIPE_WEBHOOK_SECRET is unset"
        ),
        Secret::Kept => {}
        Secret::Unknown if !report.dry_run => println!(
            "  Stripe shows an endpoint's secret only when it is created: set STRIPE_WEBHOOK_SECRET \
             from the Dashboard (Developers > Webhooks) for ingest"
        ),
        Secret::Unknown => {}
    }
    Ok(())
}
