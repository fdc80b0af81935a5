//! The states of a job, as apalis spells them in `apalis.jobs.status`.

use std::fmt;

/// A finished job is deleted in the transaction that applied it, so `Done`
/// (apalis's state for it) never appears in tether's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobStatus {
    /// New, or put back by a heartbeat or a shutdown.
    Pending,
    /// apalis's state between fetch and run; tether never sets it, but
    /// treats it like `Running` when it finds it.
    Queued,
    /// Claimed by a worker; the attempt is already counted.
    Running,
    /// An attempt failed; the next one is due at `run_at`.
    Failed,
    /// A dead letter: kept with its attempts and last error, never run again
    /// unless an operator replays it.
    Killed,
    /// apalis's finished state.
    Done,
}

impl JobStatus {
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Pending,
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Failed,
        JobStatus::Killed,
        JobStatus::Done,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "Pending",
            JobStatus::Queued => "Queued",
            JobStatus::Running => "Running",
            JobStatus::Failed => "Failed",
            JobStatus::Killed => "Killed",
            JobStatus::Done => "Done",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Still has work to do: waiting, running, or waiting for a retry.
    pub fn is_outstanding(self) -> bool {
        matches!(
            self,
            JobStatus::Pending | JobStatus::Queued | JobStatus::Running | JobStatus::Failed
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_as_itself() {
        for status in JobStatus::ALL {
            assert_eq!(JobStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(JobStatus::parse("pending"), None);
    }
}
