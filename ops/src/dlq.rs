//! Dead letters, as operators see them: one per event, with its type, its
//! object and every attempt's error, and the two ways out (replay,
//! discard). Replaying goes through the normal idempotent path, so
//! replaying twice, or replaying an event that has since been applied, does
//! no harm.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use tether_queue::dead::{DeadJob, Position, Scan};

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
    /// Text the last error contains, case-insensitively.
    pub error_contains: Option<String>,
    pub limit: Option<usize>,
}

impl Filter {
    /// What SQL cannot check cheaply, checked on each described letter.
    fn matches(&self, letter: &DeadLetter) -> bool {
        (self.ids.is_empty()
            || self
                .ids
                .iter()
                .any(|id| *id == letter.id || *id == letter.job_id))
            && self
                .event_type
                .as_ref()
                .is_none_or(|t| letter.event_type.as_ref() == Some(t))
            && self
                .account
                .as_ref()
                .is_none_or(|a| letter.account.as_ref() == Some(a))
    }
}

/// One page of dead letters and where the next one starts.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub letters: Vec<DeadLetter>,
    /// Give it back as `after` for the next page; `None` on the last one.
    pub next: Option<Cursor>,
}

/// An opaque position in the dead letters, newest first: when the letter
/// died (microseconds) and its job id, as `"<micros>.<job id>"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(Position);

impl Cursor {
    pub fn parse(raw: &str) -> Option<Self> {
        let (micros, job_id) = raw.split_once('.')?;
        let died_at = match micros {
            "-" => None,
            _ => Some(DateTime::<Utc>::from_timestamp_micros(
                micros.parse().ok()?,
            )?),
        };
        (!job_id.is_empty() && job_id.len() <= 64).then(|| {
            Cursor(Position {
                died_at,
                job_id: job_id.to_owned(),
            })
        })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.died_at {
            Some(at) => write!(f, "{}.{}", at.timestamp_micros(), self.0.job_id),
            None => write!(f, "-.{}", self.0.job_id),
        }
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Jobs read per round trip while filling a page.
const CHUNK: i64 = 500;

/// Dead letters matching `filter`, newest first, at most `filter.limit`.
pub async fn list(pool: &PgPool, filter: &Filter) -> Result<Vec<DeadLetter>, OpsError> {
    Ok(page(pool, filter, None, None).await?.letters)
}

/// Dead letters one console page reads at most while looking for
/// matches: a filter that few letters match then answers as fast at
/// 100,000 letters as at 10,000, and the page ends early with a cursor to
/// go on from.
pub const PAGE_BUDGET: usize = 10_000;

/// Letters read per window of a budgeted page.
const WINDOW: usize = 5_000;

/// Up to `filter.limit` dead letters after `after`. Jobs are read in
/// chunks in the dead-letter index's order and described; a page ends at
/// a job's boundary, so the letters of one job are never split. With a
/// `budget`, it also ends once about that many letters were read, matched
/// or not, with `next` where it stopped.
pub async fn page(
    pool: &PgPool,
    filter: &Filter,
    after: Option<&Cursor>,
    budget: Option<usize>,
) -> Result<Page, OpsError> {
    let limit = filter.limit.unwrap_or(usize::MAX);
    let mut position = after.map(|c| c.0.clone());
    let mut letters = Vec::new();
    // Letters read while looking, against the budget, a window at a time.
    let window = budget.map(|b| b.clamp(1, WINDOW));
    let mut read = 0;
    loop {
        if budget.is_some_and(|budget| read >= budget) {
            return Ok(Page {
                letters,
                next: position.map(Cursor),
            });
        }
        let until = match window {
            Some(window) => {
                tether_queue::dead::window_end(pool, position.as_ref(), window as i64).await?
            }
            None => None,
        };
        let jobs = tether_queue::dead::scan(
            pool,
            &Scan {
                since: filter.since,
                error_contains: filter.error_contains.as_deref(),
                event_type: filter.event_type.as_deref(),
                account: filter.account.as_deref(),
                ids: &filter.ids,
                after: position.as_ref(),
                until: until.as_ref(),
                limit: Some(CHUNK),
            },
        )
        .await?;
        let full = jobs.len() == CHUNK as usize;
        let described = describe(pool, &jobs, filter.event_type.as_deref()).await?;
        for job in &jobs {
            position = Some(job.position());
            letters.extend(letters_of(job, &described).filter(|l| filter.matches(l)));
            if letters.len() >= limit {
                return Ok(Page {
                    letters,
                    next: position.map(Cursor),
                });
            }
        }
        if full {
            read += jobs.len();
            continue;
        }
        // The window (or, without one, the letters) read to its end.
        match (until, window) {
            (Some(end), Some(window)) => {
                read += window;
                position = Some(end);
            }
            _ => {
                return Ok(Page {
                    letters,
                    next: None,
                });
            }
        }
    }
}

/// What a letter's event is: its type, its object and its account.
type Described = HashMap<String, (String, Option<String>, Option<String>)>;

/// A Stripe event's type, object and account, or a sign-up's kind and row,
/// by id.
/// With `only_type`, the object of other types is not looked up: reading
/// it from an old row means parsing its body.
async fn describe(
    pool: &PgPool,
    jobs: &[DeadJob],
    only_type: Option<&str>,
) -> Result<Described, OpsError> {
    let event_ids: Vec<&str> = jobs
        .iter()
        .flat_map(|j| j.events.iter().map(String::as_str))
        .collect();
    Ok(sqlx::query_as::<_, (String, String, Option<String>, Option<String>)>(
        "SELECT id, type,
                CASE WHEN $2::text IS NULL OR type = $2
                     THEN coalesce(object_id, tether_event_payload(body) -> 'data' -> 'object' ->> 'id')
                END,
                account
         FROM received_events WHERE id = ANY($1)
         UNION ALL
         SELECT id::text, 'supabase.signup', kind || ' ' || row_id, NULL FROM supabase_signups
         WHERE id::text = ANY($1)",
    )
    .bind(&event_ids)
    .bind(only_type)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|(id, event_type, object, account)| (id, (event_type, object, account)))
    .collect())
}

/// One letter per event the job names (one for the job itself when its
/// payload is unreadable).
fn letters_of<'a>(
    job: &'a DeadJob,
    described: &'a Described,
) -> impl Iterator<Item = DeadLetter> + 'a {
    let ids = if job.events.is_empty() {
        vec![job.job_id.clone()]
    } else {
        job.events.clone()
    };
    ids.into_iter().map(move |id| {
        let (event_type, object_id, account) = match described.get(&id).cloned() {
            Some((event_type, object_id, account)) => (Some(event_type), object_id, account),
            None => (None, None, None),
        };
        DeadLetter {
            id,
            job_id: job.job_id.clone(),
            event_type,
            object_id,
            account,
            attempts: job.attempts,
            last_error: job.last_error.clone(),
            died_at: job.died_at,
        }
    })
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
    let history = history(pool, &letter.id).await?;
    let (payload, body) = stored_body(pool, &letter.id).await?;
    Ok(Detail {
        letter,
        history,
        payload,
        body,
    })
}

/// Every `webhook_logs` row of an event, oldest first.
pub(crate) async fn history(pool: &PgPool, event_id: &str) -> Result<Vec<Attempt>, OpsError> {
    Ok(
        sqlx::query_as::<_, (DateTime<Utc>, Option<i32>, String, Option<String>)>(
            "SELECT created_at, attempt, status, error_message FROM webhook_logs
             WHERE event_id = $1 ORDER BY created_at, id",
        )
        .bind(event_id)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|(at, attempt, status, error)| Attempt {
            at,
            attempt,
            status,
            error,
        })
        .collect(),
    )
}

/// The letter's stored body: parsed, and raw when jsonb cannot read it.
/// The body is read as text, never through a jsonb cast, so no stored
/// event can make this fail.
pub(crate) async fn stored_body(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_itself_and_nothing_else_is_one() {
        let at = DateTime::<Utc>::from_timestamp_micros(1_780_000_000_123_456).unwrap();
        for died_at in [Some(at), None] {
            let cursor = Cursor(Position {
                died_at,
                job_id: "01JABCDEF.with.dots".into(),
            });
            assert_eq!(Cursor::parse(&cursor.to_string()), Some(cursor));
        }
        for bad in [
            "",
            "x",
            "123",
            "123.",
            "abc.job",
            "99999999999999999999.job",
        ] {
            assert_eq!(Cursor::parse(bad), None, "{bad:?}");
        }
    }
}
