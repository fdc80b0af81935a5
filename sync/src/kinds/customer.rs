//! `customer.*` -> `end_customers`.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    BenchMarker, BenchTokens, ListEndpoint, Refusal, Required, StripeObject, SyncedKind, Version,
    fields, object_id, order::bind_versions, tombstone::Tombstones,
};

const TOMBSTONES: Tombstones = Tombstones {
    table: "end_customers",
    id_column: "stripe_customer_id",
    marks_placeholder: true,
};

#[derive(Debug, Clone, PartialEq)]
pub struct CustomerChange {
    pub stripe_customer_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    /// `invoice_settings.default_payment_method`: the card invoices and
    /// subscriptions charge.
    pub default_payment_method: Option<String>,
    pub metadata: Value,
    pub deleted: bool,
    /// A deletion stub, see `SyncedKind::is_stub`.
    pub stub: bool,
    pub livemode: Option<bool>,
}

/// `end_customers`: the kind every other kind's customer links to.
pub struct Customers;

impl SyncedKind for Customers {
    const OBJECT: &'static str = "customer";
    const ID_PREFIX: &'static str = "cus_";
    const TABLE: &'static str = "end_customers";
    const BENCH: Option<BenchMarker> = Some(BenchMarker {
        plant: plant_bench_marker,
        read_rows: "SELECT stripe_customer_id, last_event_id, substring(name FROM 7)::int8, deleted_at IS NOT NULL
                    FROM end_customers WHERE stripe_customer_id = ANY($1)",
        tombstones: true,
    });
    const EVENTS: &'static [&'static str] =
        &["customer.created", "customer.updated", "customer.deleted"];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "customers",
        path: "/customers",
        params: &[],
    });
    // A customer row needs no field but its id: a sign-up's customer
    // may have no email or name yet.
    const REQUIRED: &'static [Required] = &[];
    type Change = CustomerChange;

    fn read(event_type: &str, object: &StripeObject) -> Result<CustomerChange, Refusal> {
        read(event_type, object)
    }

    fn object_id(change: &CustomerChange) -> &str {
        &change.stripe_customer_id
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a CustomerChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }

    fn ensure_placeholders<'a>(
        conn: &'a mut PgConnection,
        ids: &'a [&'a str],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a {
        ensure_placeholders(conn, ids)
    }

    fn is_terminal(change: &CustomerChange) -> bool {
        change.deleted
    }

    fn is_stub(change: &CustomerChange) -> bool {
        change.stub
    }

    fn write_terminal<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a CustomerChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        TOMBSTONES.write::<Self>(conn, changes)
    }
}

/// The bench's marker is the customer's name, `bench <marker>`.
fn plant_bench_marker(object: &mut Value, tokens: &BenchTokens<'_>) {
    object["name"] = format!("bench {}", tokens.marker).into();
    object["email"] = format!("{}@example.com", tokens.object_id).into();
}

fn read(event_type: &str, object: &StripeObject) -> Result<CustomerChange, Refusal> {
    Ok(CustomerChange {
        stripe_customer_id: object_id(object, Customers::OBJECT, Customers::ID_PREFIX)?,
        email: fields::string(object, "email"),
        name: fields::string(object, "name"),
        phone: fields::string(object, "phone"),
        default_payment_method: fields::field_value(object, "invoice_settings")
            .and_then(|settings| fields::reference(&settings, "default_payment_method")),
        metadata: fields::metadata(object),
        livemode: fields::boolean(object, "livemode"),
        deleted: event_type == "customer.deleted"
            || fields::boolean(object, "deleted") == Some(true),
        stub: fields::boolean(object, "deleted") == Some(true),
    })
}

/// Writes the newest change per customer, where it is newer than the row.
/// A deletion leaves a tombstone (`deleted_at`) that no later write clears.
/// Returns the customers written.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &CustomerChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(
        concat!(
            "INSERT INTO end_customers AS c (stripe_customer_id, email, name, phone, metadata, deleted_at,
                                         is_placeholder, livemode, default_payment_method, last_event_id,
                                         last_event_created, last_event_rank)
         SELECT t.cid, t.email, t.name, t.phone, t.metadata,
                CASE WHEN t.deleted THEN to_timestamp(t.created) END,
                false, t.livemode, t.default_payment_method, t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::bool[], $7::bool[],
                     $8::text[], $9::text[], $10::int8[], $11::int2[])
              AS t(cid, email, name, phone, metadata, deleted, livemode, default_payment_method, event_id,
                   created, rank)
         ON CONFLICT (stripe_customer_id) DO UPDATE SET
             -- A deletion may carry only a stub ({id, object, deleted}):
             -- the tombstone keeps the last known details.
             email = CASE WHEN EXCLUDED.deleted_at IS NULL THEN EXCLUDED.email
                          ELSE COALESCE(EXCLUDED.email, c.email) END,
             name = CASE WHEN EXCLUDED.deleted_at IS NULL THEN EXCLUDED.name
                         ELSE COALESCE(EXCLUDED.name, c.name) END,
             phone = CASE WHEN EXCLUDED.deleted_at IS NULL THEN EXCLUDED.phone
                          ELSE COALESCE(EXCLUDED.phone, c.phone) END,
             default_payment_method = CASE WHEN EXCLUDED.deleted_at IS NULL THEN EXCLUDED.default_payment_method
                          ELSE COALESCE(EXCLUDED.default_payment_method, c.default_payment_method) END,
             metadata = CASE WHEN EXCLUDED.deleted_at IS NULL OR EXCLUDED.metadata <> '{}'::jsonb
                             THEN EXCLUDED.metadata ELSE c.metadata END,
             deleted_at = COALESCE(c.deleted_at, EXCLUDED.deleted_at),
             is_placeholder = false,
             livemode = COALESCE(EXCLUDED.livemode, c.livemode),
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
    .bind(changes.iter().map(|(_, c)| c.deleted).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.default_payment_method.as_deref()).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}

/// A child's link to its customer, as a reference for the registry.
pub(crate) fn as_parent(customer_id: &Option<String>) -> Vec<(&'static str, &str)> {
    customer_id
        .iter()
        .map(|id| (Customers::OBJECT, id.as_str()))
        .collect()
}

/// The customer an object links to, from its `customer` field. A value
/// that is not a customer id links nothing: linking it would make a
/// placeholder customer out of, say, a PaymentIntent id.
pub(crate) fn linked_customer(object: &StripeObject) -> Option<String> {
    let id = fields::reference(object, "customer")?;
    if id.starts_with(Customers::ID_PREFIX) {
        return Some(id);
    }
    tracing::warn!(customer = %id, "the customer field is not a customer id; not linked");
    None
}

/// Rows for customers referenced before their own events arrived, so a
/// payment or subscription is never dropped for coming early. The
/// customer's events fill them in later (a placeholder has no version, so
/// any real event is newer).
async fn ensure_placeholders(
    conn: &mut PgConnection,
    customer_ids: &[&str],
) -> Result<(), sqlx::Error> {
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
