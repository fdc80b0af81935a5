//! The Stripe API side against a local fake of Stripe (no network):
//! backfill of every kind, resumed after a kill, through retries and a
//! refused key, never overwriting newer webhook state; reconcile of events
//! that were never delivered; idempotent POSTs.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};

use crate::{
    fake_stripe::{FakeStripe, KEY},
    helpers::TestApp,
    worker_support::*,
};

fn by_kind(report: &Value, kind: &str) -> Value {
    report
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == json!(kind))
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn backfill_imports_every_kind_and_running_it_again_changes_nothing() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(250, 120, 200);
    let report = fake.run_json(&app, &["backfill"]);
    assert_eq!(by_kind(&report, "customers")["objects"], json!(250));
    assert_eq!(
        by_kind(&report, "subscriptions")["objects"],
        json!(120),
        "canceled ones too"
    );
    assert_eq!(by_kind(&report, "payment-intents")["written"], json!(200));
    assert_eq!(
        count(
            &app.pool,
            "SELECT count(*) FROM end_customers WHERE NOT is_placeholder"
        )
        .await,
        250
    );
    assert_eq!(
        count(
            &app.pool,
            "SELECT count(*) FROM subscriptions WHERE status = 'canceled'"
        )
        .await,
        24
    );
    let row: (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT name, email FROM end_customers WHERE stripe_customer_id = 'cus_fake0000007'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        row,
        (
            Some("Customer 7".into()),
            Some("customer7@example.com".into())
        )
    );
    let linked: (Option<i64>, String) = sqlx::query_as(
        "SELECT p.amount, c.stripe_customer_id FROM payments p JOIN end_customers c ON c.id = p.customer_id
         WHERE p.stripe_payment_intent_id = 'pi_fake0000007'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(linked, (Some(107), "cus_fake0000007".into()));
    let before = snapshot(&app.pool).await;

    let again = fake.run_json(&app, &["backfill"]);
    assert_eq!(
        by_kind(&again, "customers")["pages"],
        json!(0),
        "already complete"
    );
    let restarted = fake.run_json(&app, &["backfill", "customers", "--restart"]);
    assert_eq!(restarted[0]["objects"], json!(250));
    assert_eq!(snapshot(&app.pool).await, before, "nothing changed");
}

#[tokio::test]
async fn an_interrupted_backfill_resumes_from_its_cursor() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(250, 0, 0);
    fake.control(json!({ "hang_after_pages": 1 })).await;
    let mut first = KillOnDrop(
        fake.tether(&app, KEY, &["backfill", "customers"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    eventually(
        Duration::from_secs(20),
        "the first page is written",
        || async {
            count(
                &app.pool,
                "SELECT count(*) FROM backfill_cursors WHERE objects = 100",
            )
            .await
                == 1
        },
    )
    .await;
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    fake.control(json!({ "hang_after_pages": null })).await;

    let report = fake.run_json(&app, &["backfill", "customers"]);
    assert_eq!(report[0]["resumed"], json!(true));
    assert_eq!(report[0]["objects"], json!(250));
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM end_customers").await,
        250,
        "each once"
    );
    let queries: Vec<String> = fake
        .requests()
        .await
        .iter()
        .filter(|r| r["path"] == json!("/v1/customers"))
        .map(|r| r["query"].as_str().unwrap().to_owned())
        .collect();
    // Whether the killed run had asked for its second page yet depends on
    // timing; either way nothing after the very first request starts over.
    assert!(
        queries[1..].iter().all(|q| q.contains("starting_after=")),
        "the second run starts from the cursor: {queries:?}"
    );
    assert!(
        queries
            .iter()
            .any(|q| q.contains("starting_after=cus_fake0000099")),
        "{queries:?}"
    );
}

#[tokio::test]
async fn rate_limits_and_errors_are_retried_and_a_refused_key_stops_at_once() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(150, 0, 0);
    fake.control(json!({ "failures": [
        { "status": 429, "retry_after": 1 },
        { "status": 429 },
        { "status": 500 }
    ] }))
    .await;
    let report = fake.run_json(&app, &["backfill", "customers"]);
    assert_eq!(report[0]["objects"], json!(150));
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM end_customers").await,
        150
    );
    assert_eq!(
        fake.requests().await.len(),
        2 + 3,
        "two pages, three retries"
    );

    let out = fake
        .tether(&app, "sk_test_wrong_key_1234", &["backfill", "--restart"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("401") && stderr.contains("STRIPE_SECRET_KEY"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("wrong_key"),
        "the key is never shown: {stderr}"
    );
}

/// A page fetched before a webhook is written after it: the newer webhook
/// state stays. An event older than the page is stale.
#[tokio::test]
async fn backfill_never_overwrites_newer_webhook_state() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(3, 0, 0);
    let now = crate::helpers::unix_now();
    let mut newer = fixture_at("customer.updated", now + 60);
    newer["data"]["object"]["id"] = json!("cus_fake0000001");
    newer["data"]["object"]["name"] = json!("From a webhook");
    apply(&app, &newer).await;
    fake.run_json(&app, &["backfill", "customers"]);
    let mut older = fixture_at("customer.updated", now - 3600);
    older["data"]["object"]["id"] = json!("cus_fake0000002");
    older["data"]["object"]["name"] = json!("Older than the page");
    apply(&app, &older).await;

    let names: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT stripe_customer_id, name FROM end_customers ORDER BY 1")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        names,
        [
            ("cus_fake0000000".into(), Some("Customer 0".into())),
            ("cus_fake0000001".into(), Some("From a webhook".into())),
            ("cus_fake0000002".into(), Some("Customer 2".into())),
        ]
    );
    assert_eq!(
        log_statuses(&app.pool, older["id"].as_str().unwrap()).await,
        ["stale"]
    );
}

#[tokio::test]
async fn reconcile_stores_the_events_that_never_arrived_once() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let now = crate::helpers::unix_now();
    let events: Vec<Value> = (0..10)
        .map(|i| {
            let mut e = fixture_at("customer.updated", now - 3600 + i);
            e["data"]["object"]["id"] = json!(format!("cus_recon{i}"));
            e
        })
        .collect();
    for delivered in &events[..7] {
        post_ok(&app, delivered).await;
    }
    fake.control(json!({ "events": events })).await;

    let report = fake.run_json(&app, &["reconcile", "--since", "2h"]);
    assert_eq!(
        report,
        json!({ "found": 10, "new": 3, "already_stored": 7, "refused": 0 })
    );
    drain(&app.pool).await;
    for missed in &events[7..] {
        assert_eq!(
            log_statuses(&app.pool, missed["id"].as_str().unwrap()).await,
            ["success"]
        );
    }
    let again = fake.run_json(&app, &["reconcile", "--since", "2h"]);
    assert_eq!(again["new"], json!(0));
    assert_eq!(again["already_stored"], json!(10));
    // Only the types tether handles, at most 20 per request (Stripe's limit).
    let queries: Vec<String> = fake
        .requests()
        .await
        .iter()
        .filter(|r| r["path"] == json!("/v1/events"))
        .map(|r| r["query"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        queries.iter().all(|q| q.matches("types[]=").count() <= 20),
        "{queries:?}"
    );
    assert!(
        queries
            .iter()
            .any(|q| q.contains("types[]=customer.updated")),
        "{queries:?}"
    );
    assert!(
        queries.iter().any(|q| q.contains("types[]=invoice.paid")),
        "{queries:?}"
    );
    assert!(
        !queries
            .iter()
            .any(|q| q.contains("types[]=test_helpers.test_clock.ready")),
        "housed nowhere, so not asked for: {queries:?}"
    );
}

#[tokio::test]
async fn every_post_carries_one_idempotency_key_across_retries() {
    let fake = FakeStripe::start(0, 0, 0);
    let api = tether_stripe_api::StripeApi::new(tether_stripe_api::ApiConfig {
        secret_key: KEY.to_owned().into(),
        api_base: fake.base.clone(),
        rate: Some(1000.0),
    })
    .unwrap();
    fake.control(json!({ "failures": [{ "status": 500 }] }))
        .await;
    let first = api
        .post("/customers", &[("email", "a@example.com")], "link-user-42")
        .await
        .unwrap();
    let second = api
        .post("/customers", &[("email", "a@example.com")], "link-user-42")
        .await
        .unwrap();
    assert_eq!(first, second, "the same key returns the first result");
    let keys: Vec<Value> = fake
        .requests()
        .await
        .iter()
        .map(|r| r["idempotency_key"].clone())
        .collect();
    assert_eq!(
        keys,
        vec![json!("link-user-42"); 3],
        "failed attempt, retry, repeat"
    );
}

fn link_user(fake: &FakeStripe, app: &TestApp, user: &str, email: &str) -> Value {
    fake.run_json(app, &["link-user", "--user-id", user, "--email", email])
}

#[tokio::test]
async fn link_user_finds_an_existing_customer_by_email() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(5, 0, 0);
    let user = uuid::Uuid::new_v4().to_string();
    let linked = link_user(&fake, &app, &user, "customer3@example.com");
    assert_eq!(linked["stripe_customer_id"], json!("cus_fake0000003"));
    assert_eq!(linked["how"], json!("found"));
    assert_eq!(fake.created().await, 0);
    let row: (String, Option<String>) = sqlx::query_as(
        "SELECT c.stripe_customer_id, c.email FROM users u JOIN end_customers c ON c.id = u.customer_id
         WHERE u.id = $1::uuid",
    )
    .bind(&user)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        row,
        (
            "cus_fake0000003".into(),
            Some("customer3@example.com".into())
        )
    );
}

/// Repeated, concurrent, or after its first answer was lost: one customer.
#[tokio::test]
async fn link_user_creates_a_new_customer_exactly_once() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let user = uuid::Uuid::new_v4().to_string();
    fake.control(json!({ "failures": [{ "lose_response": true }] }))
        .await;
    let first = link_user(&fake, &app, &user, "new@example.com");
    assert_eq!(first["how"], json!("created"));
    assert_eq!(
        fake.created().await,
        1,
        "the lost answer's retry created nothing new"
    );
    let again = link_user(&fake, &app, &user, "new@example.com");
    assert_eq!(
        (again["how"].clone(), again["stripe_customer_id"].clone()),
        (json!("already linked"), first["stripe_customer_id"].clone())
    );

    let other = uuid::Uuid::new_v4().to_string();
    let racers: Vec<_> = (0..3)
        .map(|_| {
            fake.tether(
                &app,
                KEY,
                &[
                    "link-user",
                    "--user-id",
                    &other,
                    "--email",
                    "racer@example.com",
                    "--json",
                ],
            )
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let ids: Vec<Value> = racers
        .into_iter()
        .map(|r| {
            let out = r.wait_with_output().unwrap();
            assert!(out.status.success());
            serde_json::from_slice::<Value>(&out.stdout).unwrap()["stripe_customer_id"].clone()
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(fake.created().await, 2, "one customer per user");
    let metadata: Value =
        sqlx::query_scalar("SELECT metadata FROM end_customers WHERE stripe_customer_id = $1")
            .bind(ids[0].as_str().unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(metadata, json!({ "supabase_user_id": other }));
}

#[tokio::test]
async fn a_key_of_the_other_mode_stops_the_command_at_start() {
    let app = TestApp::spawn().await;
    let out = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["backfill", "customers"])
        .env("DATABASE_URL", database_url(&app))
        .env("STRIPE_SECRET_KEY", "sk_test_not_for_production")
        .env("TETHER_MODE", "live")
        .env("STRIPE_API_BASE", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("test key, but TETHER_MODE=live"),
        "{stderr}"
    );
    assert!(!stderr.contains("not_for_production"), "{stderr}");
}

#[tokio::test]
async fn synced_rows_record_their_mode() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(2, 0, 0);
    apply(&app, &fixture("customer.created")).await;
    fake.run_json(&app, &["backfill", "customers"]);
    let modes: Vec<(String, Option<bool>)> =
        sqlx::query_as("SELECT stripe_customer_id, livemode FROM end_customers ORDER BY 1")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        modes,
        [
            ("cus_QXg1o8vcGmoR32".into(), Some(false)),
            ("cus_fake0000000".into(), Some(false)),
            ("cus_fake0000001".into(), Some(false)),
        ]
    );
}
