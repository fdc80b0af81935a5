//! One module per synced Stripe object kind, each implementing
//! [`SyncedKind`](crate::SyncedKind) and registered in [`crate::registry`].

pub mod charge;
pub mod checkout_session;
pub mod customer;
pub mod dispute;
pub mod invoice;
pub mod payment;
pub(crate) mod payment_refunds;
pub mod plan;
pub mod price;
pub mod product;
pub mod refund;
pub mod subscription;
