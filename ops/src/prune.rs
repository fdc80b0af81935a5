//! `tether prune`: retention. Removes processed raw events and
//! `webhook_logs` rows older than a window, in batches that each commit on
//! their own, so no lock is held long and ingest keeps going.
//!
//! Never removed: an unprocessed event (queued, retrying or a dead
//! letter), the event a synced row's version points at (the ordering guard
//! compares against it), and the logs of events not yet processed (a dead
//! letter's history).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use tether_sync::KINDS;

use crate::OpsError;

/// Table blocks (8 kB) one delete statement covers: about 250 events or
/// 8,000 log rows.
const BLOCKS_PER_BATCH: i64 = 128;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Pruned {
    pub cutoff: DateTime<Utc>,
    pub events: u64,
    pub logs: u64,
    pub dry_run: bool,
}

pub async fn prune(pool: &PgPool, older_than: Duration, dry_run: bool) -> Result<Pruned, OpsError> {
    let cutoff = tether_shared::bounds::before_now(older_than)?;
    let events = prunable_events();
    let logs = "FROM webhook_logs l WHERE l.created_at < $1
                AND NOT EXISTS (SELECT 1 FROM received_events e WHERE e.id = l.event_id
                                AND NOT EXISTS (SELECT 1 FROM processed_events p WHERE p.id = e.id))";
    let (events, logs) = if dry_run {
        (
            count(pool, &events, &cutoff).await?,
            count(pool, logs, &cutoff).await?,
        )
    } else {
        (
            delete(pool, "received_events", "id", &events, &cutoff).await?,
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
    // Two kinds may share a table (plans are prices): each table once.
    let tables: std::collections::BTreeSet<&str> = KINDS.iter().map(|k| k.table()).collect();
    let referenced: String = tables
        .iter()
        .map(|table| {
            format!(" AND NOT EXISTS (SELECT 1 FROM {table} s WHERE s.last_event_id = e.id)")
        })
        .collect();
    format!(
        "FROM received_events e WHERE e.received_at < $1
         AND EXISTS (SELECT 1 FROM processed_events p WHERE p.id = e.id){referenced}"
    )
}

async fn count(pool: &PgPool, from_where: &str, cutoff: &DateTime<Utc>) -> Result<u64, OpsError> {
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) {from_where}")))
        .bind(cutoff)
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Deletes in batches, walking the table once by block ranges (TID range
/// scans): each batch reads a fixed slice of the table, so the work is
/// linear in its size. (Deleting "the first 1,000 matches" over and over
/// rescans the dead rows of every earlier batch.) Each batch is its own
/// transaction and skips rows another transaction holds.
async fn delete(
    pool: &PgPool,
    table: &str,
    key: &str,
    from_where: &str,
    cutoff: &DateTime<Utc>,
) -> Result<u64, OpsError> {
    let alias = if table == "received_events" { "e" } else { "l" };
    let blocks: i64 = sqlx::query_scalar(
        "SELECT (pg_relation_size($1::regclass) / current_setting('block_size')::int8)::int8",
    )
    .bind(table)
    .fetch_one(pool)
    .await?;
    let mut statement = format!(
        "DELETE FROM {table} WHERE {key} IN
         (SELECT {alias}.{key} {from_where}
            AND {alias}.ctid >= format('(%s,0)', $2::int8)::tid
            AND {alias}.ctid < format('(%s,0)', $3::int8)::tid
          FOR UPDATE OF {alias} SKIP LOCKED)"
    );
    if table == "received_events" {
        // An event's processed mark goes with it.
        statement = format!(
            "WITH gone AS ({statement} RETURNING {key})
             DELETE FROM processed_events p USING gone WHERE p.id = gone.{key}"
        );
    }
    let mut deleted = 0;
    let mut start = 0;
    while start < blocks {
        let end = start + BLOCKS_PER_BATCH;
        deleted += sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .bind(cutoff)
            .bind(start)
            .bind(end)
            .execute(pool)
            .await?
            .rows_affected();
        start = end;
    }
    Ok(deleted)
}
