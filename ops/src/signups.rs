//! Sign-ups becoming Stripe customers (ADR-0008): the worker-side loop for
//! the jobs that `/webhooks/supabase` and the sign-up trigger push.
//!
//! A user's job is `tether link-user`: the customer is found by email (only
//! a confirmed email, and only a customer no other user holds) or created
//! with an idempotency key derived from the user id; why an email was not
//! matched is logged with the outcome. An
//! organization's job creates its customer (name, and the ADR's metadata:
//! organization id, industry, region, size, the creating user) with a key
//! derived from the organization id, then writes the customer id back to
//! the organization's row. Either way a retried or duplicated job never
//! creates a second customer. A failure
//! that may pass (Stripe or the network) is retried later; one that will
//! not (Stripe refuses the request) is a dead letter. Every outcome is
//! logged in `webhook_logs` as event type `supabase.signup`.

use std::time::Duration;

use sqlx::PgPool;
use tether_queue::signups::SignupJob;
use tether_stripe_api::StripeApi;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use tether_shared::config::AppTables;

use crate::{
    app_tables,
    link_user::{LinkError, Matching, link_user},
    snapshot,
};

const EVENT_TYPE: &str = "supabase.signup";
/// Attempts before a sign-up is a dead letter.
const MAX_ATTEMPTS: u32 = 10;

/// Runs sign-up jobs until `shutdown`, polling every `poll`.
pub async fn run(
    pool: PgPool,
    api: StripeApi,
    apps: AppTables,
    worker: String,
    poll: Duration,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        // While the database is away, wait longer between tries (and log less).
        let pause = match drain(&pool, &api, &apps, &worker).await {
            Ok(_) => poll,
            Err(error) => {
                tracing::warn!(error = %error, "sign-up jobs: cannot claim; retrying in 5 s");
                poll.max(Duration::from_secs(5))
            }
        };
        tokio::select! { _ = shutdown.cancelled() => {}, _ = tokio::time::sleep(pause) => {} }
    }
}

/// Runs every due sign-up job; returns how many ran.
pub async fn drain(
    pool: &PgPool,
    api: &StripeApi,
    apps: &AppTables,
    worker: &str,
) -> Result<usize, tether_queue::QueueError> {
    tether_queue::workers::register(pool, worker).await?;
    let mut ran = 0;
    loop {
        let jobs = tether_queue::signups::claim(pool, worker, 8).await?;
        if jobs.is_empty() {
            return Ok(ran);
        }
        for job in jobs {
            ran += 1;
            if let Err(error) = run_one(pool, api, apps, &job).await {
                tracing::error!(job = %job.id, error = %error, "could not record a sign-up's outcome");
            }
        }
    }
}

async fn run_one(
    pool: &PgPool,
    api: &StripeApi,
    apps: &AppTables,
    job: &SignupJob,
) -> Result<(), sqlx::Error> {
    let signup: Option<Signup> = sqlx::query_as(
        "SELECT kind, row_id, source, email, email_confirmed, record
         FROM supabase_signups WHERE id = $1::uuid",
    )
    .bind(&job.signup_id)
    .fetch_optional(pool)
    .await?;
    let outcome = match &signup {
        None => Err(Failure::Permanent(format!("no sign-up {}", job.signup_id))),
        Some(signup) if signup.kind == "organization" => {
            organization_customer(pool, api, apps, signup)
                .await
                .map(|customer| (customer, None))
        }
        Some(signup) => match Uuid::try_parse(&signup.row_id) {
            Ok(user) => link_user(
                pool,
                api,
                user,
                signup.email.as_deref().unwrap_or_default(),
                Matching::SignUp {
                    email_confirmed: signup.email_confirmed,
                },
                apps,
            )
            .await
            .map(|linked| (linked.stripe_customer_id, linked.reason))
            .map_err(Failure::from),
            Err(_) => Err(Failure::Permanent(format!(
                "user id {:?} is not a uuid",
                signup.row_id
            ))),
        },
    };
    let mut tx = pool.begin().await?;
    let (status, error) = match outcome {
        Ok((stripe_customer_id, reason)) => {
            sqlx::query(
                "UPDATE supabase_signups SET stripe_customer_id = $2, processed_at = now() WHERE id = $1::uuid",
            )
            .bind(&job.signup_id)
            .bind(&stripe_customer_id)
            .execute(&mut *tx)
            .await?;
            tether_queue::complete(&mut tx, &[job.id.as_str()])
                .await
                .map_err(|e| e.0)?;
            // A success may still carry why the email found no customer.
            ("success", reason)
        }
        Err(Failure::Transient(why)) if job.attempt < MAX_ATTEMPTS as i32 => {
            let delay = Duration::from_secs(2u64.saturating_pow(job.attempt.clamp(1, 12) as u32));
            tether_queue::schedule_retry(&mut tx, &job.id, delay, MAX_ATTEMPTS, &why)
                .await
                .map_err(|e| e.0)?;
            ("error", Some(why))
        }
        Err(Failure::Transient(why) | Failure::Permanent(why)) => {
            tether_queue::kill(&mut tx, &job.id, &why)
                .await
                .map_err(|e| e.0)?;
            ("dead", Some(why))
        }
    };
    sqlx::query(
        "INSERT INTO webhook_logs (event_type, event_id, status, error_message, attempt)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(EVENT_TYPE)
    .bind(&job.signup_id)
    .bind(status)
    .bind(&error)
    .bind(job.attempt)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

#[derive(sqlx::FromRow)]
struct Signup {
    kind: String,
    row_id: String,
    source: String,
    email: Option<String>,
    email_confirmed: bool,
    record: serde_json::Value,
}

/// ADR-0008: the organization's customer, created once, then written back
/// to the organization's row: in the app's table (TETHER_ORGANIZATIONS_TABLE)
/// when it came from there, else in tether's own `organizations`.
async fn organization_customer(
    pool: &PgPool,
    api: &StripeApi,
    apps: &AppTables,
    signup: &Signup,
) -> Result<String, Failure> {
    let text = |column: &str| {
        signup
            .record
            .get(column)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let creator = ["created_by", "owner_id", "user_id"]
        .into_iter()
        .find_map(&text);
    let mut form = vec![("metadata[supabase_organization_id]", signup.row_id.as_str())];
    for (field, column) in [
        ("name", "name"),
        ("metadata[industry]", "industry"),
        ("metadata[region]", "region"),
        ("metadata[size]", "size"),
    ] {
        if let Some(value) = text(column) {
            form.push((field, value));
        }
    }
    if let Some(creator) = creator {
        form.push(("metadata[supabase_user_id]", creator));
    }
    let fetched_at = chrono::Utc::now().timestamp();
    let key = format!("tether-organization-{}", signup.row_id);
    let created = api
        .post("/customers", &form, &key)
        .await
        .map_err(|e| Failure::from(LinkError::Api(e)))?;
    let customer_id = created["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or(Failure::Permanent(
            "Stripe's answer has no customer id".into(),
        ))?;
    let write = async {
        let mut tx = pool.begin().await?;
        let customers = tether_sync::registry::kind("customer").expect("customers are registered");
        snapshot::write(
            &mut tx,
            customers,
            None,
            &[&created.to_string()],
            fetched_at,
        )
        .await?;
        match &apps.organizations {
            Some(table) if table.name() == signup.source => {
                app_tables::write_customer(&mut tx, table, &signup.row_id, &customer_id).await?;
            }
            _ => {
                sqlx::query(
                    "UPDATE organizations SET stripe_customer_id = $2
                     WHERE id::text = $1 AND stripe_customer_id IS NULL",
                )
                .bind(&signup.row_id)
                .bind(&customer_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await
    };
    write.await.map_err(|e| Failure::Transient(e.to_string()))?;
    Ok(customer_id)
}

enum Failure {
    Transient(String),
    Permanent(String),
}

impl From<LinkError> for Failure {
    fn from(error: LinkError) -> Self {
        if error.is_transient() {
            Failure::Transient(error.to_string())
        } else {
            Failure::Permanent(error.to_string())
        }
    }
}
