//! `tether setup`: the Stripe side of a deployment in one command. It
//! finds the webhook endpoint tagged as tether's (metadata `tether=true`)
//! or creates it, with exactly the event types this version handles, and
//! brings it back in line: the URL, a new version's added types, and
//! enabled again if Stripe disabled it. The signing secret Stripe returns
//! on creation goes into `tether_settings`, where ingest reads it when
//! STRIPE_WEBHOOK_SECRET is not set, so no secret is pasted by hand.
//!
//! Several processes at once: each holds one advisory lock for the whole
//! run, so the second finds what the first made. The creation carries an
//! idempotency key derived from the URL, so a run killed after Stripe
//! created the endpoint but before the secret was stored gets the same
//! endpoint, and its secret, when run again within Stripe's 24 hours.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use tether_stripe_api::{ApiError, StripeApi, Walk};

use crate::reconcile::handled_types;

/// Where the endpoint's signing secret is kept.
pub const SECRET_SETTING: &str = "stripe_webhook_secret";
const TAG: (&str, &str) = ("tether", "true");

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("--url must be an https:// URL (Stripe delivers live events only over HTTPS): `{0}`")]
    NotHttps(String),
    #[error("Stripe's answer lacks the endpoint's {0}")]
    Answer(&'static str),
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Created,
    Updated,
    Unchanged,
}

/// Whether ingest can verify the endpoint's deliveries from the database.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Secret {
    /// Stored by this run (the endpoint was created).
    Stored,
    /// Stored by an earlier run.
    Kept,
    /// Stripe shows a secret only on creation; set STRIPE_WEBHOOK_SECRET.
    Unknown,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    pub endpoint: Option<String>,
    pub action: Action,
    /// What differed from this version's endpoint (or would, on a dry run).
    pub changes: Vec<String>,
    pub secret: Secret,
    pub dry_run: bool,
}

pub async fn setup(
    pool: &PgPool,
    api: &StripeApi,
    url: &str,
    dry_run: bool,
) -> Result<Report, SetupError> {
    if !(url.starts_with("https://") || is_loopback_http(url)) {
        return Err(SetupError::NotHttps(url.to_owned()));
    }
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tether setup'))")
        .execute(&mut *tx)
        .await?;
    let events: BTreeSet<&str> = handled_types().collect();
    let found = find_tagged(api).await?;
    let stored = stored_secret(&mut tx).await?.is_some();
    let report = match found {
        None => {
            let changes = vec![format!(
                "create an endpoint for {url} with {} event types",
                events.len()
            )];
            if dry_run {
                return Ok(Report {
                    endpoint: None,
                    action: Action::Created,
                    changes,
                    secret: Secret::Unknown,
                    dry_run,
                });
            }
            let created = create(api, url, &events).await?;
            let secret = created["secret"]
                .as_str()
                .ok_or(SetupError::Answer("secret"))?;
            store_secret(&mut tx, secret).await?;
            Report {
                endpoint: created["id"].as_str().map(str::to_owned),
                action: Action::Created,
                changes,
                secret: Secret::Stored,
                dry_run,
            }
        }
        Some(endpoint) => {
            let id = endpoint["id"]
                .as_str()
                .ok_or(SetupError::Answer("id"))?
                .to_owned();
            let changes = differences(&endpoint, url, &events);
            if !changes.is_empty() && !dry_run {
                update(api, &endpoint, &id, url, &events).await?;
            }
            Report {
                endpoint: Some(id),
                action: if changes.is_empty() {
                    Action::Unchanged
                } else {
                    Action::Updated
                },
                changes,
                secret: if stored {
                    Secret::Kept
                } else {
                    Secret::Unknown
                },
                dry_run,
            }
        }
    };
    tx.commit().await?;
    Ok(report)
}

/// A local receiver (tests, `stripe listen`-style set-ups) may be plain HTTP.
fn is_loopback_http(url: &str) -> bool {
    ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|prefix| url.starts_with(prefix))
}

/// The first endpoint tagged as tether's, walking every page.
async fn find_tagged(api: &StripeApi) -> Result<Option<Value>, SetupError> {
    let mut walk = Walk::new("/webhook_endpoints", None);
    loop {
        let mut query = vec![("limit", "100")];
        let after = walk.after().map(str::to_owned);
        if let Some(after) = &after {
            query.push(("starting_after", after));
        }
        let page = api.list_page("/webhook_endpoints", &query).await?;
        let more = walk.advance(&page)?;
        for raw in &page.data {
            let endpoint: Value =
                serde_json::from_str(raw.get()).map_err(|e| ApiError::Decode(e.to_string()))?;
            if endpoint["metadata"][TAG.0] == TAG.1 {
                return Ok(Some(endpoint));
            }
        }
        if !more {
            return Ok(None);
        }
    }
}

/// What differs between Stripe's endpoint and this version's.
fn differences(endpoint: &Value, url: &str, events: &BTreeSet<&str>) -> Vec<String> {
    let mut changes = Vec::new();
    if endpoint["url"] != url {
        changes.push(format!("url {} → {url}", endpoint["url"]));
    }
    let enabled: BTreeSet<&str> = endpoint["enabled_events"]
        .as_array()
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let added = events.difference(&enabled).count();
    let dropped = enabled.difference(events).count();
    if added > 0 || dropped > 0 {
        changes.push(format!("event types: {added} added, {dropped} removed"));
    }
    if endpoint["status"] == "disabled" {
        changes.push("enabled again (Stripe had disabled it)".to_owned());
    }
    changes
}

fn endpoint_form<'a>(url: &'a str, events: &'a BTreeSet<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![("url", url), ("metadata[tether]", TAG.1)];
    form.extend(events.iter().map(|event| ("enabled_events[]", *event)));
    form
}

async fn create(api: &StripeApi, url: &str, events: &BTreeSet<&str>) -> Result<Value, SetupError> {
    let mut form = endpoint_form(url, events);
    form.push(("api_version", tether_stripe::API_VERSION));
    form.push(("description", "tether: Stripe to PostgreSQL"));
    let key = format!("tether-setup-{:016x}", fnv(url));
    Ok(api.post("/webhook_endpoints", &form, &key).await?)
}

async fn update(
    api: &StripeApi,
    current: &Value,
    id: &str,
    url: &str,
    events: &BTreeSet<&str>,
) -> Result<(), SetupError> {
    let mut form = endpoint_form(url, events);
    form.push(("disabled", "false"));
    // The same change from the same state is one change; from a state
    // Stripe changed since (disabled again), it is a new one.
    let key = format!(
        "tether-setup-{id}-{:016x}",
        fnv(&format!("{current}{form:?}"))
    );
    api.post(&format!("/webhook_endpoints/{id}"), &form, &key)
        .await?;
    Ok(())
}

/// A stable 64-bit digest (FNV-1a) for idempotency keys.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub async fn stored_secret(conn: &mut PgConnection) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM tether_settings WHERE key = $1")
        .bind(SECRET_SETTING)
        .fetch_optional(conn)
        .await
}

async fn store_secret(conn: &mut PgConnection, secret: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tether_settings (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
    )
    .bind(SECRET_SETTING)
    .bind(secret)
    .execute(conn)
    .await?;
    Ok(())
}
