//! Deliveries that passed their signature check but were not stored (the
//! database refused their content, or they were not a Stripe event), and
//! redeliveries whose body differed from the stored event; ingest keeps
//! them in `rejected_deliveries`. Newest first, for `tether rejected` and
//! the console.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::OpsError;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RejectedDelivery {
    pub received_at: DateTime<Utc>,
    pub event_id: Option<String>,
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    pub reason: String,
    pub body_bytes: i32,
    /// The start of the body, as kept.
    pub body_excerpt: Option<String>,
}

type Row = (
    DateTime<Utc>,
    Option<String>,
    Option<String>,
    String,
    i32,
    Option<String>,
);

/// The newest `limit` rejected deliveries (by `received_at`, indexed).
pub async fn list(pool: &PgPool, limit: i64) -> Result<Vec<RejectedDelivery>, OpsError> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT received_at, event_id, event_type, reason, body_bytes, body_excerpt
         FROM rejected_deliveries ORDER BY received_at DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(received_at, event_id, event_type, reason, body_bytes, body_excerpt)| {
                RejectedDelivery {
                    received_at,
                    event_id,
                    event_type,
                    reason,
                    body_bytes,
                    body_excerpt,
                }
            },
        )
        .collect())
}
