//! The one client tether uses for Stripe's API (backfill, reconcile, and
//! creating customers).
//!
//! Requests are async-stripe's (`RequestBuilder`, `StripeClient`), sent by
//! [`StripeApi`], tether's transport, because the behaviour a production
//! sync needs is in the transport:
//! - 429, 5xx and network errors are retried with exponential backoff and
//!   jitter, as long as `Stripe-Should-Retry` does not say no; a
//!   `Retry-After` header sets the wait;
//! - every POST carries an `Idempotency-Key`, the same on every retry, so a
//!   retried create never creates twice;
//! - requests are spaced to a rate (by default under Stripe's documented
//!   limit for the key's mode);
//! - a refused key stops at once with a message that never shows the key.
//!
//! Responses stay raw JSON ([`Page`] of raw objects): tether reads Stripe
//! objects with the same tolerant readers its webhooks use, not with
//! async-stripe's generated types.

mod client;
mod error;
mod limiter;
mod page;

pub use client::{ApiConfig, StripeApi};
pub use error::ApiError;
pub use page::{Page, Walk};
