//! `invoiceitem.*` -> `invoice_items`: a charge or credit waiting for (or
//! on) an invoice, linked to its customer. A deleted item stays as a
//! tombstone, whatever order its events arrive in.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields,
    kinds::customer::{self, Customers},
    kinds::invoice,
    object_id,
    order::bind_versions,
    required,
    tombstone::Tombstones,
};

const TOMBSTONES: Tombstones = Tombstones {
    table: "invoice_items",
    id_column: "stripe_invoice_item_id",
    marks_placeholder: false,
};

#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceItemChange {
    pub stripe_invoice_item_id: String,
    pub stripe_customer_id: Option<String>,
    pub stripe_invoice_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub stripe_price_id: Option<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub quantity: Option<i64>,
    pub description: Option<String>,
    pub proration: Option<bool>,
    pub period_start: Option<i64>,
    pub period_end: Option<i64>,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
    pub deleted: bool,
    /// A deletion stub, see `SyncedKind::is_stub`.
    pub stub: bool,
}

/// `invoice_items`, one row per invoice item.
pub struct InvoiceItems;

impl SyncedKind for InvoiceItems {
    const OBJECT: &'static str = "invoiceitem";
    const ID_PREFIX: &'static str = "ii_";
    const TABLE: &'static str = "invoice_items";
    const PARENTS: &'static [&'static str] = &[Customers::OBJECT];
    const EVENTS: &'static [&'static str] = &["invoiceitem.created", "invoiceitem.deleted"];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "invoice-items",
        path: "/invoiceitems",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("amount", Shape::Integer),
        required("currency", Shape::Text),
        required("customer", Shape::Reference),
    ];
    type Change = InvoiceItemChange;

    fn read(event_type: &str, object: &StripeObject) -> Result<InvoiceItemChange, Refusal> {
        let period = fields::field_value(object, "period");
        let period = |key: &str| period.as_ref().and_then(|p| fields::integer(p, key));
        Ok(InvoiceItemChange {
            stripe_invoice_item_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            stripe_customer_id: customer::linked_customer(object),
            stripe_invoice_id: fields::reference(object, "invoice"),
            stripe_subscription_id: invoice::subscription_of(object),
            stripe_price_id: price_of(object),
            amount: fields::integer(object, "amount"),
            currency: fields::string(object, "currency"),
            quantity: fields::integer(object, "quantity"),
            description: fields::string(object, "description"),
            proration: fields::boolean(object, "proration"),
            period_start: period("start"),
            period_end: period("end"),
            metadata: fields::metadata(object),
            livemode: fields::boolean(object, "livemode"),
            // An invoice item's creation time is its `date`.
            stripe_created: fields::integer(object, "date"),
            deleted: event_type == "invoiceitem.deleted"
                || fields::boolean(object, "deleted") == Some(true),
            stub: fields::boolean(object, "deleted") == Some(true),
        })
    }

    fn object_id(change: &InvoiceItemChange) -> &str {
        &change.stripe_invoice_item_id
    }

    fn references(change: &InvoiceItemChange) -> Vec<(&'static str, &str)> {
        customer::as_parent(&change.stripe_customer_id)
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a InvoiceItemChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }

    fn is_terminal(change: &InvoiceItemChange) -> bool {
        change.deleted
    }

    fn is_stub(change: &InvoiceItemChange) -> bool {
        change.stub
    }

    fn write_terminal<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a InvoiceItemChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        TOMBSTONES.write::<Self>(conn, changes)
    }
}

/// Up to 2025-02-24.acacia the item carries its `price`; from
/// 2025-03-31.basil it is under `pricing.price_details.price`.
fn price_of(object: &StripeObject) -> Option<String> {
    fields::field_value(object, "pricing")
        .and_then(|p| p.get("price_details").cloned())
        .and_then(|d| fields::reference(&d, "price"))
        .or_else(|| fields::reference(object, "price"))
}

/// The newest change per item, where newer than the row. A deletion sets
/// the tombstone, which stays.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &InvoiceItemChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO invoice_items AS i (stripe_invoice_item_id, customer_id, stripe_customer_id,
                                     stripe_invoice_id, stripe_subscription_id, stripe_price_id, amount,
                                     currency, quantity, description, proration, period_start, period_end,
                                     metadata, livemode, stripe_created, deleted_at, last_event_id,
                                     last_event_created, last_event_rank)
         SELECT t.id, c.id, t.customer, t.invoice, t.subscription, t.price, t.amount, t.currency, t.quantity,
                t.description, t.proration, to_timestamp(t.period_start), to_timestamp(t.period_end),
                t.metadata, t.livemode, to_timestamp(t.stripe_created),
                CASE WHEN t.deleted THEN to_timestamp(t.created) END, t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::text[],
                     $8::int8[], $9::text[], $10::bool[], $11::int8[], $12::int8[], $13::jsonb[],
                     $14::bool[], $15::int8[], $16::bool[], $17::text[], $18::int8[], $19::int2[])
              AS t(id, customer, invoice, subscription, price, amount, currency, quantity, description,
                   proration, period_start, period_end, metadata, livemode, stripe_created, deleted,
                   event_id, created, rank)
         LEFT JOIN end_customers c ON c.stripe_customer_id = t.customer
         ON CONFLICT (stripe_invoice_item_id) DO UPDATE SET
             customer_id = EXCLUDED.customer_id, stripe_customer_id = EXCLUDED.stripe_customer_id,
             stripe_invoice_id = EXCLUDED.stripe_invoice_id,
             stripe_subscription_id = EXCLUDED.stripe_subscription_id,
             stripe_price_id = EXCLUDED.stripe_price_id, amount = EXCLUDED.amount,
             currency = EXCLUDED.currency, quantity = EXCLUDED.quantity,
             description = EXCLUDED.description, proration = EXCLUDED.proration,
             period_start = EXCLUDED.period_start, period_end = EXCLUDED.period_end,
             metadata = EXCLUDED.metadata,
             livemode = COALESCE(EXCLUDED.livemode, i.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, i.stripe_created),
             deleted_at = COALESCE(i.deleted_at, EXCLUDED.deleted_at),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE i.last_event_id IS NULL OR ",
        crate::stored_is_older!("i"),
        "
         RETURNING stripe_invoice_item_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_invoice_item_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_customer_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_invoice_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_subscription_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_price_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.amount).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.currency.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.quantity).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.description.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.proration).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.period_start).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.period_end).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| &c.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.deleted).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}
