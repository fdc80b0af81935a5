//! A failing event is retried after growing, persisted delays, then
//! dead-lettered; everything else keeps flowing.

use serde_json::json;
use sqlx::PgPool;
use tether_queue::{JobPayload, JobStatus, inspect::JobRecord, test_support};

use crate::{helpers::TestApp, worker_support::*};

/// The one job that names exactly `event_id` and nothing else.
async fn job_of(pool: &PgPool, event_id: &str) -> JobRecord {
    let mut jobs: Vec<JobRecord> = tether_queue::inspect::jobs(pool)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.events.as_deref().ok() == Some(&[event_id.to_owned()][..]))
        .collect();
    assert_eq!(jobs.len(), 1, "one job names {event_id}");
    jobs.remove(0)
}

/// The retry delay the worker stored for the event's latest failure: its job's
/// `run_at` minus the time of the failure's log row (same transaction).
async fn stored_delay_ms(pool: &PgPool, event_id: &str) -> f64 {
    let job = job_of(pool, event_id).await;
    assert_eq!(job.status, JobStatus::Failed);
    let failed_at: chrono::DateTime<chrono::Utc> = sqlx::query_scalar(
        "SELECT created_at FROM webhook_logs WHERE event_id = $1 AND status = 'error'
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(event_id)
    .fetch_one(pool)
    .await
    .unwrap();
    (job.run_at - failed_at).num_microseconds().unwrap() as f64 / 1000.0
}

#[tokio::test]
async fn a_failing_event_backs_off_dies_and_blocks_nothing() {
    let app = TestApp::spawn().await;
    make_payment_writes_fail(&app.pool, "pi_doomed").await;
    let mut doomed = fixture_at("payment_intent.succeeded", 1_780_000_000);
    doomed["data"]["object"]["id"] = json!("pi_doomed");
    let healthy = fixture("customer.created");
    post_ok(&app, &doomed).await;
    post_ok(&app, &healthy).await;
    let doomed_id = doomed["id"].as_str().unwrap().to_owned();
    let healthy_id = healthy["id"].as_str().unwrap().to_owned();
    // As a group commit would have queued them: one job for both.
    test_support::clear(&app.pool).await.unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    tether_queue::push(
        &mut tx,
        &[JobPayload {
            events: vec![doomed_id.clone(), healthy_id.clone()],
            ..JobPayload::default()
        }],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // The batch fails, splits; the healthy event applies on its own, and
    // carries no `error` row for the doomed event's failure.
    drain(&app.pool).await;
    assert_eq!(log_statuses(&app.pool, &healthy_id).await, ["success"]);
    assert_eq!(
        unprocessed(&app.pool).await,
        1,
        "only the doomed event is left"
    );

    let config = worker_config(); // base 1000 ms, 4 attempts
    for attempt in 1..config.max_attempts {
        let delay = stored_delay_ms(&app.pool, &doomed_id).await;
        let floor = config.retry_base_ms as f64 * 2f64.powi(attempt as i32 - 1);
        assert!(
            (floor..2.0 * floor).contains(&delay),
            "attempt {attempt}: stored delay {delay} ms, expected [{floor}, {}) ms",
            2.0 * floor
        );
        assert_eq!(
            drain(&app.pool).await,
            0,
            "not due yet: nothing runs before run_at"
        );
        // Travel to run_at instead of sleeping.
        test_support::make_retries_due(&app.pool).await.unwrap();
        assert_eq!(drain(&app.pool).await, 1, "attempt {} runs", attempt + 1);
    }
    let statuses = log_statuses(&app.pool, &doomed_id).await;
    assert_eq!(
        statuses,
        ["error", "error", "error", "dead"],
        "3 failed attempts, then dead"
    );
    let dead = job_of(&app.pool, &doomed_id).await;
    assert_eq!((dead.status, dead.attempts), (JobStatus::Killed, 4));
    let error = dead.last_error.unwrap_or_default();
    assert!(error.contains("injected failure for pi_doomed"), "{error}");

    // A dead letter blocks nothing: new events still flow.
    let next = fixture("customer.updated");
    apply(&app, &next).await;
    assert_eq!(
        log_statuses(&app.pool, next["id"].as_str().unwrap()).await,
        ["success"]
    );
}

/// A job whose runs never finish (each kills its worker) still ends: its
/// attempts are counted at claim, and one claimed past the limit is dead.
#[tokio::test]
async fn a_job_that_never_finishes_is_dead_after_the_limit() {
    let app = TestApp::spawn().await;
    let event = fixture("customer.created");
    post_ok(&app, &event).await;
    // As if four workers in a row had claimed it and died mid-job.
    test_support::set_attempts(&app.pool, worker_config().max_attempts as i32)
        .await
        .unwrap();
    assert_eq!(drain(&app.pool).await, 1);
    let id = event["id"].as_str().unwrap();
    assert_eq!(log_statuses(&app.pool, id).await, ["dead"]);
    let dead = job_of(&app.pool, id).await;
    assert_eq!(dead.status, JobStatus::Killed);
    let error = dead.last_error.unwrap_or_default();
    assert!(error.contains("never finished"), "{error}");
    assert_eq!(
        unprocessed(&app.pool).await,
        1,
        "not applied, kept for replay"
    );
}

#[tokio::test]
async fn a_failing_job_claimed_with_others_does_not_hold_them_back() {
    let app = TestApp::spawn().await;
    make_payment_writes_fail(&app.pool, "pi_doomed").await;
    let mut doomed = fixture_at("payment_intent.succeeded", 1_780_000_000);
    doomed["data"]["object"]["id"] = json!("pi_doomed");
    let healthy = fixture("customer.created");
    let doomed_id = doomed["id"].as_str().unwrap().to_owned();
    let healthy_id = healthy["id"].as_str().unwrap().to_owned();
    // Two requests, two commits: two jobs, which one claim takes together.
    post_ok(&app, &doomed).await;
    post_ok(&app, &healthy).await;
    assert_eq!(
        tether_queue::inspect::jobs(&app.pool).await.unwrap().len(),
        2
    );

    drain(&app.pool).await;

    // The merged transaction failed; run alone, the healthy job applied once.
    assert_eq!(log_statuses(&app.pool, &healthy_id).await, ["success"]);
    assert_eq!(log_statuses(&app.pool, &doomed_id).await, ["error"]);
    let left: Vec<(JobStatus, i32)> = tether_queue::inspect::jobs(&app.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.status, j.attempts))
        .collect();
    assert_eq!(
        left,
        [(JobStatus::Failed, 1)],
        "only the doomed job is left, to retry"
    );
}

/// An event whose content the database can never take (a customer id of
/// 10 kB does not fit an index row) is dead at its first attempt, and the
/// events that shared its job carry no `error` row of its making.
#[tokio::test]
async fn an_event_the_database_can_never_take_dies_at_once_and_alone() {
    let app = TestApp::spawn().await;
    let mut bad = fixture_at("customer.created", 1_780_000_000);
    let mut rng = fastrand::Rng::with_seed(7);
    let huge_id: String = std::iter::once("cus_".to_owned())
        .chain((0..10_000).map(|_| rng.alphanumeric().to_string()))
        .collect();
    bad["data"]["object"]["id"] = json!(huge_id);
    let neighbours = [
        fixture("payment_intent.succeeded"),
        fixture("customer.subscription.created"),
    ];
    let mut ids = vec![bad["id"].as_str().unwrap().to_owned()];
    ids.extend(
        neighbours
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned()),
    );
    post_ok(&app, &bad).await;
    for event in &neighbours {
        post_ok(&app, event).await;
    }
    // As one group commit would have queued them: one job for all three.
    test_support::clear(&app.pool).await.unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    let job = JobPayload {
        events: ids.clone(),
        ..JobPayload::default()
    };
    tether_queue::push(&mut tx, &[job]).await.unwrap();
    tx.commit().await.unwrap();

    drain(&app.pool).await;

    assert_eq!(log_statuses(&app.pool, &ids[0]).await, ["dead"]);
    for id in &ids[1..] {
        assert_eq!(log_statuses(&app.pool, id).await, ["success"], "{id}");
    }
    let dead = job_of(&app.pool, &ids[0]).await;
    assert_eq!((dead.status, dead.attempts), (JobStatus::Killed, 1));
    let error = dead.last_error.unwrap_or_default();
    assert!(error.contains("refused"), "{error}");
}

/// A number beyond the double range in a field tether does not read is
/// stored (PostgreSQL's numeric holds it) and does not stop its event.
#[tokio::test]
async fn a_huge_number_in_a_field_tether_does_not_read_is_harmless() {
    let app = TestApp::spawn().await;
    let mut event = fixture_at("customer.created", 1_780_000_000);
    event["data"]["object"]["balance"] = json!("@@HUGE@@");
    let body = serde_json::to_string(&event)
        .unwrap()
        .replace("\"@@HUGE@@\"", "1e400");
    assert_eq!(app.post_signed(body.as_bytes()).await.0, 200);
    drain(&app.pool).await;
    assert_eq!(
        log_statuses(&app.pool, event["id"].as_str().unwrap()).await,
        ["success"]
    );
}
