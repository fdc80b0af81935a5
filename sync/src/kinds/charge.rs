//! `charge.*` -> `charges`, linked to the customer (a placeholder when the
//! charge arrives first) and, by Stripe id, to its payment intent.
//!
//! A refund only adds to a charge: `amount_refunded` and `refunded` keep
//! the largest value any event of the charge carried, even one that lost
//! the version guard (a `charge.refunded` in the same second as
//! `charge.succeeded` ranks below it). Every write refreshes the payment's
//! `amount_refunded` (see `payment_refunds`).

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    BenchMarker, BenchTokens, ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind,
    Version, fields,
    kinds::customer::{self, Customers},
    kinds::payment::PaymentIntents,
    kinds::payment_refunds,
    object_id_with,
    order::bind_versions,
    required,
};

#[derive(Debug, Clone, PartialEq)]
pub struct ChargeChange {
    pub stripe_charge_id: String,
    pub stripe_customer_id: Option<String>,
    pub stripe_payment_intent_id: Option<String>,
    pub amount: Option<i64>,
    pub amount_captured: Option<i64>,
    pub amount_refunded: Option<i64>,
    pub currency: Option<String>,
    pub status: Option<String>,
    pub paid: Option<bool>,
    pub captured: Option<bool>,
    pub refunded: Option<bool>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub receipt_url: Option<String>,
    pub description: Option<String>,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
}

impl ChargeChange {
    /// It carries a refund, which must land whatever order it arrives in.
    fn refunds_something(&self) -> bool {
        self.amount_refunded.unwrap_or(0) > 0 || self.refunded == Some(true)
    }
}

/// Card charges are `ch_`; Stripe gives charges of some bank debits `py_`.
const ID_PREFIXES: &[&str] = &[Charges::ID_PREFIX, "py_"];

/// `charges`, one row per Charge.
pub struct Charges;

impl SyncedKind for Charges {
    const OBJECT: &'static str = "charge";
    const ID_PREFIX: &'static str = "ch_";
    const TABLE: &'static str = "charges";
    const PARENTS: &'static [&'static str] = &[Customers::OBJECT, PaymentIntents::OBJECT];
    const BENCH: Option<BenchMarker> = Some(BenchMarker {
        plant: plant_bench_marker,
        read_rows: "SELECT stripe_charge_id, last_event_id, amount, false
                    FROM charges WHERE stripe_charge_id = ANY($1)",
        tombstones: false,
    });
    const EVENTS: &'static [&'static str] = &[
        "charge.succeeded",
        "charge.failed",
        "charge.captured",
        "charge.refunded",
        "charge.updated",
        "charge.pending",
        "charge.expired",
    ];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "charges",
        path: "/charges",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("amount", Shape::Integer),
        required("currency", Shape::Text),
        required("status", Shape::Text),
        required("amount_refunded", Shape::Integer),
        required("customer", Shape::Reference),
        required("payment_intent", Shape::Reference),
    ];
    type Change = ChargeChange;

    fn read(_event_type: &str, object: &StripeObject) -> Result<ChargeChange, Refusal> {
        read(object)
    }

    fn object_id(change: &ChargeChange) -> &str {
        &change.stripe_charge_id
    }

    /// The customer, a parent; and the payment intent, whose
    /// `amount_refunded` a charge writes, so that it is locked with it.
    fn references(change: &ChargeChange) -> Vec<(&'static str, &str)> {
        let mut references = customer::as_parent(&change.stripe_customer_id);
        references.extend(payment_refunds::as_reference(
            &change.stripe_payment_intent_id,
        ));
        references
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a ChargeChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }

    fn is_terminal(change: &ChargeChange) -> bool {
        change.refunds_something()
    }

    fn write_terminal<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a ChargeChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        write_refunds(conn, changes)
    }
}

/// The bench's marker is the amount (the refund rule keeps the largest
/// `amount_refunded`, never touching `amount`). Each charge gets a payment
/// intent of its own, as real charges do, so charges do not all lock one.
fn plant_bench_marker(object: &mut Value, tokens: &BenchTokens<'_>) {
    object["customer"] = tokens.customer_id.into();
    object["payment_intent"] = format!("pi_of_{}", tokens.object_id).into();
    object["amount"] = tokens.marker.into();
}

fn read(object: &StripeObject) -> Result<ChargeChange, Refusal> {
    Ok(ChargeChange {
        stripe_charge_id: object_id_with(object, Charges::OBJECT, ID_PREFIXES)?,
        stripe_customer_id: customer::linked_customer(object),
        stripe_payment_intent_id: payment_intent(object),
        amount: fields::integer(object, "amount"),
        amount_captured: fields::integer(object, "amount_captured"),
        amount_refunded: fields::integer(object, "amount_refunded"),
        currency: fields::string(object, "currency"),
        status: fields::string(object, "status"),
        paid: fields::boolean(object, "paid"),
        captured: fields::boolean(object, "captured"),
        refunded: fields::boolean(object, "refunded"),
        failure_code: fields::string(object, "failure_code"),
        failure_message: fields::string(object, "failure_message"),
        receipt_url: fields::string(object, "receipt_url"),
        description: fields::string(object, "description"),
        metadata: fields::metadata(object),
        livemode: fields::boolean(object, "livemode"),
        stripe_created: fields::integer(object, "created"),
    })
}

/// The payment intent an object names, when it is one (`pi_...`).
pub(crate) fn payment_intent(object: &StripeObject) -> Option<String> {
    fields::reference(object, "payment_intent")
        .filter(|id| id.starts_with(PaymentIntents::ID_PREFIX))
}

/// The newest change per charge, where newer than the row, linked to its
/// customer's row (placeholders exist already).
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &ChargeChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO charges AS ch (stripe_charge_id, customer_id, stripe_customer_id, stripe_payment_intent_id,
                                amount, amount_captured, amount_refunded, currency, status, paid, captured,
                                refunded, failure_code, failure_message, receipt_url, description, metadata,
                                livemode, stripe_created, last_event_id, last_event_created, last_event_rank)
         SELECT t.id, c.id, t.customer, t.payment_intent, t.amount, t.amount_captured,
                COALESCE(t.amount_refunded, 0), t.currency, t.status, t.paid, t.captured,
                COALESCE(t.refunded, false), t.failure_code, t.failure_message, t.receipt_url,
                t.description, t.metadata, t.livemode, to_timestamp(t.stripe_created),
                t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[], $7::text[],
                     $8::text[], $9::bool[], $10::bool[], $11::bool[], $12::text[], $13::text[], $14::text[],
                     $15::text[], $16::jsonb[], $17::bool[], $18::int8[], $19::text[], $20::int8[],
                     $21::int2[])
              AS t(id, customer, payment_intent, amount, amount_captured, amount_refunded, currency, status,
                   paid, captured, refunded, failure_code, failure_message, receipt_url, description,
                   metadata, livemode, stripe_created, event_id, created, rank)
         LEFT JOIN end_customers c ON c.stripe_customer_id = t.customer
         ON CONFLICT (stripe_charge_id) DO UPDATE SET
             customer_id = EXCLUDED.customer_id, stripe_customer_id = EXCLUDED.stripe_customer_id,
             stripe_payment_intent_id = EXCLUDED.stripe_payment_intent_id,
             amount = EXCLUDED.amount, amount_captured = EXCLUDED.amount_captured,
             amount_refunded = GREATEST(EXCLUDED.amount_refunded, ch.amount_refunded),
             currency = EXCLUDED.currency, status = EXCLUDED.status, paid = EXCLUDED.paid,
             captured = EXCLUDED.captured, refunded = EXCLUDED.refunded OR ch.refunded,
             failure_code = EXCLUDED.failure_code, failure_message = EXCLUDED.failure_message,
             receipt_url = EXCLUDED.receipt_url, description = EXCLUDED.description,
             metadata = EXCLUDED.metadata,
             livemode = COALESCE(EXCLUDED.livemode, ch.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, ch.stripe_created),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
        crate::stored_is_older!("ch"),
        "
         RETURNING stripe_charge_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_charge_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_customer_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_payment_intent_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.amount).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.amount_captured).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.amount_refunded).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.currency.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.status.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.paid).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.captured).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.refunded).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.failure_code.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.failure_message.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.receipt_url.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.description.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| &c.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions)
        .fetch_all(&mut *conn)
        .await?;
    refresh_payments(conn, changes).await?;
    Ok(written.into_iter().collect())
}

/// A refund an older event carried that the row does not show yet (the
/// newest event may be one from before the refund). Changes nothing else.
async fn write_refunds(
    conn: &mut PgConnection,
    changes: &[(&Version, &ChargeChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let written: Vec<(String, Option<String>)> = sqlx::query_as(
        "UPDATE charges AS ch
         SET amount_refunded = GREATEST(ch.amount_refunded, COALESCE(t.amount_refunded, 0)),
             refunded = ch.refunded OR COALESCE(t.refunded, false),
             updated_at = now()
         FROM unnest($1::text[], $2::int8[], $3::bool[]) AS t(id, amount_refunded, refunded)
         WHERE ch.stripe_charge_id = t.id
           AND (ch.amount_refunded < COALESCE(t.amount_refunded, 0)
                OR (NOT ch.refunded AND COALESCE(t.refunded, false)))
         RETURNING ch.stripe_charge_id, ch.stripe_payment_intent_id",
    )
    .bind(
        changes
            .iter()
            .map(|(_, c)| c.stripe_charge_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        changes
            .iter()
            .map(|(_, c)| c.amount_refunded)
            .collect::<Vec<_>>(),
    )
    .bind(changes.iter().map(|(_, c)| c.refunded).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    let payment_intents: Vec<&str> = written.iter().filter_map(|(_, pi)| pi.as_deref()).collect();
    payment_refunds::refresh(conn, &payment_intents).await?;
    Ok(written.into_iter().map(|(id, _)| id).collect())
}

async fn refresh_payments(
    conn: &mut PgConnection,
    changes: &[(&Version, &ChargeChange)],
) -> Result<(), sqlx::Error> {
    let payment_intents: Vec<&str> = changes
        .iter()
        .filter_map(|(_, c)| c.stripe_payment_intent_id.as_deref())
        .collect();
    payment_refunds::refresh(conn, &payment_intents).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(json: &str) -> StripeObject {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn bank_debit_charges_are_charges_too() {
        let charge = read(&object(
            r#"{"id":"py_1","object":"charge","payment_intent":"pi_1"}"#,
        ));
        assert_eq!(
            charge.map(|c| (c.stripe_charge_id, c.stripe_payment_intent_id)),
            Ok(("py_1".into(), Some("pi_1".into())))
        );
        assert_eq!(
            read(&object(r#"{"id":"re_1","object":"charge"}"#)).map(|c| c.stripe_charge_id),
            Err(Refusal::WrongId {
                id: "re_1".into(),
                expected: "charge"
            })
        );
    }

    #[test]
    fn a_payment_intent_field_that_is_not_one_links_nothing() {
        let charge = read(&object(r#"{"id":"ch_1","payment_intent":"cs_1"}"#)).unwrap();
        assert_eq!(charge.stripe_payment_intent_id, None);
        assert!(Charges::references(&charge).is_empty());
    }

    #[test]
    fn only_a_charge_that_carries_a_refund_is_terminal() {
        let refunded = read(&object(r#"{"id":"ch_1","amount_refunded":5}"#)).unwrap();
        let paid = read(&object(
            r#"{"id":"ch_1","amount_refunded":0,"refunded":false}"#,
        ))
        .unwrap();
        assert!(Charges::is_terminal(&refunded));
        assert!(!Charges::is_terminal(&paid));
    }
}
