//! Applying jobs: every event they name, in one transaction that also
//! marks them processed, writes their `webhook_logs` rows and completes the
//! jobs. Either all of that commits or none of it does, so a crash at any
//! point leaves the job to run again, and running it again is harmless.

use std::{
    collections::{BTreeMap, HashSet},
    time::{Duration, Instant},
};

use sqlx::{PgConnection, PgPool};
use tether_queue::ClaimedJob;
use tether_shared::telemetry::SPANS;
use tracing::Instrument;

use tether_sync::{self as sync, Change, Refusal, StripeObject, Version};

use crate::{
    error::ApplyError,
    logs::{LogRow, LogStatus, write_logs},
    trace::{EventFacts, EventSpans},
};

/// How many events of a claim ended each way.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcomes {
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
) -> Result<Outcomes, ApplyError> {
    let attempt = group.iter().map(|j| j.attempt).max().unwrap_or(1);
    let span = tracing::info_span!(target: SPANS, "apply", jobs = group.len(), attempt);
    let began = Instant::now();
    let applied = apply_in_transaction(pool, group, attempt, max_attempts)
        .instrument(span)
        .await;
    crate::metrics::applied_in(began.elapsed());
    applied
}

async fn apply_in_transaction(
    pool: &PgPool,
    group: &[ClaimedJob],
    attempt: i32,
    max_attempts: u32,
) -> Result<Outcomes, ApplyError> {
    let mut event_ids = Vec::new();
    for job in group {
        match &job.events {
            Ok(events) => event_ids.extend_from_slice(events),
            Err(error) => return Err(ApplyError::Payload(error.clone())),
        }
    }
    event_ids.sort_unstable();
    event_ids.dedup();
    let mut tx = sync::begin(pool).await?;
    let events = load_events(&mut tx, &event_ids).await?;
    let loaded_at = Instant::now();
    let mut plan = Plan::new(events, attempt, group);
    let spans = plan.open_spans();
    let applied = async {
        sync::lock_objects(&mut tx, &plan.lock_keys()).await?;
        let duplicates = mark_processed(&mut tx, &plan).await?;
        plan.apply(&mut tx, &duplicates, max_attempts).await?;
        write_logs(&mut tx, &plan.logs).await?;
        let job_ids: Vec<&str> = group.iter().map(|j| j.id.as_str()).collect();
        tether_queue::complete(&mut tx, &job_ids).await?;
        tx.commit().await?;
        Ok::<_, ApplyError>(())
    }
    .await;
    if let Err(error) = applied {
        spans.failed(&error);
        return Err(error);
    }
    spans.committed(&plan.logs);
    crate::metrics::outcomes_logged(&plan.logs);
    for age in plan.processed_ages() {
        crate::metrics::ack_to_applied(age + loaded_at.elapsed());
    }
    Ok(plan.outcomes())
}

/// One stored event (`received_events`), loaded to be applied.
struct LoadedEvent {
    id: String,
    event_type: String,
    created: i64,
    /// The connected account the event came from; `None` for the
    /// platform's own.
    account: Option<String>,
    object: StripeObject,
    /// Since `received_at` when loaded, by the database's clock (the
    /// worker's may differ from the one that stamped `received_at`).
    age: Duration,
}

async fn load_events(
    conn: &mut PgConnection,
    ids: &[String],
) -> Result<Vec<LoadedEvent>, sqlx::Error> {
    // The body as received; its `data.object` is read here, not by
    // PostgreSQL, which stores it as text. The age is by the database's
    // clock, which stamped `received_at`.
    type Row = (String, String, i64, Option<String>, String, f64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, type, extract(epoch FROM created)::int8, account, body,
                extract(epoch FROM clock_timestamp() - received_at)::float8
         FROM received_events WHERE id = ANY($1)",
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
        .map(
            |(id, event_type, created, account, body, age)| LoadedEvent {
                id,
                event_type,
                created,
                account,
                object: StripeObject::of_event(body),
                age: Duration::from_secs_f64(age.max(0.0)),
            },
        )
        .collect())
}

/// Marks the claim's events processed and returns those a claim before
/// this one had already marked: those are duplicates here. A refused event
/// is never marked, so it is only looked up.
///
/// This runs after the locks, so a claim that shares an event with this one
/// has committed by now and its mark conflicts. An event that locks nothing
/// (an ignored type) may be in two claims at once: the second insert waits
/// on the first's uncommitted mark, then sees it. Ids go in sorted, so two
/// such claims wait in the same order and cannot deadlock.
async fn mark_processed(
    conn: &mut PgConnection,
    plan: &Plan,
) -> Result<HashSet<String>, sqlx::Error> {
    let (mut markable, mut refused) = (Vec::new(), Vec::new());
    for entry in &plan.entries {
        let id = entry.event.id.as_str();
        match entry.change {
            Ok(_) => markable.push(id),
            Err(_) => refused.push(id),
        }
    }
    markable.sort_unstable();
    // A narrow row of its own: the event's row, body included, is never
    // rewritten.
    let marked: HashSet<String> = sqlx::query_scalar(
        "INSERT INTO processed_events (id) SELECT unnest($1::text[])
         ON CONFLICT (id) DO NOTHING RETURNING id",
    )
    .bind(&markable)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    let mut duplicates: HashSet<String> = markable
        .into_iter()
        .filter(|id| !marked.contains(*id))
        .map(str::to_owned)
        .collect();
    if !refused.is_empty() {
        let rows: Vec<String> =
            sqlx::query_scalar("SELECT id FROM processed_events WHERE id = ANY($1)")
                .bind(&refused)
                .fetch_all(conn)
                .await?;
        duplicates.extend(rows);
    }
    Ok(duplicates)
}

/// The events of one claim, what each changes, and what became of each.
struct Plan {
    entries: Vec<Entry>,
    logs: Vec<LogRow>,
    attempt: i32,
}

struct Entry {
    event: LoadedEvent,
    version: Version,
    /// `Ok(None)`: no synced kind handles the type.
    change: Result<Option<Change>, Refusal>,
    /// The trace context its delivery stored with the job.
    traceparent: Option<String>,
}

impl Plan {
    fn new(events: Vec<LoadedEvent>, attempt: i32, group: &[ClaimedJob]) -> Self {
        let entries = events
            .into_iter()
            .map(|event| Entry {
                traceparent: group
                    .iter()
                    .find_map(|j| j.traceparent(&event.id))
                    .map(str::to_owned),
                version: Version {
                    created: event.created,
                    rank: sync::order::rank(&event.event_type),
                    event_id: event.id.clone(),
                },
                change: sync::classify(&event.event_type, &event.object, event.account.as_deref()),
                event,
            })
            .collect();
        Self {
            entries,
            logs: Vec::new(),
            attempt,
        }
    }

    fn open_spans(&self) -> EventSpans {
        let facts = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, entry)| EventFacts {
                id: &entry.event.id,
                event_type: &entry.event.event_type,
                object_id: self.change(i).map(|c| c.object_id.as_str()),
                traceparent: entry.traceparent.as_deref(),
            });
        EventSpans::open(facts, self.attempt)
    }

    /// How long each event now marked processed had waited when loaded.
    fn processed_ages(&self) -> Vec<Duration> {
        let processed: HashSet<&str> = self.processed_ids().into_iter().collect();
        self.entries
            .iter()
            .filter(|e| processed.contains(e.event.id.as_str()))
            .map(|e| e.event.age)
            .collect()
    }

    fn change(&self, index: usize) -> Option<&Change> {
        self.entries[index].change.as_ref().ok()?.as_ref()
    }

    fn lock_keys(&self) -> Vec<&str> {
        (0..self.entries.len())
            .filter_map(|i| self.change(i))
            .flat_map(Change::lock_keys)
            .collect()
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
        duplicates: &HashSet<String>,
        max_attempts: u32,
    ) -> Result<(), ApplyError> {
        let mut pending = Vec::new();
        for index in 0..self.entries.len() {
            let entry = &self.entries[index];
            if duplicates.contains(&entry.event.id) {
                self.log(index, LogStatus::Duplicate, None);
                continue;
            }
            match &entry.change {
                Err(refusal) => {
                    let reason = ApplyError::from(refusal.clone()).to_string();
                    tether_queue::push_dead_traced(
                        conn,
                        &entry.event.id,
                        entry.traceparent.as_deref(),
                        self.attempt,
                        max_attempts,
                        &reason,
                    )
                    .await?;
                    self.log(index, LogStatus::Dead, Some(reason));
                }
                Ok(None) => self.log(index, LogStatus::Ignored, None),
                Ok(Some(_)) => pending.push(index),
            }
        }
        let written = self.write(conn, &pending).await?;
        for index in pending {
            let status = if written.contains(&self.entries[index].version.event_id) {
                LogStatus::Success
            } else {
                LogStatus::Stale
            };
            self.log(index, status, None);
        }
        Ok(())
    }

    /// Writes the changes account by account (the platform's own first),
    /// each with its account set, so the rows it inserts carry it
    /// (`sync::account`). The platform's own need no statement for it.
    async fn write(
        &self,
        conn: &mut PgConnection,
        pending: &[usize],
    ) -> Result<HashSet<String>, sqlx::Error> {
        let mut by_account: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
        for &index in pending {
            let account = self.entries[index].event.account.as_deref();
            by_account.entry(account).or_default().push(index);
        }
        let mut written = HashSet::new();
        for (account, of_account) in by_account {
            if account.is_some() {
                sync::account::set_account(conn, account).await?;
            }
            written.extend(self.write_in_account(conn, &of_account).await?);
        }
        Ok(written)
    }

    /// Writes the newest change per object, then any older deletion or
    /// cancellation the row does not show yet, and returns the ids of the
    /// events that changed a row.
    async fn write_in_account(
        &self,
        conn: &mut PgConnection,
        pending: &[usize],
    ) -> Result<HashSet<String>, sqlx::Error> {
        let newest = self.newest_per_object(pending);
        let changes: Vec<(&Version, &Change)> = newest
            .values()
            .filter_map(|&i| Some((&self.entries[i].version, self.change(i)?)))
            .collect();
        let written_objects = sync::write(conn, &changes).await?;
        let mut written: HashSet<String> = newest
            .iter()
            .filter(|(object, _)| written_objects.contains(**object))
            .map(|(_, &i)| self.entries[i].version.event_id.clone())
            .collect();
        // A deletion or cancellation that lost to a newer event still lands.
        let late_terminal: Vec<(&Version, &Change)> = pending
            .iter()
            .filter(|&&i| !written.contains(&self.entries[i].version.event_id))
            .filter_map(|&i| Some((&self.entries[i].version, self.change(i)?)))
            .filter(|(_, change)| change.terminal)
            .collect();
        let terminal_objects = sync::write_terminal(conn, &late_terminal).await?;
        written.extend(
            late_terminal
                .iter()
                .filter(|(_, change)| terminal_objects.contains(&change.object_id))
                .map(|(version, _)| version.event_id.clone()),
        );
        Ok(written)
    }

    /// One upsert cannot touch a row twice, and only the newest state
    /// matters: per object, the entry with the highest version.
    fn newest_per_object(&self, pending: &[usize]) -> BTreeMap<&str, usize> {
        let mut newest: BTreeMap<&str, usize> = BTreeMap::new();
        for &index in pending {
            let Some(change) = self.change(index).filter(|c| !c.stub) else {
                continue;
            };
            let current = newest.entry(change.object_id.as_str()).or_insert(index);
            if self.entries[*current].version < self.entries[index].version {
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

    fn outcomes(&self) -> Outcomes {
        let mut outcomes = Outcomes::default();
        for log in &self.logs {
            match log.status {
                LogStatus::Success => outcomes.success += 1,
                LogStatus::Stale => outcomes.stale += 1,
                LogStatus::Duplicate => outcomes.duplicate += 1,
                LogStatus::Ignored => outcomes.ignored += 1,
                LogStatus::Dead => outcomes.dead += 1,
                LogStatus::Error => {}
            }
        }
        outcomes
    }
}
