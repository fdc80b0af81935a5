//! Pagination that cannot run away: a Stripe list that answers the same
//! page again, or an empty page that claims more, stops `backfill` and
//! `reconcile` with exit 1 and a message naming the endpoint, instead of
//! asking for ever; backfill's cursor stays at the last page that moved on,
//! so the next run resumes there.

use std::{
    io::Read,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::{
    fake_stripe::{FakeStripe, KEY},
    helpers::TestApp,
    worker_support::*,
};

/// Runs `command` to its end; a run still going after `limit` has run
/// away, and fails the test (the process is killed).
fn run_within(mut command: Command, limit: Duration) -> Output {
    let mut child = KillOnDrop(
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    while child.0.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < limit,
            "still running after {limit:?}: the run does not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let KillOnDrop(inner) = &mut child;
    let mut out = Output {
        status: inner.wait().unwrap(),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    inner
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut out.stdout)
        .unwrap();
    inner
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut out.stderr)
        .unwrap();
    out
}

fn assert_stopped_naming(out: &Output, endpoint: &str, why: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("GET {endpoint} does not advance")),
        "{stderr}"
    );
    assert!(stderr.contains(why), "{stderr}");
}

async fn backfill_cursor(app: &TestApp) -> (Option<String>, i64, bool) {
    sqlx::query_as(
        "SELECT starting_after, objects, finished_at IS NOT NULL FROM backfill_cursors
         WHERE kind = 'customers'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// Backfills 150 customers while every page after the first misbehaves as
/// `mode`; then, with the list mended, resumes.
async fn backfill_through(mode: &str, why: &str) {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(150, 0, 0);
    fake.control(json!({ "stuck_lists": { "/v1/customers": mode } }))
        .await;

    let out = run_within(
        fake.tether(&app, KEY, &["backfill", "customers"]),
        Duration::from_secs(30),
    );

    assert_stopped_naming(&out, "/v1/customers", why);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("starting_after=cus_fake0000099"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        backfill_cursor(&app).await,
        (Some("cus_fake0000099".into()), 100, false),
        "the cursor stays at the last page that moved on, counted once"
    );
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM end_customers").await,
        100
    );

    fake.control(json!({ "stuck_lists": { "/v1/customers": null } }))
        .await;
    let resumed = fake.run_json(&app, &["backfill", "customers"]);
    assert_eq!(resumed[0]["resumed"], json!(true));
    assert_eq!(resumed[0]["objects"], json!(150));
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM end_customers").await,
        150
    );
    let last = fake.requests().await.last().cloned().unwrap();
    assert!(
        last["query"]
            .as_str()
            .unwrap()
            .contains("starting_after=cus_fake0000099"),
        "the resumed run starts at the kept cursor: {last}"
    );
}

#[tokio::test]
async fn backfill_stops_on_a_page_that_repeats_and_keeps_its_cursor() {
    backfill_through("repeat", "a page ends at cus_fake0000099 again").await;
}

#[tokio::test]
async fn backfill_stops_on_an_empty_page_that_claims_more_and_keeps_its_cursor() {
    backfill_through("empty", "an empty page claims more").await;
}

/// Reconciles 150 missed events while every page after the first misbehaves
/// as `mode`.
async fn reconcile_through(mode: &str, why: &str) {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let now = crate::helpers::unix_now();
    let events: Vec<Value> = (0..150)
        .map(|i| {
            let mut e = fixture_at("customer.updated", now - 3600 + i);
            e["id"] = json!(format!("evt_stuck{i:04}"));
            e
        })
        .collect();
    fake.control(json!({ "events": events, "stuck_lists": { "/v1/events": mode } }))
        .await;

    let out = run_within(
        fake.tether(&app, KEY, &["reconcile", "--since", "2h"]),
        Duration::from_secs(30),
    );

    assert_stopped_naming(&out, "/v1/events", why);
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM received_events").await,
        100,
        "the first page is stored, once"
    );
}

#[tokio::test]
async fn reconcile_stops_on_a_page_that_repeats() {
    reconcile_through("repeat", "again").await;
}

#[tokio::test]
async fn reconcile_stops_on_an_empty_page_that_claims_more() {
    reconcile_through("empty", "an empty page claims more").await;
}
