//! Looking up what tether holds about one event or one Stripe object: the
//! event as stored with every attempt at it, and the object's synced row
//! with every stored event that touched it. Each read goes through a
//! primary key or an index (`received_events_object_id_idx`), so it costs
//! the same with millions of stored events.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::{
    OpsError,
    dlq::{self, Attempt, DeadLetter},
};

/// How many of an object's events a search returns, newest first.
pub const EVENTS_PER_OBJECT: i64 = 100;

/// A stored event, as lists show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EventSummary {
    pub id: String,
    pub event_type: String,
    pub created: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub processed_at: Option<DateTime<Utc>>,
    pub livemode: bool,
    pub account: Option<String>,
    pub object_id: Option<String>,
}

/// One event with everything known about it.
#[derive(Debug, Clone, Serialize)]
pub struct EventDetail {
    #[serde(flatten)]
    pub event: EventSummary,
    pub api_version: Option<String>,
    /// When `tether follow` or `reconcile` read it from Stripe's event log
    /// instead of a webhook delivering it.
    pub polled_at: Option<DateTime<Utc>>,
    /// Its `webhook_logs` rows, oldest first.
    pub history: Vec<Attempt>,
    /// Its dead letter, while it is one.
    pub dead_letter: Option<DeadLetter>,
    /// The body parsed, and the body as stored when it is not JSON jsonb
    /// reads (see [`dlq::Detail`]).
    pub payload: Option<serde_json::Value>,
    pub body: Option<String>,
    /// The synced row of its object, if tether keeps one.
    pub object: Option<ObjectRow>,
}

/// A synced row, whichever table holds it.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectRow {
    pub table: String,
    /// The event that last wrote it (`snapshot` for an API read).
    pub last_event_id: Option<String>,
    pub row: serde_json::Value,
}

pub async fn event(pool: &PgPool, id: &str) -> Result<EventDetail, OpsError> {
    let found: Option<(Option<String>, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT r.api_version, q.polled_at FROM received_events r
         LEFT JOIN polled_events q ON q.id = r.id WHERE r.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let (api_version, polled_at) = found.ok_or_else(|| OpsError::NoSuchEvent(id.to_owned()))?;
    let event = summaries(pool, "r.id = $1", id, 1)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| OpsError::NoSuchEvent(id.to_owned()))?;
    let history = dlq::history(pool, id).await?;
    let dead_letter = dlq::list(
        pool,
        &dlq::Filter {
            ids: vec![id.to_owned()],
            limit: Some(1),
            ..dlq::Filter::default()
        },
    )
    .await?
    .into_iter()
    .next();
    let (payload, body) = dlq::stored_body(pool, id).await?;
    let object_id = event.object_id.clone().or_else(|| {
        payload
            .as_ref()
            .and_then(|p| p["data"]["object"]["id"].as_str())
            .map(str::to_owned)
    });
    let object = match object_id {
        Some(object_id) => object_row(pool, &object_id).await?,
        None => None,
    };
    Ok(EventDetail {
        event,
        api_version,
        polled_at,
        history,
        dead_letter,
        payload,
        body,
        object,
    })
}

/// What a search for an event id or an object id finds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Found {
    /// The event, when the query is a stored event's id.
    pub event: Option<EventSummary>,
    /// The object's synced row, when tether keeps one.
    pub object: Option<ObjectRow>,
    /// Stored events whose object is the query, newest first.
    pub events: Vec<EventSummary>,
}

pub async fn search(pool: &PgPool, query: &str) -> Result<Found, OpsError> {
    let event = summaries(pool, "r.id = $1", query, 1)
        .await?
        .into_iter()
        .next();
    // An event id searches for its object's row and history too.
    let object_id = event
        .as_ref()
        .and_then(|e| e.object_id.clone())
        .unwrap_or_else(|| query.to_owned());
    Ok(Found {
        event,
        object: object_row(pool, &object_id).await?,
        events: summaries(pool, "r.object_id = $1", &object_id, EVENTS_PER_OBJECT).await?,
    })
}

type SummaryRow = (
    String,
    String,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    bool,
    Option<String>,
    Option<String>,
);

/// Events matching `condition` (one of two fixed ones), newest first.
async fn summaries(
    pool: &PgPool,
    condition: &'static str,
    value: &str,
    limit: i64,
) -> Result<Vec<EventSummary>, OpsError> {
    let sql = format!(
        "SELECT r.id, r.type, r.created, r.received_at, p.processed_at, r.livemode, r.account,
                r.object_id
         FROM received_events r LEFT JOIN processed_events p ON p.id = r.id
         WHERE {condition} ORDER BY r.created DESC, r.id DESC LIMIT $2"
    );
    let rows: Vec<SummaryRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, event_type, created, received_at, processed_at, livemode, account, object_id)| {
                EventSummary {
                    id,
                    event_type,
                    created,
                    received_at,
                    processed_at,
                    livemode,
                    account,
                    object_id,
                }
            },
        )
        .collect())
}

/// The synced row of `object_id`: the kind is the one its id prefix names
/// (else the generic store), and the row is found by the table's one-column
/// unique text key, read from the catalog, so a new kind needs nothing here.
pub async fn object_row(pool: &PgPool, object_id: &str) -> Result<Option<ObjectRow>, OpsError> {
    let mut tables: Vec<&'static str> = tether_sync::KINDS
        .iter()
        .filter(|k| !k.id_prefix().is_empty() && object_id.starts_with(k.id_prefix()))
        .map(|k| k.table())
        .collect();
    tables.push("stripe_objects");
    for table in tables {
        let Some(key) = stripe_id_column(pool, table).await? else {
            continue;
        };
        let sql = format!(
            "SELECT to_jsonb(t) FROM {} t WHERE {} = $1",
            quote(table),
            quote(&key)
        );
        let row: Option<serde_json::Value> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(object_id)
            .fetch_optional(pool)
            .await?;
        if let Some(row) = row {
            return Ok(Some(ObjectRow {
                table: table.to_owned(),
                last_event_id: row["last_event_id"].as_str().map(str::to_owned),
                row,
            }));
        }
    }
    Ok(None)
}

/// The table's Stripe id: its first text column with a one-column unique
/// index whose name starts with `stripe_`.
async fn stripe_id_column(pool: &PgPool, table: &str) -> Result<Option<String>, OpsError> {
    Ok(sqlx::query_scalar(
        "SELECT a.attname::text FROM pg_index i
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = to_regclass($1) AND i.indisunique AND i.indnatts = 1
           AND a.atttypid = 'text'::regtype AND a.attname LIKE 'stripe\\_%'
         ORDER BY a.attnum LIMIT 1",
    )
    .bind(table)
    .fetch_optional(pool)
    .await?)
}

/// An identifier as SQL text; the names come from the registry and the
/// catalog, never from a request, and are quoted anyway.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
