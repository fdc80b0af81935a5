//! A failing event is retried after growing, persisted delays, then
//! dead-lettered; everything else keeps flowing.

use serde_json::json;
use sqlx::PgPool;
use tether_shared::queue::{self, EventBatch};

use crate::{helpers::TestApp, worker_support::*};

/// A real failure from the real database: any write of this payment raises.
async fn make_payment_writes_fail(pool: &PgPool, payment: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE FUNCTION fail_payment() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.stripe_payment_intent_id = '{payment}' THEN
             RAISE EXCEPTION 'injected failure for %', NEW.stripe_payment_intent_id;
           END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER fail_payment BEFORE INSERT OR UPDATE ON payments
           FOR EACH ROW EXECUTE FUNCTION fail_payment();"
    )))
    .execute(pool)
    .await
    .unwrap();
}

/// The retry delay the worker stored for the event's latest failure: its job's
/// `run_at` minus the time of the failure's log row (same transaction).
async fn stored_delay_ms(pool: &PgPool, event_id: &str) -> f64 {
    sqlx::query_scalar(
        "SELECT extract(epoch FROM j.run_at - l.created_at)::float8 * 1000
         FROM apalis.jobs j, webhook_logs l
         WHERE j.status = 'Failed' AND convert_from(j.job, 'UTF8') = $2
           AND l.event_id = $1 AND l.status = 'error'
         ORDER BY l.created_at DESC LIMIT 1",
    )
    .bind(event_id)
    .bind(
        String::from_utf8(
            EventBatch {
                events: vec![event_id.into()],
            }
            .to_bytes(),
        )
        .unwrap(),
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_failing_event_backs_off_dies_and_blocks_nothing() {
    let app = TestApp::spawn().await;
    make_payment_writes_fail(&app.pool, "pi_doomed").await;
    let mut doomed = fixture_at("payment_intent.succeeded", 1_800_000_000);
    doomed["data"]["object"]["id"] = json!("pi_doomed");
    let healthy = fixture("customer.created");
    post_ok(&app, &doomed).await;
    post_ok(&app, &healthy).await;
    let doomed_id = doomed["id"].as_str().unwrap().to_owned();
    let healthy_id = healthy["id"].as_str().unwrap().to_owned();
    // As a group commit would have queued them: one job for both.
    sqlx::query("DELETE FROM apalis.jobs")
        .execute(&app.pool)
        .await
        .unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    queue::enqueue(
        &mut tx,
        vec![EventBatch {
            events: vec![doomed_id.clone(), healthy_id.clone()],
        }],
        10,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // The batch fails, splits; the healthy event applies on its own.
    drain(&app.pool).await;
    assert_eq!(
        log_statuses(&app.pool, &healthy_id).await,
        ["error", "success"]
    );
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
        sqlx::query("UPDATE apalis.jobs SET run_at = now() WHERE status = 'Failed'")
            .execute(&app.pool)
            .await
            .unwrap();
        assert_eq!(drain(&app.pool).await, 1, "attempt {} runs", attempt + 1);
    }
    let statuses = log_statuses(&app.pool, &doomed_id).await;
    assert_eq!(
        statuses,
        ["error", "error", "error", "error", "dead"],
        "batch failure, 3 failed attempts, dead"
    );
    let (status, attempts, error): (String, i32, String) = sqlx::query_as(
        "SELECT status, attempts, last_result->>'Err' FROM apalis.jobs WHERE convert_from(job, 'UTF8') = $1",
    )
    .bind(String::from_utf8(EventBatch { events: vec![doomed_id.clone()] }.to_bytes()).unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((status.as_str(), attempts), ("Killed", 4));
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
    sqlx::query("UPDATE apalis.jobs SET attempts = $1")
        .bind(worker_config().max_attempts as i32)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(drain(&app.pool).await, 1);
    let id = event["id"].as_str().unwrap();
    assert_eq!(log_statuses(&app.pool, id).await, ["dead"]);
    let (status, error): (String, String) =
        sqlx::query_as("SELECT status, last_result->>'Err' FROM apalis.jobs")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status, "Killed");
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
    let mut doomed = fixture_at("payment_intent.succeeded", 1_800_000_000);
    doomed["data"]["object"]["id"] = json!("pi_doomed");
    let healthy = fixture("customer.created");
    let doomed_id = doomed["id"].as_str().unwrap().to_owned();
    let healthy_id = healthy["id"].as_str().unwrap().to_owned();
    // Two requests, two commits: two jobs, which one claim takes together.
    post_ok(&app, &doomed).await;
    post_ok(&app, &healthy).await;
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM apalis.jobs").await,
        2
    );

    drain(&app.pool).await;

    // The merged transaction failed; run alone, the healthy job applied once.
    assert_eq!(log_statuses(&app.pool, &healthy_id).await, ["success"]);
    assert_eq!(log_statuses(&app.pool, &doomed_id).await, ["error"]);
    let left: Vec<(String, i32)> = sqlx::query_as("SELECT status, attempts FROM apalis.jobs")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        left,
        [("Failed".to_owned(), 1)],
        "only the doomed job is left, to retry"
    );
}
