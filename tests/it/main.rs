//! The one integration-test binary: real HTTP against a real PostgreSQL.
//! Each module is a feature; `helpers` is the harness they share.

mod bench;
mod billing;
mod billing_fixtures;
mod compose;
mod config;
mod coupons;
mod deploy;
mod docs;
mod fake_stripe;
mod feature_roles;
mod generic;
mod helpers;
mod hostile_input;
mod ingest;
mod invoices;
mod limits;
mod metrics;
mod operators;
mod pagination;
mod refunds;
mod retries;
mod roles;
mod schedules;
mod stripe_api;
mod supabase;
mod sync;
mod taxes;
mod telemetry;
mod worker_support;
mod workers;
