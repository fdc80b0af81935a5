//! Dead letters, as operators see them: one per event, with its type, its
//! object and every attempt's error, and the two ways out (replay,
//! discard). Replaying goes through the normal idempotent path, so
//! replaying twice, or replaying an event that has since been applied, does
//! no harm.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::OpsError;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeadLetter {
    /// The event's id (the job's id when its payload is unreadable).
    pub id: String,
    pub job_id: String,
    pub event_type: Option<String>,
    pub object_id: Option<String>,
    /// The connected account the event came from; null for the platform's
    /// own (and for sign-ups).
    pub account: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub died_at: Option<DateTime<Utc>>,
}

/// Which dead letters an operation takes.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Event ids (or job ids); empty means every dead letter.
    pub ids: Vec<String>,
    pub event_type: Option<String>,
    /// Only events of this connected account.
    pub account: Option<String>,
    /// Died within this long.
    pub since: Option<Duration>,
    pub limit: Option<usize>,
}

pub async fn list(pool: &PgPool, filter: &Filter) -> Result<Vec<DeadLetter>, OpsError> {
    let jobs = tether_queue::dead::list(pool, filter.since).await?;
    let event_ids: Vec<&str> = jobs
        .iter()
        .flat_map(|j| j.events.iter().map(String::as_str))
        .collect();
    // A Stripe event's type, object and account, or a sign-up's kind and row.
    type Described = (String, Option<String>, Option<String>);
    let described: HashMap<String, Described> =
        sqlx::query_as::<_, (String, String, Option<String>, Option<String>)>(
            "SELECT id, type, payload -> 'data' -> 'object' ->> 'id', account FROM stripe_events
         WHERE id = ANY($1)
         UNION ALL
         SELECT id::text, 'supabase.signup', kind || ' ' || row_id, NULL FROM supabase_signups
         WHERE id::text = ANY($1)",
        )
        .bind(&event_ids)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|(id, event_type, object, account)| (id, (event_type, object, account)))
        .collect();
    let mut letters = Vec::new();
    for job in jobs {
        let ids = if job.events.is_empty() {
            vec![job.job_id.clone()]
        } else {
            job.events.clone()
        };
        for id in ids {
            let (event_type, object_id, account) = match described.get(&id).cloned() {
                Some((event_type, object_id, account)) => (Some(event_type), object_id, account),
                None => (None, None, None),
            };
            letters.push(DeadLetter {
                id,
                job_id: job.job_id.clone(),
                event_type,
                object_id,
                account,
                attempts: job.attempts,
                last_error: job.last_error.clone(),
                died_at: job.died_at,
            });
        }
    }
    letters.retain(|l| {
        (filter.ids.is_empty() || filter.ids.iter().any(|id| *id == l.id || *id == l.job_id))
            && filter
                .event_type
                .as_ref()
                .is_none_or(|t| l.event_type.as_ref() == Some(t))
            && filter
                .account
                .as_ref()
                .is_none_or(|a| l.account.as_ref() == Some(a))
    });
    if let Some(limit) = filter.limit {
        letters.truncate(limit);
    }
    Ok(letters)
}

/// One attempt at an event, from `webhook_logs`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Attempt {
    pub at: DateTime<Utc>,
    pub attempt: Option<i32>,
    pub status: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    #[serde(flatten)]
    pub letter: DeadLetter,
    pub history: Vec<Attempt>,
    /// The event as stored, read as JSON here rather than by PostgreSQL, so
    /// a body jsonb refuses (a `\u0000` in a name) is shown too.
    pub payload: Option<serde_json::Value>,
    /// The stored body byte for byte, when jsonb refuses it (so the
    /// `stripe_events` view shows its payload as null) or it is not JSON
    /// at all: the letters that most need a look.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

pub async fn show(pool: &PgPool, id: &str) -> Result<Detail, OpsError> {
    let filter = Filter {
        ids: vec![id.to_owned()],
        ..Filter::default()
    };
    let letter = list(pool, &filter)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| OpsError::NotFound(id.to_owned()))?;
    let history = sqlx::query_as::<_, (DateTime<Utc>, Option<i32>, String, Option<String>)>(
        "SELECT created_at, attempt, status, error_message FROM webhook_logs
         WHERE event_id = $1 ORDER BY created_at, id",
    )
    .bind(&letter.id)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(at, attempt, status, error)| Attempt {
        at,
        attempt,
        status,
        error,
    })
    .collect();
    let (payload, body) = stored_body(pool, &letter.id).await?;
    Ok(Detail {
        letter,
        history,
        payload,
        body,
    })
}

/// The letter's stored body: parsed, and raw when jsonb cannot read it.
/// The body is read as text, never through a jsonb cast, so no stored
/// event can make this fail.
async fn stored_body(
    pool: &PgPool,
    id: &str,
) -> Result<(Option<serde_json::Value>, Option<String>), OpsError> {
    let stored: Option<(String, bool)> = sqlx::query_as(
        "SELECT body, tether_event_payload(body) IS NULL FROM received_events WHERE id = $1
         UNION ALL
         SELECT jsonb_build_object('kind', kind, 'row_id', row_id, 'source', source, 'email', email,
                                   'record', record)::text, false
         FROM supabase_signups WHERE id::text = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some((text, jsonb_refuses)) = stored else {
        return Ok((None, None));
    };
    let payload = serde_json::from_str(&text).ok();
    let raw = (jsonb_refuses || payload.is_none()).then_some(text);
    Ok((payload, raw))
}

/// What `replay` changed: the dead letters it put back on the queue (with
/// `dry_run`, those it would). A letter another operator replayed or
/// discarded first is not among them.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Replayed {
    pub replayed: usize,
    /// Their ids (event ids, or job ids where a payload is unreadable).
    pub ids: Vec<String>,
    pub dry_run: bool,
}

/// What `discard` changed, as [`Replayed`].
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Discarded {
    pub discarded: usize,
    pub ids: Vec<String>,
    pub dry_run: bool,
}

/// Puts the selected dead letters back on the queue with their attempts
/// reset. Each letter is taken by one operation only: its job is locked,
/// and only a job still dead is revived and counted.
pub async fn replay(pool: &PgPool, filter: &Filter, dry_run: bool) -> Result<Replayed, OpsError> {
    let letters = list(pool, filter).await?;
    let ids = if dry_run {
        ids_of(letters.iter())
    } else {
        let mut tx = pool.begin().await?;
        let revived = tether_queue::dead::revive(&mut tx, &job_ids(&letters)).await?;
        let replayed = ids_of(letters.iter().filter(|l| revived.contains(&l.job_id)));
        hold_events(&mut tx, &replayed).await?;
        tx.commit().await?;
        tracing::info!(
            replayed = replayed.len(),
            "dead letters put back on the queue"
        );
        replayed
    };
    Ok(Replayed {
        replayed: ids.len(),
        ids,
        dry_run,
    })
}

/// Removes the selected dead letters for good: each event is logged
/// `discarded` and counts as processed, so it is neither retried nor kept
/// past the retention window. Exclusive per letter, as [`replay`].
pub async fn discard(pool: &PgPool, filter: &Filter, dry_run: bool) -> Result<Discarded, OpsError> {
    let letters = list(pool, filter).await?;
    if dry_run {
        let ids = ids_of(letters.iter());
        return Ok(Discarded {
            discarded: ids.len(),
            ids,
            dry_run,
        });
    }
    let mut tx = pool.begin().await?;
    let removed = tether_queue::dead::remove(&mut tx, &job_ids(&letters)).await?;
    let event_ids = ids_of(letters.iter().filter(|l| removed.contains(&l.job_id)));
    hold_events(&mut tx, &event_ids).await?;
    sqlx::query(
        "INSERT INTO webhook_logs (event_type, event_id, status, error_message)
         SELECT type, id, 'discarded', 'discarded by an operator' FROM received_events WHERE id = ANY($1)
         UNION ALL
         SELECT 'supabase.signup', id::text, 'discarded', 'discarded by an operator'
         FROM supabase_signups WHERE id::text = ANY($1)",
    )
    .bind(&event_ids)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO processed_events (id) SELECT id FROM received_events WHERE id = ANY($1)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&event_ids)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(discarded = event_ids.len(), "dead letters discarded");
    Ok(Discarded {
        discarded: event_ids.len(),
        ids: event_ids,
        dry_run,
    })
}

fn ids_of<'a>(letters: impl Iterator<Item = &'a DeadLetter>) -> Vec<String> {
    letters.map(|l| l.id.clone()).collect()
}

/// Takes the letters' events in the operators' lock order (jobs, then
/// events: [`crate::locks`]), so a prune or replay touching the same
/// events waits for this transaction, and this one for theirs.
async fn hold_events(conn: &mut sqlx::PgConnection, ids: &[String]) -> Result<(), OpsError> {
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    crate::locks::lock_events(conn, &ids).await?;
    Ok(())
}

fn job_ids(letters: &[DeadLetter]) -> Vec<String> {
    let mut ids: Vec<String> = letters.iter().map(|l| l.job_id.clone()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}
