//! The one integration-test binary: real HTTP against a real PostgreSQL.
//! Each module is a feature; `helpers` is the harness they share.

mod bench;
mod billing;
mod billing_fixtures;
mod checkout_line_items;
mod compose;
mod config;
mod coupons;
mod credit_notes;
mod deploy;
mod docs;
mod entitlements;
mod fake_stripe;
mod feature_roles;
mod generic;
mod helpers;
mod hostile_input;
mod ingest;
mod invoice_items;
mod invoices;
mod kind_support;
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
