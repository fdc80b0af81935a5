//! How far the imports have come: `tether backfill` per kind (its
//! `backfill_cursors` row, committed with each page) and `tether follow`
//! (the `created` of the newest event it read from Stripe's event log).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::OpsError;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Progress {
    /// Every kind a backfill has started, in the order backfill runs them.
    pub backfill: Vec<KindCursor>,
    /// Where following Stripe's event log resumes; `None` before its first
    /// poll (or when tether is fed by webhooks only).
    pub follow_cursor: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KindCursor {
    pub kind: String,
    pub objects: i64,
    /// The last object id written: where an interrupted run resumes.
    pub starting_after: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

type CursorRow = (
    String,
    i64,
    Option<String>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

pub async fn progress(pool: &PgPool) -> Result<Progress, OpsError> {
    let rows: Vec<CursorRow> = sqlx::query_as(
        "SELECT kind, objects, starting_after, started_at, finished_at FROM backfill_cursors",
    )
    .fetch_all(pool)
    .await?;
    let order: Vec<&str> = crate::backfill::kinds()
        .iter()
        .filter_map(|k| k.list().map(|l| l.name))
        .collect();
    let mut backfill: Vec<KindCursor> = rows
        .into_iter()
        .map(
            |(kind, objects, starting_after, started_at, finished_at)| KindCursor {
                kind,
                objects,
                starting_after,
                started_at,
                finished_at,
            },
        )
        .collect();
    backfill.sort_by_key(|k| {
        order
            .iter()
            .position(|o| *o == k.kind)
            .unwrap_or(usize::MAX)
    });
    let follow_cursor = crate::follow::cursor(pool)
        .await?
        .and_then(|secs| DateTime::from_timestamp(secs, 0));
    Ok(Progress {
        backfill,
        follow_cursor,
    })
}
