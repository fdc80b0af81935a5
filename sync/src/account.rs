//! Which connected account the rows being written belong to.
//!
//! Every synced table has an `account` column whose default is the account
//! set for the transaction (migration `connected_accounts`). Writing a
//! connected account's changes means setting it first: the kinds' upserts
//! stay the same for every account, and a placeholder parent inserted
//! along the way gets its child's account. An object never moves between
//! accounts, so an update leaves the column alone.

use sqlx::PgConnection;

/// Sets the account for the rest of the transaction (`None`: the
/// platform's own). Transaction-scoped, so it never leaks into the next
/// transaction on the connection, through a pooler or not.
pub async fn set_account(
    conn: &mut PgConnection,
    account: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT set_config('tether.account', $1, true)")
        .bind(account.unwrap_or(""))
        .execute(conn)
        .await?;
    Ok(())
}
