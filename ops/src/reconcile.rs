//! `tether reconcile`: store the events Stripe has that never arrived as
//! webhooks (an outage longer than Stripe's three days of retries, a
//! disabled endpoint). It lists `/v1/events` for the types tether handles
//! and stores each through the same path as ingest, so the workers apply
//! them in order as if they had been delivered. Running it twice is
//! harmless: a stored id is skipped. A list of events whose pages do not
//! move on stops the run (`Walk`); what was stored before stays stored.

use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;
use tether_shared::event_store::{self, NewEvent};
use tether_stripe::envelope::parse_envelope_str;
use tether_stripe_api::{ApiError, StripeApi, Walk};
use tether_sync::KINDS;

/// Stripe keeps events for 30 days.
pub const LONGEST: Duration = Duration::from_secs(30 * 86_400);

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("storing events failed: {0}")]
    Store(#[from] event_store::StoreError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("--since may reach back 30 days at most (Stripe's event retention)")]
    TooFarBack,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Reconciled {
    /// The connected account whose event log was read; `None` (left out
    /// of JSON) for the platform's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Events Stripe listed.
    pub found: u64,
    /// Of those, stored now (and queued for the workers).
    pub new: u64,
    pub already_stored: u64,
    /// Listed events that are not Stripe events as tether reads them.
    pub refused: u64,
    /// The newest `created` among the listed events: where `follow` goes on.
    #[serde(skip)]
    pub newest: Option<i64>,
}

pub async fn reconcile(
    pool: &PgPool,
    api: &StripeApi,
    since: Duration,
) -> Result<Reconciled, ReconcileError> {
    if since > LONGEST {
        return Err(ReconcileError::TooFarBack);
    }
    let from = chrono::Utc::now().timestamp() - since.as_secs() as i64;
    reconcile_from(pool, api, from).await
}

/// Stores the events created at `from` (unix seconds) or later that are not
/// stored yet.
pub async fn reconcile_from(
    pool: &PgPool,
    api: &StripeApi,
    from: i64,
) -> Result<Reconciled, ReconcileError> {
    let types: Vec<&str> = handled_types().collect();
    let mut report = Reconciled {
        account: api.account().map(str::to_owned),
        ..Reconciled::default()
    };
    // Stripe takes at most 20 `types[]` per list request.
    for group in types.chunks(20) {
        reconcile_types(pool, api, from, group, &mut report).await?;
    }
    Ok(report)
}

async fn reconcile_types(
    pool: &PgPool,
    api: &StripeApi,
    from: i64,
    types: &[&str],
    report: &mut Reconciled,
) -> Result<(), ReconcileError> {
    let mut walk = Walk::new("/events", None);
    let from = from.to_string();
    loop {
        let mut query: Vec<(&str, &str)> = vec![("limit", "100"), ("created[gte]", &from)];
        query.extend(types.iter().map(|t| ("types[]", *t)));
        if let Some(after) = walk.after() {
            query.push(("starting_after", after));
        }
        let page = api.list_page("/events", &query).await?;
        let more = walk.advance(&page)?;
        let mut bodies = Vec::new();
        for raw in &page.data {
            match parse_envelope_str(raw.get()) {
                Ok(mut envelope) => {
                    // Read through `Stripe-Account`: the account's event,
                    // whether or not the listed copy says so.
                    if envelope.account.is_none() {
                        envelope.account = api.account().map(str::to_owned);
                    }
                    bodies.push((envelope, raw.get()));
                }
                Err(error) => {
                    report.refused += 1;
                    tracing::warn!(error = %error, "listed event skipped");
                }
            }
        }
        let events: Vec<NewEvent<'_>> = bodies
            .iter()
            .map(|(envelope, body)| NewEvent {
                envelope,
                body,
                traceparent: None,
            })
            .collect();
        let mut tx = pool.begin().await?;
        let new = event_store::store(&mut tx, &events).await?;
        mark_polled(&mut tx, &new).await?;
        tx.commit().await?;
        let newest = events.iter().map(|e| e.envelope.created).max();
        report.newest = report.newest.max(newest);
        report.found += page.data.len() as u64;
        report.new += new.len() as u64;
        report.already_stored += (events.len() - new.len()) as u64;
        if !more {
            return Ok(());
        }
    }
}

/// Records that these newly stored events came from the event log, not a
/// webhook.
async fn mark_polled(
    conn: &mut sqlx::PgConnection,
    ids: &std::collections::HashSet<String>,
) -> Result<(), sqlx::Error> {
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    sqlx::query("INSERT INTO polled_events (id) SELECT unnest($1::text[])")
        .bind(&ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// Every event type a registered kind applies.
pub fn handled_types() -> impl Iterator<Item = &'static str> {
    KINDS.iter().flat_map(|k| k.events().iter().copied())
}
