//! The applying half of a bench, read from the database: wait until the
//! workers have nothing left to do, then measure what they did.

use std::time::{Duration, Instant, SystemTime};

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::workload::Workload;

/// Waits for the queue to empty. Database errors (it may be restarting) are
/// waited out like an unfinished queue.
pub async fn wait_until_drained(
    pool: &PgPool,
    timeout: Duration,
    stop: &CancellationToken,
    mut on_tick: impl FnMut(Option<i64>),
) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline && !stop.is_cancelled() {
        let outstanding = tether_queue::inspect::outstanding(pool).await.ok();
        if outstanding == Some(0) {
            return true;
        }
        on_tick(outstanding);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// One sent event as the database has it.
pub struct SentEventRow {
    pub index: u64,
    pub received_at: f64,
    pub processed_at: Option<f64>,
}

/// Reads every sent event's row, in chunks so no statement gets huge.
pub async fn stored_rows(
    pool: &PgPool,
    workload: &Workload,
    sent: &[u64],
) -> Result<Vec<SentEventRow>, sqlx::Error> {
    let mut rows = Vec::with_capacity(sent.len());
    for chunk in sent.chunks(20_000) {
        let ids: Vec<String> = chunk.iter().map(|&i| workload.event_id(i)).collect();
        let found: Vec<(String, f64, Option<f64>)> = sqlx::query_as(
            "SELECT id, extract(epoch FROM received_at)::float8, extract(epoch FROM processed_at)::float8
             FROM stripe_events WHERE id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(pool)
        .await?;
        rows.extend(
            found
                .into_iter()
                .filter_map(|(id, received_at, processed_at)| {
                    Some(SentEventRow {
                        index: workload.index_of(&id)?,
                        received_at,
                        processed_at,
                    })
                }),
        );
    }
    Ok(rows)
}

/// End-to-end numbers over the stored rows.
#[derive(Debug, serde::Serialize)]
pub struct Applied {
    pub stored: u64,
    pub applied: u64,
    /// Applied events per second, from the first send to the last row applied.
    pub events_per_sec: f64,
    /// Applied events per second, from the first row applied to the last:
    /// the workers' rate while they had work.
    pub apply_per_sec: f64,
    /// From the row being stored to it being applied, in milliseconds.
    pub lag_ms: Percentiles,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(mut values: Vec<f64>) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
        Self {
            p50: at(0.50),
            p95: at(0.95),
            p99: at(0.99),
            max: values[values.len() - 1],
        }
    }
}

pub fn applied(rows: &[SentEventRow], started: SystemTime) -> Applied {
    let start = started
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let processed: Vec<&SentEventRow> = rows.iter().filter(|r| r.processed_at.is_some()).collect();
    let last = processed
        .iter()
        .filter_map(|r| r.processed_at)
        .fold(start, f64::max);
    let first = processed
        .iter()
        .filter_map(|r| r.processed_at)
        .fold(f64::INFINITY, f64::min);
    let lags = processed
        .iter()
        .map(|r| (r.processed_at.unwrap_or_default() - r.received_at) * 1000.0)
        .collect();
    Applied {
        stored: rows.len() as u64,
        applied: processed.len() as u64,
        events_per_sec: if last > start {
            processed.len() as f64 / (last - start)
        } else {
            0.0
        },
        apply_per_sec: if last > first {
            processed.len() as f64 / (last - first)
        } else {
            0.0
        },
        lag_ms: Percentiles::of(lags),
    }
}
