//! `tether link-user`: the Stripe customer of a Supabase user, found by
//! email or created, synced into `end_customers` and linked in `users`.
//!
//! Creating uses an idempotency key derived from the user id, so a repeated
//! call, a concurrent one, or a retry after a lost answer can never create
//! two customers.

use serde::Serialize;
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
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Linked {
    pub user_id: Uuid,
    pub stripe_customer_id: String,
    /// `found` (by email), `created`, or `already linked`.
    pub how: &'static str,
}

pub async fn link_user(
    pool: &PgPool,
    api: &StripeApi,
    user_id: Uuid,
    email: &str,
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
        });
    }
    let fetched_at = chrono::Utc::now().timestamp();
    // A user without an email (a phone or anonymous sign-up) is never
    // matched by email: an empty filter would match some other customer.
    let email = email.trim();
    let found = if email.is_empty() {
        None
    } else {
        api.list_page("/customers", &[("email", email), ("limit", "1")])
            .await?
            .data
            .into_iter()
            .next()
    };
    let (raw, how) = match found {
        Some(customer) => (customer.get().to_owned(), "found"),
        None => {
            let user = user_id.to_string();
            let mut form = vec![("metadata[supabase_user_id]", user.as_str())];
            if !email.is_empty() {
                form.push(("email", email));
            }
            let created = api
                .post("/customers", &form, &format!("tether-link-user-{user_id}"))
                .await?;
            (created.to_string(), "created")
        }
    };
    let stripe_customer_id = serde_json::from_str::<serde_json::Value>(&raw)
        .ok()
        .and_then(|c| c["id"].as_str().map(str::to_owned))
        .ok_or(LinkError::NoCustomer)?;
    let customers = registry::kind("customer").expect("customers are a registered kind");
    let mut tx = pool.begin().await?;
    snapshot::write(&mut tx, customers, &[&raw], fetched_at).await?;
    sqlx::query(
        "INSERT INTO users (id, email, customer_id)
         SELECT $1, nullif($2, ''), id FROM end_customers WHERE stripe_customer_id = $3
         ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email, customer_id = EXCLUDED.customer_id",
    )
    .bind(user_id)
    .bind(email)
    .bind(&stripe_customer_id)
    .execute(&mut *tx)
    .await?;
    if let Some(users) = &apps.users {
        app_tables::write_customer(&mut tx, users, &user_id.to_string(), &stripe_customer_id)
            .await?;
    }
    tx.commit().await?;
    Ok(Linked {
        user_id,
        stripe_customer_id,
        how,
    })
}
