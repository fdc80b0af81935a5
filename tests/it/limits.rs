//! The receiver on the open internet: slow, idle, oversized and too many
//! connections cost it bounded time and memory, and real deliveries keep
//! being answered.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::{
    helpers::{TestApp, fresh_event, new_event_id, unix_now},
    worker_support::{KillOnDrop, database_url},
};

/// True when the server closed the connection (a read ends), within `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => continue,
            }
        }
    };
    tokio::time::timeout(limit, read).await.unwrap_or(false)
}

#[tokio::test]
async fn idle_and_slow_connections_are_closed_while_deliveries_succeed() {
    let app = TestApp::spawn_with(|c| c.limits.header_timeout_ms = 500).await;
    let mut idle = Vec::new();
    let mut slow = Vec::new();
    for _ in 0..50 {
        idle.push(TcpStream::connect(app.addr).await.unwrap());
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        s.write_all(b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(s);
    }
    let event = fresh_event("customer.created", &new_event_id(), unix_now()).unwrap();
    assert_eq!(app.post_event(&event).await.0, 200, "a delivery meanwhile");
    for stream in idle.iter_mut().chain(slow.iter_mut()) {
        assert!(
            closed_within(stream, Duration::from_secs(5)).await,
            "left open"
        );
    }
}

#[tokio::test]
async fn a_connection_over_the_limit_is_answered_503_and_closed() {
    let app = TestApp::spawn_with(|c| c.limits.max_connections = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(app.addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(app.addr).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), extra.read_to_string(&mut answer))
        .await
        .expect("answered at once")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.ends_with(r#"{"error":"too many connections"}"#),
        "{answer}"
    );
    drop(held);
}

/// The first bytes of the answer to a request whose body was not sent.
async fn answer_without_the_body(stream: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("answered without the body")
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn an_oversized_content_length_is_refused_before_the_body_is_sent() {
    let app = TestApp::spawn().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    let header = format!(
        "POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
         stripe-signature: t={},v1=00\r\ncontent-length: 50000000\r\n\r\n",
        unix_now()
    );
    stream.write_all(header.as_bytes()).await.unwrap();
    let answer = answer_without_the_body(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test]
async fn a_request_without_a_signature_header_is_refused_before_its_body() {
    let app = TestApp::spawn().await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\ncontent-length: 1000000\r\n\r\n{")
        .await
        .unwrap();
    let answer = answer_without_the_body(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("missing Stripe-Signature"), "{answer}");
}

/// Peak resident memory of a process, in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

/// 200 connections that each announce 1 MiB, with a plausible signature
/// header, and stop one byte short: ingest holds at most its buffer budget.
#[tokio::test]
async fn half_sent_bodies_keep_ingest_under_64_mib() {
    let app = TestApp::spawn().await;
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let ingest = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_tether"))
            .arg("ingest")
            .env("DATABASE_URL", database_url(&app))
            .env("STRIPE_WEBHOOK_SECRET", &app.secret)
            .env("TETHER_LISTEN", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr = format!("127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        if TcpStream::connect(&addr).await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "ingest listens");
    let body = vec![b' '; 1024 * 1024 - 1];
    let mut held = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        let header = format!(
            "POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nstripe-signature: t={},v1=00\r\n\
             content-length: {}\r\n\r\n",
            unix_now(),
            1024 * 1024
        );
        s.write_all(header.as_bytes()).await.unwrap();
        // Some are answered 503 (over the budget) before the body is in.
        let _ = s.write_all(&body).await;
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let peak = peak_rss_mib(ingest.0.id());
    eprintln!("ingest peak RSS: {peak:.1} MiB");
    assert!(peak < 64.0, "ingest peaked at {peak:.1} MiB");
    drop(held);
    // The server notices the closed connections, gives back their budget,
    // and answers deliveries again (meanwhile it may shed with 503, which
    // Stripe retries).
    let event = fresh_event("customer.created", &new_event_id(), unix_now()).unwrap();
    let body = serde_json::to_vec(&json!(event)).unwrap();
    let mut statuses = Vec::new();
    for _ in 0..50 {
        let reply = reqwest::Client::new()
            .post(format!("http://{addr}/webhooks/stripe"))
            .header(
                "stripe-signature",
                tether_stripe::signature::sign(&app.secret, unix_now(), &body),
            )
            .body(body.clone())
            .send()
            .await
            .unwrap();
        statuses.push(reply.status().as_u16());
        if reply.status().is_success() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(statuses.last(), Some(&200), "answered again: {statuses:?}");
    assert!(
        statuses.iter().all(|s| [200, 503].contains(s)),
        "{statuses:?}"
    );
}

/// 40 signed events of about 900 kB each (a customer with a long list in a
/// field tether does not read): a worker applies them all and stays small.
#[tokio::test]
async fn forty_large_events_keep_a_worker_under_64_mib() {
    use crate::worker_support::{eventually, fixture_at, post_ok, spawn_worker, unprocessed};
    let app = TestApp::spawn().await;
    let padding: Vec<serde_json::Value> = (0..16_000)
        .map(|n| json!({ "id": format!("li_{n:08}"), "amount": n, "currency": "usd" }))
        .collect();
    for i in 0..40 {
        let mut event = fixture_at("customer.updated", 1_780_000_000 + i);
        event["data"]["object"]["padding"] = json!(padding);
        post_ok(&app, &event).await;
    }
    let worker = spawn_worker(&app, &[]);
    eventually(
        Duration::from_secs(120),
        "every large event applied",
        || async { unprocessed(&app.pool).await == 0 },
    )
    .await;
    let peak = peak_rss_mib(worker.0.id());
    eprintln!("worker peak RSS: {peak:.1} MiB");
    assert!(peak < 64.0, "the worker peaked at {peak:.1} MiB");
}
