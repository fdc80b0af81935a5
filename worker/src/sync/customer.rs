//! `customer.*` -> `end_customers`.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use super::{Version, fields, object_id, order::bind_versions};

#[derive(Debug, Clone, PartialEq)]
pub struct CustomerChange {
    pub stripe_customer_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub metadata: Value,
    pub deleted: bool,
}

pub fn handles(event_type: &str) -> bool {
    matches!(
        event_type,
        "customer.created" | "customer.updated" | "customer.deleted"
    )
}

pub fn read(event_type: &str, object: &Value) -> Result<CustomerChange, String> {
    Ok(CustomerChange {
        stripe_customer_id: object_id(object, "customer", "cus_")?,
        email: fields::string(object, "email"),
        name: fields::string(object, "name"),
        phone: fields::string(object, "phone"),
        metadata: fields::metadata(object),
        deleted: event_type == "customer.deleted"
            || fields::boolean(object, "deleted") == Some(true),
    })
}

/// Writes the newest change per customer, where it is newer than the row.
/// A deletion leaves a tombstone (`deleted_at`) that no later write clears.
/// Returns the customers written.
pub async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &CustomerChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    if changes.is_empty() {
        return Ok(HashSet::new());
    }
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(
        concat!(
            "INSERT INTO end_customers AS c (stripe_customer_id, email, name, phone, metadata, deleted_at,
                                         is_placeholder, last_event_id, last_event_created, last_event_rank)
         SELECT t.cid, t.email, t.name, t.phone, t.metadata,
                CASE WHEN t.deleted THEN to_timestamp(t.created) END,
                false, t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::bool[],
                     $7::text[], $8::int8[], $9::int2[])
              AS t(cid, email, name, phone, metadata, deleted, event_id, created, rank)
         ON CONFLICT (stripe_customer_id) DO UPDATE SET
             email = EXCLUDED.email, name = EXCLUDED.name, phone = EXCLUDED.phone,
             metadata = EXCLUDED.metadata,
             deleted_at = COALESCE(c.deleted_at, EXCLUDED.deleted_at),
             is_placeholder = false,
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE c.last_event_id IS NULL OR ",
            crate::stored_is_older!("c"),
            "
         RETURNING stripe_customer_id",
        ),
    )
    .bind(changes.iter().map(|(_, c)| c.stripe_customer_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.email.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.name.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.phone.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| &c.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.deleted).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}

/// Rows for customers referenced before their own events arrived, so a
/// payment or subscription is never dropped for coming early. The
/// customer's events fill them in later (a placeholder has no version, so
/// any real event is newer).
pub async fn ensure_placeholders(
    conn: &mut PgConnection,
    customer_ids: &[&str],
) -> Result<(), sqlx::Error> {
    if customer_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO end_customers (stripe_customer_id, is_placeholder)
         SELECT DISTINCT cid, true FROM unnest($1::text[]) AS cid
         ON CONFLICT (stripe_customer_id) DO NOTHING",
    )
    .bind(customer_ids)
    .execute(conn)
    .await?;
    Ok(())
}
