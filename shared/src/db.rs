//! The one PostgreSQL database: connecting, creating it, migrating it.

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    ConnectOptions, Connection, PgConnection, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions, PgSslMode},
};

use crate::config::DatabaseConfig;

/// Our own schema. apalis-postgres keeps its migrations, and their history
/// table, in the `apalis` schema; ours live in `public._sqlx_migrations`.
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// What to use instead of a transaction-mode pooler, which tether cannot
/// run behind yet: it keeps named prepared statements and LISTENs, and
/// both belong to one server session.
const USE_A_SESSION: &str = "use the direct connection or a session-mode pooler \
    (on Supabase: the pooler's port 5432, not 6543)";

pub fn connect_options(config: &DatabaseConfig) -> anyhow::Result<PgConnectOptions> {
    // The URL may hold a password, so the error must not echo it.
    let options = PgConnectOptions::from_str(config.url())
        .map_err(|_| anyhow::anyhow!("DATABASE_URL is not a valid postgres:// URL"))?;
    if is_supabase_transaction_pooler(&options) {
        anyhow::bail!(
            "DATABASE_URL points at Supabase's transaction-mode pooler ({}), \
             which tether cannot run behind: {USE_A_SESSION}",
            redacted(config)
        );
    }
    if !verifies_the_server(&options) {
        tracing::warn!(
            database = %redacted(config),
            "DATABASE_URL reaches a remote database without verifying its certificate; \
             add ?sslmode=verify-full (and sslrootcert=...) so the connection cannot be intercepted"
        );
    }
    Ok(options
        .options([("search_path", config.schema.as_str())])
        .application_name("tether")
        .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_secs(2)))
}

/// Supabase's shared pooler answers in transaction mode on 6543 and in
/// session mode on 5432, on the same host.
fn is_supabase_transaction_pooler(options: &PgConnectOptions) -> bool {
    options.get_host().ends_with(".pooler.supabase.com") && options.get_port() == 6543
}

/// A transaction-mode pooler (PgBouncer, Supavisor) hands each transaction
/// to any server session, so a statement prepared in one is missing or
/// already there in the next: say what to use instead of leaving only
/// PostgreSQL's words.
fn explain_pooler(error: anyhow::Error) -> anyhow::Error {
    let lost_statement = error.chain().any(|cause| {
        let text = cause.to_string();
        text.contains("prepared statement \"sqlx_s_")
            && (text.contains("does not exist") || text.contains("already exists"))
    });
    if lost_statement {
        error.context(format!(
            "DATABASE_URL looks like a transaction-mode pooler, which tether cannot \
             run behind: {USE_A_SESSION}"
        ))
    } else {
        error
    }
}

/// A database on this host, or a connection that checks the server's
/// certificate. Anything else (`sslmode=prefer` to a remote host) can be
/// downgraded or intercepted on the way.
fn verifies_the_server(options: &PgConnectOptions) -> bool {
    let host = options.get_host();
    let local = host.starts_with('/')
        || host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    local
        || matches!(
            options.get_ssl_mode(),
            PgSslMode::VerifyCa | PgSslMode::VerifyFull
        )
}

/// A pool that fails fast: a request waiting longer than `acquire_timeout`
/// for a connection is better answered 503 than left hanging.
pub async fn connect(config: &DatabaseConfig) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(config.pool_size)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(connect_options(config)?)
        .await
        .with_context(|| format!("cannot connect to the database at {}", redacted(config)))?;
    Ok(pool)
}

/// Same as [`connect`], but does not touch the database until first use, so a
/// process can start while PostgreSQL is down and recover when it returns.
pub fn connect_lazy(config: &DatabaseConfig) -> anyhow::Result<PgPool> {
    Ok(PgPoolOptions::new()
        .max_connections(config.pool_size)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(connect_options(config)?))
}

/// `host:port/dbname`, never the user or password.
pub fn redacted(config: &DatabaseConfig) -> String {
    match PgConnectOptions::from_str(config.url()) {
        Ok(o) => format!(
            "{}:{}/{}",
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or("postgres")
        ),
        Err(_) => "<invalid DATABASE_URL>".into(),
    }
}

/// Creates the database named in the URL when it does not exist yet.
/// Two processes racing here both succeed.
pub async fn ensure_database(config: &DatabaseConfig) -> anyhow::Result<bool> {
    let options = connect_options(config)?;
    let name = options.get_database().unwrap_or("postgres").to_owned();
    let mut admin = PgConnection::connect_with(&options.clone().database("postgres"))
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {}", redacted(config)))?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if exists {
        return Ok(false);
    }
    let create = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
    match sqlx::raw_sql(sqlx::AssertSqlSafe(create))
        .execute(&mut admin)
        .await
    {
        Ok(_) => Ok(true),
        // 42P04 duplicate_database: another process created it first.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => Ok(false),
        Err(e) => Err(e).context("cannot create the database"),
    }
}

/// Applies apalis-postgres's migrations, then ours (into TETHER_SCHEMA,
/// after checking that nothing there would be taken over). Each migrator holds a
/// PostgreSQL advisory lock while it runs, so concurrent callers queue up and
/// the later ones find nothing left to do.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    refuse_transaction_pooler(pool).await?;
    migrate_all(pool).await.map_err(explain_pooler)
}

/// Stops before any change when the connection's session does not
/// outlive a statement, as behind a transaction-mode pooler: a setting
/// made on one connection must still be there after another connection
/// has taken a server session. Behind such a pooler the second
/// connection takes the first's server session, so the first comes back
/// on a fresh one without the setting. Simple-protocol statements only,
/// which any pooler passes.
async fn refuse_transaction_pooler(pool: &PgPool) -> anyhow::Result<()> {
    use sqlx::Row;
    let options = pool.connect_options();
    let mut first = PgConnection::connect_with(&options).await?;
    let mut second = PgConnection::connect_with(&options).await?;
    sqlx::raw_sql("SET tether.session_probe = 'kept'")
        .execute(&mut first)
        .await?;
    sqlx::raw_sql("BEGIN; SELECT 1")
        .execute(&mut second)
        .await?;
    let kept: Option<String> =
        sqlx::raw_sql("SELECT current_setting('tether.session_probe', true)")
            .fetch_one(&mut first)
            .await?
            .try_get(0)?;
    sqlx::raw_sql("ROLLBACK").execute(&mut second).await?;
    let (_, _) = (first.close().await, second.close().await);
    if kept.as_deref() == Some("kept") {
        Ok(())
    } else {
        anyhow::bail!(
            "DATABASE_URL goes through a transaction-mode pooler (a setting did not \
             outlive its statement), which tether cannot run behind: {USE_A_SESSION}"
        )
    }
}

async fn migrate_all(pool: &PgPool) -> anyhow::Result<()> {
    let schema = crate::install::schema(pool).await?;
    crate::install::prepare(pool, &schema).await?;
    apalis_postgres::PostgresStorage::migrations()
        .run(pool)
        .await
        .context("applying the queue (apalis) migrations")?;
    tether_queue::signups::install(pool)
        .await
        .context("installing the queue's SQL functions")?;
    MIGRATOR
        .run(pool)
        .await
        .context("applying tether's migrations")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(url: &str) -> PgConnectOptions {
        PgConnectOptions::from_str(url).unwrap()
    }

    #[test]
    fn only_supabases_transaction_port_is_refused() {
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
        let explained = format!("{:#}", explain_pooler(lost));
        assert!(
            explained.starts_with("DATABASE_URL looks like a transaction-mode pooler"),
            "{explained}"
        );
        assert!(explained.contains("port 5432, not 6543"), "{explained}");
        let other = anyhow::anyhow!("relation \"users\" already exists");
        assert_eq!(
            format!("{:#}", explain_pooler(other)),
            "relation \"users\" already exists"
        );
    }
}
