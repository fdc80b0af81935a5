//! One module per synced Stripe object kind, each implementing
//! [`SyncedKind`](crate::SyncedKind) and registered in [`crate::registry`].

pub mod charge;
pub(crate) mod checkout_line_items;
pub mod checkout_session;
pub mod coupon;
pub mod credit_note;
pub mod customer;
pub mod discount;
pub mod dispute;
pub mod early_fraud_warning;
pub mod entitlement_summary;
pub mod feature;
pub mod invoice;
pub mod invoice_item;
pub mod payment;
pub mod payment_method;
pub(crate) mod payment_refunds;
pub mod payout;
pub mod plan;
pub mod price;
pub mod product;
pub mod promotion_code;
pub mod quote;
pub mod refund;
pub mod review;
pub mod setup_intent;
pub mod subscription;
pub mod subscription_schedule;
pub mod tax_id;
pub mod tax_rate;
