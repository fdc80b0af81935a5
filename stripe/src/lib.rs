//! Stripe's webhook contract, as tether reads it. Both sides use it: the
//! receiver verifies and parses, and the clients (`send-test-event`,
//! `bench`) sign sample events, without depending on the server.
//!
//! - [`signature`]: `Stripe-Signature` verification and signing;
//! - [`secret`]: endpoint signing secrets (`whsec_...`), never printed;
//! - [`envelope`]: the event fields tether checks before it stores a body;
//! - [`kind`]: which Stripe object an event type is about;
//! - [`samples`]: Stripe's own fixture events, built into the binary.

/// The Stripe API version whose objects the kinds are written and tested
/// against (the sample events in `fixtures/stripe`): what `tether setup`
/// asks Stripe to send. Others are read too (drift is tolerated).
pub const API_VERSION: &str = "2026-07-29.dahlia";

pub mod envelope;
pub mod kind;
pub mod samples;
pub mod secret;
pub mod signature;
