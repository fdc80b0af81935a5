//! Storing verified Stripe events with their queue job: the one write path
//! for events, used by ingest's committer and by `tether reconcile`, so an
//! event recovered from Stripe's event log is stored and applied exactly as
//! a delivered one.

use std::collections::HashSet;

use sqlx::PgConnection;
use tether_queue::{JobPayload, QueueError};
use tether_stripe::envelope::EventEnvelope;

/// A verified event and its body exactly as received.
pub struct NewEvent<'a> {
    pub envelope: &'a EventEnvelope,
    pub body: &'a str,
    /// The trace context its job carries to the worker, if any.
    pub traceparent: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storing events failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Inserts the events (an id already stored is skipped), pushes one job
/// naming the new ones, and records redeliveries whose body differs from
/// the stored event. All inside the caller's transaction, so the job exists
/// exactly when its events do. Returns the ids that were new.
pub async fn store(
    conn: &mut PgConnection,
    events: &[NewEvent<'_>],
) -> Result<HashSet<String>, StoreError> {
    let new_ids: Vec<String> = sqlx::query_scalar(
        "INSERT INTO received_events (id, type, api_version, created, livemode, account, body, object_id)
         SELECT id, type, api_version, to_timestamp(created), livemode, account, body, object_id
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::bool[], $6::text[], $7::text[],
                     $8::text[])
              AS e(id, type, api_version, created, livemode, account, body, object_id)
         ON CONFLICT (id) DO NOTHING
         RETURNING id",
    )
    .bind(events.iter().map(|e| e.envelope.id.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.envelope.event_type.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.envelope.api_version.as_deref()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.envelope.created).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.envelope.livemode).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.envelope.account.as_deref()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.body).collect::<Vec<_>>())
    .bind(events.iter().map(|e| indexed_object_id(e.envelope)).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await?;
    let new: HashSet<String> = new_ids.iter().cloned().collect();
    let mut first = HashSet::new();
    let (stored, repeated): (Vec<&NewEvent<'_>>, Vec<&NewEvent<'_>>) = events
        .iter()
        .partition(|e| new.contains(&e.envelope.id) && first.insert(e.envelope.id.as_str()));
    if !new_ids.is_empty() {
        let job = JobPayload {
            bytes: stored.iter().map(|e| e.body.len() as u64).sum(),
            traceparents: stored
                .iter()
                .filter_map(|e| Some((e.envelope.id.clone(), e.traceparent?.to_owned())))
                .collect(),
            events: new_ids,
        };
        tether_queue::push(conn, &[job]).await?;
    }
    record_mismatches(conn, &repeated).await?;
    Ok(new)
}

/// The object id kept for lookups, when it is one: an id longer than any
/// Stripe id (a hostile or broken body) is not kept, since an index entry
/// that large would refuse the event itself.
fn indexed_object_id(envelope: &EventEnvelope) -> Option<&str> {
    envelope
        .object_id
        .as_deref()
        .filter(|id| id.chars().count() <= crate::bounds::MAX_ID_CHARS)
}

/// A redelivery is answered as a duplicate; one whose body differs from
/// the stored event (compared as JSON, when the bytes differ; a body jsonb
/// refuses cannot be compared so, and differing bytes then decide) is also
/// kept in `rejected_deliveries`, since only one of the two can be true.
async fn record_mismatches(
    conn: &mut PgConnection,
    repeated: &[&NewEvent<'_>],
) -> Result<(), sqlx::Error> {
    if repeated.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO rejected_deliveries (event_id, event_type, reason, body_excerpt, body_bytes)
         SELECT d.id, d.type, 'redelivered with a body that differs from the stored event',
                left(d.body, 2048), octet_length(d.body)
         FROM unnest($1::text[], $2::text[], $3::text[]) AS d(id, type, body)
         JOIN received_events e ON e.id = d.id
         CROSS JOIN LATERAL (SELECT tether_event_payload(e.body) AS stored,
                                    tether_event_payload(d.body) AS sent) AS json
         WHERE e.body <> d.body AND (json.stored IS NULL OR json.sent IS NULL OR json.stored <> json.sent)",
    )
    .bind(
        repeated
            .iter()
            .map(|e| e.envelope.id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        repeated
            .iter()
            .map(|e| e.envelope.event_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(repeated.iter().map(|e| e.body).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}
