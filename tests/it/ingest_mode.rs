//! `tether ingest` takes its mode as the README says: TETHER_MODE, else the
//! prefix of STRIPE_SECRET_KEY; a key that contradicts TETHER_MODE stops it
//! at start. Real processes, since the mode is decided from the
//! environment before the server is built.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::json;
use tether_stripe::signature;

use crate::{
    helpers::{TEST_SECRET, TestDatabase, stored_event_ids, unix_now},
    worker_support::{KillOnDrop, eventually},
};

/// A `tether ingest` with `env`, on a free loopback port, against `db`.
fn spawn_ingest(db: &TestDatabase, env: &[(&str, &str)]) -> (KillOnDrop, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tether"));
    command
        .arg("ingest")
        .env("DATABASE_URL", db.url())
        .env("STRIPE_WEBHOOK_SECRET", TEST_SECRET)
        .env("TETHER_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("TETHER_MODE")
        .env_remove("STRIPE_SECRET_KEY")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    command.envs(env.iter().copied());
    let child = command.spawn().expect("the tether binary starts");
    (KillOnDrop(child), format!("http://127.0.0.1:{port}"))
}

async fn post_event(base: &str, event: &serde_json::Value) -> u16 {
    let body = event.to_string();
    let header = signature::sign(TEST_SECRET, unix_now(), body.as_bytes());
    reqwest::Client::new()
        .post(format!("{base}/webhooks/stripe"))
        .header("stripe-signature", header)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn customer_created(id: &str, livemode: bool) -> serde_json::Value {
    json!({
        "id": id, "object": "event", "type": "customer.created", "created": unix_now(),
        "livemode": livemode, "api_version": "2024-06-20",
        "data": { "object": { "id": "cus_mode", "object": "customer", "livemode": livemode } }
    })
}

#[tokio::test]
async fn a_test_key_makes_ingest_refuse_live_events() {
    let db = TestDatabase::create().await;
    let pool = db.connect().await;
    tether_shared::db::migrate(&pool, tether_shared::db::Sessions::Kept)
        .await
        .unwrap();
    let (_ingest, base) = spawn_ingest(&db, &[("STRIPE_SECRET_KEY", "sk_test_mode_key")]);
    let client = reqwest::Client::new();
    eventually(Duration::from_secs(20), "ingest answers", || async {
        client.get(format!("{base}/healthz")).send().await.is_ok()
    })
    .await;

    assert_eq!(
        post_event(&base, &customer_created("evt_live_1", true)).await,
        400
    );
    assert_eq!(
        post_event(&base, &customer_created("evt_test_1", false)).await,
        200
    );
    assert_eq!(stored_event_ids(&pool).await, ["evt_test_1"]);
    pool.close().await;
}

#[test]
fn a_key_that_contradicts_tether_mode_stops_ingest_at_start() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tether"))
        .arg("ingest")
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/unused")
        .env("STRIPE_WEBHOOK_SECRET", TEST_SECRET)
        .env("TETHER_LISTEN", "127.0.0.1:0")
        .env("TETHER_MODE", "live")
        .env("STRIPE_SECRET_KEY", "sk_test_mode_key_never_shown")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tether runs");
    // An ingest that does not stop would serve forever: wait a bounded time.
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("ingest kept running with a test key and TETHER_MODE=live");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("STRIPE_SECRET_KEY is a test key, but TETHER_MODE=live"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("never_shown"),
        "the key is not echoed: {stderr}"
    );
}
