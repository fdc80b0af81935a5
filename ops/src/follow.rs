//! `tether follow`: a source with no public URL. It reads Stripe's event
//! log (`/v1/events`) every few seconds, forward from a cursor kept in the
//! database, and stores each event through the same path as ingest and
//! `reconcile` (one transaction per page, a stored id skipped), so the
//! workers apply them as if they had been delivered, and events that also
//! arrive as webhooks are stored once.
//!
//! The cursor is the newest `created` seen, saved only after a whole poll,
//! so a process killed mid-poll reads those pages again on restart (their
//! events are skipped as stored): nothing is lost or stored twice. Each
//! poll reaches [`OVERLAP`] before the cursor, because Stripe's list can
//! show an event a little after its `created` second.

use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;
use tether_shared::settings;
use tether_stripe_api::StripeApi;
use tokio_util::sync::CancellationToken;

use crate::reconcile::{self, ReconcileError, Reconciled};

/// How far before the cursor each poll reads again.
pub const OVERLAP: Duration = Duration::from_secs(60);

/// Where the cursor lives in `tether_settings`.
const CURSOR: &str = "follow_cursor";

/// One poll: what it found and where the cursor is now.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Polled {
    #[serde(flatten)]
    pub events: Reconciled,
    /// The newest `created` (unix seconds) stored or seen so far.
    pub cursor: i64,
}

/// Reads the log once: from the saved cursor (less [`OVERLAP`]), or on the
/// first poll from `first_since` ago.
pub async fn poll(
    pool: &PgPool,
    api: &StripeApi,
    first_since: Duration,
) -> Result<Polled, ReconcileError> {
    let now = chrono::Utc::now().timestamp();
    let cursor = match cursor(pool).await? {
        Some(cursor) => cursor,
        None => now - first_since.as_secs() as i64,
    };
    let from = cursor - OVERLAP.as_secs() as i64;
    let events = reconcile::reconcile_from(pool, api, from).await?;
    let cursor = cursor.max(events.newest.unwrap_or(cursor));
    save_cursor(pool, cursor).await?;
    Ok(Polled { events, cursor })
}

/// Polls every `every` until `shutdown`. A transient failure (network,
/// 429, 5xx) is logged and the next poll tries again; a refusal that will
/// not change (a wrong key) ends the command.
pub async fn follow(
    pool: &PgPool,
    api: &StripeApi,
    every: Duration,
    first_since: Duration,
    shutdown: &CancellationToken,
    mut on_poll: impl FnMut(&Polled),
) -> Result<(), ReconcileError> {
    while !shutdown.is_cancelled() {
        match poll(pool, api, first_since).await {
            Ok(polled) => on_poll(&polled),
            Err(error) if is_transient(&error) => {
                tracing::warn!(%error, "reading Stripe's event log failed; trying again");
            }
            Err(error) => return Err(error),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => {}
        }
    }
    Ok(())
}

fn is_transient(error: &ReconcileError) -> bool {
    match error {
        ReconcileError::Api(api) => api.is_transient(),
        ReconcileError::Database(_) | ReconcileError::Store(_) => true,
        ReconcileError::TooFarBack => false,
    }
}

/// The saved cursor: the `created` (Unix seconds) polling resumes from.
pub(crate) async fn cursor(pool: &PgPool) -> Result<Option<i64>, sqlx::Error> {
    Ok(settings::get(pool, CURSOR)
        .await?
        .and_then(|v| v.parse().ok()))
}

/// Never moves the cursor back, whichever of two followers saves last.
async fn save_cursor(pool: &PgPool, cursor: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tether_settings (key, value) VALUES ($1, $2::text)
         ON CONFLICT (key) DO UPDATE SET value = greatest(tether_settings.value::int8, EXCLUDED.value::int8)::text",
    )
    .bind(CURSOR)
    .bind(cursor.to_string())
    .execute(pool)
    .await?;
    Ok(())
}

/// What `tether up` does with an API key and no webhook secret: imports
/// the account (each kind resumes, or is skipped once finished), then
/// follows the event log until `shutdown`. An import that fails is logged
/// and left for the next start to resume; following goes on regardless,
/// as its first poll reaches back `first_since`.
pub async fn import_then_follow(
    pool: PgPool,
    api: StripeApi,
    every: Duration,
    first_since: Duration,
    shutdown: CancellationToken,
) {
    for kind in crate::backfill::kinds() {
        if shutdown.is_cancelled() {
            return;
        }
        match crate::backfill::backfill(&pool, &api, kind, false, |_| {}).await {
            Ok(done) if done.pages > 0 => {
                tracing::info!(kind = done.kind, objects = done.objects, "imported")
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "import stopped; the next start resumes it");
                break;
            }
        }
    }
    let logged = |polled: &Polled| {
        if polled.events.new > 0 {
            tracing::info!(
                new = polled.events.new,
                "events read from Stripe's event log"
            );
        }
    };
    if let Err(error) = follow(&pool, &api, every, first_since, &shutdown, logged).await {
        tracing::error!(%error, "following Stripe's event log stopped");
    }
}
