//! Poolers between tether and PostgreSQL. A transaction-mode pooler
//! (PgBouncer's `pool_mode = transaction`, Supabase's port 6543) hands each
//! transaction, and each statement outside one, to whichever server session
//! is free, so nothing may outlive a transaction there: no named prepared
//! statement, no LISTEN, no session advisory lock, no `SET`. [`Sessions`]
//! says which kind of connection tether has; `db` builds the pool, the
//! migration path and the worker's wake-ups from it.

use std::time::Duration;

use sqlx::{Connection, PgConnection, Row, postgres::PgConnectOptions};

use crate::config::Pooler;

/// Whether the connection keeps its server session between transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sessions {
    /// A direct connection or a session-mode pooler: named statements are
    /// cached, workers LISTEN, migrations hold a session lock.
    Kept,
    /// A transaction-mode pooler: statements are unnamed and sent in one
    /// flight, workers poll (or LISTEN elsewhere), locks are transaction
    /// locks.
    PerTransaction,
}

/// How long the probe may take. A direct connection answers in
/// milliseconds; a pooler with one server session would wait forever.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// `TETHER_POOLER`, resolved: declared, known from the address, or asked
/// for. An error means the database could not be reached.
pub async fn resolve(declared: Pooler, options: &PgConnectOptions) -> anyhow::Result<Sessions> {
    match declared {
        Pooler::Transaction => Ok(Sessions::PerTransaction),
        Pooler::Session => Ok(Sessions::Kept),
        Pooler::Auto if is_supabase_transaction_pooler(options) => Ok(Sessions::PerTransaction),
        Pooler::Auto => match tokio::time::timeout(PROBE_TIMEOUT, probe(options)).await {
            Ok(sessions) => sessions,
            Err(_) => {
                tracing::warn!(
                    "the session probe did not finish in {}s (a pooler with one server \
                     session?); running as behind a transaction-mode pooler. \
                     Set TETHER_POOLER to skip the probe",
                    PROBE_TIMEOUT.as_secs()
                );
                Ok(Sessions::PerTransaction)
            }
        },
    }
}

/// Supabase's shared pooler answers in transaction mode on 6543 and in
/// session mode on 5432, on the same host.
pub(crate) fn is_supabase_transaction_pooler(options: &PgConnectOptions) -> bool {
    options.get_host().ends_with(".pooler.supabase.com") && options.get_port() == 6543
}

/// Asks whether a connection keeps its server session. A first connection
/// notes its server process and makes a setting; then holder connections
/// each open a transaction, taking a server session apiece, until one is
/// given a session that did not exist before the probe started. Behind a
/// transaction-mode pooler the first connection's session is free between
/// its statements, so a holder is given it before any new one is started
/// (a pooler starts one only when none is free): that is the answer. The
/// session is the connection's when two new ones came in a row while the
/// first connection's was never handed out, nor used by any other client
/// (its last statement, as PostgreSQL shows it, is still the probe's), and
/// the first connection is still on it, with its setting. Simple-protocol
/// statements only, which any pooler passes.
async fn probe(options: &PgConnectOptions) -> anyhow::Result<Sessions> {
    const HOLDERS: usize = 24;
    let mut first = PgConnection::connect_with(options).await?;
    let token = uuid::Uuid::new_v4().simple().to_string();
    let started = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET tether.session_probe = '{token}';
         SELECT pg_backend_pid(), extract(epoch FROM clock_timestamp())::float8"
    )))
    .fetch_one(&mut first)
    .await?;
    let (own, since): (i32, f64) = (started.try_get(0)?, started.try_get(1)?);
    let mut holders: Vec<PgConnection> = Vec::new();
    let mut new_in_a_row = 0;
    let mut handed_out = false;
    while holders.len() < HOLDERS && new_in_a_row < 2 && !handed_out {
        let mut holder = PgConnection::connect_with(options).await?;
        let held = sqlx::raw_sql(
            "BEGIN; SELECT pg_backend_pid(), extract(epoch FROM backend_start)::float8
               FROM pg_stat_activity WHERE pid = pg_backend_pid()",
        )
        .fetch_one(&mut holder)
        .await?;
        let (pid, born): (i32, f64) = (held.try_get(0)?, held.try_get(1)?);
        handed_out = pid == own;
        new_in_a_row = if born >= since { new_in_a_row + 1 } else { 0 };
        holders.push(holder);
    }
    let untouched = match holders.last_mut() {
        Some(holder) if !handed_out => {
            let last: Option<String> = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "SELECT query FROM pg_stat_activity WHERE pid = {own}"
            )))
            .fetch_optional(&mut *holder)
            .await?
            .map(|row| row.try_get(0))
            .transpose()?;
            last.is_some_and(|query| query.contains(&token))
        }
        _ => false,
    };
    let after =
        sqlx::raw_sql("SELECT current_setting('tether.session_probe', true), pg_backend_pid()")
            .fetch_one(&mut first)
            .await?;
    let (setting, now): (Option<String>, i32) = (after.try_get(0)?, after.try_get(1)?);
    for mut holder in holders {
        sqlx::raw_sql("ROLLBACK").execute(&mut holder).await?;
        let _ = holder.close().await;
    }
    let _ = first.close().await;
    let kept =
        untouched && new_in_a_row == 2 && setting.as_deref() == Some(token.as_str()) && now == own;
    Ok(if kept {
        Sessions::Kept
    } else {
        Sessions::PerTransaction
    })
}

/// A statement prepared under a name went missing (or was already there):
/// the connection is a transaction-mode pooler although TETHER_POOLER said
/// it keeps sessions (or the probe was misled). Say what to set instead of
/// leaving only PostgreSQL's words.
pub(crate) fn explain(error: anyhow::Error) -> anyhow::Error {
    let lost_statement = error.chain().any(|cause| {
        let text = cause.to_string();
        text.contains("prepared statement \"sqlx_s_")
            && (text.contains("does not exist") || text.contains("already exists"))
    });
    if lost_statement {
        error.context(
            "DATABASE_URL goes through a transaction-mode pooler, but tether ran it as a \
             connection that keeps its sessions: set TETHER_POOLER=transaction",
        )
    } else {
        error
    }
}

/// The key sqlx's migrator locks (`pg_advisory_lock`) for a database, so
/// that a migration through a transaction-mode pooler, which takes it as a
/// transaction lock, still waits for one over a direct connection, and the
/// other way round.
pub(crate) fn migration_lock_key(database: &str) -> i64 {
    const CRC_IEEE: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    0x3d32ad9e * i64::from(CRC_IEEE.checksum(database.as_bytes()))
}

/// The reason a LISTEN connection cannot be the one given.
pub(crate) fn refuse_listen_url(options: &PgConnectOptions) -> anyhow::Result<()> {
    anyhow::ensure!(
        !is_supabase_transaction_pooler(options),
        "TETHER_LISTEN_DATABASE_URL points at Supabase's transaction-mode pooler (port 6543), \
         where a LISTEN does not stay: use the direct connection or the session pooler (5432)"
    );
    Ok(())
}

/// What the probe needs to say before it runs: the database answers.
pub(crate) fn unreachable(error: anyhow::Error) -> anyhow::Error {
    error.context("cannot ask the database whether it keeps sessions (TETHER_POOLER=auto)")
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn options(url: &str) -> PgConnectOptions {
        PgConnectOptions::from_str(url).unwrap()
    }

    #[test]
    fn only_supabases_transaction_port_is_known_without_asking() {
        let pooler = "aws-0-eu-central-1.pooler.supabase.com";
        assert!(is_supabase_transaction_pooler(&options(&format!(
            "postgres://u:p@{pooler}:6543/postgres"
        ))));
        assert!(!is_supabase_transaction_pooler(&options(&format!(
            "postgres://u:p@{pooler}:5432/postgres"
        ))));
        assert!(!is_supabase_transaction_pooler(&options(
            "postgres://u:p@db.abcdefgh.supabase.co:6543/postgres"
        )));
    }

    #[test]
    fn a_lost_prepared_statement_is_explained_and_other_errors_are_not() {
        let lost = anyhow::anyhow!("prepared statement \"sqlx_s_2\" does not exist")
            .context("applying tether's migrations");
        let explained = format!("{:#}", explain(lost));
        assert!(
            explained.starts_with("DATABASE_URL goes through a transaction-mode pooler"),
            "{explained}"
        );
        assert!(
            explained.contains("TETHER_POOLER=transaction"),
            "{explained}"
        );
        let other = anyhow::anyhow!("relation \"users\" already exists");
        assert_eq!(
            format!("{:#}", explain(other)),
            "relation \"users\" already exists"
        );
    }

    #[test]
    fn the_migration_lock_is_the_one_sqlx_takes() {
        // sqlx-postgres 0.9's generate_lock_id: 0x3d32ad9e times the
        // CRC-32 (zlib's) of the database name; zlib.crc32(b"tether") is
        // 1958425832.
        assert_eq!(migration_lock_key("tether"), 0x3d32ad9e * 1_958_425_832);
        assert_eq!(migration_lock_key("tether"), 2_010_777_339_370_893_104);
    }
}
