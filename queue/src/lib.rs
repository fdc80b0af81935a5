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
//! - reports (bench, status): [`inspect`];
//! - operators: [`dead`] (list, replay, discard dead letters).
//!
//! Retry and dead-letter *policy* (how many attempts, how long to wait) is
//! the worker's; this crate only records what the worker decided.

mod claim;
pub mod dead;
mod error;
pub mod inspect;
mod payload;
mod push;
mod status;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod workers;

pub use claim::{ClaimedJob, claim, complete, kill, schedule_retry};
pub use error::QueueError;
pub use payload::{JobPayload, PayloadError};
pub use push::{push, push_dead, split};
pub use status::JobStatus;

/// The apalis `job_type` of every tether job.
pub const QUEUE: &str = "tether::stripe_events";

/// Sent by apalis's insert trigger on `apalis.jobs` for each job runnable now.
pub const NOTIFY_CHANNEL: &str = "apalis::job::insert";
