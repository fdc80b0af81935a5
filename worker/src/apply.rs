//! Applying jobs: every event they name, in one transaction that also
//! marks them processed, writes their `webhook_logs` rows and completes the
//! jobs. Either all of that commits or none of it does, so a crash at any
//! point leaves the job to run again, and running it again is harmless.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::{
    error::ApplyError,
    jobs::{self, ClaimedJob},
    logs::{LogRow, LogStatus, write_logs},
    sync::{self, Change, StoredEvent, Version, customer, payment, subscription},
};

/// What one job did, by outcome.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    pub success: usize,
    pub stale: usize,
    pub duplicate: usize,
    pub ignored: usize,
    pub dead: usize,
}

/// Applies the events of one or more jobs in one transaction. Under a
/// backlog the consumer hands over several small jobs at once, so their
/// fixed cost (locks, statements, a commit) is paid once.
pub async fn apply_jobs(
    pool: &PgPool,
    group: &[ClaimedJob],
    max_attempts: u32,
) -> Result<Applied, ApplyError> {
    let mut event_ids = Vec::new();
    for job in group {
        event_ids.extend_from_slice(crate::job_event_ids(job)?);
    }
    event_ids.sort_unstable();
    event_ids.dedup();
    let attempt = group.iter().map(|j| j.attempt).max().unwrap_or(1);
    let mut tx = pool.begin().await?;
    let events = load_events(&mut tx, &event_ids).await?;
    let mut plan = Plan::new(events, attempt);
    lock_objects(&mut tx, &plan.lock_keys()).await?;
    // Read after the locks: a concurrent job holding the same event has
    // committed by now, and its mark is visible.
    let processed = already_processed(&mut tx, &event_ids).await?;
    plan.mark_duplicates(&processed);
    plan.apply(&mut tx, max_attempts).await?;
    let applied = plan.summary();
    mark_processed(&mut tx, &plan.processed_ids()).await?;
    write_logs(&mut tx, &plan.logs).await?;
    let job_ids: Vec<&str> = group.iter().map(|j| j.id.as_str()).collect();
    jobs::complete(&mut tx, &job_ids).await?;
    tx.commit().await?;
    Ok(applied)
}

async fn load_events(
    conn: &mut PgConnection,
    ids: &[String],
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let rows: Vec<(String, String, i64, Option<Value>)> = sqlx::query_as(
        "SELECT id, type, extract(epoch FROM created)::int8, payload -> 'data' -> 'object'
         FROM stripe_events WHERE id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    if rows.len() < ids.len() {
        tracing::warn!(
            missing = ids.len() - rows.len(),
            "job names events that are not stored; skipped"
        );
    }
    Ok(rows
        .into_iter()
        .map(|(id, event_type, created, object)| StoredEvent {
            id,
            event_type,
            created,
            object: object.unwrap_or(Value::Null),
            processed: false,
        })
        .collect())
}

/// One transaction-scoped advisory lock per Stripe object, taken in one
/// global order (by lock key) so that two jobs can never deadlock on them.
async fn lock_objects(conn: &mut PgConnection, keys: &[&str]) -> Result<(), sqlx::Error> {
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "SELECT count(pg_advisory_xact_lock(k))
         FROM (SELECT DISTINCT hashtextextended(o, 0) AS k FROM unnest($1::text[]) AS o ORDER BY 1) AS keys",
    )
    .bind(keys)
    .execute(conn)
    .await?;
    Ok(())
}

async fn already_processed(
    conn: &mut PgConnection,
    ids: &[String],
) -> Result<HashSet<String>, sqlx::Error> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM stripe_events WHERE id = ANY($1) AND processed_at IS NOT NULL",
    )
    .bind(ids)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

async fn mark_processed(conn: &mut PgConnection, ids: &[&str]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query("UPDATE stripe_events SET processed_at = now() WHERE id = ANY($1)")
        .bind(ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// The events of one job, what each changes, and what became of each.
struct Plan {
    entries: Vec<Entry>,
    logs: Vec<LogRow>,
    attempt: i32,
}

struct Entry {
    event: StoredEvent,
    version: Version,
    change: Result<Change, String>,
}

impl Plan {
    fn new(events: Vec<StoredEvent>, attempt: i32) -> Self {
        let entries = events
            .into_iter()
            .map(|event| Entry {
                version: Version {
                    created: event.created,
                    rank: sync::order::rank(&event.event_type),
                    event_id: event.id.clone(),
                },
                change: sync::classify(&event),
                event,
            })
            .collect();
        Self {
            entries,
            logs: Vec::new(),
            attempt,
        }
    }

    fn lock_keys(&self) -> Vec<&str> {
        self.entries
            .iter()
            .filter_map(|e| e.change.as_ref().ok())
            .flat_map(Change::lock_keys)
            .collect()
    }

    fn mark_duplicates(&mut self, processed: &HashSet<String>) {
        for entry in &mut self.entries {
            entry.event.processed = processed.contains(&entry.event.id);
        }
    }

    fn log(&mut self, index: usize, status: LogStatus, message: Option<String>) {
        let event = &self.entries[index].event;
        self.logs.push(LogRow {
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            status,
            error_message: message,
            attempt: self.attempt,
        });
    }

    async fn apply(
        &mut self,
        conn: &mut PgConnection,
        max_attempts: u32,
    ) -> Result<(), ApplyError> {
        let mut pending = Vec::new();
        for index in 0..self.entries.len() {
            let entry = &self.entries[index];
            match (&entry.change, entry.event.processed) {
                (_, true) => self.log(index, LogStatus::Duplicate, None),
                (Err(reason), false) => {
                    let reason = format!("permanent: {reason}");
                    jobs::insert_single(
                        conn,
                        &entry.event.id,
                        self.attempt,
                        max_attempts,
                        Some(&reason),
                    )
                    .await?;
                    self.log(index, LogStatus::Dead, Some(reason));
                }
                (Ok(Change::Ignored), false) => self.log(index, LogStatus::Ignored, None),
                (Ok(_), false) => pending.push(index),
            }
        }
        let written = self.write(conn, &pending).await?;
        for index in pending {
            let entry = &self.entries[index];
            let status = if written.contains(&entry.version.event_id) {
                LogStatus::Success
            } else {
                LogStatus::Stale
            };
            self.log(index, status, None);
        }
        Ok(())
    }

    /// Writes the newest change per object and returns the ids of the events
    /// that were written. Customers go first, so that the payments and
    /// subscriptions of the same job link to them rather than to placeholders.
    async fn write(
        &self,
        conn: &mut PgConnection,
        pending: &[usize],
    ) -> Result<HashSet<String>, sqlx::Error> {
        let newest = self.newest_per_object(pending);
        let mut customers = Vec::new();
        let mut payments = Vec::new();
        let mut subscriptions = Vec::new();
        for entry in newest.values().map(|&i| &self.entries[i]) {
            match &entry.change {
                Ok(Change::Customer(c)) => customers.push((&entry.version, c)),
                Ok(Change::Payment(p)) => payments.push((&entry.version, p)),
                Ok(Change::Subscription(s)) => subscriptions.push((&entry.version, s)),
                _ => {}
            }
        }
        let mut written_objects = customer::upsert(conn, &customers).await?;
        let referenced: Vec<&str> = payments
            .iter()
            .filter_map(|(_, p)| p.stripe_customer_id.as_deref())
            .chain(
                subscriptions
                    .iter()
                    .filter_map(|(_, s)| s.stripe_customer_id.as_deref()),
            )
            .collect();
        customer::ensure_placeholders(conn, &referenced).await?;
        written_objects.extend(payment::upsert(conn, &payments).await?);
        written_objects.extend(subscription::upsert(conn, &subscriptions).await?);
        Ok(newest
            .into_iter()
            .filter(|(object, _)| written_objects.contains(*object))
            .map(|(_, i)| self.entries[i].version.event_id.clone())
            .collect())
    }

    /// One upsert cannot touch a row twice, and only the newest state
    /// matters: per object, the entry with the highest version.
    fn newest_per_object(&self, pending: &[usize]) -> BTreeMap<&str, usize> {
        let mut newest: BTreeMap<&str, usize> = BTreeMap::new();
        for &index in pending {
            let entry = &self.entries[index];
            let Some(object) = entry.change.as_ref().ok().and_then(Change::object_id) else {
                continue;
            };
            let current = newest.entry(object).or_insert(index);
            if self.entries[*current].version < entry.version {
                *current = index;
            }
        }
        newest
    }

    fn processed_ids(&self) -> Vec<&str> {
        self.logs
            .iter()
            .filter(|l| {
                matches!(
                    l.status,
                    LogStatus::Success | LogStatus::Stale | LogStatus::Ignored
                )
            })
            .map(|l| l.event_id.as_str())
            .collect()
    }

    fn summary(&self) -> Applied {
        let mut applied = Applied::default();
        for log in &self.logs {
            match log.status {
                LogStatus::Success => applied.success += 1,
                LogStatus::Stale => applied.stale += 1,
                LogStatus::Duplicate => applied.duplicate += 1,
                LogStatus::Ignored => applied.ignored += 1,
                LogStatus::Dead => applied.dead += 1,
                LogStatus::Error => {}
            }
        }
        applied
    }
}
