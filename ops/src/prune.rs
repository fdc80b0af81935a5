//! `tether prune`: retention. Removes processed raw events and
//! `webhook_logs` rows older than a window, in batches that each commit on
//! their own, so no lock is held long and ingest keeps going.
//!
//! Never removed: an unprocessed event (queued, retrying or a dead
//! letter), the event a synced row's version points at (the ordering guard
//! compares against it), and a dead letter's history: the logs of events
//! not yet processed and of sign-ups not yet customers. An event `replay`
//! queues again while prune runs is unprocessed by the time prune may
//! remove it: the two serialize on the event's row ([`crate::locks`]).

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
    let (events, logs) = if dry_run {
        let events = format!("FROM received_events e WHERE {}", prunable_event());
        (
            count(pool, &events, &cutoff).await?,
            count(pool, PRUNABLE_LOGS, &cutoff).await?,
        )
    } else {
        (
            delete_events(pool, &cutoff).await?,
            delete_logs(pool, &cutoff).await?,
        )
    };
    Ok(Pruned {
        cutoff,
        events,
        logs,
        dry_run,
    })
}

/// `FROM ... WHERE ...` of the logs prune may remove: older than the
/// cutoff, and not a dead letter's history. That is, not about a stored
/// event that is not processed, nor about a sign-up that has not become a
/// customer and was not discarded (a discarded Stripe event counts as
/// processed; a sign-up has only its `discarded` log to say so).
const PRUNABLE_LOGS: &str = "FROM webhook_logs l WHERE l.created_at < $1
    AND NOT EXISTS (SELECT 1 FROM received_events e WHERE e.id = l.event_id
                    AND NOT EXISTS (SELECT 1 FROM processed_events p WHERE p.id = e.id))
    AND NOT EXISTS (SELECT 1 FROM supabase_signups s WHERE s.id::text = l.event_id
                    AND s.processed_at IS NULL
                    AND NOT EXISTS (SELECT 1 FROM webhook_logs d
                                    WHERE d.event_id = l.event_id AND d.status = 'discarded'))";

/// The condition on `received_events e` for an event prune may remove:
/// older than the cutoff (`$1`), processed, and no synced kind's row points
/// at it.
fn prunable_event() -> String {
    // Two kinds may share a table (plans are prices): each table once.
    let tables: std::collections::BTreeSet<&str> = KINDS.iter().map(|k| k.table()).collect();
    let referenced: String = tables
        .iter()
        .map(|table| {
            format!(" AND NOT EXISTS (SELECT 1 FROM {table} s WHERE s.last_event_id = e.id)")
        })
        .collect();
    format!(
        "e.received_at < $1
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

/// Removes prunable events, one block range per transaction: lock the
/// candidates (skipping any a replay holds), then, in a statement begun
/// after the locks are ours, delete those still prunable. The second look
/// is what keeps an event a replay queued again meanwhile: the first saw
/// the database before that replay committed (see [`crate::locks`]).
/// Returns how many events it removed.
async fn delete_events(pool: &PgPool, cutoff: &DateTime<Utc>) -> Result<u64, OpsError> {
    let prunable = prunable_event();
    let lock = format!(
        "SELECT e.id FROM received_events e WHERE {prunable}
           AND e.ctid >= format('(%s,0)', $2::int8)::tid
           AND e.ctid < format('(%s,0)', $3::int8)::tid
         FOR UPDATE OF e SKIP LOCKED"
    );
    // An event's processed mark goes with it.
    let remove = format!(
        "WITH gone AS (DELETE FROM received_events e WHERE e.id = ANY($2) AND {prunable}
                       RETURNING e.id),
              marks AS (DELETE FROM processed_events p USING gone WHERE p.id = gone.id)
         SELECT count(*) FROM gone"
    );
    let mut removed = 0;
    for (start, end) in block_ranges(pool, "received_events").await? {
        let mut tx = pool.begin().await?;
        let held: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(lock.clone()))
            .bind(cutoff)
            .bind(start)
            .bind(end)
            .fetch_all(&mut *tx)
            .await?;
        if !held.is_empty() {
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(remove.clone()))
                .bind(cutoff)
                .bind(&held)
                .fetch_one(&mut *tx)
                .await?;
            removed += u64::try_from(n).unwrap_or(0);
        }
        tx.commit().await?;
    }
    Ok(removed)
}

/// Removes prunable logs, one block range per statement, skipping rows
/// another transaction holds; returns how many.
async fn delete_logs(pool: &PgPool, cutoff: &DateTime<Utc>) -> Result<u64, OpsError> {
    let statement = format!(
        "DELETE FROM webhook_logs WHERE id IN
         (SELECT l.id {PRUNABLE_LOGS}
            AND l.ctid >= format('(%s,0)', $2::int8)::tid
            AND l.ctid < format('(%s,0)', $3::int8)::tid
          FOR UPDATE OF l SKIP LOCKED)"
    );
    let mut deleted = 0;
    for (start, end) in block_ranges(pool, "webhook_logs").await? {
        deleted += sqlx::query(sqlx::AssertSqlSafe(statement.clone()))
            .bind(cutoff)
            .bind(start)
            .bind(end)
            .execute(pool)
            .await?
            .rows_affected();
    }
    Ok(deleted)
}

/// The table's blocks in slices of `BLOCKS_PER_BATCH`, so a delete walks
/// the table once by TID range scans: each batch reads a fixed slice, and
/// the work is linear in the table's size. (Deleting "the first 1,000
/// matches" over and over rescans the dead rows of every earlier batch.)
async fn block_ranges(pool: &PgPool, table: &str) -> Result<Vec<(i64, i64)>, OpsError> {
    let blocks: i64 = sqlx::query_scalar(
        "SELECT (pg_relation_size($1::regclass) / current_setting('block_size')::int8)::int8",
    )
    .bind(table)
    .fetch_one(pool)
    .await?;
    let mut ranges = Vec::new();
    let mut start = 0;
    while start < blocks {
        ranges.push((start, start + BLOCKS_PER_BATCH));
        start += BLOCKS_PER_BATCH;
    }
    Ok(ranges)
}
