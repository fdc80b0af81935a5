//! Dead letters: jobs in `Killed`, kept with their attempts and last error
//! until an operator replays or discards them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use crate::{JOB_TYPES, JobPayload, JobStatus, NOTIFY_CHANNEL, QueueError, SIGNUP_QUEUE};

#[derive(Debug, Clone)]
pub struct DeadJob {
    pub job_id: String,
    /// `QUEUE` (Stripe events) or `SIGNUP_QUEUE` (a Supabase sign-up).
    pub job_type: String,
    /// What it names: the Stripe event ids, or the sign-up's id; empty when
    /// its payload is unreadable.
    pub events: Vec<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub died_at: Option<DateTime<Utc>>,
}

/// Which dead letters a [`scan`] reads, newest first.
#[derive(Debug, Clone, Default)]
pub struct Scan<'a> {
    /// Died within this long.
    pub since: Option<Duration>,
    /// Text the last error contains, compared case-insensitively.
    pub error_contains: Option<&'a str>,
    /// The type of an event the job names (`supabase.signup` for a
    /// sign-up). A prefilter too: the events' ids are read from the
    /// payload's text, so a type filter costs one round trip, not one per
    /// chunk of letters.
    pub event_type: Option<&'a str>,
    /// The connected account of an event the job names, prefiltered with
    /// the type in the same lookup: one event must have both (a sign-up
    /// has no account).
    pub account: Option<&'a str>,
    /// Job ids, or event ids the job names; empty means any. Matched
    /// loosely here (the id anywhere in the payload: a JSON list of
    /// events, or a sign-up's bare id); callers check the decoded payload.
    pub ids: &'a [String],
    /// Start after this position (keyset pagination): never an OFFSET, so
    /// the thousandth page costs what the first does.
    pub after: Option<&'a Position>,
    /// End at this position, inclusive: the far end of a window (see
    /// [`window_end`]).
    pub until: Option<&'a Position>,
    pub limit: Option<i64>,
}

/// Where a dead letter sorts: when it died, then its job id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Always set for a letter tether killed; `None` sorts last.
    pub died_at: Option<DateTime<Utc>>,
    pub job_id: String,
}

impl DeadJob {
    pub fn position(&self) -> Position {
        Position {
            died_at: self.died_at,
            job_id: self.job_id.clone(),
        }
    }
}

/// A quoted `evt_` id in a job's payload (read as `encode(job, 'escape')`,
/// which never fails, whatever the bytes).
const QUOTED_EVENT_ID: &str = r#""(evt_[^"\\]*)""#;

/// Every dead letter, newest first; with `since`, only those that died
/// within it.
pub async fn list(pool: &PgPool, since: Option<Duration>) -> Result<Vec<DeadJob>, QueueError> {
    scan(
        pool,
        &Scan {
            since,
            ..Scan::default()
        },
    )
    .await
}

/// The position of the `count`-th dead letter after `after` (newest
/// first), or `None` when fewer remain: where a window of `count` letters
/// ends. Read from the dead-letter index alone, without the payloads.
pub async fn window_end(
    pool: &PgPool,
    after: Option<&Position>,
    count: i64,
) -> Result<Option<Position>, QueueError> {
    let row: Option<(Option<DateTime<Utc>>, String)> = sqlx::query_as(
        "SELECT done_at, id FROM apalis.jobs
         WHERE status = 'Killed' AND job_type = ANY($1)
           AND ($3::text IS NULL
                OR (coalesce(done_at, '-infinity'::timestamptz), id)
                   < (coalesce($2::timestamptz, '-infinity'::timestamptz), $3::text))
         ORDER BY coalesce(done_at, '-infinity'::timestamptz) DESC, id DESC
         OFFSET $4 LIMIT 1",
    )
    .bind(JOB_TYPES)
    .bind(after.map(|p| p.died_at))
    .bind(after.map(|p| p.job_id.as_str()))
    .bind(count.max(1) - 1)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(died_at, job_id)| Position { died_at, job_id }))
}

/// Dead letters in the order of the dead-letter index (migration
/// 20261205000100): newest first, by `coalesce(done_at, '-infinity')`
/// then id. The status is a literal so the planner can use that partial
/// index.
pub async fn scan(pool: &PgPool, scan: &Scan<'_>) -> Result<Vec<DeadJob>, QueueError> {
    type Row = (
        String,
        String,
        Vec<u8>,
        i32,
        Option<String>,
        Option<DateTime<Utc>>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, job_type, job, attempts, last_result->>'Err', done_at FROM apalis.jobs
         WHERE status = 'Killed' AND job_type = ANY($1)
           AND ($2::float8 IS NULL OR done_at >= now() - make_interval(secs => $2))
           AND ($3::text IS NULL OR strpos(lower(last_result->>'Err'), lower($3)) > 0)
           AND (cardinality($4::text[]) = 0 OR id = ANY($4)
                OR EXISTS (SELECT 1 FROM unnest($4::text[]) AS wanted(id)
                           WHERE position(convert_to(wanted.id, 'UTF8') IN job) > 0))
           AND ($6::text IS NULL
                OR (coalesce(done_at, '-infinity'::timestamptz), id)
                   < (coalesce($5::timestamptz, '-infinity'::timestamptz), $6::text))
           AND (($8::text IS NULL AND $11::text IS NULL)
                OR ($8 = 'supabase.signup' AND $11 IS NULL AND job_type = $9)
                OR EXISTS (SELECT 1 FROM regexp_matches(encode(job, 'escape'), $10, 'g') AS named(id)
                           JOIN received_events r ON r.id = named.id[1]
                           WHERE ($8 IS NULL OR r.type = $8) AND ($11 IS NULL OR r.account = $11)))
           AND ($13::text IS NULL
                OR (coalesce(done_at, '-infinity'::timestamptz), id)
                   >= (coalesce($12::timestamptz, '-infinity'::timestamptz), $13::text))
         ORDER BY coalesce(done_at, '-infinity'::timestamptz) DESC, id DESC
         LIMIT $7",
    )
    .bind(JOB_TYPES)
    .bind(scan.since.map(|s| s.as_secs_f64()))
    .bind(scan.error_contains)
    .bind(scan.ids)
    .bind(scan.after.map(|p| p.died_at))
    .bind(scan.after.map(|p| p.job_id.as_str()))
    .bind(scan.limit)
    .bind(scan.event_type)
    .bind(SIGNUP_QUEUE)
    .bind(QUOTED_EVENT_ID)
    .bind(scan.account)
    .bind(scan.until.map(|p| p.died_at))
    .bind(scan.until.map(|p| p.job_id.as_str()))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(job_id, job_type, job, attempts, last_error, died_at)| DeadJob {
                job_id,
                events: if job_type == SIGNUP_QUEUE {
                    vec![String::from_utf8_lossy(&job).into_owned()]
                } else {
                    JobPayload::from_bytes(&job)
                        .map(|p| p.events)
                        .unwrap_or_default()
                },
                job_type,
                attempts,
                last_error,
                died_at,
            },
        )
        .collect())
}

/// Puts dead letters back on the queue with their attempts reset, and
/// wakes the workers. Returns the ids of the jobs that were dead and are
/// now pending: a job no longer dead (replayed or discarded meanwhile,
/// even by a transaction this one waited for) is left alone and not
/// returned, so two operators never both count one letter.
pub async fn revive(
    conn: &mut PgConnection,
    job_ids: &[String],
) -> Result<Vec<String>, QueueError> {
    let held = hold(conn, job_ids).await?;
    let revived: Vec<String> = sqlx::query_scalar(
        "UPDATE apalis.jobs SET status = $2, attempts = 0, run_at = now(), lock_by = NULL,
                lock_at = NULL, done_at = NULL, last_result = NULL
         WHERE id = ANY($1) RETURNING id",
    )
    .bind(&held)
    .bind(JobStatus::Pending.as_str())
    .fetch_all(&mut *conn)
    .await?;
    // apalis's trigger announces inserts only.
    sqlx::query("SELECT pg_notify($1, 'revived')")
        .bind(NOTIFY_CHANNEL)
        .execute(conn)
        .await?;
    Ok(revived)
}

/// Deletes dead letters; returns the ids that were dead (as [`revive`],
/// a job no longer dead is left alone).
pub async fn remove(
    conn: &mut PgConnection,
    job_ids: &[String],
) -> Result<Vec<String>, QueueError> {
    let held = hold(conn, job_ids).await?;
    Ok(
        sqlx::query_scalar("DELETE FROM apalis.jobs WHERE id = ANY($1) RETURNING id")
            .bind(&held)
            .fetch_all(conn)
            .await?,
    )
}

/// Locks the dead letters among `job_ids` until the transaction ends, in
/// id order, so that two operators replaying and discarding overlapping
/// sets wait for each other instead of deadlocking. Returns the ids still
/// dead once locked: after waiting, PostgreSQL checks the status again.
async fn hold(conn: &mut PgConnection, job_ids: &[String]) -> Result<Vec<String>, QueueError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM apalis.jobs WHERE job_type = ANY($1) AND status = $3 AND id = ANY($2)
         ORDER BY id FOR UPDATE",
    )
    .bind(JOB_TYPES)
    .bind(job_ids)
    .bind(JobStatus::Killed.as_str())
    .fetch_all(conn)
    .await?)
}
