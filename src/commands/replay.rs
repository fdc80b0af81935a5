//! `tether replay`: apply already-processed events again (after an upgrade
//! or a fix). Rows never move backwards: the version guard still decides.

use std::time::Duration;

use clap::Args;
use tether_ops::replay::{self, Selection};
use tether_shared::{bounds::parse_id, config::DatabaseConfig, db, duration::parse_duration};

#[derive(Args)]
pub struct Replay {
    #[command(flatten)]
    pub db: DatabaseConfig,

    /// The event type to replay, e.g. invoice.paid.
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_id)]
    pub event_type: String,

    /// Only events received within this long (90s, 30m, 24h, 7d).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub since: Option<Duration>,

    /// Only events about this Stripe object (cus_..., sub_...).
    #[arg(long = "object", value_name = "ID", value_parser = parse_id)]
    pub object_id: Option<String>,

    /// Only events of this connected account (acct_...).
    #[arg(long, value_parser = tether_shared::bounds::parse_account)]
    pub account: Option<String>,

    /// Say how many, change nothing.
    #[arg(long)]
    pub dry_run: bool,

    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Replay) -> anyhow::Result<()> {
    let pool = db::connect(&args.db).await?;
    let selection = Selection {
        event_type: args.event_type.clone(),
        since: args.since,
        object_id: args.object_id,
        account: args.account,
    };
    let replayed = replay::replay(&pool, &selection, args.dry_run).await?;
    if args.json {
        println!("{}", serde_json::to_string(&replayed)?);
    } else if args.dry_run {
        println!(
            "would replay {} {} event(s); nothing changed (--dry-run)",
            replayed.events, args.event_type
        );
    } else {
        println!(
            "replayed {} {} event(s); the workers apply them",
            replayed.events, args.event_type
        );
    }
    Ok(())
}
