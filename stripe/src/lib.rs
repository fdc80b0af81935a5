//! Stripe's webhook contract, as tether reads it. Both sides use it: the
//! receiver verifies and parses, and the clients (`send-test-event`,
//! `bench`) sign sample events, without depending on the server.
//!
//! - [`signature`]: `Stripe-Signature` verification and signing;
//! - [`secret`]: endpoint signing secrets (`whsec_...`), never printed;
//! - [`envelope`]: the event fields tether checks before it stores a body;
//! - [`kind`]: which Stripe object an event type is about;
//! - [`samples`]: Stripe's own fixture events, built into the binary.

pub mod envelope;
pub mod kind;
pub mod samples;
pub mod secret;
pub mod signature;
