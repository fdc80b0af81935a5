//! The development signing secret. `tether up` without
//! STRIPE_WEBHOOK_SECRET makes a random one per database and keeps it in
//! `tether_settings`, where `send-test-event` and `bench` find it. A
//! secret in the source would let anyone who read it sign events for any
//! development instance.

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::PgPool;

use crate::config::{DatabaseConfig, IngestTarget};

/// The fixed development secret of earlier versions. It was published, so
/// ingest refuses it wherever it is configured.
pub const RETIRED_DEV_SECRET: &str = "whsec_tether_local_development_only";

const KEY: &str = "dev_webhook_secret";

/// This database's development secret, made on first use. Two processes
/// racing here end with the same secret.
pub async fn get_or_create(pool: &PgPool) -> anyhow::Result<String> {
    sqlx::query(
        "INSERT INTO tether_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
    )
    .bind(KEY)
    .bind(random_secret())
    .execute(pool)
    .await
    .context("cannot store the development secret")?;
    read(pool)
        .await?
        .context("the development secret vanished after it was stored")
}

/// The secret a client command signs with: STRIPE_WEBHOOK_SECRET's first,
/// or else the development secret `tether up` made in the database.
pub async fn signing_secret(target: &IngestTarget, db: &DatabaseConfig) -> anyhow::Result<String> {
    if let Some(secrets) = &target.webhook_secrets {
        return Ok(secrets.signing().expose_secret().to_owned());
    }
    let unset = || {
        format!(
            "STRIPE_WEBHOOK_SECRET is not set, and {} holds no development secret \
             (start `tether up` there first, or set STRIPE_WEBHOOK_SECRET)",
            crate::db::redacted(db)
        )
    };
    let pool = crate::db::connect(db).await.with_context(unset)?;
    let secret = read(&pool).await;
    pool.close().await;
    secret.with_context(unset)?.with_context(unset)
}

/// The development secret `tether up` made for this database, if any.
pub async fn read(pool: &PgPool) -> anyhow::Result<Option<String>> {
    crate::settings::get(pool, KEY)
        .await
        .context("cannot read the development secret")
}

/// 244 random bits from the operating system's generator (uuid v4).
fn random_secret() -> String {
    format!(
        "whsec_dev_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}
