//! What ingest, worker and the CLI agree on: configuration, the database,
//! the Stripe event envelope, the Supabase webhook payload and the queue
//! contract between ingest and worker.

pub mod config;
pub mod db;
pub mod envelope;
pub mod queue;
pub mod samples;
pub mod supabase;
pub mod telemetry;
