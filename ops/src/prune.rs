//! `tether prune`: retention. Removes processed raw events and
//! `webhook_logs` rows older than a window, in small batches that each
//! commit on their own, so no lock is held long and ingest keeps going.
//!
//! Never removed: an unprocessed event (queued, retrying or a dead
//! letter), the event a synced row's version points at (the ordering guard
//! compares against it), and the logs of events not yet processed (a dead
//! letter's history).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use tether_worker::sync::KINDS;

use crate::OpsError;

/// Rows deleted per statement.
const BATCH: i64 = 1_000;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Pruned {
    pub cutoff: DateTime<Utc>,
    pub events: u64,
    pub logs: u64,
    pub dry_run: bool,
}

pub async fn prune(pool: &PgPool, older_than: Duration, dry_run: bool) -> Result<Pruned, OpsError> {
    let cutoff =
        Utc::now() - chrono::Duration::from_std(older_than).unwrap_or(chrono::TimeDelta::MAX);
    let events = prunable_events();
    let logs = "FROM webhook_logs l WHERE l.created_at < $1
                AND NOT EXISTS (SELECT 1 FROM stripe_events e
                                WHERE e.id = l.event_id AND e.processed_at IS NULL)";
    let (events, logs) = if dry_run {
        (
            count(pool, &events, &cutoff).await?,
            count(pool, logs, &cutoff).await?,
        )
    } else {
        (
            delete(pool, "stripe_events", "id", &events, &cutoff).await?,
            delete(pool, "webhook_logs", "id", logs, &cutoff).await?,
        )
    };
    Ok(Pruned {
        cutoff,
        events,
        logs,
        dry_run,
    })
}

/// `FROM ... WHERE ...` of the events prune may remove: processed, older
/// than the cutoff, and no synced kind's row points at them.
fn prunable_events() -> String {
    let referenced: String = KINDS
        .iter()
        .map(|k| {
            format!(
                " AND NOT EXISTS (SELECT 1 FROM {} s WHERE s.last_event_id = e.id)",
                k.table()
            )
        })
        .collect();
    format!(
        "FROM stripe_events e WHERE e.received_at < $1 AND e.processed_at IS NOT NULL{referenced}"
    )
}

async fn count(pool: &PgPool, from_where: &str, cutoff: &DateTime<Utc>) -> Result<u64, OpsError> {
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) {from_where}")))
        .bind(cutoff)
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Deletes in batches until none is left; each batch is its own
/// transaction and skips rows another transaction holds.
async fn delete(
    pool: &PgPool,
    table: &str,
    key: &str,
    from_where: &str,
    cutoff: &DateTime<Utc>,
) -> Result<u64, OpsError> {
    let alias = if table == "stripe_events" { "e" } else { "l" };
    let statement = format!(
        "DELETE FROM {table} WHERE {key} IN
         (SELECT {alias}.{key} {from_where} LIMIT {BATCH} FOR UPDATE SKIP LOCKED)"
    );
    let mut deleted = 0;
    loop {
        let done = sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .bind(cutoff)
            .execute(pool)
            .await?
            .rows_affected();
        deleted += done;
        if done < BATCH as u64 {
            return Ok(deleted);
        }
    }
}
