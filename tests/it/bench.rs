//! `tether bench` as users run it: a real process posting to a real ingest,
//! a real worker applying, and the report read back as JSON.

use std::process::Output;

use tokio::process::Command;

use serde_json::Value;

use crate::{
    helpers::{TEST_SECRET, TestApp},
    worker_support::{count, database_url, drain, spawn_worker},
};

/// For runs that do not look at the database's cost: no wait for
/// PostgreSQL's statistics to flush.
const NO_STATS_WAIT: [&str; 2] = ["--stats-wait", "0"];

/// Runs the command without blocking the test's runtime, which also serves ingest.
async fn bench(app: &TestApp, args: &[&str]) -> (Output, Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_tether"))
        .arg("bench")
        .args(["--url", &format!("http://{}/webhooks/stripe", app.addr)])
        .args(["--json", "--wait-timeout", "60"])
        .args(args)
        .env("DATABASE_URL", database_url(app))
        .env("STRIPE_WEBHOOK_SECRET", TEST_SECRET)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("tether bench runs");
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "bench printed no JSON report ({e}); stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output, report)
}

#[tokio::test]
async fn bench_sends_distinct_signed_events_and_verifies_every_one_applied() {
    let app = TestApp::spawn().await;
    let _worker = spawn_worker(&app, &[]);

    let (output, report) = bench(
        &app,
        &[
            "-n",
            "400",
            "-c",
            "8",
            "--objects",
            "20",
            "--duplicates",
            "0.1",
            "--reorder",
            "0.5",
            "--verify",
            NO_STATS_WAIT[0],
            NO_STATS_WAIT[1],
        ],
    )
    .await;

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report["events"], 400);
    let requests = report["requests"].as_u64().unwrap();
    assert!(requests > 400, "duplicates add requests: {requests}");
    assert_eq!(
        report["acks"], requests,
        "every delivery, repeats included, is acknowledged"
    );
    assert_eq!(report["statuses"]["200"], requests);
    assert_eq!(report["applied"]["stored"], 400);
    assert_eq!(report["applied"]["applied"], 400);
    assert_eq!(report["verify"]["rows_wrong"], 0);
    assert_eq!(report["verify"]["outcome_count_wrong"], 0);
    // 20 objects of each of the three kinds, all touched by 400 events.
    assert_eq!(report["verify"]["objects_checked"], 60);
    let stored = count(&app.pool, "SELECT count(*) FROM stripe_events").await;
    assert_eq!(stored, 400);
}

#[tokio::test]
async fn verify_fails_when_a_row_does_not_hold_its_newest_event() {
    let app = TestApp::spawn().await;
    let send = [
        "-n",
        "200",
        "-c",
        "4",
        "--objects",
        "10",
        "--run-id",
        "tamper",
        NO_STATS_WAIT[0],
        NO_STATS_WAIT[1],
    ];
    let (output, _) = bench(&app, &[&send[..], &["--no-wait"]].concat()).await;
    assert!(output.status.success());
    drain(&app.pool).await;
    let (output, report) = bench(&app, &[&send[..], &["--skip-send", "--verify"]].concat()).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report["verify"]["rows_wrong"], 0);

    // An older state sneaks back into one row.
    sqlx::query(
        "UPDATE payments SET amount = amount - 1 WHERE stripe_payment_intent_id = 'pi_btamperx3'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let (output, report) = bench(&app, &[&send[..], &["--skip-send", "--verify"]].concat()).await;

    assert_eq!(output.status.code(), Some(1));
    assert_eq!(report["verify"]["rows_wrong"], 1);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pi_btamperx3"), "{stderr}");
}

#[tokio::test]
async fn bench_reports_what_the_run_cost_the_database_per_applied_event() {
    let app = TestApp::spawn().await;
    let _worker = spawn_worker(&app, &[]);

    let (output, report) = bench(&app, &["-n", "300", "-c", "8", "--verify"]).await;

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report["applied"]["applied"], 300);
    let cost = &report["database"];
    let wal = cost["wal_bytes"].as_u64().unwrap();
    let commits = cost["commits"].as_u64().unwrap();
    // Each stored event's body alone is 2 to 7 kB before compression.
    assert!(wal > 300 * 500, "WAL bytes: {wal}");
    // At least one ingest commit and one apply commit.
    assert!(commits >= 2, "commits: {commits}");
    // The test talks to PostgreSQL on loopback: its processes are ours to read.
    let cpu = cost["server_cpu_secs"]
        .as_f64()
        .expect("PostgreSQL CPU on this host");
    assert!(cpu > 0.0, "PostgreSQL CPU: {cpu}");
    assert_eq!(cost["stats_wait_secs"].as_f64().map(f64::round), Some(11.0));

    let per = &cost["per_event"];
    assert_eq!(per["basis"], "applied_event");
    assert_eq!(per["events"], 300);
    assert_close(per["wal_bytes"].as_f64().unwrap(), wal as f64 / 300.0);
    assert_close(per["commits"].as_f64().unwrap(), commits as f64 / 300.0);
    assert_close(per["server_cpu_ms"].as_f64().unwrap(), cpu * 1000.0 / 300.0);
}

#[tokio::test]
async fn an_ingest_only_run_reports_its_cost_per_acked_event() {
    let app = TestApp::spawn().await;

    let (output, report) = bench(
        &app,
        &["-n", "100", "-c", "4", "--no-wait", "--stats-wait", "2"],
    )
    .await;

    assert!(output.status.success());
    assert_eq!(report["acks"], 100);
    let cost = &report["database"];
    let per = &cost["per_event"];
    assert_eq!(per["basis"], "acked_event");
    assert_eq!(per["events"], 100);
    let wal = cost["wal_bytes"].as_u64().unwrap();
    assert!(wal > 100 * 500, "WAL bytes: {wal}");
    assert_close(per["wal_bytes"].as_f64().unwrap(), wal as f64 / 100.0);
}

fn assert_close(got: f64, want: f64) {
    assert!(
        (got - want).abs() <= want.abs() * 1e-9,
        "{got} is not {want}"
    );
}
