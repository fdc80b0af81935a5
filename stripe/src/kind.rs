//! Which Stripe object an event is about, from its type alone.
//!
//! Stripe names an event `<object>.<what happened>`, where `<object>` is the
//! object's dotted resource name (`customer.subscription`, `charge.refund`,
//! `checkout.session`). The kind is the value Stripe puts in the object's
//! own `object` field (`subscription`, `refund`, `checkout.session`), which
//! is how the sync registry (`tether-sync`) names what it syncs.

/// Event type prefixes whose object is not the first word, longest first.
const NESTED: &[(&str, &str)] = &[
    ("customer.subscription.", "subscription"),
    ("customer.discount.", "discount"),
    ("customer.source.", "source"),
    ("customer.tax_id.", "tax_id"),
    ("charge.dispute.", "dispute"),
    ("charge.refund.", "refund"),
    ("checkout.session.", "checkout.session"),
    ("billing_portal.session.", "billing_portal.session"),
    (
        "billing_portal.configuration.",
        "billing_portal.configuration",
    ),
    ("invoice.payment.", "invoice_payment"),
    ("issuing_authorization.", "issuing.authorization"),
    ("radar.early_fraud_warning.", "radar.early_fraud_warning"),
    ("test_helpers.test_clock.", "test_helpers.test_clock"),
    (
        "entitlements.active_entitlement_summary.",
        "entitlements.active_entitlement_summary",
    ),
];

/// The object kind of an event type (`customer.subscription.updated` →
/// `subscription`), or `None` for a type without a `.`.
pub fn object_kind(event_type: &str) -> Option<&str> {
    if let Some((_, kind)) = NESTED
        .iter()
        .find(|(prefix, _)| event_type.starts_with(prefix))
    {
        return Some(kind);
    }
    let (object, _) = event_type.split_once('.')?;
    (!object.is_empty()).then_some(object)
}

/// What happened, the last word of the type: `created`, `deleted`, `succeeded`...
pub fn action(event_type: &str) -> &str {
    event_type.rsplit('.').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_stripes_object_names() {
        let cases = [
            ("customer.created", Some("customer")),
            ("customer.subscription.updated", Some("subscription")),
            ("payment_intent.payment_failed", Some("payment_intent")),
            ("charge.refund.updated", Some("refund")),
            ("charge.refunded", Some("charge")),
            ("checkout.session.completed", Some("checkout.session")),
            ("invoice.paid", Some("invoice")),
            ("nodot", None),
        ];
        for (event_type, kind) in cases {
            assert_eq!(object_kind(event_type), kind, "{event_type}");
        }
    }

    #[test]
    fn the_action_is_the_last_word() {
        assert_eq!(action("customer.subscription.deleted"), "deleted");
        assert_eq!(action("payment_intent.payment_failed"), "payment_failed");
    }
}
