//! The one integration-test binary: real HTTP against a real PostgreSQL.
//! Each module is a feature; `helpers` is the harness they share.

mod bench;
mod billing;
mod config;
mod fake_stripe;
mod helpers;
mod ingest;
mod limits;
mod metrics;
mod operators;
mod retries;
mod stripe_api;
mod supabase;
mod sync;
mod telemetry;
mod worker_support;
mod workers;
