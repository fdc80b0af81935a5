//! `tether link-user`: the Stripe customer of a Supabase user, found by
//! email or created, synced into `end_customers` and linked in `users`.
//!
//! Creating uses an idempotency key derived from the user id, so a repeated
//! call, a concurrent one, or a retry after a lost answer can never create
//! two customers.
//!
//! Anyone can sign up with anyone's address, so an email alone never hands
//! over a customer another user already holds (see [`Matching`]): a sign-up
//! is matched only by a confirmed email, and only to a customer no other
//! user is linked to; an operator is refused such a customer unless forced.

use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;
use tether_stripe_api::{ApiError, StripeApi};
use tether_sync::registry;
use uuid::Uuid;

use tether_shared::config::AppTables;

use crate::{app_tables, snapshot};

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("Stripe's answer has no customer id")]
    NoCustomer,
    #[error(
        "customer {customer} is already linked to another user ({other}); \
         run again with --force to link it anyway"
    )]
    LinkedToAnother { customer: String, other: String },
    /// Another user was linked to the same customer while this one was
    /// being decided; trying again decides afresh.
    #[error("customer {0} was linked to another user meanwhile; try again")]
    Contended(String),
}

impl LinkError {
    /// Whether trying the same link again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            LinkError::Api(api) => api.is_transient(),
            LinkError::Database(_) | LinkError::Contended(_) => true,
            LinkError::NoCustomer | LinkError::LinkedToAnother { .. } => false,
        }
    }
}

/// How a user's email may lead to an existing customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matching {
    /// An automatic sign-up: only a confirmed email finds a customer, and
    /// never one another user holds; otherwise the user gets a new one.
    SignUp { email_confirmed: bool },
    /// `tether link-user`: the operator vouches for the email; a customer
    /// another user holds is refused unless `force`.
    Operator { force: bool },
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Linked {
    pub user_id: Uuid,
    pub stripe_customer_id: String,
    /// `found` (by email), `created`, or `already linked`.
    pub how: &'static str,
    /// Why an email did not lead to the customer that has it, or why it did
    /// anyway (`--force`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A link about to be written: the customer as Stripe answered, and whether
/// the operator forced it past another user's link.
struct NewLink<'a> {
    user_id: Uuid,
    email: &'a str,
    raw: &'a str,
    stripe_customer_id: &'a str,
    forced: bool,
    fetched_at: i64,
}

/// What the email led to.
enum Choice {
    Found { raw: String, reason: Option<String> },
    Create { reason: Option<String> },
}

pub async fn link_user(
    pool: &PgPool,
    api: &StripeApi,
    user_id: Uuid,
    email: &str,
    matching: Matching,
    apps: &AppTables,
) -> Result<Linked, LinkError> {
    let linked: Option<String> = sqlx::query_scalar(
        "SELECT c.stripe_customer_id FROM users u JOIN end_customers c ON c.id = u.customer_id WHERE u.id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    if let Some(stripe_customer_id) = linked {
        return Ok(Linked {
            user_id,
            stripe_customer_id,
            how: "already linked",
            reason: None,
        });
    }
    let fetched_at = chrono::Utc::now().timestamp();
    let email = email.trim();
    let (raw, how, reason) = match choose(pool, api, user_id, email, matching).await? {
        Choice::Found { raw, reason } => (raw, "found", reason),
        Choice::Create { reason } => (create(api, user_id, email).await?, "created", reason),
    };
    let stripe_customer_id = serde_json::from_str::<Value>(&raw)
        .ok()
        .and_then(|c| c["id"].as_str().map(str::to_owned))
        .ok_or(LinkError::NoCustomer)?;
    let link = NewLink {
        user_id,
        email,
        raw: &raw,
        stripe_customer_id: &stripe_customer_id,
        forced: matches!(matching, Matching::Operator { force: true }),
        fetched_at,
    };
    write_link(pool, &link, apps).await?;
    Ok(Linked {
        user_id,
        stripe_customer_id,
        how,
        reason,
    })
}

/// Whether the email finds a customer this user may have.
async fn choose(
    pool: &PgPool,
    api: &StripeApi,
    user_id: Uuid,
    email: &str,
    matching: Matching,
) -> Result<Choice, LinkError> {
    // A user without an email (a phone or anonymous sign-up) is never
    // matched by email: an empty filter would match some other customer.
    if email.is_empty() {
        return Ok(Choice::Create { reason: None });
    }
    if matching
        == (Matching::SignUp {
            email_confirmed: false,
        })
    {
        return Ok(Choice::Create {
            reason: Some("email not confirmed: not matched to an existing customer".into()),
        });
    }
    let found = api
        .list_page("/customers", &[("email", email), ("limit", "1")])
        .await?
        .data
        .into_iter()
        .next();
    let Some(found) = found else {
        return Ok(Choice::Create { reason: None });
    };
    let raw = found.get().to_owned();
    let customer: Value = serde_json::from_str(&raw).map_err(|_| LinkError::NoCustomer)?;
    let id = customer["id"]
        .as_str()
        .ok_or(LinkError::NoCustomer)?
        .to_owned();
    let Some(other) = holder(pool, &customer, &id, user_id).await? else {
        return Ok(Choice::Found { raw, reason: None });
    };
    match matching {
        Matching::Operator { force: true } => Ok(Choice::Found {
            raw,
            reason: Some(format!(
                "customer {id} was linked to another user ({other}); linked anyway (--force)"
            )),
        }),
        Matching::Operator { force: false } => Err(LinkError::LinkedToAnother {
            customer: id,
            other,
        }),
        Matching::SignUp { .. } => Ok(Choice::Create {
            reason: Some(format!(
                "customer {id} has this email but is already linked to another user: not matched"
            )),
        }),
    }
}

/// The other user a customer is already linked to: by its Stripe metadata
/// `supabase_user_id` (set when tether created it), or by a row of `users`
/// (a link tether made by email).
async fn holder(
    pool: &PgPool,
    customer: &Value,
    stripe_customer_id: &str,
    user_id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    let in_metadata = customer["metadata"]["supabase_user_id"]
        .as_str()
        .filter(|other| !other.is_empty())
        .filter(|other| Uuid::try_parse(other).ok() != Some(user_id));
    if let Some(other) = in_metadata {
        return Ok(Some(other.to_owned()));
    }
    other_linked_user(pool, stripe_customer_id, user_id).await
}

/// A user other than `user_id` whom `users` links to the customer.
async fn other_linked_user<'e>(
    conn: impl sqlx::PgExecutor<'e>,
    stripe_customer_id: &str,
    user_id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT u.id::text FROM users u JOIN end_customers c ON c.id = u.customer_id
         WHERE c.stripe_customer_id = $1 AND u.id <> $2 LIMIT 1",
    )
    .bind(stripe_customer_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await
}

/// A new customer for the user, created once whatever the retries.
async fn create(api: &StripeApi, user_id: Uuid, email: &str) -> Result<String, LinkError> {
    let user = user_id.to_string();
    let mut form = vec![("metadata[supabase_user_id]", user.as_str())];
    if !email.is_empty() {
        form.push(("email", email));
    }
    let created = api
        .post("/customers", &form, &format!("tether-link-user-{user_id}"))
        .await?;
    Ok(created.to_string())
}

/// Syncs the customer and links the user to it. Links to one customer are
/// serialized, and the customer's holder checked again under that lock, so
/// two sign-ups with one email cannot both pass the check at once.
async fn write_link(pool: &PgPool, link: &NewLink<'_>, apps: &AppTables) -> Result<(), LinkError> {
    let NewLink {
        user_id,
        email,
        raw,
        stripe_customer_id,
        fetched_at,
        ..
    } = *link;
    let customers = registry::kind("customer").expect("customers are a registered kind");
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tether-link-user:' || $1))")
        .bind(stripe_customer_id)
        .execute(&mut *tx)
        .await?;
    if !link.forced
        && other_linked_user(&mut *tx, link.stripe_customer_id, link.user_id)
            .await?
            .is_some()
    {
        return Err(LinkError::Contended(link.stripe_customer_id.to_owned()));
    }
    snapshot::write(&mut tx, customers, None, &[raw], fetched_at).await?;
    sqlx::query(
        "INSERT INTO users (id, email, customer_id)
         SELECT $1, nullif($2, ''), id FROM end_customers WHERE stripe_customer_id = $3
         ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, customer_id = EXCLUDED.customer_id",
    )
    .bind(user_id)
    .bind(email)
    .bind(stripe_customer_id)
    .execute(&mut *tx)
    .await?;
    if let Some(users) = &apps.users {
        app_tables::write_customer(&mut tx, users, &user_id.to_string(), stripe_customer_id)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
