//! `tether setup`: the Stripe side of a deployment in one command. It
//! finds the webhook endpoint tagged as tether's (metadata `tether=true`)
//! or creates it, with exactly the event types this version handles, and
//! brings it back in line: the URL, a new version's added types, and
//! enabled again if Stripe disabled it. The signing secret Stripe returns
//! on creation goes into `tether_settings`, where ingest reads it when
//! STRIPE_WEBHOOK_SECRET is not set, so no secret is pasted by hand.
//!
//! Stripe's API shows a secret only when an endpoint is created, so
//! `--rotate` creates a second endpoint: Stripe delivers every event to
//! both (ingest stores it once), the old secret stays accepted until the
//! overlap ends, and the first run after that disables and untags the old
//! endpoint.
//!
//! A Stripe Connect platform has a second endpoint, for its connected
//! accounts' events (`--connect`): the same steps, tagged `tether=connect`,
//! created with `connect=true`, its secret kept under its own settings;
//! ingest accepts both endpoints' secrets.
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
use tether_shared::settings;
use tether_stripe_api::{ApiError, StripeApi, Walk};

use crate::reconcile::handled_types;

/// Which of tether's endpoints: the platform's own events, or its
/// connected accounts' (Stripe Connect).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Platform,
    Connect,
}

impl Audience {
    const BOTH: [Audience; 2] = [Audience::Platform, Audience::Connect];

    /// Its endpoint's `metadata[tether]`.
    fn tag(self) -> &'static str {
        match self {
            Self::Platform => "true",
            Self::Connect => "connect",
        }
    }

    /// Where its endpoint's signing secret is kept.
    pub fn secret_setting(self) -> &'static str {
        match self {
            Self::Platform => "stripe_webhook_secret",
            Self::Connect => "stripe_connect_webhook_secret",
        }
    }

    /// Which of its tagged endpoints is the current one (after a rotation,
    /// two are tagged until the old one retires).
    fn endpoint_setting(self) -> &'static str {
        match self {
            Self::Platform => "stripe_webhook_endpoint",
            Self::Connect => "stripe_connect_webhook_endpoint",
        }
    }

    /// Its rotated-out endpoint: the secret, accepted until `until`, and the id.
    fn retiring_setting(self) -> &'static str {
        match self {
            Self::Platform => "stripe_webhook_secret_retiring",
            Self::Connect => "stripe_connect_webhook_secret_retiring",
        }
    }

    /// Idempotency keys of one audience never answer for the other's.
    fn key(self, purpose: &str) -> String {
        match self {
            Self::Platform => purpose.to_owned(),
            Self::Connect => format!("connect-{purpose}"),
        }
    }
}

const TAG: &str = "tether";

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
    #[error(
        "a rotation is under way until {0} (unix): run setup after it to retire the old endpoint, then rotate again"
    )]
    RotationUnderWay(i64),
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Created,
    Updated,
    Unchanged,
    /// A new endpoint (and secret) replaces the current one, which keeps
    /// delivering, and its secret keeps verifying, until the overlap ends.
    Rotated,
}

/// What `tether setup` is asked to do beyond bringing the endpoint in line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub audience: Audience,
    pub dry_run: bool,
    /// Rotate the secret, accepting the old one for this long.
    pub rotate: Option<std::time::Duration>,
}

/// The secret a rotation retires, as stored.
/// No `Debug`: it holds a secret.
#[derive(Clone, serde::Deserialize, Serialize)]
struct Retiring {
    secret: Option<String>,
    until: i64,
    endpoint: String,
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
    options: Options,
) -> Result<Report, SetupError> {
    if !(url.starts_with("https://") || is_loopback_http(url)) {
        return Err(SetupError::NotHttps(url.to_owned()));
    }
    let dry_run = options.dry_run;
    let audience = options.audience;
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tether setup'))")
        .execute(&mut *tx)
        .await?;
    let events: BTreeSet<&str> = handled_types().collect();
    let current = settings::get(&mut *tx, audience.endpoint_setting()).await?;
    let found = find_tagged(api, audience, current.as_deref()).await?;
    let stored = settings::get(&mut *tx, audience.secret_setting()).await?;
    let mut retired = retire_if_due(&mut tx, api, audience, dry_run).await?;
    if options.rotate.is_some()
        && retired.is_empty()
        && let Some(retiring) = retiring(&mut tx, audience).await?
    {
        return Err(SetupError::RotationUnderWay(retiring.until));
    }
    let mut report = match found {
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
            let created = create(api, audience, url, &events, "tether-setup").await?;
            let id = store_created(&mut tx, audience, &created).await?;
            Report {
                endpoint: Some(id),
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
                update(api, audience, &endpoint, &id, url, &events).await?;
            }
            Report {
                endpoint: Some(id),
                action: if changes.is_empty() {
                    Action::Unchanged
                } else {
                    Action::Updated
                },
                changes,
                secret: if stored.is_some() {
                    Secret::Kept
                } else {
                    Secret::Unknown
                },
                dry_run,
            }
        }
    };
    // A new endpoint beside the current one, whose secret stays accepted
    // for the overlap (a freshly created endpoint needs no rotation).
    if let (Some(overlap), Some(old)) = (options.rotate, report.endpoint.clone())
        && report.action != Action::Created
    {
        let until = chrono::Utc::now().timestamp() + overlap.as_secs() as i64;
        report.changes.push(format!(
            "new endpoint and secret; {old} and its secret retire at {until} (unix)"
        ));
        report.action = Action::Rotated;
        if !dry_run {
            let purpose = format!("tether-rotate-{old}");
            let created = create(api, audience, url, &events, &purpose).await?;
            let retiring = Retiring {
                secret: stored,
                until,
                endpoint: old,
            };
            settings::put(
                &mut *tx,
                audience.retiring_setting(),
                &serde_json::to_string(&retiring).unwrap_or_default(),
            )
            .await?;
            report.endpoint = Some(store_created(&mut tx, audience, &created).await?);
            report.secret = Secret::Stored;
        }
    }
    report.changes.append(&mut retired);
    tx.commit().await?;
    Ok(report)
}

/// The secrets ingest accepts, from the database: each endpoint's current
/// one (the platform's and the Connect endpoint's), and a rotated-out one
/// until its overlap ends.
pub async fn stored_secrets(
    conn: &mut PgConnection,
) -> Result<Option<tether_stripe::secret::WebhookSecrets>, sqlx::Error> {
    let mut accepted: Option<tether_stripe::secret::WebhookSecrets> = None;
    for audience in Audience::BOTH {
        if let Some(secrets) = audience_secrets(conn, audience).await? {
            accepted = Some(match accepted {
                Some(first) => first.and(secrets),
                None => secrets,
            });
        }
    }
    Ok(accepted)
}

async fn audience_secrets(
    conn: &mut PgConnection,
    audience: Audience,
) -> Result<Option<tether_stripe::secret::WebhookSecrets>, sqlx::Error> {
    use tether_stripe::secret::WebhookSecrets;
    let Some(current) = settings::get(&mut *conn, audience.secret_setting()).await? else {
        return Ok(None);
    };
    Ok(Some(match retiring(conn, audience).await? {
        Some(Retiring {
            secret: Some(old),
            until,
            ..
        }) => WebhookSecrets::rotating(&current, &old, until),
        _ => WebhookSecrets::one(&current),
    }))
}

/// After the overlap: the old endpoint is disabled and untagged, and its
/// secret forgotten. Returns what it did.
async fn retire_if_due(
    conn: &mut PgConnection,
    api: &StripeApi,
    audience: Audience,
    dry_run: bool,
) -> Result<Vec<String>, SetupError> {
    let Some(retiring) = retiring(conn, audience).await? else {
        return Ok(Vec::new());
    };
    if retiring.until > chrono::Utc::now().timestamp() {
        return Ok(Vec::new());
    }
    if !dry_run {
        let form = [("disabled", "true"), ("metadata[tether]", "retired")];
        let key = audience.key(&format!("tether-retire-{}", retiring.endpoint));
        api.post(
            &format!("/webhook_endpoints/{}", retiring.endpoint),
            &form,
            &key,
        )
        .await?;
        sqlx::query("DELETE FROM tether_settings WHERE key = $1")
            .bind(audience.retiring_setting())
            .execute(conn)
            .await?;
    }
    Ok(vec![format!(
        "retired {} (disabled; its secret is no longer accepted)",
        retiring.endpoint
    )])
}

/// A local receiver (tests, `stripe listen`-style set-ups) may be plain HTTP.
fn is_loopback_http(url: &str) -> bool {
    ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|prefix| url.starts_with(prefix))
}

/// The endpoint tagged as `audience`'s, walking every page: `current` if
/// it is among them, else the first.
async fn find_tagged(
    api: &StripeApi,
    audience: Audience,
    current: Option<&str>,
) -> Result<Option<Value>, SetupError> {
    let mut walk = Walk::new("/webhook_endpoints", None);
    let mut first = None;
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
            if endpoint["metadata"][TAG] != audience.tag() {
                continue;
            }
            if current.is_some_and(|id| endpoint["id"] == id) {
                return Ok(Some(endpoint));
            }
            first.get_or_insert(endpoint);
        }
        if !more {
            return Ok(first);
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

fn endpoint_form<'a>(
    audience: Audience,
    url: &'a str,
    events: &'a BTreeSet<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![("url", url), ("metadata[tether]", audience.tag())];
    form.extend(events.iter().map(|event| ("enabled_events[]", *event)));
    form
}

async fn create(
    api: &StripeApi,
    audience: Audience,
    url: &str,
    events: &BTreeSet<&str>,
    purpose: &str,
) -> Result<Value, SetupError> {
    let mut form = endpoint_form(audience, url, events);
    form.push(("api_version", tether_stripe::API_VERSION));
    match audience {
        Audience::Platform => form.push(("description", "tether: Stripe to PostgreSQL")),
        Audience::Connect => {
            // Fixed at creation: Stripe cannot turn an endpoint into a
            // Connect one later.
            form.push(("connect", "true"));
            form.push(("description", "tether: connected accounts to PostgreSQL"));
        }
    }
    let key = audience.key(&format!("{purpose}-{:016x}", fnv(url)));
    Ok(api.post("/webhook_endpoints", &form, &key).await?)
}

/// Keeps a new endpoint's secret and id; returns the id.
async fn store_created(
    conn: &mut PgConnection,
    audience: Audience,
    created: &Value,
) -> Result<String, SetupError> {
    let secret = created["secret"]
        .as_str()
        .ok_or(SetupError::Answer("secret"))?;
    let id = created["id"].as_str().ok_or(SetupError::Answer("id"))?;
    settings::put(&mut *conn, audience.secret_setting(), secret).await?;
    settings::put(&mut *conn, audience.endpoint_setting(), id).await?;
    Ok(id.to_owned())
}

async fn update(
    api: &StripeApi,
    audience: Audience,
    current: &Value,
    id: &str,
    url: &str,
    events: &BTreeSet<&str>,
) -> Result<(), SetupError> {
    let mut form = endpoint_form(audience, url, events);
    form.push(("disabled", "false"));
    // The same change from the same state is one change; from a state
    // Stripe changed since (disabled again), it is a new one.
    let key = audience.key(&format!(
        "tether-setup-{id}-{:016x}",
        fnv(&format!("{current}{form:?}"))
    ));
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

async fn retiring(
    conn: &mut PgConnection,
    audience: Audience,
) -> Result<Option<Retiring>, sqlx::Error> {
    Ok(settings::get(conn, audience.retiring_setting())
        .await?
        .and_then(|raw| serde_json::from_str(&raw).ok()))
}
