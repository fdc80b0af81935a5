//! `tether setup`: find or create the Stripe webhook endpoint.

use clap::Args;
use tether_ops::setup::{Action, Secret};
use tether_shared::{
    config::{DatabaseConfig, StripeApiConfig},
    db,
};

#[derive(Args)]
pub struct Setup {
    /// The public URL Stripe delivers to (https://.../webhooks/stripe).
    #[arg(long = "url", id = "endpoint_url", value_name = "URL")]
    pub endpoint_url: String,

    /// Say what would change, change nothing.
    #[arg(long)]
    pub dry_run: bool,

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
    let report = tether_ops::setup::setup(&pool, &api, &args.endpoint_url, args.dry_run).await?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    let endpoint = report.endpoint.as_deref().unwrap_or("a new endpoint");
    let verb = match (report.action, report.dry_run) {
        (Action::Unchanged, _) => "is up to date",
        (Action::Created, false) => "created",
        (Action::Updated, false) => "updated",
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
