//! What becomes of refused requests.
//!
//! Anyone can send a request, so a refusal is logged at most once a second,
//! with the number refused since the last line: an unauthenticated client
//! cannot flood the logs. A delivery that passed its signature check but
//! could not be stored is different: only Stripe (or someone holding the
//! secret) can send one, and an operator needs to see it, so it is kept in
//! `rejected_deliveries` with its reason and the start of its body.

use std::sync::{
    Mutex,
    atomic::{AtomicU64, Ordering},
};

use sqlx::PgPool;

/// Bytes of a rejected body kept: enough to see what it was.
const EXCERPT_BYTES: usize = 2048;

/// This process's refusals: requests and connections refused.
pub static REFUSALS: std::sync::LazyLock<RefusalLog> =
    std::sync::LazyLock::new(RefusalLog::default);

/// Counts refusals and lets one log line through per second.
#[derive(Default)]
pub struct RefusalLog {
    refused: AtomicU64,
    last_logged: Mutex<Option<std::time::Instant>>,
    unlogged: AtomicU64,
}

impl RefusalLog {
    /// Counts one refusal; `Some(n)` when a line should be written now,
    /// where `n` refusals since the last line went unlogged.
    pub fn record(&self) -> Option<u64> {
        self.refused.fetch_add(1, Ordering::Relaxed);
        let mut last = self.last_logged.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        if last.is_some_and(|t| now.duration_since(t).as_secs() < 1) {
            self.unlogged.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *last = Some(now);
        Some(self.unlogged.swap(0, Ordering::Relaxed))
    }

    /// Refusals since the process started.
    pub fn total(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// A verified delivery that was not stored, or a redelivery whose body
/// differs from the stored one.
pub struct Rejected<'a> {
    pub event_id: Option<&'a str>,
    pub event_type: Option<&'a str>,
    pub reason: &'a str,
    pub body: &'a [u8],
}

/// Keeps the rejection; a failure to keep it is logged, never answered.
pub async fn keep(pool: &PgPool, rejected: Rejected<'_>) {
    let excerpt = String::from_utf8_lossy(&rejected.body[..rejected.body.len().min(EXCERPT_BYTES)]);
    let kept = sqlx::query(
        "INSERT INTO rejected_deliveries (event_id, event_type, reason, body_excerpt, body_bytes)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(rejected.event_id)
    .bind(rejected.event_type)
    .bind(rejected.reason)
    .bind(excerpt.replace('\0', ""))
    .bind(i32::try_from(rejected.body.len()).unwrap_or(i32::MAX))
    .execute(pool)
    .await;
    if let Err(error) = kept {
        tracing::warn!(error = %error, reason = rejected.reason, "could not record a rejected delivery");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_refusals_writes_one_line() {
        let log = RefusalLog::default();
        assert_eq!(log.record(), Some(0));
        for _ in 0..999 {
            assert_eq!(log.record(), None);
        }
        assert_eq!(log.total(), 1000);
    }
}
