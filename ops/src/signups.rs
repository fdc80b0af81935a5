//! Sign-ups becoming Stripe customers (ADR-0008): the worker-side loop for
//! the jobs that `/webhooks/supabase` and the sign-up trigger push.
//!
//! Each job is `tether link-user` for its user: the customer is found by
//! email or created with an idempotency key derived from the user id, so a
//! retried or duplicated job never creates a second customer. A failure
//! that may pass (Stripe or the network) is retried later; one that will
//! not (Stripe refuses the request) is a dead letter. Every outcome is
//! logged in `webhook_logs` as event type `supabase.signup`.

use std::time::Duration;

use sqlx::PgPool;
use tether_queue::signups::SignupJob;
use tether_stripe_api::StripeApi;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::link_user::{LinkError, link_user};

const EVENT_TYPE: &str = "supabase.signup";
/// Attempts before a sign-up is a dead letter.
const MAX_ATTEMPTS: u32 = 10;

/// Runs sign-up jobs until `shutdown`, polling every `poll`.
pub async fn run(
    pool: PgPool,
    api: StripeApi,
    worker: String,
    poll: Duration,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        match drain(&pool, &api, &worker).await {
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error, "sign-up jobs: cannot claim; retrying"),
        }
        tokio::select! { _ = shutdown.cancelled() => {}, _ = tokio::time::sleep(poll) => {} }
    }
}

/// Runs every due sign-up job; returns how many ran.
pub async fn drain(
    pool: &PgPool,
    api: &StripeApi,
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
            if let Err(error) = run_one(pool, api, &job).await {
                tracing::error!(job = %job.id, error = %error, "could not record a sign-up's outcome");
            }
        }
    }
}

async fn run_one(pool: &PgPool, api: &StripeApi, job: &SignupJob) -> Result<(), sqlx::Error> {
    let signup: Option<(Uuid, Option<String>)> =
        sqlx::query_as("SELECT user_id, email FROM supabase_signups WHERE id = $1::uuid")
            .bind(&job.signup_id)
            .fetch_optional(pool)
            .await?;
    let outcome = match &signup {
        None => Err(Failure::Permanent(format!("no sign-up {}", job.signup_id))),
        Some((user_id, email)) => {
            link_user(pool, api, *user_id, email.as_deref().unwrap_or_default())
                .await
                .map_err(Failure::from)
        }
    };
    let mut tx = pool.begin().await?;
    let (status, error) = match outcome {
        Ok(linked) => {
            sqlx::query(
                "UPDATE supabase_signups SET stripe_customer_id = $2, processed_at = now() WHERE id = $1::uuid",
            )
            .bind(&job.signup_id)
            .bind(&linked.stripe_customer_id)
            .execute(&mut *tx)
            .await?;
            tether_queue::complete(&mut tx, &[job.id.as_str()])
                .await
                .map_err(|e| e.0)?;
            ("success", None)
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

enum Failure {
    Transient(String),
    Permanent(String),
}

impl From<LinkError> for Failure {
    fn from(error: LinkError) -> Self {
        let transient = match &error {
            LinkError::Api(api) => api.is_transient(),
            LinkError::Database(_) => true,
            LinkError::NoCustomer => false,
        };
        if transient {
            Failure::Transient(error.to_string())
        } else {
            Failure::Permanent(error.to_string())
        }
    }
}
