//! Writing a Stripe customer id back into the app's own tables (the one
//! column `tether migrate` added, `stripe_customer_id`).

use sqlx::PgConnection;
use tether_shared::config::AppTable;

/// Sets the row's `stripe_customer_id` unless it already has one. The row
/// is found by its `id` (compared as text, so uuid and integer keys both
/// work).
pub async fn write_customer(
    conn: &mut PgConnection,
    table: &AppTable,
    row_id: &str,
    stripe_customer_id: &str,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {} SET stripe_customer_id = $2 WHERE id::text = $1 AND stripe_customer_id IS NULL",
        table.quoted()
    )))
    .bind(row_id)
    .bind(stripe_customer_id)
    .execute(conn)
    .await?
    .rows_affected())
}
