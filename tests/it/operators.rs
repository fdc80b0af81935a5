//! Operators, without SQL: dead letters found, inspected, replayed and
//! discarded; `status` for people and monitors; history replayed after a
//! fix; storage pruned; and the same operations over the admin API.

use serde_json::{Value, json};

use crate::{helpers::TestApp, worker_support::*};

const DOOMED: &str = "pi_doomed";

/// A payment event that fails every attempt until the cause is fixed, run
/// until it is a dead letter (4 attempts with the test settings).
pub async fn dead_letter(app: &TestApp) -> String {
    make_payment_writes_fail(&app.pool, DOOMED).await;
    let mut event = fixture_at("payment_intent.succeeded", 1_780_000_000);
    event["data"]["object"]["id"] = json!(DOOMED);
    post_ok(app, &event).await;
    exhaust_attempts(app).await;
    event["id"].as_str().unwrap().to_owned()
}

/// Runs every attempt of what is queued, so a job that keeps failing dies.
pub async fn exhaust_attempts(app: &TestApp) {
    for _ in 0..worker_config().max_attempts {
        drain(&app.pool).await;
        tether_queue::test_support::make_retries_due(&app.pool)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_page_with_a_budget_stops_early_and_goes_on_from_where_it_stopped() {
    use tether_ops::dlq::{Filter, page};
    let app = TestApp::spawn().await;
    make_payment_writes_fail(&app.pool, DOOMED).await;
    let mut failed = String::new();
    for (created, event_type) in [
        (1_780_000_000, "payment_intent.succeeded"),
        (1_780_000_010, "payment_intent.payment_failed"),
        (1_780_000_020, "payment_intent.succeeded"),
    ] {
        let mut event = fixture_at(event_type, created);
        event["data"]["object"]["id"] = json!(DOOMED);
        post_ok(&app, &event).await;
        if event_type == "payment_intent.payment_failed" {
            failed = event["id"].as_str().unwrap().to_owned();
        }
    }
    exhaust_attempts(&app).await;
    let filter = Filter {
        event_type: Some("payment_intent.payment_failed".into()),
        limit: Some(50),
        ..Filter::default()
    };
    let ids = |letters: &[tether_ops::dlq::DeadLetter]| -> Vec<String> {
        letters.iter().map(|l| l.id.clone()).collect()
    };

    let whole = page(&app.pool, &filter, None, None).await.unwrap();
    assert_eq!(
        (ids(&whole.letters), whole.next.is_none()),
        (vec![failed.clone()], true)
    );

    // A budget of one letter a request: a request per letter, and one
    // more that finds the end; the match is found once, on its own page.
    let (mut found, mut requests, mut after) = (Vec::new(), 0, None);
    loop {
        let part = page(&app.pool, &filter, after.as_ref(), Some(1))
            .await
            .unwrap();
        requests += 1;
        assert!(part.letters.len() <= 1, "{:?}", part.letters);
        found.extend(ids(&part.letters));
        match part.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!((found, requests), (vec![failed], 4));
}

#[tokio::test]
async fn a_dead_letter_is_found_shown_replayed_and_applied_once() {
    let app = TestApp::spawn().await;
    let id = dead_letter(&app).await;

    let listed = tether_json(&app, &["dlq", "list"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["id"], json!(id));
    assert_eq!(listed[0]["event_type"], json!("payment_intent.succeeded"));
    assert_eq!(listed[0]["object_id"], json!(DOOMED));
    assert_eq!(listed[0]["attempts"], json!(4));
    let by_type = tether_json(&app, &["dlq", "list", "--type", "customer.created"]);
    assert_eq!(by_type, json!([]), "filtered by type");

    let shown = tether_json(&app, &["dlq", "show", &id]);
    let history: Vec<(&str, bool)> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let error = a["error"].as_str().unwrap_or_default();
            (
                a["status"].as_str().unwrap(),
                error.contains("injected failure"),
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            ("error", true),
            ("error", true),
            ("error", true),
            ("dead", true)
        ]
    );
    assert_eq!(shown["payload"]["id"], json!(id));

    let dry = tether_json(&app, &["dlq", "replay", "--all", "--dry-run"]);
    assert_eq!(dry, json!({ "replayed": 1, "ids": [id], "dry_run": true }));
    assert_eq!(
        tether_json(&app, &["dlq", "list"])
            .as_array()
            .unwrap()
            .len(),
        1,
        "dry run changed nothing"
    );

    let_payment_writes_succeed(&app.pool).await;
    assert_eq!(
        tether_json(&app, &["dlq", "replay", &id]),
        json!({ "replayed": 1, "ids": [id], "dry_run": false })
    );
    assert_eq!(
        tether_json(&app, &["dlq", "replay", &id]),
        json!({ "replayed": 0, "ids": [], "dry_run": false }),
        "twice is harmless"
    );
    drain(&app.pool).await;
    assert_eq!(
        log_statuses(&app.pool, &id).await,
        ["error", "error", "error", "dead", "success"]
    );
    assert_eq!(
        count(
            &app.pool,
            "SELECT count(*) FROM payments WHERE stripe_payment_intent_id = 'pi_doomed'"
        )
        .await,
        1
    );
    assert_eq!(tether_json(&app, &["dlq", "list"]), json!([]));
}

#[tokio::test]
async fn dead_letters_are_replayed_by_filter() {
    let app = TestApp::spawn().await;
    let payment = dead_letter(&app).await;
    let customer = fixture("customer.created");
    post_ok(&app, &customer).await;
    let customer_id = customer["id"].as_str().unwrap();
    // The customer's job, as if it had died too.
    let jobs = tether_queue::inspect::jobs(&app.pool).await.unwrap();
    let pending: Vec<String> = jobs
        .into_iter()
        .filter(|j| j.status == tether_queue::JobStatus::Pending)
        .map(|j| j.id)
        .collect();
    let mut tx = app.pool.begin().await.unwrap();
    tether_queue::complete(
        &mut tx,
        &pending.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    tether_queue::push_dead(&mut tx, customer_id, 4, 4, "a failure since fixed")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let_payment_writes_succeed(&app.pool).await;

    let by_type = tether_json(
        &app,
        &["dlq", "replay", "--all", "--type", "customer.created"],
    );
    assert_eq!(by_type["replayed"], json!(1));
    drain(&app.pool).await;
    assert_eq!(log_statuses(&app.pool, customer_id).await, ["success"]);
    let left = tether_json(&app, &["dlq", "list"]);
    assert_eq!(
        left.as_array().unwrap().len(),
        1,
        "the payment was not selected"
    );
    assert_eq!(left[0]["id"], json!(payment));
    let since = tether_json(&app, &["dlq", "replay", "--all", "--since", "1h"]);
    assert_eq!(since["replayed"], json!(1));
    drain(&app.pool).await;
    let statuses = log_statuses(&app.pool, &payment).await;
    assert_eq!(statuses.last().map(String::as_str), Some("success"));
}

#[tokio::test]
async fn replaying_an_event_that_has_since_succeeded_is_a_logged_duplicate() {
    let app = TestApp::spawn().await;
    let event = fixture("customer.created");
    apply(&app, &event).await;
    let before = snapshot(&app.pool).await;
    let id = event["id"].as_str().unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    tether_queue::push_dead(&mut tx, id, 4, 4, "an old failure")
        .await
        .unwrap();
    tx.commit().await.unwrap();

    assert_eq!(
        tether_json(&app, &["dlq", "replay", "--all"])["replayed"],
        json!(1)
    );
    drain(&app.pool).await;
    assert_eq!(log_statuses(&app.pool, id).await, ["success", "duplicate"]);
    assert_eq!(snapshot(&app.pool).await, before, "no row changed");
}

#[tokio::test]
async fn a_discarded_dead_letter_is_logged_and_gone() {
    let app = TestApp::spawn().await;
    let id = dead_letter(&app).await;
    assert_eq!(
        tether_json(&app, &["dlq", "discard", &id, "--dry-run"])["discarded"],
        json!(1)
    );
    assert_eq!(
        tether_json(&app, &["dlq", "list"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        tether_json(&app, &["dlq", "discard", &id])["discarded"],
        json!(1)
    );
    assert_eq!(tether_json(&app, &["dlq", "list"]), json!([]));
    assert_eq!(
        log_statuses(&app.pool, &id)
            .await
            .last()
            .map(String::as_str),
        Some("discarded")
    );
}

#[tokio::test]
async fn a_selection_is_required_to_replay_or_discard() {
    let app = TestApp::spawn().await;
    let out = tether(&app, &["dlq", "replay"]);
    assert_eq!(out.status.code(), Some(2), "bad usage");
}

#[tokio::test]
async fn status_check_passes_when_healthy_and_fails_with_dead_letters() {
    let app = TestApp::spawn().await;
    let _worker = spawn_worker(&app, &[]);
    apply(&app, &fixture("customer.created")).await;
    eventually(
        std::time::Duration::from_secs(20),
        "the worker's heartbeat",
        || async {
            tether_json(&app, &["status"])["live_workers"]
                .as_array()
                .is_some_and(|w| !w.is_empty())
        },
    )
    .await;
    let healthy = tether(&app, &["status", "--check"]);
    assert!(
        healthy.status.success(),
        "{}",
        String::from_utf8_lossy(&healthy.stderr)
    );
    let status = tether_json(&app, &["status"]);
    assert_eq!(status["windows"][0]["received"], json!(1));
    assert_eq!(
        status["windows"][0]["by_type"]["customer.created"]["success"],
        json!(1)
    );

    let mut tx = app.pool.begin().await.unwrap();
    tether_queue::push_dead(&mut tx, "evt_gone", 1, 4, "a failure")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let unhealthy = tether(&app, &["status", "--check"]);
    assert_eq!(unhealthy.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unhealthy.stderr);
    assert!(stderr.contains("1 dead letter"), "{stderr}");
}

/// Events an older version processed without effect (logged `ignored`, as
/// if it had no handler yet) are applied by `tether replay --type`; an
/// older event replayed against a newer row leaves the row as it is.
#[tokio::test]
async fn replay_applies_history_and_never_moves_a_row_backwards() {
    let app = TestApp::spawn().await;
    let ignored = fixture_at("customer.updated", 1_780_000_000);
    post_ok(&app, &ignored).await;
    // As an older version without a handler would have left it.
    tether_queue::test_support::clear(&app.pool).await.unwrap();
    sqlx::query("INSERT INTO processed_events (id) SELECT id FROM received_events")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM end_customers").await,
        0
    );

    let newer = fixture_at("customer.updated", 1_780_000_100);
    let mut newer = newer;
    newer["data"]["object"]["name"] = json!("Newest Name");
    newer["data"]["object"]["id"] = json!("cus_other");
    let mut older = fixture_at("customer.updated", 1_780_000_050);
    older["data"]["object"]["id"] = json!("cus_other");
    apply(&app, &older).await;
    apply(&app, &newer).await;

    let dry = tether_json(&app, &["replay", "--type", "customer.updated", "--dry-run"]);
    assert_eq!(dry, json!({ "events": 3, "dry_run": true }));
    let replayed = tether_json(&app, &["replay", "--type", "customer.updated"]);
    assert_eq!(replayed["events"], json!(3));
    drain(&app.pool).await;

    let names: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT stripe_customer_id, name FROM end_customers ORDER BY 1")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        names,
        [
            (
                "cus_QXg1o8vcGmoR32".to_owned(),
                Some("Jenny R. Rosen".to_owned())
            ),
            ("cus_other".to_owned(), Some("Newest Name".to_owned())),
        ]
    );
    let older_id = older["id"].as_str().unwrap();
    assert_eq!(
        log_statuses(&app.pool, older_id).await,
        ["success", "stale"]
    );
}

/// Only processed, unreferenced events past the window go, with the logs
/// of processed events; nothing unprocessed, dead, referenced or recent.
#[tokio::test]
async fn prune_removes_exactly_what_it_should() {
    let app = TestApp::spawn().await;
    let referenced = fixture_at("customer.created", 1_780_000_000);
    let mut superseded = fixture_at("customer.updated", 1_779_999_000);
    superseded["data"]["object"]["name"] = json!("Old");
    apply(&app, &superseded).await;
    apply(&app, &referenced).await;
    let dead = dead_letter(&app).await;
    let unprocessed = fixture("payment_intent.succeeded");
    post_ok(&app, &unprocessed).await;
    let id = |e: &Value| e["id"].as_str().unwrap().to_owned();
    sqlx::query("UPDATE received_events SET received_at = now() - interval '40 days'")
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE webhook_logs SET created_at = now() - interval '40 days'")
        .execute(&app.pool)
        .await
        .unwrap();
    let recent = fixture("customer.subscription.created");
    apply(&app, &recent).await;

    let dry = tether_json(&app, &["prune", "--older-than", "30d", "--dry-run"]);
    assert_eq!(
        (dry["events"].clone(), dry["logs"].clone()),
        (json!(1), json!(2))
    );
    let mut left: Vec<String> = sqlx::query_scalar("SELECT id FROM stripe_events ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(left.len(), 5, "dry run removed nothing");

    let pruned = tether_json(&app, &["prune", "--older-than", "30d"]);
    assert_eq!(
        (pruned["events"].clone(), pruned["logs"].clone()),
        (json!(1), json!(2))
    );
    left = sqlx::query_scalar("SELECT id FROM stripe_events ORDER BY id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let mut expected = vec![id(&referenced), id(&unprocessed), id(&recent), dead.clone()];
    expected.sort();
    assert_eq!(left, expected, "the superseded event alone is gone");
    assert_eq!(log_statuses(&app.pool, &id(&recent)).await, ["success"]);
    // Aged together by the test, so their order is a tie.
    let mut history = log_statuses(&app.pool, &dead).await;
    history.sort();
    assert_eq!(
        history,
        ["dead", "error", "error", "error"],
        "a dead letter keeps its history"
    );
}

#[tokio::test]
async fn the_admin_api_is_off_without_a_token_and_guarded_with_one() {
    let off = TestApp::spawn().await;
    assert_eq!(off.get("/admin/status").await.0, 404);

    let app = TestApp::spawn_with(|c| c.admin_token = Some("s3cret-admin".to_owned().into())).await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/admin/status", app.addr);
    let none = http.get(&url).send().await.unwrap();
    assert_eq!(none.status().as_u16(), 401);
    let wrong = http.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert!(body["error"].as_str().is_some(), "{body}");
    let right = http
        .get(&url)
        .bearer_auth("s3cret-admin")
        .send()
        .await
        .unwrap();
    assert_eq!(right.status().as_u16(), 200);
    let status: Value = right.json().await.unwrap();
    assert_eq!(status["queue"]["dead"], json!(0));

    let id = dead_letter(&app).await;
    let listed: Value = http
        .get(format!("http://{}/admin/dlq", app.addr))
        .bearer_auth("s3cret-admin")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["id"], json!(id));
    let_payment_writes_succeed(&app.pool).await;
    let replayed: Value = http
        .post(format!("http://{}/admin/dlq/replay", app.addr))
        .bearer_auth("s3cret-admin")
        .json(&json!({ "ids": [id] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        replayed,
        json!({ "replayed": 1, "ids": [id], "dry_run": false })
    );
    let missing = http
        .get(format!("http://{}/admin/dlq/evt_nope", app.addr))
        .bearer_auth("s3cret-admin")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}
