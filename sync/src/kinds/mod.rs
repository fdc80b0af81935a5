//! One module per synced Stripe object kind, each implementing
//! [`SyncedKind`](crate::SyncedKind). The list below is the registry: one
//! line per kind declares its module and registers it.
//!
//! Order matters: a kind comes after the kinds its rows refer to
//! (`SyncedKind::PARENTS`), so that within one transaction parents are
//! written, or given placeholders, before their children link to them.

/// Declares each kind's module and lists the kinds, in order, with the
/// generic store last (it refers to no other kind).
macro_rules! registry {
    ($($module:ident::$kind:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// Every synced kind, parents first, the generic store last.
        pub static KINDS: &[&dyn crate::Kind] = &[
            $(&crate::kind::Registered::<$module::$kind>::KIND,)*
            crate::registry::GENERIC,
        ];
    };
}

registry! {
    customer::Customers,
    payment::PaymentIntents,
    subscription::Subscriptions,
    product::Products,
    price::Prices,
    plan::Plans,
    checkout_session::CheckoutSessions,
    invoice::Invoices,
    invoice_item::InvoiceItems,
    credit_note::CreditNotes,
    charge::Charges,
    refund::Refunds,
    dispute::Disputes,
    coupon::Coupons,
    promotion_code::PromotionCodes,
    discount::Discounts,
    tax_id::TaxIds,
    tax_rate::TaxRates,
    subscription_schedule::SubscriptionSchedules,
    quote::Quotes,
    feature::Features,
    product_feature::ProductFeatures,
    entitlement_summary::EntitlementSummaries,
    payment_method::PaymentMethods,
    setup_intent::SetupIntents,
    payout::Payouts,
    early_fraud_warning::EarlyFraudWarnings,
    review::Reviews,
    topup::Topups,
}

// Shapes two kinds share; not kinds themselves.
pub(crate) mod checkout_line_items;
pub(crate) mod payment_refunds;
