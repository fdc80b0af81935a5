//! One module per synced Stripe object kind, each implementing
//! [`SyncedKind`](crate::SyncedKind) and registered in [`crate::registry`].

pub mod charge;
pub mod checkout_session;
pub mod customer;
pub mod dispute;
pub mod early_fraud_warning;
pub mod invoice;
pub mod payment;
pub mod payment_method;
pub(crate) mod payment_refunds;
pub mod payout;
pub mod plan;
pub mod price;
pub mod product;
pub mod refund;
pub mod review;
pub mod setup_intent;
pub mod subscription;
