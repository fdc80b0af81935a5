//! deploy/roles.sql: ingest and the workers run with nothing but their own
//! grants. Real `tether ingest` and `tether worker` processes log in as
//! `tether_ingest` and `tether_worker` (trust authentication on loopback,
//! so no password), a signed event goes all the way through, and each role
//! is refused what it has no business doing.

use std::{
    process::{Command, Stdio},
    sync::Mutex,
    time::Duration,
};

use sqlx::{Connection, PgConnection};

use crate::{
    deploy::repo_file,
    helpers::{TEST_SECRET, TestDatabase, fresh_event, new_event_id, unix_now},
    worker_support::{KillOnDrop, eventually},
};

/// Roles belong to the whole PostgreSQL cluster, so two tests creating them
/// at once would race; they take turns.
static ROLES: Mutex<()> = Mutex::new(());

/// Runs deploy/roles.sql with psql, as the README tells operators to.
pub fn apply_roles(database_url: &str, schema: &str) {
    let _turn = ROLES.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            &format!("schema={schema}"),
            "-f",
        ])
        .arg(repo_file("deploy/roles.sql"))
        .arg(database_url)
        .env_remove("TETHER_INGEST_DB_PASSWORD")
        .env_remove("TETHER_WORKER_DB_PASSWORD")
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "roles.sql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `database`'s URL with another user.
pub fn url_as(database: &TestDatabase, user: &str) -> String {
    with_user(&database.url(), user)
}

/// A `postgres://postgres@...` URL with another user.
pub fn with_user(url: &str, user: &str) -> String {
    url.replacen("postgres://postgres@", &format!("postgres://{user}@"), 1)
}

/// `tether migrate` as the owner, then the roles (twice: it is idempotent).
pub fn install(database: &TestDatabase, schema: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_tether"))
        .arg("migrate")
        .env("DATABASE_URL", database.url())
        .env("TETHER_SCHEMA", schema)
        .output()
        .expect("tether runs");
    assert!(
        out.status.success(),
        "migrate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    apply_roles(&database.url(), schema);
    apply_roles(&database.url(), schema);
}

pub fn spawn(subcommand: &str, database_url: String, env: &[(&str, String)]) -> KillOnDrop {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tether"));
    command
        .arg(subcommand)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    KillOnDrop(command.spawn().expect("the tether binary starts"))
}

/// Stops a process the way docker does (SIGTERM), so its shutdown path
/// runs with the role's grants too; returns its exit code and stderr.
pub async fn stop(mut process: KillOnDrop) -> (Option<i32>, String) {
    let pid = process.0.id().to_string();
    let signalled = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(signalled.success(), "kill -TERM {pid}");
    let mut stderr = process.0.stderr.take().unwrap();
    tokio::task::spawn_blocking(move || {
        let status = process.0.wait().unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
        (status.code(), text)
    })
    .await
    .unwrap()
}

/// A free loopback port for a process of ours to listen on.
pub fn free_port() -> u16 {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    probe.local_addr().unwrap().port()
}

/// Waits for ingest's `/readyz` on `port` (its database answers, as its
/// role); returns its base URL.
pub async fn wait_until_ready(http: &reqwest::Client, port: u16) -> String {
    let base = format!("http://127.0.0.1:{port}");
    eventually(Duration::from_secs(10), "ingest is ready", || async {
        let ready = http.get(format!("{base}/readyz")).send().await;
        ready.is_ok_and(|r| r.status() == 200)
    })
    .await;
    base
}

/// One signed event through ingest (as tether_ingest) and a worker (as
/// tether_worker), in `schema`.
async fn deliver_with_least_privilege(schema: &str) {
    let database = TestDatabase::create().await;
    install(&database, schema);
    let port = free_port();
    let ingest = spawn(
        "ingest",
        url_as(&database, "tether_ingest"),
        &[
            ("STRIPE_WEBHOOK_SECRET", TEST_SECRET.to_owned()),
            ("TETHER_LISTEN", format!("127.0.0.1:{port}")),
            ("TETHER_SCHEMA", schema.to_owned()),
        ],
    );
    let worker = spawn(
        "worker",
        url_as(&database, "tether_worker"),
        &[
            ("TETHER_POLL_MS", "100".to_owned()),
            ("TETHER_SCHEMA", schema.to_owned()),
        ],
    );
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = wait_until_ready(&http, port).await;

    let event_id = new_event_id();
    let event = fresh_event("customer.created", &event_id, unix_now()).unwrap();
    let body = serde_json::to_vec(&event).unwrap();
    let post = || async {
        let signature = tether_stripe::signature::sign(TEST_SECRET, unix_now(), &body);
        let reply = http
            .post(format!("{base}/webhooks/stripe"))
            .header("stripe-signature", signature)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        (
            reply.status().as_u16(),
            reply.json::<serde_json::Value>().await.unwrap(),
        )
    };
    assert_eq!(
        post().await,
        (
            200,
            serde_json::json!({"received": true, "duplicate": false})
        )
    );
    // A redelivery reads the stored event back: SELECT (id, payload).
    assert_eq!(
        post().await,
        (
            200,
            serde_json::json!({"received": true, "duplicate": true})
        )
    );
    // A signed body with a changed content is a redelivery that differs:
    // kept in rejected_deliveries.
    let mut changed = event.clone();
    changed["data"]["object"]["email"] = serde_json::json!("changed@example.com");
    let changed = serde_json::to_vec(&changed).unwrap();
    let signature = tether_stripe::signature::sign(TEST_SECRET, unix_now(), &changed);
    let reply = http
        .post(format!("{base}/webhooks/stripe"))
        .header("stripe-signature", signature)
        .body(changed)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);

    let owner = database.connect().await;
    let logged = format!("SELECT status FROM {schema}.webhook_logs WHERE event_id = $1");
    eventually(
        Duration::from_secs(15),
        "the worker applies the event",
        || async {
            let statuses: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(logged.clone()))
                .bind(&event_id)
                .fetch_all(&owner)
                .await
                .unwrap();
            !statuses.is_empty()
        },
    )
    .await;
    let statuses: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(logged))
        .bind(&event_id)
        .fetch_all(&owner)
        .await
        .unwrap();
    assert_eq!(statuses, ["success"]);
    let customer = event["data"]["object"]["id"].as_str().unwrap();
    let stored: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT last_event_id FROM {schema}.end_customers WHERE stripe_customer_id = $1"
    )))
    .bind(customer)
    .fetch_optional(&owner)
    .await
    .unwrap();
    assert_eq!(stored.as_deref(), Some(event_id.as_str()));
    let kept: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT event_id FROM {schema}.rejected_deliveries"
    )))
    .fetch_all(&owner)
    .await
    .unwrap();
    assert_eq!(kept, [event_id.as_str()]);

    // Every kind the worker syncs, with its grants only: one sample event of
    // each type, none of which may fail.
    let mut sent = Vec::new();
    for (event_type, _) in tether_stripe::samples::SAMPLE_EVENTS {
        let id = new_event_id();
        let body = serde_json::to_vec(&fresh_event(event_type, &id, unix_now()).unwrap()).unwrap();
        let signature = tether_stripe::signature::sign(TEST_SECRET, unix_now(), &body);
        let reply = http
            .post(format!("{base}/webhooks/stripe"))
            .header("stripe-signature", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200, "{event_type}");
        sent.push(id);
    }
    let outcomes = format!(
        "SELECT status, count(*) FROM {schema}.webhook_logs WHERE event_id = ANY($1) GROUP BY 1 ORDER BY 1"
    );
    eventually(
        Duration::from_secs(30),
        "the worker applies every sample",
        || async {
            let logged: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(outcomes.clone()))
                .bind(&sent)
                .fetch_all(&owner)
                .await
                .unwrap();
            logged.iter().map(|(_, n)| n).sum::<i64>() >= sent.len() as i64
        },
    )
    .await;
    let logged: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(outcomes))
        .bind(&sent)
        .fetch_all(&owner)
        .await
        .unwrap();
    assert!(
        logged
            .iter()
            .all(|(status, _)| ["success", "stale", "ignored"].contains(&status.as_str())),
        "{logged:?}"
    );

    // Heartbeats, polls, readiness checks and the shutdown ran as these
    // roles: none of them may have been refused.
    for (name, process) in [("ingest", ingest), ("worker", worker)] {
        let (code, stderr) = stop(process).await;
        assert!(
            !stderr.contains("permission denied"),
            "{name} was refused something:\n{stderr}"
        );
        assert_eq!(code, Some(0), "{name} exits 0 after SIGTERM:\n{stderr}");
    }
}

#[tokio::test]
async fn ingest_and_worker_work_with_only_their_own_grants() {
    deliver_with_least_privilege("public").await;
}

#[tokio::test]
async fn the_roles_follow_tether_schema() {
    deliver_with_least_privilege("tether").await;
}

/// SQLSTATE 42501: insufficient_privilege.
async fn assert_refused(conn: &mut PgConnection, sql: &str) {
    let error = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut *conn)
        .await
        .expect_err(sql);
    let code = error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.into_owned());
    assert_eq!(code.as_deref(), Some("42501"), "{sql}: {error}");
}

#[tokio::test]
async fn each_role_is_refused_what_it_does_not_need() {
    let database = TestDatabase::create().await;
    install(&database, "public");
    let mut ingest = PgConnection::connect(&url_as(&database, "tether_ingest"))
        .await
        .unwrap();
    for sql in [
        "DELETE FROM received_events",
        "INSERT INTO processed_events (id) VALUES ('evt_1')",
        "SELECT type FROM received_events",
        "SELECT id FROM stripe_events",
        "UPDATE end_customers SET email = 'x@example.com'",
        "SELECT * FROM end_customers",
        "INSERT INTO webhook_logs (event_type, event_id, status) VALUES ('t', 'evt_1', 'success')",
        "DELETE FROM apalis.jobs",
        "UPDATE apalis.jobs SET status = 'Killed'",
        "SELECT * FROM tether_settings",
    ] {
        assert_refused(&mut ingest, sql).await;
    }
    let mut worker = PgConnection::connect(&url_as(&database, "tether_worker"))
        .await
        .unwrap();
    for sql in [
        "DELETE FROM received_events",
        "UPDATE received_events SET body = '{}'",
        "DELETE FROM processed_events",
        "DELETE FROM webhook_logs",
        "DELETE FROM end_customers",
        "SELECT * FROM rejected_deliveries",
        "SELECT * FROM tether_settings",
        "SELECT * FROM supabase_signups",
        "DELETE FROM apalis.workers",
    ] {
        assert_refused(&mut worker, sql).await;
    }
}
