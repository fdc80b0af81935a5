//! Configuration: every setting is an environment variable with a `--flag`
//! twin (clap reads both). Each flag's value name is its variable's name, so a
//! bad value is reported as e.g. `invalid value 'x' for
//! '--tolerance-secs <STRIPE_WEBHOOK_TOLERANCE_SECS>'`, naming the variable.

use std::{net::SocketAddr, time::Duration};

use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use tether_stripe::secret::{WebhookSecrets, parse_webhook_secrets};

pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/tether";

/// A secret that clap can parse and clone, and that `Debug` never prints.
pub fn parse_secret(raw: &str) -> Result<SecretString, String> {
    if raw.trim().is_empty() {
        return Err("must not be empty".into());
    }
    Ok(SecretString::from(raw.trim().to_owned()))
}

/// Parses a secret list without ever quoting it: clap's own error for a
/// failed parser repeats the value, and from stderr it would reach a log
/// collector.
#[derive(Clone, Copy, Debug)]
pub struct SecretListParser;

impl clap::builder::TypedValueParser for SecretListParser {
    type Value = WebhookSecrets;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<WebhookSecrets, clap::Error> {
        let name = arg
            .and_then(|a| a.get_value_names())
            .and_then(|names| names.first())
            .map_or_else(|| "the secret list".to_owned(), |n| n.to_string());
        let refuse = |why: &dyn std::fmt::Display| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid {name}: {why}\n"),
            )
            .with_cmd(cmd)
        };
        let raw = value.to_str().ok_or_else(|| refuse(&"not UTF-8"))?;
        parse_webhook_secrets(raw).map_err(|e| refuse(&e))
    }
}

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

#[derive(Args, Clone, Debug)]
pub struct IngestConfig {
    /// Stripe endpoint signing secret(s), `whsec_...`, comma-separated during rotation.
    #[arg(long = "webhook-secret", env = "STRIPE_WEBHOOK_SECRET", value_name = "STRIPE_WEBHOOK_SECRET",
          value_parser = SecretListParser, hide_env_values = true)]
    pub webhook_secrets: Option<WebhookSecrets>,

    /// Accepted clock skew of the signature timestamp, both directions.
    #[arg(
        long = "tolerance-secs",
        env = "STRIPE_WEBHOOK_TOLERANCE_SECS",
        value_name = "STRIPE_WEBHOOK_TOLERANCE_SECS",
        default_value_t = 300
    )]
    pub tolerance_secs: u64,

    /// Address the webhook receiver listens on.
    #[arg(
        long = "listen",
        env = "TETHER_LISTEN",
        value_name = "TETHER_LISTEN",
        default_value = "0.0.0.0:8080"
    )]
    pub listen: SocketAddr,

    /// Bodies larger than this are answered 413.
    #[arg(long = "max-body-bytes", env = "TETHER_MAX_BODY_BYTES", value_name = "TETHER_MAX_BODY_BYTES",
          default_value_t = 1_048_576, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_body_bytes: u64,

    /// How long a request may wait for its commit before it is answered 503.
    #[arg(
        long = "commit-timeout-ms",
        env = "TETHER_COMMIT_TIMEOUT_MS",
        value_name = "TETHER_COMMIT_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub commit_timeout_ms: u64,

    #[command(flatten)]
    pub limits: IngestLimits,

    /// test or live: an event of the other mode is refused with 400 and
    /// not stored. Unset: both are accepted.
    #[arg(long = "mode", env = "TETHER_MODE", value_name = "TETHER_MODE")]
    pub mode: Option<Mode>,

    /// Bearer token for the operator API under /admin/ (off when unset).
    #[arg(long = "admin-token", env = "TETHER_ADMIN_TOKEN", value_name = "TETHER_ADMIN_TOKEN",
          value_parser = parse_secret, hide_env_values = true)]
    pub admin_token: Option<SecretString>,

    /// Host names a development receiver answers to (`tether up` with its
    /// own secret): a web page on another origin cannot reach it through
    /// DNS rebinding. `None` accepts any Host.
    #[arg(skip)]
    pub allowed_hosts: Option<Vec<String>>,
}

/// What one client can hold of the receiver: time, connections, memory.
#[derive(Args, Clone, Debug)]
pub struct IngestLimits {
    /// A connection that has not sent a complete request header for this
    /// long (an idle keep-alive connection, or a slow sender) is closed.
    #[arg(long = "header-timeout-ms", env = "TETHER_HEADER_TIMEOUT_MS", value_name = "TETHER_HEADER_TIMEOUT_MS",
          default_value_t = IngestConfig::DEFAULT_LIMITS.header_timeout_ms, value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_ms: u64,

    /// A request body not received in full within this time is answered 408.
    #[arg(long = "body-timeout-ms", env = "TETHER_BODY_TIMEOUT_MS", value_name = "TETHER_BODY_TIMEOUT_MS",
          default_value_t = IngestConfig::DEFAULT_LIMITS.body_timeout_ms, value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_ms: u64,

    /// Open connections at most; one more is answered 503 and closed.
    #[arg(long = "max-connections", env = "TETHER_MAX_CONNECTIONS", value_name = "TETHER_MAX_CONNECTIONS",
          default_value_t = IngestConfig::DEFAULT_LIMITS.max_connections, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Request body bytes held in memory at once, over all requests; a
    /// request that would pass it is answered 503.
    #[arg(long = "max-buffered-bytes", env = "TETHER_MAX_BUFFERED_BYTES", value_name = "TETHER_MAX_BUFFERED_BYTES",
          default_value_t = IngestConfig::DEFAULT_LIMITS.max_buffered_bytes, value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_buffered_bytes: u64,
}

impl IngestLimits {
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }
}

impl IngestConfig {
    /// The defaults of the limits that keep ingest alive on the open
    /// internet, in one place for the flags and for tests.
    pub const DEFAULT_LIMITS: IngestLimits = IngestLimits {
        header_timeout_ms: 10_000,
        body_timeout_ms: 10_000,
        max_connections: 1024,
        max_buffered_bytes: 8 * 1024 * 1024,
    };

    pub fn tolerance(&self) -> Duration {
        Duration::from_secs(self.tolerance_secs)
    }

    pub fn commit_timeout(&self) -> Duration {
        Duration::from_millis(self.commit_timeout_ms)
    }
}

#[derive(Args, Clone, Debug)]
pub struct WorkerConfig {
    /// Batches applied at the same time by this process.
    #[arg(long = "concurrency", env = "TETHER_CONCURRENCY", value_name = "TETHER_CONCURRENCY",
          default_value_t = WorkerConfig::DEFAULT.concurrency, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,

    /// Attempts before a job is dead-lettered.
    #[arg(long = "max-attempts", env = "TETHER_MAX_ATTEMPTS", value_name = "TETHER_MAX_ATTEMPTS",
          default_value_t = WorkerConfig::DEFAULT.max_attempts, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_attempts: u32,

    /// First retry delay; doubles each attempt, with jitter, capped at TETHER_RETRY_MAX_MS.
    #[arg(long = "retry-base-ms", env = "TETHER_RETRY_BASE_MS", value_name = "TETHER_RETRY_BASE_MS",
          default_value_t = WorkerConfig::DEFAULT.retry_base_ms, value_parser = clap::value_parser!(u64).range(1..))]
    pub retry_base_ms: u64,

    /// Longest delay between two attempts.
    #[arg(long = "retry-max-ms", env = "TETHER_RETRY_MAX_MS", value_name = "TETHER_RETRY_MAX_MS",
          default_value_t = WorkerConfig::DEFAULT.retry_max_ms, value_parser = clap::value_parser!(u64).range(1..))]
    pub retry_max_ms: u64,

    /// A worker silent this long is presumed dead and its jobs run elsewhere.
    #[arg(long = "orphan-after-secs", env = "TETHER_ORPHAN_AFTER_SECS",
          value_name = "TETHER_ORPHAN_AFTER_SECS", default_value_t = WorkerConfig::DEFAULT.orphan_after_secs,
          value_parser = clap::value_parser!(u64).range(2..))]
    pub orphan_after_secs: u64,

    /// Polling interval for jobs nobody announced (retries whose time has come).
    #[arg(long = "poll-ms", env = "TETHER_POLL_MS", value_name = "TETHER_POLL_MS",
          default_value_t = WorkerConfig::DEFAULT.poll_ms, value_parser = clap::value_parser!(u64).range(10..))]
    pub poll_ms: u64,

    /// Prune processed events and logs older than this in the background
    /// (hourly), as `tether prune` does. Unset: keep everything.
    #[arg(long = "retention", env = "TETHER_RETENTION", value_name = "TETHER_RETENTION",
          value_parser = crate::duration::parse_duration)]
    pub retention: Option<Duration>,

    /// Jobs claimed at once and applied in one transaction: one under light
    /// load, up to this many under a backlog.
    #[arg(long = "fetch-size", env = "TETHER_FETCH_SIZE", value_name = "TETHER_FETCH_SIZE",
          default_value_t = WorkerConfig::DEFAULT.fetch_size, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub fetch_size: u32,
}

impl WorkerConfig {
    /// Every default, in one place: the flags show these, and code that
    /// builds a config without a command line (tests) starts from them.
    pub const DEFAULT: WorkerConfig = WorkerConfig {
        concurrency: 4,
        max_attempts: 10,
        retry_base_ms: 1000,
        retry_max_ms: 3_600_000,
        orphan_after_secs: 60,
        poll_ms: 500,
        fetch_size: 16,
        retention: None,
    };

    pub fn heartbeat_interval(&self) -> Duration {
        // Several beats fit in one orphan window, so one slow beat is not a death.
        Duration::from_secs(self.orphan_after_secs).div_f64(4.0)
    }

    pub fn orphan_after(&self) -> Duration {
        Duration::from_secs(self.orphan_after_secs)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_ms)
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[derive(Args, Clone, Debug)]
pub struct LogConfig {
    /// `pretty` for people, `json` for log collectors.
    #[arg(
        long = "log-format",
        env = "TETHER_LOG_FORMAT",
        value_name = "TETHER_LOG_FORMAT",
        default_value = "pretty",
        global = true
    )]
    pub format: LogFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// How tether reaches Stripe's API (backfill, reconcile).
#[derive(Args, Clone, Debug)]
pub struct StripeApiConfig {
    /// Stripe secret key: sk_live_..., sk_test_..., or a restricted rk_ key
    /// with read access to what is imported.
    #[arg(long = "stripe-secret-key", env = "STRIPE_SECRET_KEY", value_name = "STRIPE_SECRET_KEY",
          value_parser = parse_secret, hide_env_values = true)]
    pub secret_key: Option<SecretString>,

    /// Stripe's API address (a local fake in tests).
    #[arg(
        long = "stripe-api-base",
        env = "STRIPE_API_BASE",
        value_name = "STRIPE_API_BASE",
        default_value = "https://api.stripe.com"
    )]
    pub api_base: String,

    /// Requests per second to Stripe [default: 80 for live keys, 20 for test
    /// keys, under Stripe's documented limits of 100 and 25].
    #[arg(
        long = "stripe-rate",
        env = "TETHER_STRIPE_RATE",
        value_name = "TETHER_STRIPE_RATE"
    )]
    pub rate: Option<f64>,

    /// test or live; a key of the other mode stops the command at start.
    #[arg(long = "mode", env = "TETHER_MODE", value_name = "TETHER_MODE")]
    pub mode: Option<Mode>,
}

/// Stripe's two worlds. A deployment serves one: staging test, production
/// live, each with its own endpoint, secrets, keys and database or schema.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Test,
    Live,
}

impl Mode {
    pub fn of_livemode(livemode: bool) -> Self {
        if livemode { Mode::Live } else { Mode::Test }
    }

    /// The mode of a secret or restricted key, from its prefix.
    pub fn of_key(key: &str) -> Option<Self> {
        let restricted_or_secret = key.starts_with("sk_") || key.starts_with("rk_");
        match key.split('_').nth(1) {
            Some("live") if restricted_or_secret => Some(Mode::Live),
            Some("test") if restricted_or_secret => Some(Mode::Test),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Test => "test",
            Mode::Live => "live",
        }
    }
}

impl StripeApiConfig {
    /// The deployment's mode: TETHER_MODE, or the key's. A key of the other
    /// mode than the one declared is an error (the command stops at once).
    pub fn mode(&self) -> anyhow::Result<Option<Mode>> {
        let of_key = self
            .secret_key
            .as_ref()
            .and_then(|k| Mode::of_key(k.expose_secret()));
        match (self.mode, of_key) {
            (Some(declared), Some(key)) if declared != key => anyhow::bail!(
                "STRIPE_SECRET_KEY is a {} key, but TETHER_MODE={}: use this deployment's {} key",
                key.name(),
                declared.name(),
                declared.name()
            ),
            (declared, key) => Ok(declared.or(key)),
        }
    }
}

/// Where the client commands (`send-test-event`, `bench`) post, and the
/// secret they sign with.
#[derive(Args, Clone, Debug)]
pub struct IngestTarget {
    /// Where ingest listens.
    #[arg(
        id = "ingest_url",
        long = "url",
        env = "TETHER_URL",
        value_name = "TETHER_URL",
        default_value = "http://127.0.0.1:8080/webhooks/stripe"
    )]
    pub url: String,

    /// Signing secret (the first one is used). Defaults to the development
    /// secret `tether up` keeps in the database.
    #[arg(long = "webhook-secret", env = "STRIPE_WEBHOOK_SECRET", value_name = "STRIPE_WEBHOOK_SECRET",
          value_parser = SecretListParser, hide_env_values = true)]
    pub webhook_secrets: Option<WebhookSecrets>,
}
