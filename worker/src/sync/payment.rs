//! `payment_intent.*` -> `payments`.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use super::{Version, fields, object_id, order::bind_versions};

#[derive(Debug, Clone, PartialEq)]
pub struct PaymentChange {
    pub stripe_payment_intent_id: String,
    pub stripe_customer_id: Option<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub status: Option<String>,
    pub description: Option<String>,
    pub metadata: Value,
}

pub fn handles(event_type: &str) -> bool {
    matches!(
        event_type,
        "payment_intent.created"
            | "payment_intent.succeeded"
            | "payment_intent.payment_failed"
            | "payment_intent.canceled"
            | "payment_intent.processing"
            | "payment_intent.requires_action"
    )
}

pub fn read(object: &Value) -> Result<PaymentChange, String> {
    Ok(PaymentChange {
        stripe_payment_intent_id: object_id(object, "payment_intent", "pi_")?,
        stripe_customer_id: fields::reference(object, "customer"),
        amount: fields::integer(object, "amount"),
        currency: fields::string(object, "currency"),
        status: fields::string(object, "status"),
        description: fields::string(object, "description"),
        metadata: fields::metadata(object),
    })
}

/// Writes the newest change per payment intent where it is newer than the
/// row, linked to its customer's row (placeholders must exist already).
pub async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &PaymentChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    if changes.is_empty() {
        return Ok(HashSet::new());
    }
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(
        concat!(
            "INSERT INTO payments AS p (customer_id, stripe_payment_intent_id, amount, currency, status,
                                    description, metadata, last_event_id, last_event_created, last_event_rank)
         SELECT c.id, t.pi, t.amount, t.currency, t.status, t.description, t.metadata,
                t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::jsonb[],
                     $8::text[], $9::int8[], $10::int2[])
              AS t(pi, cid, amount, currency, status, description, metadata, event_id, created, rank)
         LEFT JOIN end_customers c ON c.stripe_customer_id = t.cid
         ON CONFLICT (stripe_payment_intent_id) DO UPDATE SET
             customer_id = EXCLUDED.customer_id, amount = EXCLUDED.amount, currency = EXCLUDED.currency,
             status = EXCLUDED.status, description = EXCLUDED.description, metadata = EXCLUDED.metadata,
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
            crate::stored_is_older!("p"),
            "
         RETURNING stripe_payment_intent_id",
        ),
    )
    .bind(changes.iter().map(|(_, p)| p.stripe_payment_intent_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| p.stripe_customer_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| p.amount).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| p.currency.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| p.status.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| p.description.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| &p.metadata).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}
