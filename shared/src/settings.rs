//! `tether_settings`: the values tether keeps for itself (the development
//! secret, the endpoint secret `tether setup` stored, `follow`'s cursor).
//! Row-level security with no policy: only tether's own connection reads it.

use sqlx::{Executor, Postgres};

pub async fn get<'c>(
    conn: impl Executor<'c, Database = Postgres>,
    key: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM tether_settings WHERE key = $1")
        .bind(key)
        .fetch_optional(conn)
        .await
}

pub async fn put<'c>(
    conn: impl Executor<'c, Database = Postgres>,
    key: &str,
    value: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tether_settings (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
    )
    .bind(key)
    .bind(value)
    .execute(conn)
    .await?;
    Ok(())
}
