//! `customer.discount.*` -> `discounts`: a coupon applied to a customer,
//! one of their subscriptions, or an invoice (Stripe sends these events for
//! all three). Linked to the customer and the coupon (placeholders when
//! they come later); a removed discount stays as a tombstone.

use std::collections::HashSet;

use sqlx::PgConnection;

use crate::{
    Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields,
    kinds::coupon::{self, Coupons},
    kinds::customer::{self, Customers},
    object_id,
    order::bind_versions,
    required,
    tombstone::Tombstones,
};

const TOMBSTONES: Tombstones = Tombstones {
    table: "discounts",
    id_column: "stripe_discount_id",
    marks_placeholder: false,
};

#[derive(Debug, Clone, PartialEq)]
pub struct DiscountChange {
    pub stripe_discount_id: String,
    pub stripe_customer_id: Option<String>,
    pub stripe_coupon_id: Option<String>,
    pub stripe_promotion_code_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub stripe_invoice_id: Option<String>,
    pub starts_at: Option<i64>,
    pub ends_at: Option<i64>,
    pub livemode: Option<bool>,
    pub deleted: bool,
    /// A deletion stub, see `SyncedKind::is_stub`.
    pub stub: bool,
}

/// `discounts`. Stripe has no list endpoint for discounts: a backfill
/// does not import them.
pub struct Discounts;

impl SyncedKind for Discounts {
    const OBJECT: &'static str = "discount";
    const ID_PREFIX: &'static str = "di_";
    const TABLE: &'static str = "discounts";
    const PARENTS: &'static [&'static str] = &[Customers::OBJECT, Coupons::OBJECT];
    const EVENTS: &'static [&'static str] = &[
        "customer.discount.created",
        "customer.discount.updated",
        "customer.discount.deleted",
    ];
    const REQUIRED: &'static [Required] = &[
        required("start", Shape::Integer),
        required("customer", Shape::Reference),
    ];
    type Change = DiscountChange;

    fn read(event_type: &str, object: &StripeObject) -> Result<DiscountChange, Refusal> {
        let deleted_flag = fields::boolean(object, "deleted") == Some(true);
        Ok(DiscountChange {
            stripe_discount_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            stripe_customer_id: customer::linked_customer(object),
            stripe_coupon_id: coupon::coupon_of(object, "source"),
            stripe_promotion_code_id: fields::reference(object, "promotion_code"),
            stripe_subscription_id: fields::reference(object, "subscription"),
            stripe_invoice_id: fields::reference(object, "invoice"),
            starts_at: fields::integer(object, "start"),
            ends_at: fields::integer(object, "end"),
            livemode: fields::boolean(object, "livemode"),
            deleted: event_type == "customer.discount.deleted" || deleted_flag,
            // Stripe's deleted discount keeps its fields; only a bare
            // `{id, object, deleted}` carries nothing to write.
            stub: deleted_flag && fields::integer(object, "start").is_none(),
        })
    }

    fn object_id(change: &DiscountChange) -> &str {
        &change.stripe_discount_id
    }

    fn references(change: &DiscountChange) -> Vec<(&'static str, &str)> {
        let mut references = customer::as_parent(&change.stripe_customer_id);
        references.extend(coupon::as_parent(&change.stripe_coupon_id));
        references
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a DiscountChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }

    fn is_terminal(change: &DiscountChange) -> bool {
        change.deleted
    }

    fn is_stub(change: &DiscountChange) -> bool {
        change.stub
    }

    fn write_terminal<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a DiscountChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        TOMBSTONES.write::<Self>(conn, changes)
    }
}

/// The newest change per discount, where newer than the row, linked to its
/// customer's and coupon's rows. The tombstone, once set, stays.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &DiscountChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO discounts AS d (stripe_discount_id, customer_id, stripe_customer_id, coupon_id,
                                 stripe_coupon_id, stripe_promotion_code_id, stripe_subscription_id,
                                 stripe_invoice_id, starts_at, ends_at, livemode, deleted_at,
                                 last_event_id, last_event_created, last_event_rank)
         SELECT t.id, c.id, t.customer, co.id, t.coupon, t.promotion_code, t.subscription, t.invoice,
                to_timestamp(t.starts_at), to_timestamp(t.ends_at),
                -- A discount object has no livemode field: its event's says.
                COALESCE(t.livemode, (SELECT e.livemode FROM received_events e WHERE e.id = t.event_id)),
                CASE WHEN t.deleted THEN to_timestamp(t.created) END,
                t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int8[],
                     $8::int8[], $9::bool[], $10::bool[], $11::text[], $12::int8[], $13::int2[])
              AS t(id, customer, coupon, promotion_code, subscription, invoice, starts_at, ends_at,
                   livemode, deleted, event_id, created, rank)
         LEFT JOIN end_customers c ON c.stripe_customer_id = t.customer
         LEFT JOIN coupons co ON co.stripe_coupon_id = t.coupon
         ON CONFLICT (stripe_discount_id) DO UPDATE SET
             customer_id = EXCLUDED.customer_id, stripe_customer_id = EXCLUDED.stripe_customer_id,
             coupon_id = EXCLUDED.coupon_id, stripe_coupon_id = EXCLUDED.stripe_coupon_id,
             stripe_promotion_code_id = EXCLUDED.stripe_promotion_code_id,
             stripe_subscription_id = EXCLUDED.stripe_subscription_id,
             stripe_invoice_id = EXCLUDED.stripe_invoice_id,
             starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at,
             livemode = COALESCE(EXCLUDED.livemode, d.livemode),
             deleted_at = COALESCE(d.deleted_at, EXCLUDED.deleted_at),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE d.last_event_id IS NULL OR ",
        crate::stored_is_older!("d"),
        "
         RETURNING stripe_discount_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_discount_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_customer_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_coupon_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_promotion_code_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_subscription_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_invoice_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.starts_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.ends_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.deleted).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}
