//! What ingest, worker and the CLI agree on: configuration, the database,
//! the Stripe event envelope and the queue contract between ingest and worker.

pub mod config;
pub mod db;
pub mod envelope;
pub mod queue;
pub mod samples;
pub mod telemetry;
