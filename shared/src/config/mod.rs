//! Configuration: every setting is an environment variable with a `--flag`
//! twin (clap reads both). Each flag's value name is its variable's name, so a
//! bad value is reported as e.g. `invalid value 'x' for
//! '--tolerance-secs <STRIPE_WEBHOOK_TOLERANCE_SECS>'`, naming the variable.

mod app;
mod database;
mod ingest;
mod stripe;
mod worker;

use clap::Args;
use secrecy::SecretString;
use tether_stripe::secret::{WebhookSecrets, parse_webhook_secrets};

pub use app::{AppTable, AppTables, parse_table};
pub use database::{DEFAULT_DATABASE_URL, DatabaseConfig, Pooler, parse_schema};
pub use ingest::{IngestConfig, IngestLimits, IngestTarget};
pub use stripe::{Mode, StripeApiConfig};
pub use worker::WorkerConfig;

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
