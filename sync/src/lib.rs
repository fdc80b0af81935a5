//! From a stored Stripe event to the change it makes to the synced tables.
//!
//! Each synced kind is a module in [`kinds`], registered in [`registry`]. Fields
//! are read one by one from the event's `data.object`, each tolerant of
//! being null, absent or of another shape (any field may be, in some API
//! version). Only a payload that cannot be what its type says (no id, or an
//! object of another kind) is refused, and that refusal is permanent.

pub mod account;
pub mod fields;
pub mod generic;
pub mod homes;
mod items;
pub mod kind;
pub mod kinds;
pub mod order;
pub mod registry;
pub mod required;
mod tombstone;

use std::collections::{BTreeMap, HashSet};

use sqlx::{PgConnection, PgPool, PgTransaction};

pub use fields::StripeObject;
pub use kind::{
    BenchMarker, BenchTokens, Change, Gather, Kind, ListEndpoint, ListParent, SyncedKind,
};
pub use order::Version;
pub use registry::KINDS;
pub use required::{Required, Shape, required};

/// Why an event's payload can never apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("data.object is a {found}, not a {expected}")]
    WrongObject {
        found: String,
        expected: &'static str,
    },
    #[error("data.object.id {id:?} is not a {expected} id")]
    WrongId { id: String, expected: &'static str },
    #[error("data.object has no {expected} id")]
    NoId { expected: &'static str },
    /// An event about a connected account (`account.application.*`) that
    /// does not say which.
    #[error("the event names no connected account (its `account` is not an acct_ id)")]
    NoAccount,
    /// A field the row cannot be without (`sync::required`) has another shape.
    #[error("data.object.{field} is {found}, not {expected}")]
    WrongField {
        field: &'static str,
        expected: &'static str,
        found: String,
    },
}

/// Reads the change an event makes: `None` when no registered kind handles
/// its type (logged `ignored`).
pub fn classify(
    event_type: &str,
    object: &StripeObject,
    account: Option<&str>,
) -> Result<Option<Change>, Refusal> {
    let kind = match homes::home(event_type) {
        Some(homes::Home::Typed(kind)) => kind,
        Some(homes::Home::Generic) => registry::GENERIC,
        Some(homes::Home::Nowhere(_)) | None => return Ok(None),
    };
    kind.read(event_type, object, account).map(Some)
}

/// Begins a transaction that writes synced rows: applying events, or a
/// backfill page. Every statement in it finds rows by key, through an
/// index, and runs with its plan made once per connection (a generic
/// plan): planning each execution cost about as much as running it.
///
/// A generic plan cannot see how many elements an array parameter holds,
/// so it costs `unnest($1)` at a hundred rows, and for a table still small
/// it would pick a sequential scan, a hash or a merge join, and keep it as
/// the table grows. With those off, it finds each row by its index at
/// any size. Sent with the `BEGIN`, in the same round trip; `LOCAL`, so it
/// ends with the transaction.
pub async fn begin(pool: &PgPool) -> Result<PgTransaction<'static>, sqlx::Error> {
    pool.begin_with(concat!(
        "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan;",
        " SET LOCAL enable_seqscan = off; SET LOCAL enable_hashjoin = off;",
        " SET LOCAL enable_mergejoin = off"
    ))
    .await
}

/// One transaction-scoped advisory lock per Stripe object, taken in one
/// global order (by lock key) so that two jobs can never deadlock on them.
pub async fn lock_objects(conn: &mut PgConnection, keys: &[&str]) -> Result<(), sqlx::Error> {
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

/// Writes each change where it is newer than the stored row, kind by kind
/// in registry order (parents first, then placeholders for the parents that
/// children name, then the children). Returns the objects written.
pub async fn write(
    conn: &mut PgConnection,
    changes: &[(&Version, &Change)],
) -> Result<HashSet<String>, sqlx::Error> {
    let mut by_kind: BTreeMap<usize, Vec<(&Version, &Change)>> = BTreeMap::new();
    for &(version, change) in changes {
        let position = KINDS
            .iter()
            .position(|k| k.object() == change.kind.object())
            .expect("a change's kind is registered");
        by_kind.entry(position).or_default().push((version, change));
    }
    let mut written = HashSet::new();
    for (position, kind) in KINDS.iter().enumerate() {
        if let Some(of_kind) = by_kind.get(&position) {
            written.extend(kind.upsert(conn, of_kind).await?);
        }
        let referenced: Vec<&str> = changes
            .iter()
            .flat_map(|(_, c)| &c.references)
            .filter(|(parent, _)| *parent == kind.object())
            .map(|(_, id)| id.as_str())
            .collect();
        kind.ensure_placeholders(conn, &referenced).await?;
    }
    Ok(written)
}

/// Applies the terminal changes (deletions, cancellations) that the newest
/// writes did not carry: a deletion older than the row's newest event
/// still deletes. Returns the objects changed.
pub async fn write_terminal(
    conn: &mut PgConnection,
    changes: &[(&Version, &Change)],
) -> Result<HashSet<String>, sqlx::Error> {
    let mut written = HashSet::new();
    for kind in KINDS {
        let of_kind: Vec<(&Version, &Change)> = changes
            .iter()
            .filter(|(_, c)| c.terminal && c.kind.object() == kind.object())
            .copied()
            .collect();
        if !of_kind.is_empty() {
            written.extend(kind.write_terminal(conn, &of_kind).await?);
        }
    }
    Ok(written)
}

/// The object's id, if the object is of the expected kind and the id
/// starts with one of `id_prefixes`: for kinds whose ids Stripe gives
/// more than one prefix.
fn object_id_with(
    object: &StripeObject,
    kind: &'static str,
    id_prefixes: &[&str],
) -> Result<String, Refusal> {
    let id = object_id(object, kind, "")?;
    if id_prefixes.iter().any(|p| id.starts_with(p)) {
        return Ok(id);
    }
    Err(Refusal::WrongId { id, expected: kind })
}

/// The object's id, if the object is of the expected kind.
fn object_id(
    object: &StripeObject,
    kind: &'static str,
    id_prefix: &str,
) -> Result<String, Refusal> {
    if let Some(found) = fields::string(object, "object")
        && found != kind
    {
        return Err(Refusal::WrongObject {
            found,
            expected: kind,
        });
    }
    match fields::string(object, "id") {
        Some(id) if id.starts_with(id_prefix) => Ok(id),
        Some(id) => Err(Refusal::WrongId { id, expected: kind }),
        None => Err(Refusal::NoId { expected: kind }),
    }
}
