//! `tether status`: the queue, the workers and recent throughput, from
//! cheap queries only (the jobs table holds just the backlog; recent events
//! and outcomes are found through BRIN indexes on their times), so it stays
//! fast with millions of stored events.

use std::{collections::BTreeMap, time::Duration};

use serde::Serialize;
use sqlx::PgPool;
use tether_queue::JobStatus;

use crate::OpsError;

/// A worker whose heartbeat is older than this is not counted as live. Its
/// heartbeat runs every TETHER_ORPHAN_AFTER_SECS / 4 (15 s by default).
pub const LIVE_WITHIN: Duration = Duration::from_secs(60);

/// The windows throughput is reported for, in minutes.
const WINDOWS: [u32; 3] = [1, 5, 15];

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Status {
    pub queue: Queue,
    pub live_workers: Vec<String>,
    pub windows: Vec<Window>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Queue {
    /// Jobs waiting to run now or being run.
    pub pending: i64,
    pub running: i64,
    /// Failed attempts waiting for their retry time.
    pub retrying: i64,
    pub dead: i64,
    pub oldest_pending_secs: Option<f64>,
}

/// Events received and outcomes logged in the last `minutes`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Window {
    pub minutes: u32,
    pub received: i64,
    pub applied: i64,
    pub errors: i64,
    /// `errors / (applied + errors)`; 0 when nothing ran.
    pub error_rate: f64,
    /// Outcome counts by event type, then status.
    pub by_type: BTreeMap<String, BTreeMap<String, i64>>,
}

/// The queue and workers, and the windows of events received and applied:
/// of every account, or of connected account `account` only.
pub async fn status(pool: &PgPool, account: Option<&str>) -> Result<Status, OpsError> {
    let counts = tether_queue::inspect::counts(pool).await?;
    let count = |s: JobStatus| counts.get(&s).copied().unwrap_or(0);
    let queue = Queue {
        pending: count(JobStatus::Pending),
        running: count(JobStatus::Running) + count(JobStatus::Queued),
        retrying: count(JobStatus::Failed),
        dead: count(JobStatus::Killed),
        oldest_pending_secs: tether_queue::inspect::oldest_pending_age(pool)
            .await?
            .map(|age| age.as_secs_f64()),
    };
    let live_workers = tether_queue::inspect::live_workers(pool, LIVE_WITHIN).await?;
    let mut windows = Vec::new();
    for minutes in WINDOWS {
        windows.push(window(pool, minutes, account).await?);
    }
    Ok(Status {
        queue,
        live_workers,
        windows,
    })
}

async fn window(pool: &PgPool, minutes: u32, account: Option<&str>) -> Result<Window, OpsError> {
    let received: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM received_events
         WHERE received_at > now() - make_interval(mins => $1)
           AND ($2::text IS NULL OR account = $2)",
    )
    .bind(minutes as i32)
    .bind(account)
    .fetch_one(pool)
    .await?;
    // A log row names its event; the event says its account.
    let outcomes: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT l.event_type, l.status, count(*) FROM webhook_logs l
         WHERE l.created_at > now() - make_interval(mins => $1)
           AND ($2::text IS NULL OR EXISTS (SELECT FROM received_events e
                                             WHERE e.id = l.event_id AND e.account = $2))
         GROUP BY 1, 2",
    )
    .bind(minutes as i32)
    .bind(account)
    .fetch_all(pool)
    .await?;
    let mut by_type: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let (mut applied, mut errors) = (0, 0);
    for (event_type, status, n) in outcomes {
        match status.as_str() {
            "success" | "stale" | "duplicate" | "ignored" => applied += n,
            "error" | "dead" => errors += n,
            _ => {}
        }
        by_type.entry(event_type).or_default().insert(status, n);
    }
    let ran = applied + errors;
    Ok(Window {
        minutes,
        received,
        applied,
        errors,
        error_rate: if ran == 0 {
            0.0
        } else {
            errors as f64 / ran as f64
        },
        by_type,
    })
}

/// Why a person is needed, if one is: dead letters, a queue that does not
/// move, or no worker alive.
pub fn needs_attention(status: &Status, max_pending_age: Duration) -> Option<String> {
    if status.queue.dead > 0 {
        return Some(format!(
            "{} dead letter(s): see `tether dlq list`",
            status.queue.dead
        ));
    }
    if status.live_workers.is_empty() {
        return Some("no live worker: no heartbeat in the last minute".into());
    }
    match status.queue.oldest_pending_secs {
        Some(age) if age > max_pending_age.as_secs_f64() => Some(format!(
            "the oldest pending job has waited {age:.0} s (more than {} s)",
            max_pending_age.as_secs()
        )),
        _ => None,
    }
}
