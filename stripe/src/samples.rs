//! Stripe's own fixture events (see fixtures/stripe/README.md), built into the
//! binary so `send-test-event` and `bench` work anywhere.

use serde_json::Value;

macro_rules! samples {
    ($($name:literal),* $(,)?) => {
        /// Every sample event type, with its envelope exactly as in the fixtures.
        pub const SAMPLE_EVENTS: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../fixtures/stripe/events/", $name, ".json")))),*
        ];
    };
}

samples!(
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.created",
    "invoice.finalized",
    "invoice.payment_failed",
    "invoice.paid",
    "invoice.voided",
    "invoice.deleted",
    "charge.refunded",
    "product.created",
    "product.updated",
    "product.deleted",
    "price.created",
    "price.updated",
    "price.deleted",
    "plan.created",
    "plan.updated",
    "plan.deleted",
    "checkout.session.completed",
    "charge.succeeded",
    "refund.created",
    "charge.dispute.created",
    "payment_method.attached",
    "setup_intent.succeeded",
    "payout.paid",
);

pub fn sample_event(event_type: &str) -> Option<&'static str> {
    SAMPLE_EVENTS
        .iter()
        .find(|(t, _)| *t == event_type)
        .map(|(_, body)| *body)
}

pub fn sample_types() -> impl Iterator<Item = &'static str> {
    SAMPLE_EVENTS.iter().map(|(t, _)| *t)
}

/// A new delivery of a sample: a fresh `evt_` id and `created`, so it is a new
/// event to tether rather than a duplicate of the fixture.
pub fn fresh_event(event_type: &str, event_id: &str, created: i64) -> Option<Value> {
    let mut event: Value = serde_json::from_str(sample_event(event_type)?).ok()?;
    event["id"] = Value::from(event_id);
    event["created"] = Value::from(created);
    Some(event)
}

/// A random event id in Stripe's shape.
pub fn new_event_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let suffix: String = (0..24)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect();
    format!("evt_{suffix}")
}
