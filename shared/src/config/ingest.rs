//! The receiver's settings, and where the client commands send to.

use std::{net::SocketAddr, time::Duration};

use clap::Args;
use secrecy::SecretString;
use tether_stripe::secret::WebhookSecrets;

use super::{Mode, SecretListParser, StripeApiConfig, parse_secret};
use crate::bounds::{MAX_DURATION_MS, MAX_DURATION_SECS};

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
        default_value_t = 300,
        value_parser = clap::value_parser!(u64).range(0..=MAX_DURATION_SECS)
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
        default_value_t = 10_000,
        value_parser = clap::value_parser!(u64).range(0..=MAX_DURATION_MS)
    )]
    pub commit_timeout_ms: u64,

    #[command(flatten)]
    pub limits: IngestLimits,

    /// test or live: an event of the other mode is refused with 400 and
    /// not stored. Unset: the mode of STRIPE_SECRET_KEY, if set; else both
    /// are accepted.
    #[arg(long = "mode", env = "TETHER_MODE", value_name = "TETHER_MODE")]
    pub mode: Option<Mode>,

    /// Stripe Connect: the connected accounts whose events are stored
    /// (`acct_1,acct_2`). An event of another account is refused with 400
    /// and stored nowhere; the platform's own events are always stored.
    /// Unset: every account's.
    #[arg(long = "accounts", env = "TETHER_ACCOUNTS", value_name = "TETHER_ACCOUNTS",
          value_delimiter = ',', value_parser = crate::bounds::parse_account)]
    pub accounts: Vec<String>,

    /// Bearer token Supabase database webhooks send to /webhooks/supabase
    /// (the route is off when unset).
    #[arg(long = "supabase-webhook-token", env = "SUPABASE_WEBHOOK_TOKEN",
          value_name = "SUPABASE_WEBHOOK_TOKEN", value_parser = parse_secret, hide_env_values = true)]
    pub supabase_token: Option<SecretString>,

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
          default_value_t = IngestConfig::DEFAULT_LIMITS.header_timeout_ms, value_parser = clap::value_parser!(u64).range(1..=MAX_DURATION_MS))]
    pub header_timeout_ms: u64,

    /// A request body not received in full within this time is answered 408.
    #[arg(long = "body-timeout-ms", env = "TETHER_BODY_TIMEOUT_MS", value_name = "TETHER_BODY_TIMEOUT_MS",
          default_value_t = IngestConfig::DEFAULT_LIMITS.body_timeout_ms, value_parser = clap::value_parser!(u64).range(1..=MAX_DURATION_MS))]
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

    /// The mode ingest enforces: TETHER_MODE, else STRIPE_SECRET_KEY's
    /// (README, `TETHER_MODE`). A key that contradicts TETHER_MODE stops the
    /// start.
    pub fn derive_mode(&mut self, stripe: &StripeApiConfig) -> anyhow::Result<()> {
        self.mode = Mode::resolve(self.mode.or(stripe.mode), stripe.secret_key.as_ref())?;
        Ok(())
    }

    pub fn tolerance(&self) -> Duration {
        Duration::from_secs(self.tolerance_secs)
    }

    pub fn commit_timeout(&self) -> Duration {
        Duration::from_millis(self.commit_timeout_ms)
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
