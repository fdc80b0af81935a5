//! The one integration-test binary: real HTTP against a real PostgreSQL.
//! Each module is a feature; `helpers` is the harness they share.

mod bench;
mod billing;
mod compose;
mod config;
mod deploy;
mod docs;
mod fake_stripe;
mod feature_roles;
mod generic;
mod helpers;
mod ingest;
mod ingest_mode;
mod invoices;
mod limits;
mod metrics;
mod operators;
mod private_tables;
mod refunds;
mod retries;
mod roles;
mod signup_linking;
mod stripe_api;
mod supabase;
mod sync;
mod telemetry;
mod worker_support;
mod workers;
