//! `customer.tax_id.*` -> `tax_ids`: a customer's tax ids (an EU VAT
//! number) and Stripe's verification of each, linked to the customer (a
//! placeholder when the tax id comes first). A deleted one stays as a
//! tombstone.

use std::collections::HashSet;

use sqlx::PgConnection;

use crate::{
    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields,
    kinds::customer::{self, Customers},
    object_id,
    order::bind_versions,
    required,
    tombstone::Tombstones,
};

const TOMBSTONES: Tombstones = Tombstones {
    table: "tax_ids",
    id_column: "stripe_tax_id",
    marks_placeholder: false,
};

#[derive(Debug, Clone, PartialEq)]
pub struct TaxIdChange {
    pub stripe_tax_id: String,
    pub stripe_customer_id: Option<String>,
    pub tax_type: Option<String>,
    pub value: Option<String>,
    pub country: Option<String>,
    pub verification_status: Option<String>,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
    pub deleted: bool,
    /// A deletion stub, see `SyncedKind::is_stub`.
    pub stub: bool,
}

pub struct TaxIds;

impl SyncedKind for TaxIds {
    const OBJECT: &'static str = "tax_id";
    const ID_PREFIX: &'static str = "txi_";
    const TABLE: &'static str = "tax_ids";
    const PARENTS: &'static [&'static str] = &[Customers::OBJECT];
    const EVENTS: &'static [&'static str] = &[
        "customer.tax_id.created",
        "customer.tax_id.updated",
        "customer.tax_id.deleted",
    ];
    /// `GET /v1/tax_ids` lists the account's own tax ids only; a
    /// customer's are listed per customer, so backfill reads each synced
    /// customer's (`ListEndpoint::PARENTS`).
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "tax-ids",
        path: "/customers/{customer}/tax_ids",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("type", Shape::Text),
        required("value", Shape::Text),
    ];
    type Change = TaxIdChange;

    fn read(event_type: &str, object: &StripeObject) -> Result<TaxIdChange, Refusal> {
        let deleted_flag = fields::boolean(object, "deleted") == Some(true);
        Ok(TaxIdChange {
            stripe_tax_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            stripe_customer_id: tax_id_customer(object),
            tax_type: fields::string(object, "type"),
            value: fields::string(object, "value"),
            country: fields::string(object, "country"),
            verification_status: fields::field_value(object, "verification")
                .and_then(|v| fields::string(&v, "status")),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
            deleted: event_type == "customer.tax_id.deleted" || deleted_flag,
            stub: deleted_flag,
        })
    }

    fn object_id(change: &TaxIdChange) -> &str {
        &change.stripe_tax_id
    }

    fn references(change: &TaxIdChange) -> Vec<(&'static str, &str)> {
        customer::as_parent(&change.stripe_customer_id)
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a TaxIdChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }

    fn is_terminal(change: &TaxIdChange) -> bool {
        change.deleted
    }

    fn is_stub(change: &TaxIdChange) -> bool {
        change.stub
    }

    fn write_terminal<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a TaxIdChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        TOMBSTONES.write::<Self>(conn, changes)
    }
}

/// The tax id's customer: the top-level `customer`, or, from API version
/// 2024-04-10, `owner.customer` when the top-level one is gone.
fn tax_id_customer(object: &StripeObject) -> Option<String> {
    customer::linked_customer(object).or_else(|| {
        fields::field_value(object, "owner")
            .and_then(|owner| fields::reference(&owner, "customer"))
            .filter(|id| id.starts_with(Customers::ID_PREFIX))
    })
}

/// The newest change per tax id, where newer than the row, linked to its
/// customer's row. The tombstone, once set, stays.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &TaxIdChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO tax_ids AS x (stripe_tax_id, customer_id, stripe_customer_id, type, value, country,
                               verification_status, livemode, stripe_created, deleted_at,
                               last_event_id, last_event_created, last_event_rank)
         SELECT t.id, c.id, t.customer, t.type, t.value, t.country, t.verification_status, t.livemode,
                to_timestamp(t.stripe_created), CASE WHEN t.deleted THEN to_timestamp(t.created) END,
                t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[],
                     $8::int8[], $9::bool[], $10::text[], $11::int8[], $12::int2[])
              AS t(id, customer, type, value, country, verification_status, livemode, stripe_created,
                   deleted, event_id, created, rank)
         LEFT JOIN end_customers c ON c.stripe_customer_id = t.customer
         ON CONFLICT (stripe_tax_id) DO UPDATE SET
             customer_id = EXCLUDED.customer_id, stripe_customer_id = EXCLUDED.stripe_customer_id,
             type = EXCLUDED.type, value = EXCLUDED.value, country = EXCLUDED.country,
             verification_status = EXCLUDED.verification_status,
             livemode = COALESCE(EXCLUDED.livemode, x.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, x.stripe_created),
             deleted_at = COALESCE(x.deleted_at, EXCLUDED.deleted_at),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE x.last_event_id IS NULL OR ",
        crate::stored_is_older!("x"),
        "
         RETURNING stripe_tax_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_tax_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_customer_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.tax_type.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.value.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.country.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.verification_status.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.deleted).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}
