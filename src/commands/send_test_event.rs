//! `tether send-test-event TYPE`: a signed sample event, posted like Stripe would.

use anyhow::Context;
use clap::Args;
use tether_shared::{
    config::{DatabaseConfig, IngestTarget},
    dev_secret,
};
use tether_stripe::{samples, signature};

#[derive(Args)]
pub struct SendTestEvent {
    /// Event type, e.g. customer.created (see --help for the list).
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(samples::sample_types().collect::<Vec<_>>()))]
    pub event_type: String,

    #[command(flatten)]
    pub target: IngestTarget,

    /// Where `tether up` keeps its development secret, used when
    /// STRIPE_WEBHOOK_SECRET is not set.
    #[command(flatten)]
    pub db: DatabaseConfig,

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
    let secret = dev_secret::signing_secret(&args.target, &args.db).await?;
    let header = signature::sign(&secret, now, &body);
    let response = reqwest::Client::new()
        .post(&args.target.url)
        .header("content-type", "application/json")
        .header("stripe-signature", header)
        .body(body)
        .send()
        .await
        .with_context(|| {
            format!(
                "cannot reach tether at {} (is `tether up` running?)",
                args.target.url
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
