//! Where the client commands (`send-test-event`, `bench`) post, and the
//! secret they sign with.

use clap::Args;
use secrecy::ExposeSecret;
use tether_shared::config::{DEV_WEBHOOK_SECRET, WebhookSecrets, parse_webhook_secrets};

#[derive(Args)]
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

    /// Signing secret (the first one is used). Defaults to the one `tether up` uses.
    #[arg(long = "webhook-secret", env = "STRIPE_WEBHOOK_SECRET", value_name = "STRIPE_WEBHOOK_SECRET",
          value_parser = parse_webhook_secrets, hide_env_values = true)]
    pub webhook_secrets: Option<WebhookSecrets>,
}

impl IngestTarget {
    pub fn signing_secret(&self) -> String {
        match &self.webhook_secrets {
            Some(secrets) => secrets.0[0].expose_secret().to_owned(),
            None => DEV_WEBHOOK_SECRET.to_owned(),
        }
    }
}
