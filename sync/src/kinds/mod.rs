//! One module per synced Stripe object kind, each implementing
//! [`SyncedKind`](crate::SyncedKind). The list below is the registry: one
//! line per kind declares its module and registers it, and the families
//! kept in the generic store follow it.
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
    account::Accounts,
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

/// Families whose objects live in the generic store, one versioned row per
/// object with its JSON: objects apps rarely join on, kept queryable and
/// ready to become a typed table when they are. Kept beside the kinds so
/// that promoting a family is one line moved from here to `registry!`
/// (plus the kind's module and migration); `homes` checks that no family
/// is in both.
pub const GENERIC_FAMILIES: &[&str] = &[
    "account.external_account",
    "application_fee",
    "application_fee.refund",
    "apps.install",
    "balance",
    "balance_settings",
    "billing.alert",
    "billing.credit_balance_transaction",
    "billing.credit_grant",
    "billing.meter",
    "billing_portal.configuration",
    "capability",
    "cash_balance",
    "climate.order",
    "climate.product",
    "customer.source",
    "customer_cash_balance_transaction",
    "file",
    "financial_connections.account",
    "financial_connections.authorization",
    "identity.verification_session",
    "invoice_payment",
    "issuing_authorization",
    "issuing_card",
    "issuing_cardholder",
    "issuing_dispute",
    "issuing_personalization_design",
    "issuing_token",
    "issuing_transaction",
    "mandate",
    "payment_link",
    "person",
    "reporting.report_run",
    "reporting.report_type",
    "reserve.hold",
    "reserve.plan",
    "reserve.release",
    "sigma.scheduled_query_run",
    "source",
    "source.transaction",
    "tax.settings",
    "terminal.reader",
    "transfer",
    "treasury.credit_reversal",
    "treasury.debit_reversal",
    "treasury.financial_account",
    "treasury.inbound_transfer",
    "treasury.outbound_payment",
    "treasury.outbound_transfer",
    "treasury.received_credit",
    "treasury.received_debit",
];

// Shapes two kinds share; not kinds themselves.
pub(crate) mod checkout_line_items;
pub(crate) mod payment_refunds;
