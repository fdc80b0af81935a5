//! `tether send-test-event TYPE`: a signed sample event, posted like Stripe would.

use anyhow::Context;
use clap::Args;
use secrecy::ExposeSecret;
use tether_shared::{
    config::{DEV_WEBHOOK_SECRET, WebhookSecrets, parse_webhook_secrets},
    samples,
};

#[derive(Args)]
pub struct SendTestEvent {
    /// Event type, e.g. customer.created (see --help for the list).
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(samples::sample_types().collect::<Vec<_>>()))]
    pub event_type: String,

    /// Where ingest listens.
    #[arg(
        long,
        env = "TETHER_URL",
        value_name = "TETHER_URL",
        default_value = "http://127.0.0.1:8080/webhooks/stripe"
    )]
    pub url: String,

    /// Signing secret (the first one is used). Defaults to the one `tether up` uses.
    #[arg(long = "webhook-secret", env = "STRIPE_WEBHOOK_SECRET", value_name = "STRIPE_WEBHOOK_SECRET",
          value_parser = parse_webhook_secrets, hide_env_values = true)]
    pub webhook_secrets: Option<WebhookSecrets>,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: SendTestEvent) -> anyhow::Result<()> {
    let now = chrono_now();
    let event_id = samples::new_event_id();
    let event = samples::fresh_event(&args.event_type, &event_id, now)
        .context("unknown sample event type")?;
    let body = serde_json::to_vec(&event)?;
    let secret = match &args.webhook_secrets {
        Some(secrets) => secrets.0[0].expose_secret().to_owned(),
        None => DEV_WEBHOOK_SECRET.to_owned(),
    };
    let header = tether_ingest::signature::sign(&secret, now, &body);
    let response = reqwest::Client::new()
        .post(&args.url)
        .header("content-type", "application/json")
        .header("stripe-signature", header)
        .body(body)
        .send()
        .await
        .with_context(|| {
            format!(
                "cannot reach tether at {} (is `tether up` running?)",
                args.url
            )
        })?;
    let status = response.status();
    let answer: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
    if args.json {
        let out = serde_json::json!({
            "event_id": event_id, "type": args.event_type, "status": status.as_u16(), "response": answer,
        });
        println!("{out}");
    } else {
        println!(
            "{} {} -> {} {}",
            args.event_type,
            event_id,
            status.as_u16(),
            answer
        );
    }
    anyhow::ensure!(status.is_success(), "tether answered {status}");
    Ok(())
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
