//! `plan.*` -> `prices`. A plan is Stripe's older name for a recurring
//! price, with the same id; accounts that still create plans get their
//! events as prices. A plan may have any id (`gold-monthly`), so no prefix
//! is required.

use std::collections::HashSet;

use sqlx::PgConnection;

use crate::{
    Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields,
    kinds::price::{self, PriceChange},
    kinds::product::Products,
    object_id, required,
};

pub struct Plans;

impl SyncedKind for Plans {
    const OBJECT: &'static str = "plan";
    const ID_PREFIX: &'static str = "";
    const TABLE: &'static str = "prices";
    const PARENTS: &'static [&'static str] = &[Products::OBJECT];
    const EVENTS: &'static [&'static str] = &["plan.created", "plan.updated", "plan.deleted"];
    const REQUIRED: &'static [Required] = &[
        required("currency", Shape::Text),
        required("product", Shape::Reference),
        required("amount", Shape::Integer),
        required("interval", Shape::Text),
    ];
    type Change = PriceChange;

    fn read(event_type: &str, object: &StripeObject) -> Result<PriceChange, Refusal> {
        let deleted_stub = fields::boolean(object, "deleted") == Some(true);
        Ok(PriceChange {
            stripe_price_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            stripe_product_id: fields::reference(object, "product")
                .filter(|id| id.starts_with(Products::ID_PREFIX)),
            active: fields::boolean(object, "active"),
            currency: fields::string(object, "currency"),
            unit_amount: fields::integer(object, "amount"),
            // Every plan is a recurring price; a stub says nothing.
            price_type: (!deleted_stub).then(|| "recurring".to_owned()),
            recurring_interval: fields::string(object, "interval"),
            recurring_interval_count: fields::integer(object, "interval_count")
                .and_then(|n| i32::try_from(n).ok()),
            nickname: fields::string(object, "nickname"),
            lookup_key: None,
            metadata: fields::metadata(object),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
            deleted: event_type == "plan.deleted" || deleted_stub,
            stub: deleted_stub,
            from_plan: true,
        })
    }

    fn object_id(change: &PriceChange) -> &str {
        &change.stripe_price_id
    }

    fn references(change: &PriceChange) -> Vec<(&'static str, &str)> {
        change
            .stripe_product_id
            .iter()
            .map(|id| (Products::OBJECT, id.as_str()))
            .collect()
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a PriceChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        price::upsert(conn, changes)
    }

    fn is_terminal(change: &PriceChange) -> bool {
        change.deleted
    }

    fn is_stub(change: &PriceChange) -> bool {
        change.stub
    }

    fn write_terminal<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a PriceChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        price::TOMBSTONES.write::<Self>(conn, changes)
    }
}
