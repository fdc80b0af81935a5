//! `refund.*` and `charge.refund.updated` -> `refunds`, linked to the
//! customer (a placeholder when the refund arrives first) and, by Stripe
//! id, to its charge and payment intent. Every write refreshes the
//! payment's `amount_refunded` (see `payment_refunds`).
//!
//! Before API version 2024-10-28.acacia Stripe sent `refund.*` only for
//! refunds without a charge and `charge.refund.updated` for the others;
//! from 2024-10-28.acacia `refund.*` covers every refund. Both carry the same
//! refund object, so both are read alike.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields,
    kinds::charge,
    kinds::customer::{self, Customers},
    kinds::payment::PaymentIntents,
    kinds::payment_refunds,
    object_id_with,
    order::bind_versions,
    required,
};

#[derive(Debug, Clone, PartialEq)]
pub struct RefundChange {
    pub stripe_refund_id: String,
    pub stripe_customer_id: Option<String>,
    pub stripe_charge_id: Option<String>,
    pub stripe_payment_intent_id: Option<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub failure_reason: Option<String>,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
}

/// Refunds of card charges are `re_`; those of `py_` charges are `pyr_`.
const ID_PREFIXES: &[&str] = &[Refunds::ID_PREFIX, "pyr_"];

/// `refunds`, one row per Refund.
pub struct Refunds;

impl SyncedKind for Refunds {
    const OBJECT: &'static str = "refund";
    const ID_PREFIX: &'static str = "re_";
    const TABLE: &'static str = "refunds";
    const PARENTS: &'static [&'static str] = &[Customers::OBJECT, PaymentIntents::OBJECT];
    const EVENTS: &'static [&'static str] = &[
        "refund.created",
        "refund.updated",
        "refund.failed",
        "charge.refund.updated",
    ];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "refunds",
        path: "/refunds",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("amount", Shape::Integer),
        required("currency", Shape::Text),
        required("status", Shape::Text),
        required("charge", Shape::Reference),
    ];
    type Change = RefundChange;

    fn read(_event_type: &str, object: &StripeObject) -> Result<RefundChange, Refusal> {
        Ok(RefundChange {
            stripe_refund_id: object_id_with(object, Self::OBJECT, ID_PREFIXES)?,
            stripe_customer_id: customer::linked_customer(object),
            stripe_charge_id: fields::reference(object, "charge"),
            stripe_payment_intent_id: charge::payment_intent(object),
            amount: fields::integer(object, "amount"),
            currency: fields::string(object, "currency"),
            status: fields::string(object, "status"),
            reason: fields::string(object, "reason"),
            failure_reason: fields::string(object, "failure_reason"),
            metadata: fields::metadata(object),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
        })
    }

    fn object_id(change: &RefundChange) -> &str {
        &change.stripe_refund_id
    }

    /// The customer, a parent; and the payment intent, whose
    /// `amount_refunded` a refund writes, so that it is locked with it.
    fn references(change: &RefundChange) -> Vec<(&'static str, &str)> {
        let mut references = customer::as_parent(&change.stripe_customer_id);
        references.extend(payment_refunds::as_reference(
            &change.stripe_payment_intent_id,
        ));
        references
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a RefundChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }
}

/// The newest change per refund, where newer than the row, linked to its
/// customer's row (placeholders exist already).
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &RefundChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO refunds AS r (stripe_refund_id, customer_id, stripe_customer_id, stripe_charge_id,
                               stripe_payment_intent_id, amount, currency, status, reason, failure_reason,
                               metadata, livemode, stripe_created, last_event_id, last_event_created,
                               last_event_rank)
         SELECT t.id, c.id, t.customer, t.charge, t.payment_intent, t.amount, t.currency, t.status, t.reason,
                t.failure_reason, t.metadata,
                -- A refund object has no livemode field: its event's says.
                COALESCE(t.livemode, (SELECT e.livemode FROM received_events e WHERE e.id = t.event_id)),
                to_timestamp(t.stripe_created),
                t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::text[], $7::text[],
                     $8::text[], $9::text[], $10::jsonb[], $11::bool[], $12::int8[], $13::text[],
                     $14::int8[], $15::int2[])
              AS t(id, customer, charge, payment_intent, amount, currency, status, reason, failure_reason,
                   metadata, livemode, stripe_created, event_id, created, rank)
         LEFT JOIN end_customers c ON c.stripe_customer_id = t.customer
         ON CONFLICT (stripe_refund_id) DO UPDATE SET
             customer_id = EXCLUDED.customer_id, stripe_customer_id = EXCLUDED.stripe_customer_id,
             stripe_charge_id = EXCLUDED.stripe_charge_id,
             stripe_payment_intent_id = EXCLUDED.stripe_payment_intent_id,
             amount = EXCLUDED.amount, currency = EXCLUDED.currency, status = EXCLUDED.status,
             reason = EXCLUDED.reason, failure_reason = EXCLUDED.failure_reason,
             metadata = EXCLUDED.metadata,
             livemode = COALESCE(EXCLUDED.livemode, r.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, r.stripe_created),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
        crate::stored_is_older!("r"),
        "
         RETURNING stripe_refund_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_refund_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_customer_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_charge_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_payment_intent_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.amount).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.currency.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.status.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.reason.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.failure_reason.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| &c.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions)
        .fetch_all(&mut *conn)
        .await?;
    let payment_intents: Vec<&str> = changes
        .iter()
        .filter_map(|(_, c)| c.stripe_payment_intent_id.as_deref())
        .collect();
    payment_refunds::refresh(conn, &payment_intents).await?;
    Ok(written.into_iter().collect())
}
