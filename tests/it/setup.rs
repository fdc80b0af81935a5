//! `tether setup` against the fake Stripe API: it creates tether's webhook
//! endpoint with every handled event type and stores its secret, changes
//! nothing when run again, restores the event types and re-enables the
//! endpoint when they drift, and ingest verifies deliveries with the stored
//! secret when STRIPE_WEBHOOK_SECRET is unset.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::{
    fake_stripe::{FakeStripe, KEY},
    helpers::{TestApp, fresh_event, new_event_id, unix_now},
    roles::{free_port, wait_until_ready},
    worker_support::KillOnDrop,
};

const URL: &str = "https://billing.example.com/webhooks/stripe";

/// tether's endpoints as the fake Stripe keeps them.
async fn endpoints(fake: &FakeStripe) -> Vec<Value> {
    let list: Value = reqwest::Client::new()
        .get(format!("{}/v1/webhook_endpoints", fake.base))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    list["data"].as_array().unwrap().clone()
}

/// A change made outside tether (the Dashboard, Stripe itself).
async fn change_endpoint(fake: &FakeStripe, id: &str, form: &[(&str, &str)]) {
    let reply = reqwest::Client::new()
        .post(format!("{}/v1/webhook_endpoints/{id}", fake.base))
        .bearer_auth(KEY)
        .form(form)
        .send()
        .await
        .unwrap();
    assert!(reply.status().is_success());
}

fn handled() -> BTreeSet<String> {
    tether_ops::reconcile::handled_types()
        .map(str::to_owned)
        .collect()
}

fn enabled(endpoint: &Value) -> BTreeSet<String> {
    endpoint["enabled_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect()
}

async fn stored_secret(app: &TestApp) -> Option<String> {
    sqlx::query_scalar("SELECT value FROM tether_settings WHERE key = 'stripe_webhook_secret'")
        .fetch_optional(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn setup_creates_once_and_brings_the_endpoint_back_in_line() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let created = fake.run_json(&app, &["setup", "--url", URL]);
    assert_eq!(
        (&created["action"], &created["secret"], &created["endpoint"]),
        (&json!("created"), &json!("stored"), &json!("we_fake0000")),
        "{created}"
    );
    let listed = endpoints(&fake).await;
    assert_eq!(listed.len(), 1);
    let endpoint = &listed[0];
    assert_eq!(endpoint["url"], URL);
    assert_eq!(endpoint["metadata"]["tether"], "true");
    assert_eq!(endpoint["api_version"], tether_stripe::API_VERSION);
    assert_eq!(enabled(endpoint), handled());
    assert!(
        stored_secret(&app)
            .await
            .unwrap()
            .starts_with("whsec_fake_")
    );

    let again = fake.run_json(&app, &["setup", "--url", URL]);
    assert_eq!(
        again,
        json!({"endpoint": "we_fake0000", "action": "unchanged", "changes": [],
               "secret": "kept", "dry_run": false})
    );

    // An endpoint an older version made: fewer types.
    change_endpoint(
        &fake,
        "we_fake0000",
        &[("enabled_events[]", "customer.created")],
    )
    .await;
    let updated = fake.run_json(&app, &["setup", "--url", URL]);
    assert_eq!(updated["action"], "updated", "{updated}");
    assert_eq!(
        updated["changes"],
        json!([format!(
            "event types: {} added, 0 removed",
            handled().len() - 1
        )])
    );
    assert_eq!(enabled(&endpoints(&fake).await[0]), handled());

    // Stripe disabled it after failed deliveries: a dry run only says so.
    change_endpoint(&fake, "we_fake0000", &[("disabled", "true")]).await;
    let dry = fake.run_json(&app, &["setup", "--url", URL, "--dry-run"]);
    assert_eq!(
        (&dry["action"], &dry["changes"], &dry["dry_run"]),
        (
            &json!("updated"),
            &json!(["enabled again (Stripe had disabled it)"]),
            &json!(true)
        )
    );
    assert_eq!(endpoints(&fake).await[0]["status"], "disabled");
    let enabled_again = fake.run_json(&app, &["setup", "--url", URL]);
    assert_eq!(enabled_again["action"], "updated");
    assert_eq!(endpoints(&fake).await[0]["status"], "enabled");
    assert_eq!(endpoints(&fake).await.len(), 1, "never a second endpoint");
}

#[tokio::test]
async fn a_url_that_is_not_https_is_refused() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let out = fake
        .tether(
            &app,
            KEY,
            &["setup", "--url", "http://billing.example.com/hook"],
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be an https:// URL"));
    assert!(endpoints(&fake).await.is_empty());
}

/// Ingest started without STRIPE_WEBHOOK_SECRET verifies with the secret
/// `tether setup` stored, and refuses any other.
#[tokio::test]
async fn ingest_verifies_with_the_secret_setup_stored() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    fake.run_json(&app, &["setup", "--url", URL]);
    let secret = stored_secret(&app).await.unwrap();
    let port = free_port();
    let _ingest = KillOnDrop(
        fake.tether(&app, KEY, &["ingest"])
            .env_remove("STRIPE_WEBHOOK_SECRET")
            .env("TETHER_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = wait_until_ready(&http, port).await;
    let event = fresh_event("customer.created", &new_event_id(), unix_now()).unwrap();
    let body = serde_json::to_vec(&event).unwrap();
    let post = |secret: String| {
        let (http, base, body) = (http.clone(), base.clone(), body.clone());
        async move {
            let signature = tether_stripe::signature::sign(&secret, unix_now(), &body);
            http.post(format!("{base}/webhooks/stripe"))
                .header("stripe-signature", signature)
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(post("whsec_someone_else".into()).await, 400);
    assert_eq!(post(secret).await, 200);
}

/// Several processes at once (a deploy starting replicas): one endpoint.
#[tokio::test]
async fn concurrent_setups_make_one_endpoint() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let runs: Vec<_> = (0..4)
        .map(|_| {
            fake.tether(&app, KEY, &["setup", "--url", URL, "--json"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut actions: Vec<String> = runs
        .into_iter()
        .map(|run| {
            let out = run.wait_with_output().unwrap();
            assert!(out.status.success());
            let report: Value = serde_json::from_slice(&out.stdout).unwrap();
            report["action"].as_str().unwrap().to_owned()
        })
        .collect();
    actions.sort();
    assert_eq!(actions, ["created", "unchanged", "unchanged", "unchanged"]);
    assert_eq!(endpoints(&fake).await.len(), 1);
}
