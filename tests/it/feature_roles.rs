//! deploy/roles.sql's optional feature roles: `tether_retention` lets a
//! worker prune (TETHER_RETENTION), `tether_supabase_webhook` lets ingest
//! receive Supabase sign-ups, `tether_signups` lets a worker turn them into
//! customers, and `tether_operator` runs the operator commands and
//! ingest's /admin/*, each with nothing else added.
//!
//! Role membership is global to the PostgreSQL cluster, so this test never
//! grants a feature to `tether_ingest` or `tether_worker` themselves (the
//! other tests rely on what those may not do): it logs in as roles of its
//! own that are members of a process role and a feature role, as an
//! operator's `GRANT tether_retention TO tether_worker` would make them.

use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;

use crate::{
    fake_stripe::{FakeStripe, KEY},
    helpers::{TEST_SECRET, TestApp, TestDatabase, fresh_event, new_event_id, unix_now},
    operators::dead_letter,
    roles::{apply_roles, free_port, install, spawn, stop, url_as, wait_until_ready, with_user},
    worker_support::{database_url, drain, eventually, let_payment_writes_succeed},
};

/// A login role for one test, member of the given roles, dropped when this
/// goes away, also when the test fails. It holds no grant of its own.
struct TestRole(String);

impl TestRole {
    async fn create(owner: &PgPool, member_of: &str) -> Self {
        let name = format!("tether_feature_{}", uuid::Uuid::new_v4().simple());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE ROLE {name} LOGIN IN ROLE {member_of}"
        )))
        .execute(owner)
        .await
        .unwrap();
        Self(name)
    }
}

impl Drop for TestRole {
    fn drop(&mut self) {
        // psql, not sqlx: Drop cannot wait on the test's runtime.
        let server = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let dropped = std::process::Command::new("psql")
            .arg(format!("{}/postgres", server.trim_end_matches('/')))
            .args(["-X", "-q", "-c", &format!("DROP ROLE IF EXISTS {}", self.0)])
            .output();
        if !dropped.is_ok_and(|out| out.status.success()) {
            eprintln!("could not drop test role {}", self.0);
        }
    }
}

async fn scalar(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn retention_and_the_supabase_webhook_work_with_their_feature_roles() {
    let database = TestDatabase::create().await;
    install(&database, "public");
    let owner = database.connect().await;
    let ingest_role = TestRole::create(&owner, "tether_ingest, tether_supabase_webhook").await;
    let worker_role = TestRole::create(&owner, "tether_worker, tether_retention").await;

    let port = free_port();
    let ingest = spawn(
        "ingest",
        url_as(&database, &ingest_role.0),
        &[
            ("STRIPE_WEBHOOK_SECRET", TEST_SECRET.to_owned()),
            ("TETHER_LISTEN", format!("127.0.0.1:{port}")),
            ("SUPABASE_WEBHOOK_TOKEN", "sb-hook-token".to_owned()),
        ],
    );
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = wait_until_ready(&http, port).await;

    let signup = json!({
        "type": "INSERT", "table": "users", "schema": "auth",
        "record": { "id": uuid::Uuid::new_v4().to_string(), "email": "ada@example.com" },
        "old_record": null
    });
    for duplicate in [false, true] {
        let reply = http
            .post(format!("{base}/webhooks/supabase"))
            .bearer_auth("sb-hook-token")
            .json(&signup)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        let body: serde_json::Value = reply.json().await.unwrap();
        assert_eq!(body, json!({"received": true, "duplicate": duplicate}));
    }

    // Two versions of one customer: once both are applied, only the newer
    // is still pointed at, so retention may remove the older.
    let (older, newer) = (new_event_id(), new_event_id());
    for (id, created) in [(&older, unix_now() - 10), (&newer, unix_now() - 5)] {
        let body =
            serde_json::to_vec(&fresh_event("customer.updated", id, created).unwrap()).unwrap();
        let signature = tether_stripe::signature::sign(TEST_SECRET, unix_now(), &body);
        let reply = http
            .post(format!("{base}/webhooks/stripe"))
            .header("stripe-signature", signature)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
    }
    let worker_url = url_as(&database, &worker_role.0);
    let worker = spawn(
        "worker",
        worker_url.clone(),
        &[("TETHER_POLL_MS", "100".to_owned())],
    );
    let applied = async {
        for _ in 0..300 {
            let open = "SELECT count(*) FROM stripe_events WHERE processed_at IS NULL";
            if scalar(&owner, open).await == 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
    .await;
    let (code, stderr) = stop(worker).await;
    assert!(applied, "the worker did not apply both events:\n{stderr}");
    assert_eq!(code, Some(0), "{stderr}");
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM webhook_logs ORDER BY event_id = $1")
            .bind(&newer)
            .fetch_all(&owner)
            .await
            .unwrap();
    assert_eq!(statuses.len(), 2, "{statuses:?}");

    // Retention prunes once when a worker starts, then hourly.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let pruning = spawn(
        "worker",
        worker_url,
        &[("TETHER_RETENTION", "1s".to_owned())],
    );
    eventually(
        Duration::from_secs(15),
        "the older event is pruned",
        || async { scalar(&owner, "SELECT count(*) FROM stripe_events").await == 1 },
    )
    .await;
    let kept: Vec<String> = sqlx::query_scalar("SELECT id FROM stripe_events")
        .fetch_all(&owner)
        .await
        .unwrap();
    assert_eq!(kept, [newer.as_str()]);
    eventually(Duration::from_secs(5), "the logs are pruned", || async {
        scalar(&owner, "SELECT count(*) FROM webhook_logs").await == 0
    })
    .await;
    assert_eq!(
        scalar(&owner, "SELECT count(*) FROM supabase_signups").await,
        1
    );
    assert_eq!(
        scalar(
            &owner,
            "SELECT count(*) FROM apalis.jobs WHERE job_type = 'tether::supabase_signups'"
        )
        .await,
        1,
        "the sign-up is queued once"
    );

    for (name, process) in [("ingest", ingest), ("worker", pruning)] {
        let (code, stderr) = stop(process).await;
        assert!(!stderr.contains("permission denied"), "{name}:\n{stderr}");
        assert_eq!(code, Some(0), "{name}:\n{stderr}");
    }
}

/// `tether ARGS --json` as `url`'s role, which must succeed without being
/// refused anything.
fn tether_as(url: &str, args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(args)
        .arg("--json")
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("tether runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tether {args:?}: {stderr}");
    assert!(
        !stderr.contains("permission denied"),
        "tether {args:?}: {stderr}"
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// A person whose role holds only `tether_operator` finds, shows and
/// replays a dead letter, replays history and prunes; an ingest holding
/// `tether_ingest` and `tether_operator` serves `/admin/*`.
#[tokio::test]
async fn the_operator_role_runs_the_operator_commands_and_the_admin_api() {
    let app = TestApp::spawn().await;
    let id = dead_letter(&app).await;
    let owner_url = database_url(&app);
    apply_roles(&owner_url, "public");
    let person = TestRole::create(&app.pool, "tether_operator").await;
    let url = with_user(&owner_url, &person.0);

    let status = tether_as(&url, &["status"]);
    assert_eq!(
        status["needs_attention"],
        json!("1 dead letter(s): see `tether dlq list`")
    );
    assert_eq!(tether_as(&url, &["dlq", "list"])[0]["id"], json!(id));
    assert_eq!(
        tether_as(&url, &["dlq", "show", &id])["payload"]["id"],
        json!(id)
    );
    assert_eq!(
        tether_as(&url, &["dlq", "discard", "--all", "--dry-run"]),
        json!({"discarded": 1, "ids": [id], "dry_run": true})
    );
    let_payment_writes_succeed(&app.pool).await;
    assert_eq!(
        tether_as(&url, &["dlq", "replay", &id]),
        json!({"replayed": 1, "ids": [id], "dry_run": false})
    );
    drain(&app.pool).await;
    assert_eq!(
        tether_as(&url, &["replay", "--type", "payment_intent.succeeded"]),
        json!({"events": 1, "dry_run": false})
    );
    drain(&app.pool).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let pruned = tether_as(&url, &["prune", "--older-than", "1s"]);
    assert_eq!(pruned["dry_run"], json!(false), "{pruned}");
    assert_eq!(tether_as(&url, &["rejected"]), json!([]));

    let admin = TestRole::create(&app.pool, "tether_ingest, tether_operator").await;
    let port = free_port();
    let ingest = spawn(
        "ingest",
        with_user(&owner_url, &admin.0),
        &[
            ("STRIPE_WEBHOOK_SECRET", TEST_SECRET.to_owned()),
            ("TETHER_LISTEN", format!("127.0.0.1:{port}")),
            ("TETHER_ADMIN_TOKEN", "admin-token".to_owned()),
        ],
    );
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = wait_until_ready(&http, port).await;
    for path in ["/admin/status", "/admin/dlq"] {
        let reply = http
            .get(format!("{base}{path}"))
            .bearer_auth("admin-token")
            .send()
            .await
            .unwrap();
        assert_eq!(
            reply.status(),
            200,
            "{path}: {}",
            reply.text().await.unwrap()
        );
    }
    let reply = http
        .post(format!("{base}/admin/prune"))
        .bearer_auth("admin-token")
        .json(&json!({"older_than": "30d", "dry_run": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let (code, stderr) = stop(ingest).await;
    assert!(!stderr.contains("permission denied"), "{stderr}");
    assert_eq!(code, Some(0), "{stderr}");
}

/// A worker holding `tether_worker` and `tether_signups`, with a Stripe
/// key, turns a queued sign-up into one Stripe customer and links it.
#[tokio::test]
async fn the_signups_role_turns_a_signup_into_a_customer() {
    let database = TestDatabase::create().await;
    install(&database, "public");
    let owner = database.connect().await;
    let worker_role = TestRole::create(&owner, "tether_worker, tether_signups").await;
    let fake = FakeStripe::start(0, 0, 0);

    let user = uuid::Uuid::new_v4();
    let mut tx = owner.begin().await.unwrap();
    let signup: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO supabase_signups (kind, row_id, source, email)
         VALUES ('user', $1, 'auth.users', 'ada@example.com') RETURNING id",
    )
    .bind(user.to_string())
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    tether_queue::signups::push(&mut tx, &signup.to_string())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let worker = spawn(
        "worker",
        url_as(&database, &worker_role.0),
        &[
            ("TETHER_POLL_MS", "100".to_owned()),
            ("STRIPE_SECRET_KEY", KEY.to_owned()),
            ("STRIPE_API_BASE", fake.base.clone()),
        ],
    );
    let linked = "SELECT count(*) FROM supabase_signups WHERE stripe_customer_id IS NOT NULL";
    let mut done = false;
    for _ in 0..300 {
        if scalar(&owner, linked).await == 1 {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, stderr) = stop(worker).await;
    assert!(done, "the sign-up was not linked:\n{stderr}");
    assert!(!stderr.contains("permission denied"), "{stderr}");
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(fake.created().await, 1);
    let email: Option<String> = sqlx::query_scalar(
        "SELECT c.email FROM users u JOIN end_customers c ON c.id = u.customer_id WHERE u.id = $1",
    )
    .bind(user)
    .fetch_one(&owner)
    .await
    .unwrap();
    assert_eq!(email.as_deref(), Some("ada@example.com"));
}
