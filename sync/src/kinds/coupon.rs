//! `coupon.*` -> `coupons`: the discounts a pricing page and a checkout
//! offer. A promotion code or discount that names a coupon first gets a
//! placeholder; a deleted coupon stays as a tombstone.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields, object_id,
    order::bind_versions, required, tombstone::Tombstones,
};

const TOMBSTONES: Tombstones = Tombstones {
    table: "coupons",
    id_column: "stripe_coupon_id",
    marks_placeholder: true,
};

#[derive(Debug, Clone, PartialEq)]
pub struct CouponChange {
    pub stripe_coupon_id: String,
    pub name: Option<String>,
    pub percent_off: Option<f64>,
    pub amount_off: Option<i64>,
    pub currency: Option<String>,
    pub duration: Option<String>,
    pub duration_in_months: Option<i32>,
    pub max_redemptions: Option<i64>,
    pub times_redeemed: Option<i64>,
    pub redeem_by: Option<i64>,
    pub valid: Option<bool>,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
    pub deleted: bool,
    /// A deletion stub, see `SyncedKind::is_stub`.
    pub stub: bool,
}

pub struct Coupons;

impl SyncedKind for Coupons {
    const OBJECT: &'static str = "coupon";
    /// The account chooses a coupon's id (`SUMMER25`): it has no prefix.
    const ID_PREFIX: &'static str = "";
    const TABLE: &'static str = "coupons";
    const EVENTS: &'static [&'static str] = &["coupon.created", "coupon.updated", "coupon.deleted"];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "coupons",
        path: "/coupons",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("duration", Shape::Text),
        required("valid", Shape::Boolean),
    ];
    type Change = CouponChange;

    fn read(event_type: &str, object: &StripeObject) -> Result<CouponChange, Refusal> {
        let deleted_flag = fields::boolean(object, "deleted") == Some(true);
        Ok(CouponChange {
            stripe_coupon_id: coupon_id(object)?,
            name: fields::string(object, "name"),
            percent_off: fields::decimal(object, "percent_off"),
            amount_off: fields::integer(object, "amount_off"),
            currency: fields::string(object, "currency"),
            duration: fields::string(object, "duration"),
            duration_in_months: fields::integer(object, "duration_in_months")
                .and_then(|n| i32::try_from(n).ok()),
            max_redemptions: fields::integer(object, "max_redemptions"),
            times_redeemed: fields::integer(object, "times_redeemed"),
            redeem_by: fields::integer(object, "redeem_by"),
            valid: fields::boolean(object, "valid"),
            metadata: fields::metadata(object),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
            deleted: event_type == "coupon.deleted" || deleted_flag,
            stub: deleted_flag,
        })
    }

    fn object_id(change: &CouponChange) -> &str {
        &change.stripe_coupon_id
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a CouponChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }

    fn is_terminal(change: &CouponChange) -> bool {
        change.deleted
    }

    fn is_stub(change: &CouponChange) -> bool {
        change.stub
    }

    fn write_terminal<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a CouponChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        TOMBSTONES.write::<Self>(conn, changes)
    }

    fn ensure_placeholders<'a>(
        conn: &'a mut PgConnection,
        ids: &'a [&'a str],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a {
        ensure_placeholders(conn, ids)
    }
}

/// The coupon's id. With no prefix to check, an empty one is refused
/// here: it would key a row no event can name again.
fn coupon_id(object: &StripeObject) -> Result<String, Refusal> {
    let id = object_id(object, Coupons::OBJECT, Coupons::ID_PREFIX)?;
    if id.is_empty() {
        return Err(Refusal::NoId {
            expected: Coupons::OBJECT,
        });
    }
    Ok(id)
}

/// The coupon a promotion code or discount names, as a parent reference.
pub(crate) fn as_parent(coupon: &Option<String>) -> Vec<(&'static str, &str)> {
    coupon
        .iter()
        .map(|id| (Coupons::OBJECT, id.as_str()))
        .collect()
}

/// The coupon behind a promotion code or discount. From API version
/// 2025-09-30.clover it is under `source` (`{"type": "coupon", "coupon":
/// id}`) or `promotion`; before, the whole coupon is the top-level `coupon`.
pub(crate) fn coupon_of(object: &StripeObject, wrapper: &str) -> Option<String> {
    fields::field_value(object, wrapper)
        .and_then(|w| fields::reference(&w, "coupon"))
        .or_else(|| fields::reference(object, "coupon"))
}

/// The newest change per coupon, where newer than the row. The tombstone,
/// once set, stays.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &CouponChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO coupons AS p (stripe_coupon_id, name, percent_off, amount_off, currency, duration,
                               duration_in_months, max_redemptions, times_redeemed, redeem_by, valid,
                               metadata, livemode, stripe_created, deleted_at, is_placeholder,
                               last_event_id, last_event_created, last_event_rank)
         SELECT t.id, t.name, t.percent_off::numeric, t.amount_off, t.currency, t.duration, t.months,
                t.max_redemptions, t.times_redeemed, to_timestamp(t.redeem_by), t.valid, t.metadata,
                t.livemode, to_timestamp(t.stripe_created),
                CASE WHEN t.deleted THEN to_timestamp(t.created) END, false,
                t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::float8[], $4::int8[], $5::text[], $6::text[], $7::int4[],
                     $8::int8[], $9::int8[], $10::int8[], $11::bool[], $12::jsonb[], $13::bool[],
                     $14::int8[], $15::bool[], $16::text[], $17::int8[], $18::int2[])
              AS t(id, name, percent_off, amount_off, currency, duration, months, max_redemptions,
                   times_redeemed, redeem_by, valid, metadata, livemode, stripe_created, deleted,
                   event_id, created, rank)
         ON CONFLICT (stripe_coupon_id) DO UPDATE SET
             name = EXCLUDED.name, percent_off = EXCLUDED.percent_off, amount_off = EXCLUDED.amount_off,
             currency = EXCLUDED.currency, duration = EXCLUDED.duration,
             duration_in_months = EXCLUDED.duration_in_months,
             max_redemptions = EXCLUDED.max_redemptions, times_redeemed = EXCLUDED.times_redeemed,
             redeem_by = EXCLUDED.redeem_by, valid = EXCLUDED.valid, metadata = EXCLUDED.metadata,
             livemode = COALESCE(EXCLUDED.livemode, p.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, p.stripe_created),
             deleted_at = COALESCE(p.deleted_at, EXCLUDED.deleted_at),
             is_placeholder = false,
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE p.last_event_id IS NULL OR ",
        crate::stored_is_older!("p"),
        "
         RETURNING stripe_coupon_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_coupon_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.name.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.percent_off).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.amount_off).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.currency.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.duration.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.duration_in_months).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.max_redemptions).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.times_redeemed).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.redeem_by).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.valid).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| &c.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.deleted).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}

/// Rows for coupons a promotion code or discount names before the
/// coupon's own events.
async fn ensure_placeholders(conn: &mut PgConnection, ids: &[&str]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO coupons (stripe_coupon_id, is_placeholder)
         SELECT DISTINCT id, true FROM unnest($1::text[]) AS id
         ON CONFLICT (stripe_coupon_id) DO NOTHING",
    )
    .bind(ids)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> Result<CouponChange, Refusal> {
        Coupons::read("coupon.updated", &serde_json::from_str(json).unwrap())
    }

    #[test]
    fn any_coupon_id_is_taken_but_an_empty_one() {
        assert_eq!(
            read(r#"{"id":"SUMMER25","object":"coupon"}"#).map(|c| c.stripe_coupon_id),
            Ok("SUMMER25".to_owned())
        );
        assert_eq!(
            read(r#"{"id":"","object":"coupon"}"#),
            Err(Refusal::NoId { expected: "coupon" })
        );
    }

    #[test]
    fn the_coupon_of_a_code_or_discount_is_read_from_either_api_shape() {
        let of = |json: &str| coupon_of(&serde_json::from_str(json).unwrap(), "source");
        assert_eq!(
            of(r#"{"source":{"type":"coupon","coupon":"C1"}}"#).as_deref(),
            Some("C1")
        );
        assert_eq!(
            of(r#"{"coupon":{"id":"C1","object":"coupon"}}"#).as_deref(),
            Some("C1")
        );
        assert_eq!(of(r#"{"source":{"type":"coupon","coupon":null}}"#), None);
    }
}
