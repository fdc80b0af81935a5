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

pub fn connect_options(config: &DatabaseConfig) -> anyhow::Result<PgConnectOptions> {
    // The URL may hold a password, so the error must not echo it.
    let options = PgConnectOptions::from_str(config.url())
        .map_err(|_| anyhow::anyhow!("DATABASE_URL is not a valid postgres:// URL"))?;
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
