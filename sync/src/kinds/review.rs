//! `review.*` -> `reviews`: Radar holding a payment for a person to look
//! at, linked by Stripe id to the charge and payment intent. Stripe's
//! review carries no risk score: that is on the charge's `outcome`.

use std::collections::HashSet;

use sqlx::PgConnection;

use crate::{
    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields,
    kinds::charge, object_id, order::bind_versions, required,
};

#[derive(Debug, Clone, PartialEq)]
pub struct ReviewChange {
    pub stripe_review_id: String,
    pub stripe_charge_id: Option<String>,
    pub stripe_payment_intent_id: Option<String>,
    pub reason: Option<String>,
    pub open: Option<bool>,
    pub opened_reason: Option<String>,
    pub closed_reason: Option<String>,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
}

/// `reviews`, one row per Radar Review.
pub struct Reviews;

impl SyncedKind for Reviews {
    const OBJECT: &'static str = "review";
    const ID_PREFIX: &'static str = "prv_";
    const TABLE: &'static str = "reviews";
    const EVENTS: &'static [&'static str] = &["review.opened", "review.closed"];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "reviews",
        path: "/reviews",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("open", Shape::Boolean),
        required("reason", Shape::Text),
        required("charge", Shape::Reference),
    ];
    type Change = ReviewChange;

    fn read(_event_type: &str, object: &StripeObject) -> Result<ReviewChange, Refusal> {
        Ok(ReviewChange {
            stripe_review_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            stripe_charge_id: fields::reference(object, "charge"),
            stripe_payment_intent_id: charge::payment_intent(object),
            reason: fields::string(object, "reason"),
            open: fields::boolean(object, "open"),
            opened_reason: fields::string(object, "opened_reason"),
            closed_reason: fields::string(object, "closed_reason"),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
        })
    }

    fn object_id(change: &ReviewChange) -> &str {
        &change.stripe_review_id
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a ReviewChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }
}

/// The newest change per review, where newer than the row.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &ReviewChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO reviews AS r (stripe_review_id, stripe_charge_id, stripe_payment_intent_id, reason,
                               open, opened_reason, closed_reason, livemode, stripe_created,
                               last_event_id, last_event_created, last_event_rank)
         SELECT t.id, t.charge, t.payment_intent, t.reason, t.open, t.opened_reason, t.closed_reason,
                t.livemode, to_timestamp(t.stripe_created), t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::text[], $7::text[],
                     $8::bool[], $9::int8[], $10::text[], $11::int8[], $12::int2[])
              AS t(id, charge, payment_intent, reason, open, opened_reason, closed_reason, livemode,
                   stripe_created, event_id, created, rank)
         ON CONFLICT (stripe_review_id) DO UPDATE SET
             stripe_charge_id = EXCLUDED.stripe_charge_id,
             stripe_payment_intent_id = EXCLUDED.stripe_payment_intent_id,
             reason = EXCLUDED.reason, open = EXCLUDED.open, opened_reason = EXCLUDED.opened_reason,
             closed_reason = EXCLUDED.closed_reason,
             livemode = COALESCE(EXCLUDED.livemode, r.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, r.stripe_created),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
        crate::stored_is_older!("r"),
        "
         RETURNING stripe_review_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_review_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_charge_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_payment_intent_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.reason.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.open).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.opened_reason.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.closed_reason.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}
