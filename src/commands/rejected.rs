//! `tether rejected`: deliveries that passed their signature check but were
//! not stored (the database refused their content, or they were not a
//! Stripe event), and redeliveries whose body differed from the stored
//! event. Newest first.

use clap::Args;
use tether_ops::rejected;
use tether_shared::{bounds::MAX_LIMIT, config::DatabaseConfig, db};

#[derive(Args)]
pub struct Rejected {
    #[command(flatten)]
    pub db: DatabaseConfig,

    /// How many to show (1 to 10000).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=MAX_LIMIT as i64))]
    pub limit: i64,

    /// One JSON array, with the start of each body.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Rejected) -> anyhow::Result<()> {
    let pool = db::connect(&args.db).await?;
    let rows = rejected::list(&pool, args.limit).await?;
    if args.json {
        let out: Vec<serde_json::Value> = rows
            .into_iter()
            .map(|r| {
                serde_json::json!({
                    "received_at": r.received_at.to_rfc3339(), "event_id": r.event_id,
                    "type": r.event_type, "reason": r.reason, "body_bytes": r.body_bytes,
                    "body_excerpt": r.body_excerpt,
                })
            })
            .collect();
        println!("{}", serde_json::Value::from(out));
        return Ok(());
    }
    if rows.is_empty() {
        println!("no rejected deliveries");
    }
    for r in rows {
        println!(
            "{}  {:<32}  {:<36}  {:>8} B  {}",
            r.received_at.format("%Y-%m-%d %H:%M:%S"),
            r.event_id.as_deref().unwrap_or("-"),
            r.event_type.as_deref().unwrap_or("-"),
            r.body_bytes,
            r.reason
        );
    }
    Ok(())
}
