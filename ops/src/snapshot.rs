//! Writing Stripe objects read from the API (a backfill page, a customer
//! just created) through the worker's guarded upserts.
//!
//! The object is what Stripe held when it was requested, so the row takes
//! that moment as its version: rank "update", and the id `snapshot`, which
//! sorts before every `evt_` id, so an event created in the same second
//! wins the tie. Events created later win; older ones are `stale`.

use sqlx::PgConnection;
use tether_sync::{self as sync, Kind, StripeObject, Version};

/// The `last_event_id` of rows written from an API read.
pub const VERSION_ID: &str = "snapshot";

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub written: u64,
    /// Objects that could not be read as `kind` (logged, skipped).
    pub refused: u64,
}

/// Writes `objects` (raw JSON) of `kind`, read from Stripe at `fetched_at`
/// (Unix seconds) in connected account `account` (`None`: the platform's
/// own), in the caller's transaction.
pub async fn write(
    conn: &mut PgConnection,
    kind: &'static dyn Kind,
    account: Option<&str>,
    objects: &[&str],
    fetched_at: i64,
) -> Result<Written, sqlx::Error> {
    if account.is_some() {
        sync::account::set_account(&mut *conn, account).await?;
    }
    let version = Version {
        created: fetched_at,
        rank: 1,
        event_id: VERSION_ID.to_owned(),
    };
    let mut refused = 0;
    let mut changes = Vec::with_capacity(objects.len());
    for raw in objects {
        let read = serde_json::from_str::<StripeObject>(raw)
            .map_err(|e| e.to_string())
            .and_then(|object| {
                kind.read(VERSION_ID, &object, account)
                    .map_err(|e| e.to_string())
            });
        match read {
            Ok(change) => changes.push(change),
            Err(why) => {
                refused += 1;
                tracing::warn!(kind = kind.object(), error = %why, "object skipped");
            }
        }
    }
    let keys: Vec<&str> = changes.iter().flat_map(|c| c.lock_keys()).collect();
    sync::lock_objects(&mut *conn, &keys).await?;
    let versioned: Vec<(&Version, &sync::Change)> = changes.iter().map(|c| (&version, c)).collect();
    let written = sync::write(conn, &versioned).await?;
    Ok(Written {
        written: written.len() as u64,
        refused,
    })
}
