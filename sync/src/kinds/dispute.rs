//! `charge.dispute.*` -> `disputes`, linked by Stripe id to the disputed
//! charge and its payment intent. Stripe's dispute has no customer field:
//! support reaches the customer through the charge.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields,
    kinds::charge, object_id, order::bind_versions, required,
};

#[derive(Debug, Clone, PartialEq)]
pub struct DisputeChange {
    pub stripe_dispute_id: String,
    pub stripe_charge_id: Option<String>,
    pub stripe_payment_intent_id: Option<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub evidence_due_by: Option<i64>,
    pub is_charge_refundable: Option<bool>,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
}

/// `disputes`, one row per Dispute.
pub struct Disputes;

impl SyncedKind for Disputes {
    const OBJECT: &'static str = "dispute";
    const ID_PREFIX: &'static str = "dp_";
    const TABLE: &'static str = "disputes";
    const EVENTS: &'static [&'static str] = &[
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
    ];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "disputes",
        path: "/disputes",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("amount", Shape::Integer),
        required("currency", Shape::Text),
        required("status", Shape::Text),
        required("charge", Shape::Reference),
        required("reason", Shape::Text),
    ];
    type Change = DisputeChange;

    fn read(_event_type: &str, object: &StripeObject) -> Result<DisputeChange, Refusal> {
        Ok(DisputeChange {
            stripe_dispute_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            stripe_charge_id: fields::reference(object, "charge"),
            stripe_payment_intent_id: charge::payment_intent(object),
            amount: fields::integer(object, "amount"),
            currency: fields::string(object, "currency"),
            status: fields::string(object, "status"),
            reason: fields::string(object, "reason"),
            evidence_due_by: evidence_due_by(object),
            is_charge_refundable: fields::boolean(object, "is_charge_refundable"),
            metadata: fields::metadata(object),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
        })
    }

    fn object_id(change: &DisputeChange) -> &str {
        &change.stripe_dispute_id
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a DisputeChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }
}

/// API version 2014-12-08 replaced the top-level `evidence_due_by` with
/// `evidence_details.due_by`; read whichever is there. Stripe sends 0 when
/// the bank allows no response: no due date.
fn evidence_due_by(object: &StripeObject) -> Option<i64> {
    fields::field_value(object, "evidence_details")
        .and_then(|details| fields::integer(&details, "due_by"))
        .or_else(|| fields::integer(object, "evidence_due_by"))
        .filter(|due_by| *due_by > 0)
}

/// The newest change per dispute, where newer than the row.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &DisputeChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO disputes AS d (stripe_dispute_id, stripe_charge_id, stripe_payment_intent_id, amount,
                                currency, status, reason, evidence_due_by, is_charge_refundable, metadata,
                                livemode, stripe_created, last_event_id, last_event_created, last_event_rank)
         SELECT t.id, t.charge, t.payment_intent, t.amount, t.currency, t.status, t.reason,
                to_timestamp(t.due_by), t.refundable, t.metadata, t.livemode, to_timestamp(t.stripe_created),
                t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[], $7::text[],
                     $8::int8[], $9::bool[], $10::jsonb[], $11::bool[], $12::int8[], $13::text[],
                     $14::int8[], $15::int2[])
              AS t(id, charge, payment_intent, amount, currency, status, reason, due_by, refundable,
                   metadata, livemode, stripe_created, event_id, created, rank)
         ON CONFLICT (stripe_dispute_id) DO UPDATE SET
             stripe_charge_id = EXCLUDED.stripe_charge_id,
             stripe_payment_intent_id = EXCLUDED.stripe_payment_intent_id,
             amount = EXCLUDED.amount, currency = EXCLUDED.currency, status = EXCLUDED.status,
             reason = EXCLUDED.reason, evidence_due_by = EXCLUDED.evidence_due_by,
             is_charge_refundable = EXCLUDED.is_charge_refundable, metadata = EXCLUDED.metadata,
             livemode = COALESCE(EXCLUDED.livemode, d.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, d.stripe_created),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
        crate::stored_is_older!("d"),
        "
         RETURNING stripe_dispute_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_dispute_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_charge_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_payment_intent_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.amount).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.currency.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.status.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.reason.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.evidence_due_by).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.is_charge_refundable).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| &c.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due_by(json: &str) -> Option<i64> {
        evidence_due_by(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn the_due_date_is_read_from_either_api_shape() {
        assert_eq!(due_by(r#"{"evidence_details":{"due_by":17}}"#), Some(17));
        assert_eq!(due_by(r#"{"evidence_due_by":17}"#), Some(17));
        assert_eq!(
            due_by(r#"{"evidence_details":{"due_by":0}}"#),
            None,
            "no response allowed"
        );
    }
}
