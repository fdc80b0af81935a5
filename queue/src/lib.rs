//! The queue: apalis-postgres's `apalis.jobs` and `apalis.workers` tables,
//! and every statement tether runs against them. Nothing outside this crate
//! names those tables or a job status.
//!
//! tether uses apalis-postgres's schema (created by its migrations) but not
//! its `Worker`: `docs/queue.md` says why, and defines the words used here
//! (submission, batch, job, claim).
//!
//! Who calls what:
//! - ingest: [`push`], inside the transaction that stores the events;
//! - worker: [`claim`], then [`complete`] inside the transaction that applies
//!   the events, or on failure [`schedule_retry`], [`kill`] or [`split`];
//!   [`workers::heartbeat`] and [`workers::release_all`] for liveness;
//! - reports (bench, status): [`inspect`]; metrics: [`gauges`];
//! - operators: [`dead`] (list, replay, discard dead letters).
//!
//! Retry and dead-letter *policy* (how many attempts, how long to wait) is
//! the worker's; this crate only records what the worker decided.

mod claim;
pub mod dead;
mod error;
pub mod gauges;
pub mod inspect;
mod payload;
mod push;
pub mod signups;
mod status;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod workers;

pub use claim::{ClaimedJob, claim, complete, kill, schedule_retry};
pub use error::QueueError;
pub use payload::{JobPayload, PayloadError};
pub use push::{push, push_dead, push_dead_traced, split};
pub use status::JobStatus;

/// The apalis `job_type` of the jobs that name stored Stripe events.
pub const QUEUE: &str = "tether::stripe_events";

/// The apalis `job_type` of a Supabase sign-up to turn into a Stripe
/// customer (its payload: the `supabase_signups.id`).
pub const SIGNUP_QUEUE: &str = "tether::supabase_signups";

/// Every job type tether runs; a dead worker's jobs of each go back.
pub const JOB_TYPES: [&str; 2] = [QUEUE, SIGNUP_QUEUE];

/// Sent by apalis's insert trigger on `apalis.jobs` for each job runnable now.
pub const NOTIFY_CHANNEL: &str = "apalis::job::insert";
