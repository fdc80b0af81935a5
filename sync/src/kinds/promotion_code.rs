//! `promotion_code.*` -> `promotion_codes`, each linked to its coupon (a
//! placeholder coupon when the code arrives first) and, when restricted
//! to one customer, to that customer. Stripe never deletes a code.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields,
    kinds::coupon::{self, Coupons},
    kinds::customer::{self, Customers},
    object_id,
    order::bind_versions,
    required,
};

#[derive(Debug, Clone, PartialEq)]
pub struct PromotionCodeChange {
    pub stripe_promotion_code_id: String,
    pub code: Option<String>,
    pub stripe_coupon_id: Option<String>,
    pub active: Option<bool>,
    pub stripe_customer_id: Option<String>,
    pub expires_at: Option<i64>,
    pub max_redemptions: Option<i64>,
    pub times_redeemed: Option<i64>,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
}

pub struct PromotionCodes;

impl SyncedKind for PromotionCodes {
    const OBJECT: &'static str = "promotion_code";
    const ID_PREFIX: &'static str = "promo_";
    const TABLE: &'static str = "promotion_codes";
    const PARENTS: &'static [&'static str] = &[Customers::OBJECT, Coupons::OBJECT];
    const EVENTS: &'static [&'static str] = &["promotion_code.created", "promotion_code.updated"];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "promotion-codes",
        path: "/promotion_codes",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("code", Shape::Text),
        required("active", Shape::Boolean),
    ];
    type Change = PromotionCodeChange;

    fn read(_event_type: &str, object: &StripeObject) -> Result<PromotionCodeChange, Refusal> {
        Ok(PromotionCodeChange {
            stripe_promotion_code_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            code: fields::string(object, "code"),
            stripe_coupon_id: coupon::coupon_of(object, "promotion"),
            active: fields::boolean(object, "active"),
            stripe_customer_id: customer::linked_customer(object),
            expires_at: fields::integer(object, "expires_at"),
            max_redemptions: fields::integer(object, "max_redemptions"),
            times_redeemed: fields::integer(object, "times_redeemed"),
            metadata: fields::metadata(object),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
        })
    }

    fn object_id(change: &PromotionCodeChange) -> &str {
        &change.stripe_promotion_code_id
    }

    fn references(change: &PromotionCodeChange) -> Vec<(&'static str, &str)> {
        let mut references = customer::as_parent(&change.stripe_customer_id);
        references.extend(coupon::as_parent(&change.stripe_coupon_id));
        references
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a PromotionCodeChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }
}

/// The newest change per promotion code, where newer than the row, linked
/// to its coupon's and customer's rows (placeholders exist already).
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &PromotionCodeChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO promotion_codes AS p (stripe_promotion_code_id, code, coupon_id, stripe_coupon_id, active,
                                       customer_id, stripe_customer_id, expires_at, max_redemptions,
                                       times_redeemed, metadata, livemode, stripe_created,
                                       last_event_id, last_event_created, last_event_rank)
         SELECT t.id, t.code, co.id, t.coupon, t.active, c.id, t.customer, to_timestamp(t.expires_at),
                t.max_redemptions, t.times_redeemed, t.metadata, t.livemode, to_timestamp(t.stripe_created),
                t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::text[], $6::int8[], $7::int8[],
                     $8::int8[], $9::jsonb[], $10::bool[], $11::int8[], $12::text[], $13::int8[], $14::int2[])
              AS t(id, code, coupon, active, customer, expires_at, max_redemptions, times_redeemed,
                   metadata, livemode, stripe_created, event_id, created, rank)
         LEFT JOIN coupons co ON co.stripe_coupon_id = t.coupon
         LEFT JOIN end_customers c ON c.stripe_customer_id = t.customer
         ON CONFLICT (stripe_promotion_code_id) DO UPDATE SET
             code = EXCLUDED.code, coupon_id = EXCLUDED.coupon_id,
             stripe_coupon_id = EXCLUDED.stripe_coupon_id, active = EXCLUDED.active,
             customer_id = EXCLUDED.customer_id, stripe_customer_id = EXCLUDED.stripe_customer_id,
             expires_at = EXCLUDED.expires_at, max_redemptions = EXCLUDED.max_redemptions,
             times_redeemed = EXCLUDED.times_redeemed, metadata = EXCLUDED.metadata,
             livemode = COALESCE(EXCLUDED.livemode, p.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, p.stripe_created),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
        crate::stored_is_older!("p"),
        "
         RETURNING stripe_promotion_code_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_promotion_code_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.code.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_coupon_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.active).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_customer_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.expires_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.max_redemptions).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.times_redeemed).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| &c.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}
