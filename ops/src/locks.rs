//! The one order in which operator commands lock what they change, so that
//! `prune`, `replay`, `dlq replay` and `dlq discard` serialize on the
//! events they share and never wait on each other in a circle:
//!
//! 1. dead letters (their jobs), by the statement that revives or removes
//!    them: only `dlq` takes these;
//! 2. the events' `received_events` rows, in id order ([`lock_events`]).
//!
//! Why the event rows: an event is prunable while it is processed, and
//! `replay` makes it unprocessed and queues it. `replay` changes the mark
//! only while it holds the event's row, and `prune` re-reads the mark in a
//! statement that begins after it holds the row, so the two can never act
//! on a mark the other is changing. Ingest and the worker take no lock on
//! these rows (an insert that meets an existing id does not wait for a row
//! lock), so holding them never slows deliveries.

use sqlx::PgConnection;

/// Locks the stored events among `ids`, in id order, until the
/// transaction ends; returns the ids it holds. An event removed by a
/// transaction that committed while this one waited is not among them.
pub async fn lock_events(
    conn: &mut PgConnection,
    ids: &[&str],
) -> Result<Vec<String>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar("SELECT id FROM received_events WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(ids)
        .fetch_all(conn)
        .await
}
