//! `/metrics` on ingest and on a worker: Prometheus text whose counters
//! move as events are accepted, refused, applied and dead-lettered. Each
//! test runs real processes, so it reads only its own process's numbers.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::json;
use tokio::net::TcpStream;

use crate::{
    helpers::{TestApp, unix_now},
    worker_support::{
        KillOnDrop, database_url, eventually, fixture, fixture_at, make_payment_writes_fail,
        post_ok, spawn_worker,
    },
};

/// One sample of the exposition text: name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the Prometheus text format (comments skipped). Panics on a line
/// that is not `name{labels} value`, so a malformed exposition fails.
pub fn parse_prometheus(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("no value in {line:?}"));
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let inner = rest
                        .strip_suffix('}')
                        .unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
                    (name, parse_labels(inner, line))
                }
                None => (series, BTreeMap::new()),
            };
            assert!(
                !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
                "bad metric name in {line:?}"
            );
            Sample {
                name: name.to_owned(),
                labels,
                value,
            }
        })
        .collect()
}

fn parse_labels(inner: &str, line: &str) -> BTreeMap<String, String> {
    inner
        .split(',')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("bad label in {line:?}"));
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or_else(|| panic!("unquoted label value in {line:?}"));
            (key.to_owned(), value.to_owned())
        })
        .collect()
}

/// The value of the one sample named `name` with exactly these labels.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == wanted)
        .map(|s| s.value)
}

pub async fn scrape(addr: SocketAddr) -> Vec<Sample> {
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("/metrics answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    parse_prometheus(&response.text().await.unwrap())
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

pub async fn wait_until_listening(addr: SocketAddr) {
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on {addr}");
}

/// A `tether ingest` process against the test database, signing secret
/// shared with `app`, listening on the returned address.
pub async fn spawn_ingest(app: &TestApp, env: &[(&str, &str)]) -> (KillOnDrop, SocketAddr) {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_tether"));
    command
        .arg("ingest")
        .env("DATABASE_URL", database_url(app))
        .env("STRIPE_WEBHOOK_SECRET", &app.secret)
        .env("TETHER_LISTEN", addr.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let process = KillOnDrop(command.spawn().expect("the tether binary starts"));
    wait_until_listening(addr).await;
    (process, addr)
}

/// Posts `body` to a receiver at `addr`, signed with `secret` (or with a
/// wrong one), and returns the status.
pub async fn post_to(addr: SocketAddr, secret: &str, body: &[u8]) -> u16 {
    let header = tether_stripe::signature::sign(secret, unix_now(), body);
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("http://{addr}/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("stripe-signature", header)
        .body(body.to_vec())
        .send()
        .await
        .expect("ingest answers")
        .status()
        .as_u16()
}

#[test]
fn the_parser_reads_names_labels_and_values() {
    let samples = parse_prometheus(
        "# TYPE x counter\nx{a=\"1\",b=\"two\"} 3\ny 0.5\n\nz_bucket{le=\"+Inf\"} 7\n",
    );
    assert_eq!(value(&samples, "x", &[("a", "1"), ("b", "two")]), Some(3.0));
    assert_eq!(value(&samples, "y", &[]), Some(0.5));
    assert_eq!(value(&samples, "z_bucket", &[("le", "+Inf")]), Some(7.0));
    assert_eq!(value(&samples, "x", &[("a", "1")]), None);
}

#[tokio::test]
async fn ingest_counts_each_webhook_by_outcome() {
    let app = TestApp::spawn().await;
    let (_ingest, addr) = spawn_ingest(&app, &[]).await;
    let event = serde_json::to_vec(&fixture("customer.created")).unwrap();

    assert_eq!(post_to(addr, &app.secret, &event).await, 200);
    assert_eq!(post_to(addr, &app.secret, &event).await, 200);
    assert_eq!(post_to(addr, "whsec_not_the_secret", &event).await, 400);
    assert_eq!(
        post_to(addr, &app.secret, b"{\"not\":\"an event\"}").await,
        400
    );

    let samples = scrape(addr).await;
    let webhooks = |outcome| value(&samples, "tether_webhooks_total", &[("outcome", outcome)]);
    assert_eq!(webhooks("accepted"), Some(1.0));
    assert_eq!(webhooks("duplicate"), Some(1.0));
    assert_eq!(webhooks("bad_signature"), Some(1.0));
    assert_eq!(webhooks("bad_request"), Some(1.0));
    assert_eq!(
        value(
            &samples,
            "tether_ingest_request_duration_seconds_count",
            &[]
        ),
        Some(4.0),
        "every answered request is timed"
    );
    // The first delivery and its duplicate each went through a commit alone.
    assert_eq!(
        value(&samples, "tether_ingest_batch_size_count", &[]),
        Some(2.0)
    );
    assert_eq!(
        value(&samples, "tether_ingest_batch_size_sum", &[]),
        Some(2.0)
    );
}

#[tokio::test]
async fn ingest_counts_a_503_when_the_database_is_away() {
    let app = TestApp::spawn().await;
    let closed = free_port();
    let (_ingest, addr) = spawn_ingest(
        &app,
        &[
            (
                "DATABASE_URL",
                &format!("postgres://postgres@127.0.0.1:{closed}/nowhere"),
            ),
            ("TETHER_COMMIT_TIMEOUT_MS", "1000"),
        ],
    )
    .await;
    let event = serde_json::to_vec(&fixture("customer.created")).unwrap();

    assert_eq!(post_to(addr, &app.secret, &event).await, 503);

    let samples = scrape(addr).await;
    assert_eq!(
        value(
            &samples,
            "tether_webhooks_total",
            &[("outcome", "unavailable")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "tether_webhooks_total",
            &[("outcome", "accepted")]
        ),
        None
    );
}

#[tokio::test]
async fn a_worker_counts_applied_and_dead_events_and_samples_the_queue() {
    let app = TestApp::spawn().await;
    make_payment_writes_fail(&app.pool, "pi_doomed").await;
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let _worker = spawn_worker(
        &app,
        &[
            ("TETHER_METRICS_LISTEN", &metrics.to_string()),
            ("TETHER_MAX_ATTEMPTS", "1"),
        ],
    );
    wait_until_listening(metrics).await;

    post_ok(&app, &fixture("customer.created")).await;
    let mut doomed = fixture_at("payment_intent.succeeded", 1_780_000_000);
    doomed["data"]["object"]["id"] = json!("pi_doomed");
    post_ok(&app, &doomed).await;

    eventually(
        Duration::from_secs(20),
        "the gauges show the dead letter",
        || async {
            let samples = scrape(metrics).await;
            value(&samples, "tether_queue_dead_letters", &[]) == Some(1.0)
        },
    )
    .await;
    let samples = scrape(metrics).await;
    let jobs = |event_type, outcome| {
        value(
            &samples,
            "tether_jobs_total",
            &[("event_type", event_type), ("outcome", outcome)],
        )
    };
    assert_eq!(jobs("customer.created", "success"), Some(1.0));
    assert_eq!(jobs("payment_intent.succeeded", "dead"), Some(1.0));
    assert_eq!(
        value(&samples, "tether_ack_to_applied_seconds_count", &[]),
        Some(1.0),
        "only the applied event has a lag"
    );
    assert_eq!(value(&samples, "tether_queue_pending", &[]), Some(0.0));
    assert_eq!(
        value(&samples, "tether_queue_scheduled_retries", &[]),
        Some(0.0)
    );
    assert_eq!(
        value(&samples, "tether_queue_oldest_pending_age_seconds", &[]),
        Some(0.0)
    );
    assert_eq!(value(&samples, "tether_workers_live", &[]), Some(1.0));
    let claims = value(&samples, "tether_claim_size_count", &[]).unwrap();
    let events = value(&samples, "tether_claim_size_sum", &[]).unwrap();
    assert!(
        claims >= 1.0 && events >= 2.0,
        "{claims} claims of {events} events"
    );
    assert!(value(&samples, "tether_apply_duration_seconds_count", &[]).unwrap() >= 2.0);
    let health = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://{metrics}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the listener answers health checks");
}

/// The gauges run every 5 s on every worker: the oldest pending job must
/// come from the fetch index, not from reading the backlog.
#[tokio::test]
async fn the_oldest_pending_job_is_read_through_an_index() {
    let app = TestApp::spawn().await;
    sqlx::query(
        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority)
         SELECT 'job_' || g, $1, '\\x7b7d', 'Pending', 0, 2147483647,
                now() - make_interval(secs => g), 0
         FROM generate_series(1, 20000) AS g",
    )
    .bind(tether_queue::QUEUE)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE apalis.jobs")
        .execute(&app.pool)
        .await
        .unwrap();

    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "EXPLAIN {}",
        tether_queue::gauges::SAMPLE
    )))
    .bind(tether_queue::QUEUE)
    .bind(60.0_f64)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(
        plan.contains("Index Scan using idx_apalis_jobs_fetch_partial"),
        "{plan}"
    );

    let sample = tether_queue::gauges::sample(&app.pool, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(sample.pending, 20_000);
    assert_eq!(sample.dead_letters, 0);
    let oldest = sample.oldest_pending_age.as_secs_f64();
    assert!((20_000.0..20_060.0).contains(&oldest), "{oldest}");
}
