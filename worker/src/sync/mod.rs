//! From a stored Stripe event to the change it makes to the synced tables.
//!
//! Fields are read one by one from the event's `data.object`, each tolerant
//! of being null, absent or of another shape (any field may be, in some API
//! version). Only a payload that cannot be what its type says (no id, or an
//! object of another kind) is refused, and that refusal is permanent.

pub mod customer;
pub mod fields;
pub mod order;
pub mod payment;
pub mod subscription;

use serde_json::Value;

pub use order::Version;

/// One row of `stripe_events`, as the worker reads it.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub id: String,
    pub event_type: String,
    pub created: i64,
    pub object: Value,
    pub processed: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Customer(customer::CustomerChange),
    Payment(payment::PaymentChange),
    Subscription(subscription::SubscriptionChange),
    /// No handler for this type: logged `ignored`.
    Ignored,
}

impl Change {
    /// The Stripe object this change is about (None for an ignored event).
    pub fn object_id(&self) -> Option<&str> {
        match self {
            Change::Customer(c) => Some(&c.stripe_customer_id),
            Change::Payment(p) => Some(&p.stripe_payment_intent_id),
            Change::Subscription(s) => Some(&s.stripe_subscription_id),
            Change::Ignored => None,
        }
    }

    /// Stripe objects this change writes; each is locked before it is written.
    pub fn lock_keys(&self) -> Vec<&str> {
        match self {
            Change::Customer(c) => vec![c.stripe_customer_id.as_str()],
            Change::Payment(p) => std::iter::once(p.stripe_payment_intent_id.as_str())
                .chain(p.stripe_customer_id.as_deref())
                .collect(),
            Change::Subscription(s) => std::iter::once(s.stripe_subscription_id.as_str())
                .chain(s.stripe_customer_id.as_deref())
                .collect(),
            Change::Ignored => vec![],
        }
    }
}

/// Reads the change an event makes. `Err` is a permanent refusal.
pub fn classify(event: &StoredEvent) -> Result<Change, String> {
    let t = event.event_type.as_str();
    if customer::handles(t) {
        return customer::read(t, &event.object).map(Change::Customer);
    }
    if payment::handles(t) {
        return payment::read(&event.object).map(Change::Payment);
    }
    if subscription::handles(t) {
        return subscription::read(t, &event.object).map(Change::Subscription);
    }
    Ok(Change::Ignored)
}

/// The object's id, if the object is of the expected kind.
fn object_id(object: &Value, kind: &str, id_prefix: &str) -> Result<String, String> {
    if let Some(found) = fields::string(object, "object")
        && found != kind
    {
        return Err(format!("data.object is a {found}, not a {kind}"));
    }
    match fields::string(object, "id") {
        Some(id) if id.starts_with(id_prefix) => Ok(id),
        Some(id) => Err(format!("data.object.id {id:?} is not a {kind} id")),
        None => Err(format!("data.object has no {kind} id")),
    }
}
