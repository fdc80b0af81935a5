//! No panic on any input: durations, limits and ids past their bounds are
//! refused where they enter, naming the value (the CLI exits 2, the admin
//! API answers 400, a worker refuses to start), and the dead letter whose
//! body PostgreSQL's jsonb refuses is shown, not an error.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    helpers::{Reply, TestApp, assert_refused},
    worker_support::*,
};

const TOKEN: &str = "hostile-admin-token";

async fn admin_app() -> TestApp {
    TestApp::spawn_with(|c| c.admin_token = Some(TOKEN.to_owned().into())).await
}

/// An admin request; every answer must be JSON.
async fn admin(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Reply {
    let mut request = reqwest::Client::new()
        .request(method, format!("http://{}{path}", app.addr))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the admin API answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{status} answered with a non-JSON body: {text:?}"));
    (status, body)
}

#[track_caller]
fn assert_usage_error(out: &std::process::Output, mentions: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a usage error: {stderr}");
    assert!(
        stderr.contains(mentions),
        "{stderr:?} should name {mentions:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test]
async fn command_line_values_past_their_bounds_are_usage_errors_naming_them() {
    let app = TestApp::spawn().await;
    let long = "99999999d";
    for args in [
        vec!["prune", "--older-than", long],
        vec!["prune", "--dry-run", "--older-than", "36501d"],
        vec!["dlq", "list", "--since", long],
        vec!["dlq", "replay", "--all", "--since", long],
        vec!["replay", "--type", "customer.updated", "--since", long],
        vec!["status", "--max-pending-age", long],
    ] {
        let out = tether(&app, &args);
        assert_usage_error(
            &out,
            &format!("`{}` is longer than 36500d", args[args.len() - 1]),
        );
    }
    assert_usage_error(&tether(&app, &["reconcile", "--since", "31d"]), "`31d`");
    for limit in ["0", "10001", "-1", "99999999999999999999"] {
        assert_usage_error(&tether(&app, &["dlq", "list", "--limit", limit]), limit);
        assert_usage_error(&tether(&app, &["rejected", "--limit", limit]), limit);
    }
    let too_long = "e".repeat(256);
    assert_usage_error(&tether(&app, &["dlq", "show", &too_long]), "not an id");
    assert_usage_error(&tether(&app, &["dlq", "show", "evt_\u{1}"]), "evt_\\u{1}");
    assert_usage_error(
        &tether(
            &app,
            &[
                "replay",
                "--type",
                "customer.updated",
                "--object",
                "cus_\u{7}",
            ],
        ),
        "not an id",
    );

    assert_usage_error(&tether(&app, &["bench", "--duration=-1"]), "`-1`");
    assert_usage_error(&tether(&app, &["bench", "--rate=0"]), "`0` is not a rate");
    assert_usage_error(&tether(&app, &["bench", "--stats-wait=inf"]), "`inf`");
    let slow = std::process::Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["backfill", "customers"])
        .env("DATABASE_URL", database_url(&app))
        .env("TETHER_STRIPE_RATE", "-5")
        .output()
        .unwrap();
    assert_usage_error(&slow, "TETHER_STRIPE_RATE");

    // The largest accepted window works, and prunes nothing.
    let pruned = tether_json(&app, &["prune", "--older-than", "36500d", "--dry-run"]);
    assert_eq!(pruned["events"], json!(0));
}

#[tokio::test]
async fn a_retention_past_its_bound_refuses_to_start_the_worker_or_prune() {
    let app = TestApp::spawn().await;
    let mut worker = spawn_worker(&app, &[("TETHER_RETENTION", "99999999d")]);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = worker.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the worker started with TETHER_RETENTION=99999999d"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(2));

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tether"))
        .arg("worker")
        .env("DATABASE_URL", database_url(&app))
        .env("TETHER_RETENTION", "99999999d")
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert_usage_error(&out, "TETHER_RETENTION");
    assert_usage_error(&out, "`99999999d` is longer than 36500d");

    let prune = std::process::Command::new(env!("CARGO_BIN_EXE_tether"))
        .arg("prune")
        .env("DATABASE_URL", database_url(&app))
        .env("TETHER_RETENTION", "99999999d")
        .output()
        .unwrap();
    assert_usage_error(&prune, "99999999d");
}

#[tokio::test]
async fn admin_values_past_their_bounds_are_400s_naming_them() {
    let app = admin_app().await;
    let long = "99999999d";
    let refused = [
        (
            Method::POST,
            "/admin/prune",
            Some(json!({ "older_than": long })),
            long,
        ),
        (Method::GET, "/admin/dlq?since=99999999d", None, long),
        (Method::GET, "/admin/dlq?limit=0", None, "`0`"),
        (
            Method::GET,
            "/admin/dlq?limit=99999999999999999999999",
            None,
            "99999999999999999999999",
        ),
        (Method::GET, "/admin/dlq?type=%00", None, "not an id"),
        (Method::GET, "/admin/dlq/evt_%00", None, "evt_\\u{0}"),
        (
            Method::POST,
            "/admin/replay",
            Some(json!({ "type": "customer.updated", "since": long })),
            long,
        ),
        (
            Method::POST,
            "/admin/replay",
            Some(json!({ "type": "customer.updated", "object": "cus_\u{0}" })),
            "cus_\\u{0}",
        ),
        (
            Method::POST,
            "/admin/dlq/replay",
            Some(json!({ "ids": ["evt_\u{0}"] })),
            "not an id",
        ),
        (
            Method::POST,
            "/admin/dlq/discard",
            Some(json!({ "all": true, "since": long })),
            long,
        ),
        (
            Method::POST,
            "/admin/prune",
            Some(json!({ "older_than": 5 })),
            "older_than",
        ),
    ];
    for (method, path, body, mentions) in refused {
        let reply = admin(&app, method, path, body).await;
        assert_refused(&reply, 400, mentions);
    }
    // Nothing was pruned or replayed on the way, and the largest window works.
    let (status, pruned) = admin(
        &app,
        Method::POST,
        "/admin/prune",
        Some(json!({ "older_than": "36500d", "dry_run": true })),
    )
    .await;
    assert_eq!(status, 200, "{pruned}");
    assert_eq!(pruned["events"], json!(0));
}

/// A payment event whose description holds a `\u0000`, which jsonb
/// refuses, failed until it is a dead letter.
async fn dead_letter_with_a_nul(app: &TestApp) -> String {
    make_payment_writes_fail(&app.pool, "pi_nul").await;
    let mut event = fixture_at("payment_intent.succeeded", 1_780_000_000);
    event["data"]["object"]["id"] = json!("pi_nul");
    event["data"]["object"]["description"] = json!("Ann\u{0}Smith");
    post_ok(app, &event).await;
    for _ in 0..worker_config().max_attempts {
        drain(&app.pool).await;
        tether_queue::test_support::make_retries_due(&app.pool)
            .await
            .unwrap();
    }
    event["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_dead_letter_whose_body_jsonb_refuses_is_shown_by_the_cli_and_the_admin_api() {
    let app = admin_app().await;
    let id = dead_letter_with_a_nul(&app).await;
    assert_eq!(
        count(
            &app.pool,
            "SELECT count(*) FROM stripe_events WHERE payload IS NULL"
        )
        .await,
        1,
        "the database cannot read this body as jsonb"
    );
    let stored: String = sqlx::query_scalar("SELECT body FROM received_events WHERE id = $1")
        .bind(&id)
        .fetch_one(&app.pool)
        .await
        .unwrap();

    let shown = tether_json(&app, &["dlq", "show", &id]);
    assert_eq!(shown["id"], json!(id));
    assert_eq!(
        shown["body"],
        json!(stored),
        "the stored bytes, as they are"
    );
    assert_eq!(
        shown["payload"]["data"]["object"]["description"],
        json!("Ann\u{0}Smith")
    );
    assert!(!shown["history"].as_array().unwrap().is_empty(), "{shown}");

    let text = tether(&app, &["dlq", "show", &id]);
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let printed = String::from_utf8_lossy(&text.stdout);
    assert!(printed.contains(r"Ann\u0000Smith"), "{printed}");
    assert!(printed.contains("body as stored"), "{printed}");

    let (status, detail) = admin(&app, Method::GET, &format!("/admin/dlq/{id}"), None).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["body"], json!(stored));
    assert_eq!(detail["payload"]["id"], json!(id));
}
