//! The synced kinds. Adding one is a module under `kinds/` implementing
//! [`SyncedKind`](crate::SyncedKind) and one line here.
//!
//! Order matters: a kind comes after the kinds its rows refer to
//! (`SyncedKind::PARENTS`), so that within one transaction parents are
//! written, or given placeholders, before their children link to them.

use crate::{
    Kind,
    generic::StripeObjects,
    kind::Registered,
    kinds,
    kinds::{
        charge::Charges, checkout_session::CheckoutSessions, customer::Customers,
        dispute::Disputes, invoice::Invoices, payment::PaymentIntents, plan::Plans, price::Prices,
        product::Products, refund::Refunds, subscription::Subscriptions,
    },
};

pub static KINDS: &[&dyn Kind] = &[
    &Registered::<Customers>::KIND,
    &Registered::<PaymentIntents>::KIND,
    &Registered::<Subscriptions>::KIND,
    &Registered::<Products>::KIND,
    &Registered::<Prices>::KIND,
    &Registered::<Plans>::KIND,
    &Registered::<CheckoutSessions>::KIND,
    &Registered::<Invoices>::KIND,
    &Registered::<kinds::invoice_item::InvoiceItems>::KIND,
    &Registered::<kinds::credit_note::CreditNotes>::KIND,
    &Registered::<Charges>::KIND,
    &Registered::<Refunds>::KIND,
    &Registered::<Disputes>::KIND,
    &Registered::<crate::kinds::coupon::Coupons>::KIND,
    &Registered::<crate::kinds::promotion_code::PromotionCodes>::KIND,
    &Registered::<crate::kinds::discount::Discounts>::KIND,
    &Registered::<crate::kinds::tax_id::TaxIds>::KIND,
    &Registered::<crate::kinds::tax_rate::TaxRates>::KIND,
    &Registered::<crate::kinds::subscription_schedule::SubscriptionSchedules>::KIND,
    &Registered::<crate::kinds::quote::Quotes>::KIND,
    &Registered::<kinds::feature::Features>::KIND,
    &Registered::<kinds::entitlement_summary::EntitlementSummaries>::KIND,
    &Registered::<crate::kinds::payment_method::PaymentMethods>::KIND,
    &Registered::<crate::kinds::setup_intent::SetupIntents>::KIND,
    &Registered::<crate::kinds::payout::Payouts>::KIND,
    &Registered::<crate::kinds::early_fraud_warning::EarlyFraudWarnings>::KIND,
    &Registered::<crate::kinds::review::Reviews>::KIND,
    GENERIC,
];

/// The generic store, for every family without a typed table
/// (`homes::GENERIC_FAMILIES`); it refers to no other kind, so it is last.
pub const GENERIC: &dyn Kind = &Registered::<StripeObjects>::KIND;

/// The registered kind named `object` (Stripe's object name).
pub fn kind(object: &str) -> Option<&'static dyn Kind> {
    KINDS.iter().copied().find(|k| k.object() == object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_registered_before_their_children() {
        for (position, kind) in KINDS.iter().enumerate() {
            for parent in kind.parents() {
                let parent_position = KINDS.iter().position(|k| k.object() == *parent);
                assert!(
                    parent_position.is_some_and(|p| p < position),
                    "{} refers to {parent}, which must be registered before it",
                    kind.object()
                );
            }
        }
    }

    #[test]
    fn each_kind_is_registered_once() {
        for kind in KINDS {
            assert_eq!(
                KINDS.iter().filter(|k| k.object() == kind.object()).count(),
                1
            );
        }
    }
}
