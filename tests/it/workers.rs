//! Worker processes: several at once, killed, stopped, and `tether up`.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use futures::{FutureExt, StreamExt, stream};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{helpers::TestApp, worker_support::*};

/// `versions` events for each of `objects` customers, payments and
/// subscriptions; version k of an object is created at base + k and carries
/// k in a field, so the final state is known.
fn event_history(objects: usize, versions: i64) -> Vec<Value> {
    let base = 1_780_000_000;
    let mut events = Vec::new();
    for i in 0..objects {
        for k in 1..=versions {
            let mut customer = fixture_at("customer.updated", base + k);
            customer["data"]["object"]["id"] = json!(format!("cus_{i}"));
            customer["data"]["object"]["name"] = json!(format!("c{i} v{k}"));
            let mut payment = fixture_at("payment_intent.succeeded", base + k);
            payment["data"]["object"]["id"] = json!(format!("pi_{i}"));
            payment["data"]["object"]["customer"] = json!(format!("cus_{i}"));
            payment["data"]["object"]["amount"] = json!(k);
            let mut subscription = fixture_at("customer.subscription.updated", base + k);
            subscription["data"]["object"]["id"] = json!(format!("sub_{i}"));
            subscription["data"]["object"]["customer"] =
                json!(format!("cus_{}", (i + 1) % objects));
            subscription["data"]["object"]["items"]["data"][0]["quantity"] = json!(k);
            events.extend([customer, payment, subscription]);
        }
    }
    events
}

async fn post_all(app: &TestApp, events: &[Value], connections: usize) {
    stream::iter(events)
        .for_each_concurrent(connections, |e| post_ok(app, e))
        .await;
}

#[tokio::test]
async fn two_worker_processes_apply_every_event_once() {
    let app = TestApp::spawn().await;
    let _workers = [
        spawn_worker(&app, &[]),
        spawn_worker(&app, &[("TETHER_CONCURRENCY", "8")]),
    ];
    let (objects, versions) = (12, 10);
    let mut events = event_history(objects, versions);
    fastrand::Rng::with_seed(7).shuffle(&mut events);
    post_all(&app, &events, 16).await;

    eventually(Duration::from_secs(60), "all events processed", || async {
        unprocessed(&app.pool).await == 0
    })
    .await;
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM stripe_events").await,
        events.len() as i64
    );
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM (SELECT event_id FROM webhook_logs GROUP BY event_id HAVING count(*) = 1 AND bool_and(status IN ('success', 'stale'))) once").await,
        events.len() as i64,
        "every event has exactly one outcome, success or stale"
    );
    for i in 0..objects {
        let name: String =
            sqlx::query_scalar("SELECT name FROM end_customers WHERE stripe_customer_id = $1")
                .bind(format!("cus_{i}"))
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(name, format!("c{i} v{versions}"));
        let amount: i64 =
            sqlx::query_scalar("SELECT amount FROM payments WHERE stripe_payment_intent_id = $1")
                .bind(format!("pi_{i}"))
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(amount, versions);
        let quantity: i64 = sqlx::query_scalar(
            "SELECT quantity FROM subscriptions WHERE stripe_subscription_id = $1",
        )
        .bind(format!("sub_{i}"))
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(quantity, versions);
    }
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM end_customers").await,
        objects as i64,
        "no stray placeholders"
    );
}

/// Writes to end_customers sleep while `hold` is on, so a worker can be
/// caught holding jobs.
async fn install_gate(pool: &PgPool) {
    sqlx::raw_sql(
        "CREATE TABLE test_gate (hold boolean NOT NULL);
         INSERT INTO test_gate VALUES (true);
         CREATE FUNCTION gate() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF (SELECT hold FROM test_gate) THEN PERFORM pg_sleep(2); END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER gate BEFORE INSERT OR UPDATE ON end_customers FOR EACH ROW EXECUTE FUNCTION gate();",
    )
    .execute(pool)
    .await
    .unwrap();
}

async fn open_gate(pool: &PgPool) {
    sqlx::query("UPDATE test_gate SET hold = false")
        .execute(pool)
        .await
        .unwrap();
}

fn customer_events(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut e = fixture_at("customer.created", 1_780_000_000);
            e["data"]["object"]["id"] = json!(format!("cus_k{i}"));
            e
        })
        .collect()
}

/// Posts `events` and waits until some worker has claimed one of them.
async fn post_and_wait_until_held(app: &TestApp, events: &[Value]) {
    for e in events {
        post_ok(app, e).await;
    }
    eventually(Duration::from_secs(20), "a worker holds a job", || async {
        jobs_in(&app.pool, JobStatus::Running).await > 0
    })
    .await;
}

#[tokio::test]
async fn a_killed_workers_jobs_run_on_another_worker() {
    let app = TestApp::spawn().await;
    install_gate(&app.pool).await;
    let mut doomed = spawn_worker(&app, &[]);
    let events = customer_events(12);
    post_and_wait_until_held(&app, &events).await;
    doomed.0.kill().expect("SIGKILL"); // Child::kill is SIGKILL on unix
    doomed.0.wait().unwrap();
    open_gate(&app.pool).await;

    let _survivor = spawn_worker(&app, &[]);
    eventually(Duration::from_secs(60), "every event applied", || async {
        unprocessed(&app.pool).await == 0
    })
    .await;
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM end_customers").await,
        12
    );
    assert_eq!(
        count(
            &app.pool,
            "SELECT count(*) FROM webhook_logs WHERE status = 'success'"
        )
        .await,
        12,
        "each event applied once in effect"
    );
    assert_eq!(
        tether_queue::inspect::jobs(&app.pool).await.unwrap().len(),
        0
    );
}

#[tokio::test]
async fn sigterm_finishes_the_job_in_flight_and_exits_cleanly() {
    let app = TestApp::spawn().await;
    install_gate(&app.pool).await;
    // One claim of one job, so exactly one job is in flight at the signal.
    let mut worker = spawn_worker(
        &app,
        &[("TETHER_CONCURRENCY", "1"), ("TETHER_FETCH_SIZE", "1")],
    );
    let events = customer_events(3);
    post_and_wait_until_held(&app, &events).await;
    let pid = worker.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::task::spawn_blocking(move || worker.0.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0), "exit 0 after SIGTERM");
    assert_eq!(
        count(
            &app.pool,
            "SELECT count(*) FROM webhook_logs WHERE status = 'success'"
        )
        .await,
        1,
        "the job in flight finished"
    );
    assert_eq!(
        jobs_in(&app.pool, JobStatus::Running).await,
        0,
        "nothing left claimed"
    );
    assert_eq!(
        jobs_in(&app.pool, JobStatus::Pending).await,
        2,
        "the rest wait for the next worker"
    );
}

/// The newcomer's path: `tether up` on a database that does not exist yet,
/// then `tether send-test-event customer.created`.
#[tokio::test]
async fn up_creates_the_database_and_syncs_a_test_event() {
    let app = TestApp::spawn().await; // only for its server settings and cleanup of its own db
    let db_name = format!("{}_up", app.db_name);
    let url = database_url(&app).replace(&app.db_name, &db_name);
    let _cleanup = DropDatabase(db_name.clone());
    let mut up = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_tether"))
            .arg("up")
            .env("DATABASE_URL", &url)
            .env("TETHER_LISTEN", "127.0.0.1:0")
            .env_remove("STRIPE_WEBHOOK_SECRET")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = up.0.stdout.take().unwrap();
    let webhook_url = tokio::task::spawn_blocking(move || {
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        let url = lines.find_map(|l| l.trim().strip_prefix("webhook URL: ").map(str::to_owned));
        // Keep reading, so `up` never writes into a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        url
    })
    .await
    .unwrap()
    .expect("up prints its webhook URL");

    let sent = Command::new(env!("CARGO_BIN_EXE_tether"))
        .args([
            "send-test-event",
            "customer.created",
            "--json",
            "--url",
            &webhook_url,
        ])
        .env_remove("STRIPE_WEBHOOK_SECRET")
        // It finds the development secret in the database `up` made.
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    let answer: Value = serde_json::from_slice(&sent.stdout).unwrap();
    assert_eq!(
        (answer["status"].as_u64(), &answer["response"]),
        (Some(200), &json!({"received": true, "duplicate": false}))
    );

    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    eventually(
        Duration::from_secs(20),
        "the customer is synced",
        || async {
            count(
                &pool,
                "SELECT count(*) FROM end_customers WHERE email = 'jenny.rosen@example.com'",
            )
            .await
                == 1
        },
    )
    .await;
    pool.close().await;
}

struct DropDatabase(String);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let name = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(
                    "postgres://postgres@127.0.0.1:5432/postgres",
                )
                .await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
            })
        })
        .join();
    }
}

/// Sequential and index scans of `end_customers` so far, as the statistics
/// show them once `worker`'s one connection has reported its own.
async fn customer_scans(worker: &PgPool, pool: &PgPool) -> (i64, i64) {
    sqlx::query("SELECT pg_stat_force_next_flush()")
        .execute(worker)
        .await
        .unwrap();
    sqlx::query_as(
        "SELECT seq_scan, COALESCE(idx_scan, 0) FROM pg_stat_user_tables
         WHERE relname = 'end_customers'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Applies one payment for each of `customers`, in one claim on `worker`'s
/// connection.
async fn apply_payments(app: &TestApp, worker: &PgPool, customers: &[String]) {
    for customer in customers {
        let mut payment = fixture_at("payment_intent.succeeded", 1_780_000_000);
        payment["data"]["object"]["id"] = json!(format!("pi_of_{customer}"));
        payment["data"]["object"]["customer"] = json!(customer);
        post_ok(app, &payment).await;
    }
    tether_worker::drain(worker, &worker_config())
        .await
        .unwrap();
}

/// PostgreSQL keeps the plan it made for a prepared statement while a table
/// was small (a sequential scan) until the table is analysed again, which
/// with autovacuum off is never. The worker's plans are made with scans and
/// hash joins off, so once `end_customers` has grown it still finds the
/// payment's customer by its index.
#[tokio::test]
async fn a_worker_finds_rows_by_index_once_their_table_has_grown() {
    let app = TestApp::spawn().await;
    let worker = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&database_url(&app))
        .await
        .unwrap();
    // More executions than PostgreSQL's five before it settles on a plan.
    for batch in 0..8 {
        let customers: Vec<String> = (0..10).map(|i| format!("cus_early{batch}x{i}")).collect();
        apply_payments(&app, &worker, &customers).await;
    }
    sqlx::query(
        "INSERT INTO end_customers (stripe_customer_id, is_placeholder)
         SELECT 'cus_bulk' || g, true FROM generate_series(1, 20000) AS g",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let (seq_before, index_before) = customer_scans(&worker, &app.pool).await;

    let customers: Vec<String> = (1..=10).map(|i| format!("cus_bulk{i}")).collect();
    apply_payments(&app, &worker, &customers).await;
    let (seq_after, index_after) = customer_scans(&worker, &app.pool).await;
    assert_eq!(
        seq_after, seq_before,
        "no sequential scan of 20,000 customers"
    );
    assert!(
        index_after >= index_before + 10,
        "each payment finds its customer by the index: {index_before} -> {index_after}"
    );
    assert_eq!(
        count(
            &app.pool,
            "SELECT count(*) FROM payments WHERE stripe_payment_intent_id LIKE 'pi_of_cus_bulk%'"
        )
        .await,
        10
    );
}

/// Another claim holding the same event has marked it processed and not yet
/// committed (here a transaction of the test's own, which takes no object
/// lock). This claim waits for that mark, then logs the event as a
/// duplicate and writes nothing of it.
#[tokio::test]
async fn an_event_another_claim_is_committing_is_a_duplicate_here() {
    let app = TestApp::spawn().await;
    let event = fixture("customer.created");
    post_ok(&app, &event).await;
    let id = event["id"].as_str().unwrap();
    let mut other_claim = app.pool.begin().await.unwrap();
    sqlx::query("INSERT INTO processed_events (id) VALUES ($1)")
        .bind(id)
        .execute(&mut *other_claim)
        .await
        .unwrap();

    let pool = app.pool.clone();
    let draining = tokio::spawn(async move { drain(&pool).await });
    eventually(
        Duration::from_secs(20),
        "the claim waits on the mark",
        || {
            count(
                &app.pool,
                "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .map(|waiting| waiting == 1)
        },
    )
    .await;
    other_claim.commit().await.unwrap();
    draining.await.unwrap();

    assert_eq!(log_statuses(&app.pool, id).await, ["duplicate"]);
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM end_customers").await,
        0
    );
}
