//! The one PostgreSQL database: connecting, creating it, migrating it.

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use sqlx::{
    ConnectOptions, Connection, PgConnection, PgPool,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions, PgSslMode},
};

pub use crate::pooler::Sessions;
use crate::{config::DatabaseConfig, pooler};

/// Our own schema. apalis-postgres keeps its migrations, and their history
/// table, in the `apalis` schema; ours live in `public._sqlx_migrations`.
pub(crate) fn migrator() -> Migrator {
    sqlx::migrate!("../migrations")
}

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

/// Behind a transaction-mode pooler no statement is prepared under a
/// name: with the cache off, the patched sqlx-postgres sends each one
/// unnamed, parse to execute in one flight (vendor/README.md).
fn for_sessions(options: PgConnectOptions, sessions: Sessions) -> PgConnectOptions {
    match sessions {
        Sessions::Kept => options,
        Sessions::PerTransaction => options.statement_cache_capacity(0),
    }
}

/// A pool, and whether its connections keep their server sessions.
#[derive(Clone, Debug)]
pub struct Database {
    pub pool: PgPool,
    pub sessions: Sessions,
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
    Ok(open(config).await?.pool)
}

/// [`connect`], and what TETHER_POOLER resolved to.
pub async fn open(config: &DatabaseConfig) -> anyhow::Result<Database> {
    let cannot = || format!("cannot connect to the database at {}", redacted(config));
    let options = connect_options(config)?;
    let sessions = pooler::resolve(config.pooler, &options)
        .await
        .map_err(pooler::unreachable)
        .with_context(cannot)?;
    let pool = pool_options(config)
        .connect_with(for_sessions(options, sessions))
        .await
        .with_context(cannot)?;
    log_sessions(config, sessions);
    Ok(Database { pool, sessions })
}

/// Same as [`open`], but does not need the database until first use, so a
/// process can start while PostgreSQL is down and recover when it returns.
/// With TETHER_POOLER=auto and no database to ask, it runs as behind a
/// transaction-mode pooler, which works on any connection, until restarted.
pub async fn open_lazy(config: &DatabaseConfig) -> anyhow::Result<Database> {
    let options = connect_options(config)?;
    let sessions = match pooler::resolve(config.pooler, &options).await {
        Ok(sessions) => sessions,
        Err(error) => {
            tracing::warn!(
                database = %redacted(config),
                error = %format!("{error:#}"),
                "cannot ask the database whether it keeps sessions; running as behind a \
                 transaction-mode pooler until restarted (TETHER_POOLER=session skips the question)"
            );
            Sessions::PerTransaction
        }
    };
    let pool = pool_options(config).connect_lazy_with(for_sessions(options, sessions));
    log_sessions(config, sessions);
    Ok(Database { pool, sessions })
}

fn pool_options(config: &DatabaseConfig) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(config.pool_size)
        .acquire_timeout(Duration::from_secs(5))
}

fn log_sessions(config: &DatabaseConfig, sessions: Sessions) {
    match sessions {
        Sessions::Kept => {
            tracing::debug!(database = %redacted(config), "the connection keeps its sessions")
        }
        Sessions::PerTransaction => tracing::info!(
            database = %redacted(config),
            "through a transaction-mode pooler: unnamed statements, transaction locks, no LISTEN"
        ),
    }
}

/// Where a worker LISTENs for new jobs: TETHER_LISTEN_DATABASE_URL when
/// given; else its own database, when that keeps sessions; else nowhere,
/// and it polls every TETHER_POLL_MS.
pub fn listen_pool(
    database: &Database,
    config: &DatabaseConfig,
    listen_url: Option<&SecretString>,
) -> anyhow::Result<Option<PgPool>> {
    let Some(url) = listen_url else {
        return Ok(match database.sessions {
            Sessions::Kept => Some(database.pool.clone()),
            Sessions::PerTransaction => None,
        });
    };
    let options = PgConnectOptions::from_str(url.expose_secret()).map_err(|_| {
        anyhow::anyhow!("TETHER_LISTEN_DATABASE_URL is not a valid postgres:// URL")
    })?;
    pooler::refuse_listen_url(&options)?;
    // One connection, kept open: it only waits for notifications.
    Ok(Some(
        PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with(
                options
                    .options([("search_path", config.schema.as_str())])
                    .application_name("tether listener"),
            ),
    ))
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
    // Unnamed statements: the pooler in between may be in transaction mode.
    let admin_options = options
        .clone()
        .database("postgres")
        .statement_cache_capacity(0);
    let mut admin = PgConnection::connect_with(&admin_options)
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
/// after checking that nothing there would be taken over). Concurrent
/// callers queue up on one advisory lock, and the later ones find nothing
/// left to do: over a connection that keeps its session, each migrator
/// holds sqlx's session lock while it runs; through a transaction-mode
/// pooler, every migration runs in one transaction that holds the same key
/// as a transaction lock.
pub async fn migrate(pool: &PgPool, sessions: Sessions) -> anyhow::Result<()> {
    match sessions {
        Sessions::Kept => migrate_all(pool).await.map_err(pooler::explain),
        Sessions::PerTransaction => migrate_in_one_transaction(pool).await,
    }
}

async fn migrate_all(pool: &PgPool) -> anyhow::Result<()> {
    let schema = crate::install::schema(pool).await?;
    crate::install::prepare(pool, &schema).await?;
    apalis_postgres::PostgresStorage::migrations()
        .run(pool)
        .await
        .context("applying the queue (apalis) migrations")?;
    // Between the two migrators no session lock is held, so two processes
    // would replace the same functions at once (a duplicate-key error in
    // pg_proc): the install takes the migrators' key for its transaction.
    let mut tx = pool.begin().await?;
    lock_migrations(&mut tx).await?;
    tether_queue::signups::install(&mut *tx)
        .await
        .context("installing the queue's SQL functions")?;
    tx.commit()
        .await
        .context("installing the queue's SQL functions")?;
    migrator()
        .run(pool)
        .await
        .context("applying tether's migrations")?;
    Ok(())
}

/// Takes, for the rest of `tx`, the key sqlx's migrator locks for this
/// database: it waits for a migrator running elsewhere, and makes them
/// wait.
async fn lock_migrations(tx: &mut sqlx::PgTransaction<'_>) -> anyhow::Result<()> {
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&mut **tx)
        .await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(pooler::migration_lock_key(&database))
        .execute(&mut **tx)
        .await
        .context("waiting for the migration lock")?;
    Ok(())
}

/// A session lock taken through a transaction-mode pooler would stay on a
/// server session nobody holds, so the migrators' own locking is off and
/// one transaction holds the lock they would take; each migration still
/// runs in its own savepoint. A failure applies nothing.
async fn migrate_in_one_transaction(pool: &PgPool) -> anyhow::Result<()> {
    let schema = crate::install::schema(pool).await?;
    crate::install::prepare(pool, &schema).await?;
    let mut tx = pool.begin().await?;
    lock_migrations(&mut tx).await?;
    let mut queue = apalis_postgres::PostgresStorage::migrations();
    queue
        .set_locking(false)
        .run(&mut *tx)
        .await
        .context("applying the queue (apalis) migrations")?;
    tether_queue::signups::install(&mut *tx)
        .await
        .context("installing the queue's SQL functions")?;
    migrator()
        .set_locking(false)
        .run(&mut *tx)
        .await
        .context("applying tether's migrations")?;
    tx.commit().await.context("committing the migrations")?;
    Ok(())
}
