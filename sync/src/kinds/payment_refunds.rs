//! `payments.amount_refunded`: a refund seen from the payment row, with no
//! join. It is worked out again from what `charges` and `refunds` know for
//! the payment intent whenever either of them, or the payment, is written,
//! so it ends the same in every delivery order: a charge or refund that
//! arrives before its payment is counted when the payment's row is written.
//!
//! Every writer locks the payment intent's id (a charge and a refund list it
//! as a reference, a payment is its own object), so two workers never work
//! it out at once from different snapshots.

use sqlx::PgConnection;

/// SQL for what the payment intent named by the SQL expression `$pi` has
/// had refunded: the larger of its charges' refunded amounts and its
/// refunds that have not failed or been canceled (the two tell the same
/// story, but either may be missing: an endpoint may subscribe to only one
/// of them).
#[macro_export]
macro_rules! refunded_amount {
    ($pi:literal) => {
        concat!(
            "GREATEST((SELECT COALESCE(sum(c.amount_refunded), 0) FROM charges c
                       WHERE c.stripe_payment_intent_id = ",
            $pi,
            "),
                      (SELECT COALESCE(sum(f.amount), 0) FROM refunds f
                       WHERE f.stripe_payment_intent_id = ",
            $pi,
            "
                         AND COALESCE(f.status, '') NOT IN ('failed', 'canceled')))::int8"
        )
    };
}

use crate::{SyncedKind, kinds::payment::PaymentIntents};

/// Sets `amount_refunded` of the payments `payment_intents` to what they
/// have had refunded ([`refunded_amount!`]). A charge or refund calls it
/// after its write; a payment's own row starts at that amount when it is
/// inserted (`payment.rs`), and keeps it when it is updated.
pub async fn refresh(conn: &mut PgConnection, payment_intents: &[&str]) -> Result<(), sqlx::Error> {
    if payment_intents.is_empty() {
        return Ok(());
    }
    sqlx::query(concat!(
        "UPDATE payments p SET amount_refunded = r.amount, updated_at = now()
         FROM (SELECT pi, ",
        crate::refunded_amount!("pi"),
        " AS amount
               FROM (SELECT DISTINCT unnest($1::text[]) AS pi) AS ids) AS r
         WHERE p.stripe_payment_intent_id = r.pi AND p.amount_refunded <> r.amount",
    ))
    .bind(payment_intents)
    .execute(conn)
    .await?;
    Ok(())
}

/// A child's link to its payment intent, as a reference: it is locked with
/// the child, see the module comment.
pub(crate) fn as_reference(payment_intent: &Option<String>) -> Vec<(&'static str, &str)> {
    payment_intent
        .iter()
        .map(|id| (PaymentIntents::OBJECT, id.as_str()))
        .collect()
}
