//! `tether rejected`: deliveries that passed their signature check but were
//! not stored (the database refused their content, or they were not a
//! Stripe event), and redeliveries whose body differed from the stored
//! event. Newest first.

use chrono::{DateTime, Utc};
use clap::Args;
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

type Row = (
    DateTime<Utc>,
    Option<String>,
    Option<String>,
    String,
    i32,
    Option<String>,
);

pub async fn run(args: Rejected) -> anyhow::Result<()> {
    let pool = db::connect(&args.db).await?;
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT received_at, event_id, event_type, reason, body_bytes, body_excerpt
         FROM rejected_deliveries ORDER BY received_at DESC LIMIT $1",
    )
    .bind(args.limit)
    .fetch_all(&pool)
    .await?;
    if args.json {
        let out: Vec<serde_json::Value> = rows
            .into_iter()
            .map(|(at, id, event_type, reason, bytes, excerpt)| {
                serde_json::json!({
                    "received_at": at.to_rfc3339(), "event_id": id, "type": event_type,
                    "reason": reason, "body_bytes": bytes, "body_excerpt": excerpt,
                })
            })
            .collect();
        println!("{}", serde_json::Value::from(out));
        return Ok(());
    }
    if rows.is_empty() {
        println!("no rejected deliveries");
    }
    for (at, id, event_type, reason, bytes, _) in rows {
        println!(
            "{}  {:<32}  {:<36}  {:>8} B  {reason}",
            at.format("%Y-%m-%d %H:%M:%S"),
            id.as_deref().unwrap_or("-"),
            event_type.as_deref().unwrap_or("-"),
            bytes
        );
    }
    Ok(())
}
