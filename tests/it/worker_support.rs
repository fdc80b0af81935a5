//! What the worker tests share: running the queue dry, reading the synced
//! tables in a form that compares across runs, and worker processes.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use sqlx::PgPool;
pub use tether_queue::JobStatus;
use tether_shared::config::WorkerConfig;

use crate::helpers::{TestApp, fresh_event, new_event_id, sample_event};

/// Test worker settings: quick retries so tests never wait long.
pub fn worker_config() -> WorkerConfig {
    WorkerConfig {
        retry_base_ms: 1000,
        max_attempts: 4,
        ..WorkerConfig::default()
    }
}

/// Applies every job that is due, synchronously. No sleeps needed after it.
pub async fn drain(pool: &PgPool) -> usize {
    tether_worker::drain(pool, &worker_config())
        .await
        .expect("the queue drains")
}

/// A fixture event exactly as Stripe sent it (its own id and `created`).
pub fn fixture(event_type: &str) -> Value {
    serde_json::from_str(sample_event(event_type).expect("a sample of that type")).unwrap()
}

/// A fixture with a new event id and the given `created`, same object.
pub fn fixture_at(event_type: &str, created: i64) -> Value {
    fresh_event(event_type, &new_event_id(), created).expect("a sample of that type")
}

pub async fn post_ok(app: &TestApp, event: &Value) {
    let (status, body) = app.post_event(event).await;
    assert_eq!(status, 200, "event {} refused: {body}", event["id"]);
}

/// Delivers one event and applies it before returning.
pub async fn apply(app: &TestApp, event: &Value) {
    post_ok(app, event).await;
    drain(&app.pool).await;
}

/// The synced tables as comparable text rows: Stripe ids instead of our
/// uuids, no bookkeeping timestamps.
pub async fn snapshot(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT 'customer ' || row(c.stripe_customer_id, c.email, c.name, c.phone, c.metadata,
                                   c.deleted_at, c.is_placeholder, c.last_event_id)::text
         FROM end_customers c
         UNION ALL
         SELECT 'payment ' || row(p.stripe_payment_intent_id, c.stripe_customer_id, p.amount, p.currency,
                                  p.status, p.description, p.metadata, p.last_event_id)::text
         FROM payments p LEFT JOIN end_customers c ON c.id = p.customer_id
         UNION ALL
         SELECT 'subscription ' || row(s.stripe_subscription_id, c.stripe_customer_id, s.status, s.price_id,
                                       s.quantity, s.cancel_at_period_end, s.current_period_start,
                                       s.current_period_end, s.last_event_id)::text
         FROM subscriptions s LEFT JOIN end_customers c ON c.id = s.customer_id
         UNION ALL
         SELECT 'subscription item ' || row(i.stripe_subscription_id, i.stripe_subscription_item_id,
                                            i.stripe_price_id, i.quantity, i.current_period_start)::text
         FROM subscription_items i
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("the synced tables are readable")
}

/// `webhook_logs` statuses of one event, oldest first.
pub async fn log_statuses(pool: &PgPool, event_id: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT status FROM webhook_logs WHERE event_id = $1 ORDER BY created_at, status",
    )
    .bind(event_id)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Empties every table between two deliveries in one test: the synced
/// tables (as the schema lists them), the events and their logs.
pub async fn reset(pool: &PgPool) {
    let synced: Vec<String> =
        sqlx::query_scalar("SELECT name FROM tether_synced_tables(current_schema())")
            .fetch_all(pool)
            .await
            .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "TRUNCATE {}, webhook_logs, received_events, processed_events CASCADE",
        synced.join(", ")
    )))
    .execute(pool)
    .await
    .unwrap();
    tether_queue::test_support::clear(pool).await.unwrap();
}

/// The URL of the test database, for processes of our own binary.
pub fn database_url(app: &TestApp) -> String {
    let server = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    format!("{}/{}", server.trim_end_matches('/'), app.db_name)
}

/// A `tether worker` process against the test database.
pub fn spawn_worker(app: &TestApp, env: &[(&str, &str)]) -> KillOnDrop {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tether"));
    command
        .arg("worker")
        .env("DATABASE_URL", database_url(app))
        .env("TETHER_ORPHAN_AFTER_SECS", "2")
        .env("TETHER_POLL_MS", "100")
        .env(
            "RUST_LOG",
            std::env::var("TEST_LOG").map(|_| "info").unwrap_or("warn"),
        )
        .stdout(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    KillOnDrop(command.spawn().expect("the tether binary starts"))
}

/// A child process that cannot outlive its test.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` until it holds; fails the test after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many stored events are not processed yet.
pub async fn unprocessed(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM stripe_events WHERE processed_at IS NULL")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// One number from the test database.
pub async fn count(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap()
}

/// How many tether jobs are in `status`.
pub async fn jobs_in(pool: &PgPool, status: JobStatus) -> i64 {
    tether_queue::inspect::counts(pool)
        .await
        .expect("the queue is readable")
        .get(&status)
        .copied()
        .unwrap_or(0)
}

/// A real failure from the real database: any write of this payment raises.
pub async fn make_payment_writes_fail(pool: &PgPool, payment: &str) {
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

/// The cause of `make_payment_writes_fail`, fixed.
pub async fn let_payment_writes_succeed(pool: &PgPool) {
    sqlx::query("DROP TRIGGER fail_payment ON payments")
        .execute(pool)
        .await
        .unwrap();
}

/// Runs `tether ARGS` against the test database and returns its output.
pub fn tether(app: &TestApp, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(args)
        .env("DATABASE_URL", database_url(app))
        .env("RUST_LOG", "warn")
        .output()
        .expect("tether runs")
}

/// `tether ARGS --json`, which must succeed, as JSON.
pub fn tether_json(app: &TestApp, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = tether(app, &args);
    assert!(
        out.status.success(),
        "tether {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// What `read` shows after `events` are applied one at a time in their
/// order, reversed, and shuffled (by `seed`) with every event twice; each
/// run starts from empty tables.
pub async fn in_three_orders(
    app: &TestApp,
    events: &[Value],
    seed: u64,
    read: impl AsyncFn(&PgPool) -> Vec<String>,
) -> [Vec<String>; 3] {
    let mut reversed = events.to_vec();
    reversed.reverse();
    let mut shuffled: Vec<Value> = events.iter().chain(events).cloned().collect();
    fastrand::Rng::with_seed(seed).shuffle(&mut shuffled);
    let mut seen = Vec::new();
    for order in [events, &reversed, &shuffled] {
        reset(&app.pool).await;
        for event in order {
            apply(app, event).await;
        }
        seen.push(read(&app.pool).await);
    }
    seen.try_into().expect("three runs")
}
