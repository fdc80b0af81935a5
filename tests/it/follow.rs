//! `tether follow` syncs from Stripe's event log alone: events that never
//! arrive as webhooks are stored and applied, those that also arrive as
//! webhooks are stored once, and a follower killed mid-poll loses and
//! duplicates nothing when it starts again.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    fake_stripe::{FakeStripe, KEY},
    helpers::{TestApp, jobs_per_event, stored_event_ids, unix_now},
    worker_support::*,
};

/// `count` customer updates created `age` seconds ago and after, each for
/// a customer of its own.
fn updates(count: i64, age: i64, tag: &str) -> Vec<Value> {
    let now = unix_now();
    (0..count)
        .map(|i| {
            let mut event = fixture_at("customer.updated", now - age + i / 10);
            event["data"]["object"]["id"] = json!(format!("cus_{tag}{i:04}"));
            event
        })
        .collect()
}

/// Exactly `events` are stored, each named by exactly one queued job.
async fn assert_stored_once(app: &TestApp, events: &[Value]) {
    let mut expected: Vec<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    expected.sort();
    let mut stored = stored_event_ids(&app.pool).await;
    stored.sort();
    assert_eq!(stored, expected);
    let jobs = jobs_per_event(&app.pool).await;
    assert_eq!(jobs.len(), events.len());
    assert!(jobs.values().all(|named| *named == 1), "{jobs:?}");
}

#[tokio::test]
async fn events_only_in_the_log_are_applied_and_webhook_ones_stored_once() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let first = updates(10, 100, "a");
    for delivered in &first[..4] {
        post_ok(&app, delivered).await;
    }
    fake.control(json!({ "events": first })).await;
    let polled = fake.run_json(&app, &["follow", "--once"]);
    assert_eq!(
        (&polled["found"], &polled["new"], &polled["already_stored"]),
        (&json!(10), &json!(6), &json!(4)),
        "{polled}"
    );
    let newest = first.iter().map(|e| e["created"].as_i64().unwrap()).max();
    assert_eq!(polled["cursor"].as_i64(), newest);

    // Later events: the next poll starts at the cursor (less the overlap).
    let later = updates(5, 10, "b");
    let every: Vec<Value> = first.iter().chain(&later).cloned().collect();
    fake.control(json!({ "events": every })).await;
    let polled = fake.run_json(&app, &["follow", "--once"]);
    assert_eq!(polled["new"], json!(5), "{polled}");
    let since = fake
        .requests()
        .await
        .iter()
        .filter(|r| r["path"] == json!("/v1/events"))
        .filter_map(|r| {
            let query = r["query"].as_str()?;
            let since = query.split('&').find_map(|p| {
                p.strip_prefix("created%5Bgte%5D=")
                    .or_else(|| p.strip_prefix("created[gte]="))
            })?;
            since.parse::<i64>().ok()
        })
        .max();
    assert_eq!(
        since,
        newest.map(|n| n - 60),
        "read from the cursor, less a minute"
    );

    assert_stored_once(&app, &every).await;
    let polled = count(
        &app.pool,
        "SELECT count(*) FROM stripe_events WHERE polled_at IS NOT NULL",
    )
    .await;
    assert_eq!(
        polled, 11,
        "the 11 events no webhook brought are marked polled"
    );
    drain(&app.pool).await;
    for event in &every {
        assert_eq!(
            log_statuses(&app.pool, event["id"].as_str().unwrap()).await,
            ["success"]
        );
    }
}

#[tokio::test]
async fn a_follower_killed_mid_poll_loses_and_duplicates_nothing() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let events = updates(250, 600, "k");
    // The first page (100 events) is answered, the second hangs.
    fake.control(json!({ "events": events, "hang_after_pages": 1 }))
        .await;
    let follower = KillOnDrop(
        fake.tether(&app, KEY, &["follow", "--json", "--every", "1s"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pool = app.pool.clone();
    eventually(Duration::from_secs(30), "the first page is stored", || {
        let pool = pool.clone();
        async move { stored_event_ids(&pool).await.len() == 100 }
    })
    .await;
    drop(follower); // SIGKILL, mid-poll: the cursor was not saved.

    fake.control(json!({ "hang_after_pages": null })).await;
    let polled = fake.run_json(&app, &["follow", "--once"]);
    assert_eq!(
        (&polled["found"], &polled["new"], &polled["already_stored"]),
        (&json!(250), &json!(150), &json!(100)),
        "{polled}"
    );
    assert_stored_once(&app, &events).await;
    drain(&app.pool).await;
    assert_eq!(unprocessed(&app.pool).await, 0);
}

#[tokio::test]
async fn a_poll_interval_under_a_second_is_a_usage_error() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let out = fake
        .tether(&app, KEY, &["follow", "--every", "0s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`0s` is shorter than 1s"));
}

/// The one-command path: `tether up` with a key and no webhook secret
/// imports the account, then applies what appears in the event log.
#[tokio::test]
async fn up_with_a_key_imports_the_account_then_follows_the_log() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(3, 0, 0);
    let later = updates(1, 10, "followed");
    fake.control(json!({ "events": later })).await;
    let _up = KillOnDrop(
        fake.tether(&app, KEY, &["up"])
            .env_remove("STRIPE_WEBHOOK_SECRET")
            .env("TETHER_LISTEN", "127.0.0.1:0")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let expected = [
        "cus_fake0000000",
        "cus_fake0000001",
        "cus_fake0000002",
        "cus_followed0000",
    ];
    let pool = app.pool.clone();
    eventually(
        Duration::from_secs(60),
        "imported and followed customers",
        || {
            let pool = pool.clone();
            async move {
                let synced: Vec<String> = sqlx::query_scalar(
                    "SELECT stripe_customer_id FROM end_customers
                     WHERE NOT is_placeholder ORDER BY 1",
                )
                .fetch_all(&pool)
                .await
                .unwrap();
                synced == expected
            }
        },
    )
    .await;
}
