//! Operators acting at once, as real processes: `replay` racing `prune`,
//! `dlq replay --all` racing `dlq discard --all`, and prune beside a dead
//! sign-up. Whatever the interleaving, nothing queued is lost and each
//! command reports exactly what it changed.

use std::{collections::HashSet, process::Stdio};

use chrono::{DateTime, Utc};
use futures::future::join_all;
use serde_json::{Value, json};
use tether_shared::config::AppTables;

use crate::{
    fake_stripe::{FakeStripe, KEY},
    helpers::{TestApp, jobs_per_event, stored_event_ids},
    worker_support::*,
};

/// Races per test: each interleaves the two processes differently.
const RUNS: usize = 10;
/// History per race: one customer's updates, all applied.
const HISTORY: i64 = 300;

/// `tether ARGS --json` as a process of its own, started now.
fn start(app: &TestApp, args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(args)
        .arg("--json")
        .env("DATABASE_URL", database_url(app))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the tether binary starts")
}

/// What a process started by [`start`] printed; it must succeed.
async fn answer(child: tokio::process::Child) -> Value {
    let out = child.wait_with_output().await.expect("tether runs");
    assert!(
        out.status.success(),
        "tether failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// `HISTORY` updates of one customer, delivered and applied: all but the
/// newest are prunable, and all are replayable.
async fn applied_history(app: &TestApp, run: usize) {
    let base = 1_780_000_000 + i64::try_from(run).unwrap() * 10_000;
    let events: Vec<Value> = (0..HISTORY)
        .map(|i| fixture_at("customer.updated", base + i))
        .collect();
    for chunk in events.chunks(50) {
        for (status, body) in join_all(chunk.iter().map(|e| app.post_event(e))).await {
            assert_eq!(status, 200, "{body}");
        }
    }
    drain(&app.pool).await;
    assert_eq!(unprocessed(&app.pool).await, 0);
}

async fn db_now(app: &TestApp) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT now()")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn prune_racing_replay_removes_no_requeued_event_and_both_count_truly() {
    let app = TestApp::spawn().await;
    for run in 0..RUNS {
        reset(&app.pool).await;
        applied_history(&app, run).await;
        let before: HashSet<String> = stored_event_ids(&app.pool).await.into_iter().collect();
        let raced_at = db_now(&app).await;

        let replay = start(&app, &["replay", "--type", "customer.updated"]);
        let prune = start(&app, &["prune", "--older-than", "0s"]);
        let (replayed, pruned) = tokio::join!(answer(replay), answer(prune));

        let after: HashSet<String> = stored_event_ids(&app.pool).await.into_iter().collect();
        assert_eq!(
            json!(before.len() - after.len()),
            pruned["events"],
            "run {run}: prune reports the events it removed"
        );
        let queued = jobs_per_event(&app.pool).await;
        assert_eq!(
            json!(queued.len()),
            replayed["events"],
            "run {run}: replay reports the events it queued again"
        );
        assert!(
            queued.values().all(|&jobs| jobs == 1),
            "run {run}: each event queued once"
        );
        let lost: Vec<&String> = queued.keys().filter(|id| !after.contains(*id)).collect();
        assert_eq!(
            lost,
            Vec::<&String>::new(),
            "run {run}: queued, then pruned"
        );

        drain(&app.pool).await;
        let requeued: Vec<String> = queued.keys().cloned().collect();
        let reapplied = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM stripe_events WHERE id = ANY($1) AND processed_at >= $2",
        )
        .bind(&requeued)
        .bind(raced_at)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(
            reapplied,
            i64::try_from(queued.len()).unwrap(),
            "run {run}: the worker applied every event queued again"
        );
        assert_eq!(unprocessed(&app.pool).await, 0, "run {run}");
    }
}

/// `how_many` payments whose amount is not a number: each is a dead letter
/// at its first attempt.
async fn dead_letters(app: &TestApp, how_many: usize) -> HashSet<String> {
    let mut ids = HashSet::new();
    for _ in 0..how_many {
        let mut event = fixture_at("payment_intent.succeeded", 1_780_000_000);
        event["data"]["object"]["amount"] = json!("not-a-number");
        post_ok(app, &event).await;
        ids.insert(event["id"].as_str().unwrap().to_owned());
    }
    drain(&app.pool).await;
    ids
}

fn ids(answer: &Value) -> HashSet<String> {
    answer["ids"]
        .as_array()
        .unwrap_or_else(|| panic!("no ids in {answer}"))
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn dlq_replay_and_discard_at_once_take_each_letter_once() {
    let app = TestApp::spawn().await;
    for run in 0..RUNS {
        reset(&app.pool).await;
        let letters = dead_letters(&app, 21).await;
        assert_eq!(jobs_in(&app.pool, JobStatus::Killed).await, 21);

        let replay = start(&app, &["dlq", "replay", "--all"]);
        let discard = start(&app, &["dlq", "discard", "--all"]);
        let (replayed, discarded) = tokio::join!(answer(replay), answer(discard));

        let (revived, gone) = (ids(&replayed), ids(&discarded));
        assert_eq!(replayed["replayed"], json!(revived.len()), "run {run}");
        assert_eq!(discarded["discarded"], json!(gone.len()), "run {run}");
        assert!(
            revived.is_disjoint(&gone),
            "run {run}: one letter, one fate"
        );
        assert_eq!(
            &revived | &gone,
            letters,
            "run {run}: every letter taken once"
        );
        assert_eq!(
            jobs_in(&app.pool, JobStatus::Pending).await,
            i64::try_from(revived.len()).unwrap(),
            "run {run}: the replayed letters are queued"
        );
        let logged_discarded = count(
            &app.pool,
            "SELECT count(*) FROM webhook_logs WHERE status = 'discarded'",
        )
        .await;
        assert_eq!(
            logged_discarded,
            i64::try_from(gone.len()).unwrap(),
            "run {run}: each discarded letter logged once"
        );
        assert_eq!(jobs_in(&app.pool, JobStatus::Killed).await, 0, "run {run}");
    }
}

/// A sign-up Stripe refuses, run until it is a dead letter, and one Stripe
/// accepts; returns their ids (`supabase_signups.id`).
async fn dead_and_done_signups(app: &TestApp, fake: &FakeStripe) -> (String, String) {
    let api = tether_stripe_api::StripeApi::new(tether_stripe_api::ApiConfig {
        secret_key: KEY.to_owned().into(),
        api_base: fake.base.clone(),
        rate: Some(1000.0),
    })
    .unwrap();
    let mut ids = Vec::new();
    for (email, failures) in [
        ("dead@example.com", json!([{ "status": 400 }])),
        ("done@example.com", json!([])),
    ] {
        fake.control(json!({ "failures": failures })).await;
        let user = uuid::Uuid::new_v4();
        let status = reqwest::Client::new()
            .post(format!("http://{}/webhooks/supabase", app.addr))
            .bearer_auth("sb-hook-token")
            .json(&json!({
                "type": "INSERT", "table": "users", "schema": "auth",
                "record": { "id": user.to_string(), "email": email }, "old_record": null
            }))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(status, 200);
        tether_ops::signups::drain(&app.pool, &api, &AppTables::default(), "t")
            .await
            .unwrap();
        let id: String =
            sqlx::query_scalar("SELECT id::text FROM supabase_signups WHERE row_id = $1")
                .bind(user.to_string())
                .fetch_one(&app.pool)
                .await
                .unwrap();
        ids.push(id);
    }
    (ids[0].clone(), ids[1].clone())
}

#[tokio::test]
async fn a_dead_signup_keeps_its_history_through_prune() {
    let app =
        TestApp::spawn_with(|c| c.supabase_token = Some("sb-hook-token".to_owned().into())).await;
    let fake = FakeStripe::start(0, 0, 0);
    let (dead, done) = dead_and_done_signups(&app, &fake).await;
    assert_eq!(log_statuses(&app.pool, &dead).await, ["dead"]);
    assert_eq!(log_statuses(&app.pool, &done).await, ["success"]);

    tether_json(&app, &["prune", "--older-than", "0s"]);

    let shown = tether_json(&app, &["dlq", "show", &dead]);
    let history: Vec<&Value> = shown["history"].as_array().unwrap().iter().collect();
    assert_eq!(history.len(), 1, "{shown}");
    assert_eq!(history[0]["status"], json!("dead"));
    assert!(
        log_statuses(&app.pool, &done).await.is_empty(),
        "a sign-up that became a customer is history like any processed event"
    );
}
