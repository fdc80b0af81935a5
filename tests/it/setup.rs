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

/// `tether ingest` without STRIPE_WEBHOOK_SECRET, and its base URL.
async fn start_ingest(app: &TestApp, fake: &FakeStripe) -> (KillOnDrop, String) {
    let port = free_port();
    let ingest = KillOnDrop(
        fake.tether(app, KEY, &["ingest"])
            .env_remove("STRIPE_WEBHOOK_SECRET")
            .env("TETHER_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    (ingest, wait_until_ready(&http, port).await)
}

/// A new event signed now with `secret`: ingest's status code.
async fn deliver_signed(base: &str, secret: &str) -> u16 {
    let event = fresh_event("customer.created", &new_event_id(), unix_now()).unwrap();
    let body = serde_json::to_vec(&event).unwrap();
    let signature = tether_stripe::signature::sign(secret, unix_now(), &body);
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{base}/webhooks/stripe"))
        .header("stripe-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Ingest started without STRIPE_WEBHOOK_SECRET verifies with the secret
/// `tether setup` stored, and refuses any other.
#[tokio::test]
async fn ingest_verifies_with_the_secret_setup_stored() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    fake.run_json(&app, &["setup", "--url", URL]);
    let secret = stored_secret(&app).await.unwrap();
    let (_ingest, base) = start_ingest(&app, &fake).await;
    assert_eq!(deliver_signed(&base, "whsec_someone_else").await, 400);
    assert_eq!(deliver_signed(&base, &secret).await, 200);
}

/// `--rotate`: a new endpoint and secret; the old secret is accepted until
/// the overlap ends, and the next setup after it retires the old endpoint.
#[tokio::test]
async fn a_rotation_accepts_the_old_secret_until_the_overlap_ends() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    fake.run_json(&app, &["setup", "--url", URL]);
    let old = stored_secret(&app).await.unwrap();
    let rotated = fake.run_json(
        &app,
        &["setup", "--url", URL, "--rotate", "--overlap", "4s"],
    );
    assert_eq!(
        (&rotated["action"], &rotated["endpoint"], &rotated["secret"]),
        (&json!("rotated"), &json!("we_fake0001"), &json!("stored")),
        "{rotated}"
    );
    let new = stored_secret(&app).await.unwrap();
    assert_ne!(new, old);
    let again = fake
        .tether(&app, KEY, &["setup", "--url", URL, "--rotate"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1), "one rotation at a time");
    assert!(String::from_utf8_lossy(&again.stderr).contains("a rotation is under way"));

    let (_ingest, base) = start_ingest(&app, &fake).await;
    assert_eq!(
        deliver_signed(&base, &old).await,
        200,
        "old secret, during the overlap"
    );
    assert_eq!(deliver_signed(&base, &new).await, 200);
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(
        deliver_signed(&base, &old).await,
        400,
        "old secret, after the overlap"
    );
    assert_eq!(deliver_signed(&base, &new).await, 200);

    let retired = fake.run_json(&app, &["setup", "--url", URL]);
    assert_eq!(
        (&retired["action"], &retired["endpoint"]),
        (&json!("unchanged"), &json!("we_fake0001")),
        "{retired}"
    );
    assert_eq!(
        retired["changes"],
        json!(["retired we_fake0000 (disabled; its secret is no longer accepted)"])
    );
    let listed = endpoints(&fake).await;
    let state: Vec<(Value, Value, Value)> = listed
        .iter()
        .map(|e| {
            (
                e["id"].clone(),
                e["status"].clone(),
                e["metadata"]["tether"].clone(),
            )
        })
        .collect();
    assert_eq!(
        state,
        [
            (json!("we_fake0000"), json!("disabled"), json!("retired")),
            (json!("we_fake0001"), json!("enabled"), json!("true")),
        ]
    );
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

/// `--connect`: a second endpoint, for connected accounts' events, created
/// as a Connect endpoint with its own secret; ingest accepts both secrets,
/// and each endpoint is brought in line apart from the other.
#[tokio::test]
async fn a_connect_endpoint_is_set_up_beside_the_platforms() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    fake.run_json(&app, &["setup", "--url", URL]);
    let connect = fake.run_json(&app, &["setup", "--url", URL, "--connect"]);
    assert_eq!(
        (&connect["action"], &connect["endpoint"], &connect["secret"]),
        (&json!("created"), &json!("we_fake0001"), &json!("stored")),
        "{connect}"
    );
    let made: Vec<(Value, Value)> = endpoints(&fake)
        .await
        .iter()
        .map(|e| (e["metadata"]["tether"].clone(), e["connect"].clone()))
        .collect();
    assert_eq!(
        made,
        vec![
            (json!("true"), json!(false)),
            (json!("connect"), json!(true))
        ]
    );
    let again = fake.run_json(&app, &["setup", "--url", URL, "--connect"]);
    assert_eq!(again["action"], "unchanged", "{again}");
    assert_eq!(again["secret"], "kept", "{again}");

    let platform = stored_secret(&app).await.unwrap();
    let connected: String = sqlx::query_scalar(
        "SELECT value FROM tether_settings WHERE key = 'stripe_connect_webhook_secret'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_ne!(platform, connected);
    let (_ingest, base) = start_ingest(&app, &fake).await;
    assert_eq!(deliver_signed(&base, &platform).await, 200);
    assert_eq!(deliver_signed(&base, &connected).await, 200);
    assert_eq!(deliver_signed(&base, "whsec_someone_else").await, 400);
}
