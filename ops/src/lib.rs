//! What operators do to a running tether, shared by the command line
//! (`tether dlq`, `status`, `replay`, `prune`, `backfill`, `reconcile`)
//! and the admin API: each
//! operation is a function over the database returning plain data, which
//! the two front ends print or serialize.

pub mod accounts;
mod app_tables;
pub mod backfill;
mod backfill_per_parent;
pub mod dlq;
pub mod follow;
pub mod link_user;
mod locks;
pub mod lookup;
pub mod progress;
pub mod prune;
pub mod reconcile;
pub mod rejected;
pub mod replay;
pub mod setup;
pub mod signups;
pub mod snapshot;
pub mod status;

/// An operation failed. Every cause but a value out of bounds is the
/// database's: the operations hold no state of their own.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Queue(#[from] tether_queue::QueueError),
    #[error("no dead letter with id {0}")]
    NotFound(String),
    #[error("no stored event with id {0}")]
    NoSuchEvent(String),
    /// A caller passed a value past `tether_shared::bounds`; the front ends
    /// check first, so this is the last guard, not the usual path.
    #[error(transparent)]
    OutOfBounds(#[from] tether_shared::bounds::BoundsError),
}
