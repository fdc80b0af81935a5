//! Reaching Stripe's API, and the deployment's mode.

use clap::Args;
use secrecy::{ExposeSecret, SecretString};

use super::parse_secret;

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
        value_name = "TETHER_STRIPE_RATE",
        value_parser = crate::bounds::parse_rate
    )]
    pub rate: Option<f64>,

    /// test or live; a key of the other mode stops the command at start.
    /// (`--stripe-mode`, so that `up` can take ingest's `--mode` too.)
    #[arg(
        id = "stripe_mode",
        long = "stripe-mode",
        env = "TETHER_MODE",
        value_name = "TETHER_MODE"
    )]
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

impl Mode {
    /// The deployment's mode: the declared one (TETHER_MODE), else the
    /// key's. A key of the other mode than the one declared is an error:
    /// the command stops at once rather than serve the wrong world.
    pub fn resolve(
        declared: Option<Mode>,
        key: Option<&SecretString>,
    ) -> anyhow::Result<Option<Mode>> {
        let of_key = key.and_then(|k| Mode::of_key(k.expose_secret()));
        match (declared, of_key) {
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

impl StripeApiConfig {
    /// The deployment's mode, see [`Mode::resolve`].
    pub fn mode(&self) -> anyhow::Result<Option<Mode>> {
        Mode::resolve(self.mode, self.secret_key.as_ref())
    }
}
