//! Where the one database is, and the schema tether's tables live in.

use clap::Args;
use secrecy::{ExposeSecret, SecretString};

use super::parse_secret;

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/tether";

#[derive(Args, Clone, Debug)]
pub struct DatabaseConfig {
    /// The one database: queue, raw events and synced tables.
    #[arg(long = "database-url", env = "DATABASE_URL", value_name = "DATABASE_URL",
          default_value = DEFAULT_DATABASE_URL, value_parser = parse_secret, hide_env_values = true)]
    pub url: SecretString,

    /// Connections in this process's pool.
    #[arg(long = "db-pool-size", env = "TETHER_DB_POOL_SIZE", value_name = "TETHER_DB_POOL_SIZE",
          default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub pool_size: u32,

    /// The schema tether's tables live in. Set it to install beside an
    /// app whose tables have the same names (users, subscriptions, ...).
    #[arg(long = "schema", env = "TETHER_SCHEMA", value_name = "TETHER_SCHEMA",
          default_value = "public", value_parser = parse_schema)]
    pub schema: String,

    /// What stands between tether and PostgreSQL: `auto` asks at start
    /// (Supabase's port 6543 is known), `transaction` a transaction-mode
    /// pooler (no named statements, no LISTEN, no session locks), `session`
    /// a connection that keeps its server session (direct, or a
    /// session-mode pooler).
    #[arg(
        long = "pooler",
        env = "TETHER_POOLER",
        value_name = "TETHER_POOLER",
        default_value = "auto",
        value_enum
    )]
    pub pooler: Pooler,
}

/// `TETHER_POOLER`: whether the connection keeps its server session
/// between transactions, declared or asked for.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooler {
    Auto,
    Transaction,
    Session,
}

/// A plain identifier: lower-case letters, digits and `_`, not starting
/// with a digit, as PostgreSQL folds unquoted names.
pub fn parse_schema(raw: &str) -> Result<String, String> {
    let valid = raw.len() <= 63
        && raw
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(raw.to_owned())
    } else {
        Err("must be a lower-case identifier (letters, digits, _)".into())
    }
}

impl DatabaseConfig {
    pub fn url(&self) -> &str {
        self.url.expose_secret()
    }
}
