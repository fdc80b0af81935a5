//! Failures of a job, typed by what should happen next.

/// Why applying a job failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Worth another attempt later: the database was unreachable, a deadlock,
    /// a timeout, a rate limit.
    #[error("{0}")]
    Transient(String),
    /// Will fail the same way every time: dead-letter it now.
    #[error("{0}")]
    Permanent(String),
}

impl ApplyError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, ApplyError::Permanent(_))
    }
}

impl From<sqlx::Error> for ApplyError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            // Data exceptions (22) and integrity violations (23) come from the
            // event's content; trying again cannot change them.
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|c| c.starts_with("22") || c.starts_with("23")) =>
            {
                ApplyError::Permanent(format!("database refused the data: {}", db.message()))
            }
            sqlx::Error::Database(db) => {
                ApplyError::Transient(format!("database error: {}", db.message()))
            }
            other => ApplyError::Transient(format!("database unavailable: {other}")),
        }
    }
}
