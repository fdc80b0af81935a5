//! `price.*` -> `prices`, each linked to its product (a placeholder
//! product when the price arrives first). A deleted price stays as a
//! tombstone.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields,
    kinds::product::Products, object_id, order::bind_versions, required, tombstone::Tombstones,
};

pub(crate) const TOMBSTONES: Tombstones = Tombstones {
    table: "prices",
    id_column: "stripe_price_id",
    marks_placeholder: false,
};

#[derive(Debug, Clone, PartialEq)]
pub struct PriceChange {
    pub stripe_price_id: String,
    pub stripe_product_id: Option<String>,
    pub active: Option<bool>,
    pub currency: Option<String>,
    pub unit_amount: Option<i64>,
    pub price_type: Option<String>,
    pub recurring_interval: Option<String>,
    pub recurring_interval_count: Option<i32>,
    pub nickname: Option<String>,
    pub lookup_key: Option<String>,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
    pub deleted: bool,
    /// A deletion stub, see `SyncedKind::is_stub`.
    pub stub: bool,
    /// Read from a legacy `plan.*` event, which carries no `lookup_key`:
    /// the stored one is kept.
    pub from_plan: bool,
}

pub struct Prices;

impl SyncedKind for Prices {
    const OBJECT: &'static str = "price";
    const ID_PREFIX: &'static str = "price_";
    const TABLE: &'static str = "prices";
    const PARENTS: &'static [&'static str] = &[Products::OBJECT];
    const EVENTS: &'static [&'static str] = &["price.created", "price.updated", "price.deleted"];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "prices",
        path: "/prices",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("currency", Shape::Text),
        required("product", Shape::Reference),
        required("unit_amount", Shape::Integer),
        required("type", Shape::Text),
    ];
    type Change = PriceChange;

    fn read(event_type: &str, object: &StripeObject) -> Result<PriceChange, Refusal> {
        let recurring = fields::field_value(object, "recurring");
        Ok(PriceChange {
            stripe_price_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            stripe_product_id: fields::reference(object, "product")
                .filter(|id| id.starts_with(Products::ID_PREFIX)),
            active: fields::boolean(object, "active"),
            currency: fields::string(object, "currency"),
            unit_amount: fields::integer(object, "unit_amount"),
            price_type: fields::string(object, "type"),
            recurring_interval: recurring
                .as_ref()
                .and_then(|r| fields::string(r, "interval")),
            recurring_interval_count: recurring
                .as_ref()
                .and_then(|r| fields::integer(r, "interval_count"))
                .and_then(|n| i32::try_from(n).ok()),
            nickname: fields::string(object, "nickname"),
            lookup_key: fields::string(object, "lookup_key"),
            metadata: fields::metadata(object),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
            deleted: event_type == "price.deleted"
                || fields::boolean(object, "deleted") == Some(true),
            stub: fields::boolean(object, "deleted") == Some(true),
            from_plan: false,
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
        upsert(conn, changes)
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
        TOMBSTONES.write::<Self>(conn, changes)
    }
}

/// The newest change per price, where newer than the row, linked to its
/// product's row (placeholders exist already). A deletion stub keeps what
/// the row knew.
pub(crate) async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &PriceChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO prices AS p (stripe_price_id, product_id, stripe_product_id, active, currency, unit_amount,
                              type, recurring_interval, recurring_interval_count, nickname, lookup_key,
                              metadata, livemode, stripe_created, deleted_at, last_event_id,
                              last_event_created, last_event_rank)
         SELECT t.id, pr.id, t.product, t.active, t.currency, t.unit_amount, t.type, t.interval,
                t.interval_count, t.nickname,
                -- A plan carries no lookup_key: it keeps the stored one.
                CASE WHEN t.from_plan THEN (SELECT x.lookup_key FROM prices x WHERE x.stripe_price_id = t.id)
                     ELSE t.lookup_key END, t.metadata, t.livemode,
                to_timestamp(t.stripe_created), CASE WHEN t.deleted THEN to_timestamp(t.created) END,
                t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::bool[], $4::text[], $5::int8[], $6::text[], $7::text[],
                     $8::int4[], $9::text[], $10::text[], $11::jsonb[], $12::bool[], $13::int8[],
                     $14::bool[], $15::bool[], $16::text[], $17::int8[], $18::int2[])
              AS t(id, product, active, currency, unit_amount, type, interval, interval_count, nickname,
                   lookup_key, metadata, livemode, stripe_created, deleted, from_plan, event_id, created, rank)
         LEFT JOIN products pr ON pr.stripe_product_id = t.product
         ON CONFLICT (stripe_price_id) DO UPDATE SET
             product_id = COALESCE(EXCLUDED.product_id, p.product_id),
             stripe_product_id = COALESCE(EXCLUDED.stripe_product_id, p.stripe_product_id),
             active = COALESCE(EXCLUDED.active, CASE WHEN EXCLUDED.deleted_at IS NOT NULL THEN p.active END),
             currency = COALESCE(EXCLUDED.currency, p.currency),
             unit_amount = CASE WHEN EXCLUDED.deleted_at IS NULL THEN EXCLUDED.unit_amount ELSE p.unit_amount END,
             type = COALESCE(EXCLUDED.type, p.type),
             recurring_interval = CASE WHEN EXCLUDED.deleted_at IS NULL THEN EXCLUDED.recurring_interval
                                       ELSE p.recurring_interval END,
             recurring_interval_count = CASE WHEN EXCLUDED.deleted_at IS NULL
                                             THEN EXCLUDED.recurring_interval_count
                                             ELSE p.recurring_interval_count END,
             nickname = CASE WHEN EXCLUDED.deleted_at IS NULL THEN EXCLUDED.nickname ELSE p.nickname END,
             lookup_key = CASE WHEN EXCLUDED.deleted_at IS NULL THEN EXCLUDED.lookup_key ELSE p.lookup_key END,
             metadata = CASE WHEN EXCLUDED.deleted_at IS NULL OR EXCLUDED.metadata <> '{}'::jsonb
                             THEN EXCLUDED.metadata ELSE p.metadata END,
             livemode = COALESCE(EXCLUDED.livemode, p.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, p.stripe_created),
             deleted_at = COALESCE(p.deleted_at, EXCLUDED.deleted_at),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE p.last_event_id IS NULL OR ",
        crate::stored_is_older!("p"),
        "
         RETURNING stripe_price_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_price_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_product_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.active).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.currency.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.unit_amount).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.price_type.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.recurring_interval.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.recurring_interval_count).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.nickname.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.lookup_key.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| &c.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.deleted).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.from_plan).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}
