//! Failures of a job, typed by what should happen next: a transient one is
//! retried after a delay, a permanent one is dead-lettered at once.

use tether_queue::{PayloadError, QueueError};

use tether_sync::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The database could not run the job now (unreachable, a deadlock, a
    /// timeout): worth another attempt later.
    #[error("database error: {}", detail(.0))]
    Database(#[source] sqlx::Error),
    /// The database refuses what the event holds: trying again cannot
    /// change that.
    #[error("database refused the event's data: {}", detail(.0))]
    Refused(#[source] sqlx::Error),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Payload(#[from] PayloadError),
    #[error("permanent: {0}")]
    Refusal(#[from] Refusal),
    /// Claimed past the attempt limit: its earlier runs never finished.
    #[error(
        "gave up after {attempts} attempts that never finished (the worker died or was stopped mid-job)"
    )]
    NeverFinished { attempts: i32 },
}

impl ApplyError {
    pub fn is_permanent(&self) -> bool {
        match self {
            ApplyError::Database(_) | ApplyError::Queue(_) => false,
            ApplyError::Refused(_)
            | ApplyError::Payload(_)
            | ApplyError::Refusal(_)
            | ApplyError::NeverFinished { .. } => true,
        }
    }
}

impl From<sqlx::Error> for ApplyError {
    fn from(error: sqlx::Error) -> Self {
        // Data exceptions (22), integrity violations (23) and program
        // limits such as an index row too large (54) come from the event's
        // content, and so does a stored value our types cannot decode
        // (a number beyond f64): trying again cannot change them.
        let from_content = match &error {
            sqlx::Error::Database(db) => db
                .code()
                .is_some_and(|c| ["22", "23", "54"].iter().any(|class| c.starts_with(class))),
            sqlx::Error::Decode(_) | sqlx::Error::ColumnDecode { .. } => true,
            _ => false,
        };
        if from_content {
            ApplyError::Refused(error)
        } else {
            ApplyError::Database(error)
        }
    }
}

/// What PostgreSQL said, without sqlx's "error returned from database" prefix.
fn detail(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => db.message().to_owned(),
        other => other.to_string(),
    }
}
