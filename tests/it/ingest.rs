//! The receiver end to end: signed HTTP requests in, rows and queue jobs in
//! PostgreSQL out. The contract under test: a 2xx only for an event that is
//! committed together with exactly one job naming it; anything else stores
//! nothing.

use std::time::Duration;

use futures::future::join_all;
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;
use tether_queue::JobPayload;
use tether_stripe::{secret::parse_webhook_secrets, signature::sign};

use crate::helpers::{
    Reply, SAMPLE_EVENTS, TestApp, assert_nothing_stored, assert_refused, fresh_event,
    jobs_per_event, new_event_id, queued_batches, sample_event, stored_event_ids, unix_now,
};

fn accepted() -> Reply {
    (200, json!({ "received": true, "duplicate": false }))
}

fn duplicate() -> Reply {
    (200, json!({ "received": true, "duplicate": true }))
}

/// A new delivery of the `event_type` sample, created at `created`.
fn new_event(event_type: &str, created: i64) -> Value {
    fresh_event(event_type, &new_event_id(), created).expect("a sample event type")
}

fn id_of(event: &Value) -> String {
    event["id"].as_str().expect("an event has an id").to_owned()
}

#[tokio::test]
async fn every_sample_event_type_is_stored_with_exactly_one_job() {
    let app = TestApp::spawn().await;
    let now = unix_now();
    // Distinct `created` values, so a mix-up between rows would show.
    let events: Vec<Value> = SAMPLE_EVENTS
        .iter()
        .zip(0..)
        .map(|((event_type, _), age)| new_event(event_type, now - age))
        .collect();

    // All at once, so the committers get to batch several events per job.
    let replies = join_all(events.iter().map(|event| app.post_event(event))).await;

    for (event, reply) in events.iter().zip(&replies) {
        assert_eq!(*reply, accepted(), "{}", event["type"]);
        let (event_type, api_version, created_matches, object_id, payload): (
            String,
            Option<String>,
            bool,
            Option<String>,
            Value,
        ) = sqlx::query_as(
            "SELECT type, api_version, created = to_timestamp($2),
                    payload->'data'->'object'->>'id', payload
             FROM stripe_events WHERE id = $1",
        )
        .bind(id_of(event))
        .bind(event["created"].as_i64())
        .fetch_one(&app.pool)
        .await
        .unwrap_or_else(|e| panic!("{} was acknowledged but is not stored: {e}", event["type"]));
        assert_eq!(event_type, event["type"].as_str().unwrap());
        assert_eq!(api_version.as_deref(), event["api_version"].as_str());
        assert!(
            created_matches,
            "{}: created is not to_timestamp(created)",
            event["type"]
        );
        assert_eq!(object_id.as_deref(), event["data"]["object"]["id"].as_str());
        assert_eq!(payload, *event, "the payload is the body as sent");
    }

    let mut stored = stored_event_ids(&app.pool).await;
    let mut sent: Vec<String> = events.iter().map(id_of).collect();
    stored.sort();
    sent.sort();
    assert_eq!(stored, sent);
    let jobs = jobs_per_event(&app.pool).await;
    for id in &sent {
        assert_eq!(
            jobs.get(id),
            Some(&1),
            "{id} should be named by exactly one job"
        );
    }
    assert_eq!(
        jobs.len(),
        sent.len(),
        "jobs name only events that were sent: {jobs:?}"
    );
    let batches = queued_batches(&app.pool).await;
    assert!(
        batches.iter().all(|b| !b.events.is_empty()),
        "no empty job: {batches:?}"
    );
}

#[tokio::test]
async fn a_redelivered_event_is_a_duplicate_and_stored_once() {
    let app = TestApp::spawn().await;
    // Stripe's fixture byte for byte, as a retry would bring it again.
    let body = sample_event("customer.created").unwrap().as_bytes();
    let id = "evt_1PgcvGpWP4vWeUmAuvnGwuI9";

    assert_eq!(app.post_signed(body).await, accepted());
    assert_eq!(app.post_signed(body).await, duplicate());

    assert_eq!(stored_event_ids(&app.pool).await, vec![id]);
    let batches = queued_batches(&app.pool).await;
    assert_eq!(batches.len(), 1, "a duplicate queues no job: {batches:?}");
    assert_eq!(batches[0].events, vec![id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_deliveries_of_one_event_store_it_once() {
    let app = TestApp::spawn().await;
    let event = new_event("payment_intent.succeeded", unix_now());
    let body = serde_json::to_vec(&event).unwrap();

    let replies = join_all((0..50).map(|_| app.post_signed(&body))).await;

    for reply in &replies {
        assert!(
            *reply == accepted() || *reply == duplicate(),
            "unexpected answer {reply:?}"
        );
    }
    let firsts = replies.iter().filter(|reply| **reply == accepted()).count();
    assert_eq!(firsts, 1, "exactly one delivery is the first: {replies:?}");
    assert_eq!(stored_event_ids(&app.pool).await, vec![id_of(&event)]);
    let batches = queued_batches(&app.pool).await;
    assert_eq!(
        batches,
        vec![JobPayload {
            events: vec![id_of(&event)],
            ..JobPayload::default()
        }],
        "one job, naming it once"
    );
}

#[tokio::test]
async fn requests_failing_signature_checks_are_refused_and_store_nothing() {
    let app = TestApp::spawn().await;
    let event = new_event("customer.updated", unix_now());
    let body = serde_json::to_vec(&event).unwrap();
    let mut tampered = event.clone();
    tampered["data"]["object"]["email"] = json!("attacker@example.com");
    let tampered = serde_json::to_vec(&tampered).unwrap();
    let now = unix_now();

    let cases: [(&str, &[u8], Option<String>, &str); 4] = [
        (
            "body changed after signing",
            &tampered,
            Some(sign(&app.secret, now, &body)),
            "no signature matches",
        ),
        (
            "signed 301 s ago",
            &body,
            Some(sign(&app.secret, now - 301, &body)),
            "tolerance",
        ),
        (
            "signed 400 s ahead",
            &body,
            Some(sign(&app.secret, now + 400, &body)),
            "tolerance",
        ),
        (
            "no Stripe-Signature header",
            &body,
            None,
            "missing Stripe-Signature",
        ),
    ];
    for (case, body, header, mentions) in cases {
        let reply = app.post_raw(body, header.as_deref()).await;
        assert_refused(&reply, 400, mentions);
        eprintln!("ok: {case}");
    }

    assert_nothing_stored(&app.pool).await;
}

#[tokio::test]
async fn during_a_secret_rotation_either_secret_is_accepted() {
    let app = TestApp::spawn_with(|config| {
        config.webhook_secrets = Some(parse_webhook_secrets("whsec_old,whsec_new").unwrap());
    })
    .await;
    let mut accepted_ids = Vec::new();

    for secret in ["whsec_old", "whsec_new"] {
        let event = new_event("customer.subscription.updated", unix_now());
        let body = serde_json::to_vec(&event).unwrap();
        let reply = app
            .post_raw(&body, Some(&sign(secret, unix_now(), &body)))
            .await;
        assert_eq!(reply, accepted(), "signed with {secret}");
        accepted_ids.push(id_of(&event));
    }
    let stranger = new_event("customer.subscription.updated", unix_now());
    let body = serde_json::to_vec(&stranger).unwrap();
    let reply = app
        .post_raw(&body, Some(&sign("whsec_other", unix_now(), &body)))
        .await;
    assert_refused(&reply, 400, "no signature matches");

    accepted_ids.sort();
    assert_eq!(stored_event_ids(&app.pool).await, accepted_ids);
}

#[tokio::test]
async fn bodies_that_are_not_events_are_refused_and_the_server_carries_on() {
    let app = TestApp::spawn().await;
    let mut empty_object_id = new_event("invoice.paid", unix_now());
    empty_object_id["data"]["object"]["id"] = json!("");
    let mut oversized = new_event("invoice.paid", unix_now());
    oversized["padding"] = json!("x".repeat(2 * 1024 * 1024));

    let cases: [(&str, Vec<u8>, u16, &str); 5] = [
        (
            "malformed JSON",
            b"{\"id\": \"evt_1\",".to_vec(),
            400,
            "not valid JSON",
        ),
        (
            "JSON but not an event",
            br#"{"hello":1}"#.to_vec(),
            400,
            "not a Stripe event",
        ),
        (
            "an empty data.object.id",
            serde_json::to_vec(&empty_object_id).unwrap(),
            400,
            "empty id",
        ),
        ("empty body", Vec::new(), 400, "not valid JSON"),
        (
            "2 MiB body",
            serde_json::to_vec(&oversized).unwrap(),
            413,
            "larger than",
        ),
    ];
    for (case, body, status, mentions) in cases {
        // Correctly signed, so it is the body itself that is refused.
        let reply = app.post_signed(&body).await;
        assert_refused(&reply, status, mentions);
        eprintln!("ok: {case}");
    }
    assert_nothing_stored(&app.pool).await;

    let event = new_event("invoice.paid", unix_now());
    assert_eq!(app.post_event(&event).await, accepted());
    assert_eq!(stored_event_ids(&app.pool).await, vec![id_of(&event)]);
}

#[tokio::test]
async fn with_the_database_unreachable_events_get_503_and_readyz_fails() {
    let unreachable = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(1))
        .connect_lazy("postgres://postgres@127.0.0.1:1/x")
        .unwrap();
    let app = TestApp::spawn_with_server_pool(unreachable).await;

    let reply = app
        .post_event(&new_event("customer.created", unix_now()))
        .await;
    assert_refused(&reply, 503, "could not store");
    assert_refused(&app.get("/readyz").await, 503, "database unavailable");
    assert_eq!(app.get("/healthz").await, (200, json!({ "status": "ok" })));
}

#[tokio::test]
async fn losing_the_database_mid_life_never_acknowledges_an_unstored_event() {
    let app = TestApp::spawn().await;
    let before = new_event("charge.refunded", unix_now());
    let after = new_event("charge.refunded", unix_now());
    let mut acknowledged = Vec::new();

    let reply = app.post_event(&before).await;
    assert_eq!(reply, accepted());
    acknowledged.push(id_of(&before));

    app.pool.close().await;
    let reply = app.post_event(&after).await;
    if reply.0 == 200 {
        acknowledged.push(id_of(&after));
    }

    // The server's pool is closed; look through a pool of our own.
    let inspector = app.connect().await;
    let stored = stored_event_ids(&inspector).await;
    for id in &acknowledged {
        assert!(
            stored.contains(id),
            "{id} was answered 200 but is not stored"
        );
    }
    assert_refused(&reply, 503, "could not store");
    assert_eq!(
        stored,
        vec![id_of(&before)],
        "only the event stored before the loss"
    );
    let jobs = jobs_per_event(&inspector).await;
    assert_eq!(jobs.get(&id_of(&before)), Some(&1));
    assert_eq!(jobs.get(&id_of(&after)), None);
}

#[tokio::test]
async fn readyz_is_200_while_the_database_is_up() {
    let app = TestApp::spawn().await;

    assert_eq!(
        app.get("/readyz").await,
        (200, json!({ "status": "ready" }))
    );
}

#[tokio::test]
async fn every_error_has_the_json_error_shape_even_the_frameworks_own() {
    use reqwest::Method;
    let app = TestApp::spawn().await;
    let cases = [
        (Method::GET, "/webhooks/stripe", 405),
        (Method::PUT, "/webhooks/stripe", 405),
        (Method::DELETE, "/healthz", 405),
        (Method::GET, "/no/such/route", 404),
    ];
    for (method, path, status) in cases {
        let (code, body) = app.send(method.clone(), path).await;
        assert_eq!(code, status, "{method} {path}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(!error.is_empty(), "{method} {path}: {body}");
    }
}

/// A signed event as Stripe's fields in order, but a JSON array: refused.
#[tokio::test]
async fn an_array_body_is_not_an_event() {
    let app = TestApp::spawn().await;
    let body =
        br#"["evt_x","customer.created",1721960000,null,false,null,{"object":{"id":"cus_x"}}]"#;
    let reply = app.post_signed(body).await;
    assert_refused(&reply, 400, "JSON object");
    assert_nothing_stored(&app.pool).await;
}

/// A body nested 20,000 levels deep, sent among good events: only it is
/// refused, and every good event sent alongside is stored.
#[tokio::test]
async fn a_deeply_nested_body_fails_only_itself() {
    let app = TestApp::spawn().await;
    let mut poison = new_event("customer.created", unix_now());
    poison["data"]["object"]["nested"] = json!("@@DEEP@@");
    let deep = format!("{}1{}", "[".repeat(20_000), "]".repeat(20_000));
    let poison = serde_json::to_string(&poison)
        .unwrap()
        .replace("\"@@DEEP@@\"", &deep);
    let good: Vec<Value> = (0..200)
        .map(|_| new_event("customer.updated", unix_now()))
        .collect();
    let good_replies = join_all(good.iter().map(|e| app.post_event(e)));
    let (poison_reply, good_replies) =
        tokio::join!(app.post_signed(poison.as_bytes()), good_replies);
    assert_refused(&poison_reply, 400, "nested");
    assert!(
        good_replies.iter().all(|r| *r == accepted()),
        "{good_replies:?}"
    );
    assert_eq!(stored_event_ids(&app.pool).await.len(), 200);
}

/// An event "created" after it was signed cannot be real, and one from the
/// far future would win every ordering comparison for its object.
#[tokio::test]
async fn an_event_created_after_its_signature_is_refused() {
    let app = TestApp::spawn().await;
    let future = new_event("customer.updated", unix_now() + 3_600);
    assert_refused(&app.post_event(&future).await, 400, "later than");
    assert_nothing_stored(&app.pool).await;
    let now = new_event("customer.updated", unix_now());
    assert_eq!(app.post_event(&now).await, accepted());
}

/// `tether rejected --json`, against the test database.
fn rejected(app: &TestApp) -> Vec<Value> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tether"))
        .args(["rejected", "--json"])
        .env("DATABASE_URL", crate::worker_support::database_url(app))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The body is stored byte for byte: formatting, key order and escapes as
/// Stripe sent them, so it can be compared with, or re-verified against,
/// what was signed.
#[tokio::test]
async fn the_stored_body_is_the_delivery_byte_for_byte() {
    let app = TestApp::spawn().await;
    let event = new_event("customer.created", unix_now());
    let compact = serde_json::to_string(&event).unwrap();
    // An extra key first, unusual spacing, and an escaped "é".
    let body = format!("{{ \"note\" :\"caf\\u00e9\",\n  {}", &compact[1..]);
    assert_eq!(app.post_signed(body.as_bytes()).await.0, 200);
    let stored: String = sqlx::query_scalar("SELECT body FROM stripe_events WHERE id = $1")
        .bind(id_of(&event))
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, body);
}

/// Valid JSON that PostgreSQL's jsonb refuses (a lone surrogate escape; a
/// `\u0000` is the same): signed, so from Stripe, and stored as sent. It is
/// applied like any event; only the `payload` cast of `stripe_events` reads
/// it as null.
#[tokio::test]
async fn a_body_that_jsonb_refuses_is_stored_and_applied() {
    let app = TestApp::spawn().await;
    let mut event = new_event("customer.created", unix_now());
    event["data"]["object"]["description"] = json!("@@SURROGATE@@");
    let body = serde_json::to_string(&event)
        .unwrap()
        .replace("\"@@SURROGATE@@\"", r#""\ud800 and \u0000""#);
    assert_eq!(app.post_signed(body.as_bytes()).await.0, 200);
    crate::worker_support::drain(&app.pool).await;
    let stored: (String, Option<Value>, bool) = sqlx::query_as(
        "SELECT body, payload, processed_at IS NOT NULL FROM stripe_events WHERE id = $1",
    )
    .bind(id_of(&event))
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(stored, (body.clone(), None, true));
    let customer = event["data"]["object"]["id"].as_str().unwrap();
    let email: Option<String> =
        sqlx::query_scalar("SELECT email FROM end_customers WHERE stripe_customer_id = $1")
            .bind(customer)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(email.as_deref(), event["data"]["object"]["email"].as_str());
    assert!(rejected(&app).is_empty(), "nothing refused");

    // The same id again with other content that jsonb refuses too: the two
    // cannot be compared as JSON, so the differing bytes make it a mismatch.
    let other = body.replace(r#"\ud800 and"#, r#"\ud800 or"#);
    assert_eq!(app.post_signed(other.as_bytes()).await, duplicate());
    let listed = rejected(&app);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0]["reason"].as_str().unwrap().contains("differs"));
}

/// The same event id with another body: still a duplicate to Stripe, and
/// kept as a mismatch. The same body again is just a duplicate.
#[tokio::test]
async fn a_redelivery_with_a_different_body_is_recorded_as_a_mismatch() {
    let app = TestApp::spawn().await;
    let event = new_event("customer.updated", unix_now());
    let mut altered = event.clone();
    altered["data"]["object"]["email"] = json!("someone.else@example.com");
    assert_eq!(app.post_event(&event).await, accepted());
    assert_eq!(app.post_event(&event).await, duplicate());
    assert!(
        rejected(&app).is_empty(),
        "an identical redelivery is no mismatch"
    );
    assert_eq!(app.post_event(&altered).await, duplicate());
    let listed = rejected(&app);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["event_id"], json!(id_of(&event)));
    assert!(listed[0]["reason"].as_str().unwrap().contains("differs"));
}

/// A development receiver (`tether up` with its own secret) answers only
/// requests addressed to a loopback name: DNS rebinding cannot reach it.
#[tokio::test]
async fn a_development_receiver_refuses_other_host_names() {
    let app = TestApp::spawn_with(|c| {
        c.allowed_hosts = Some(vec!["127.0.0.1".into(), "localhost".into()]);
    })
    .await;
    let event = new_event("customer.created", unix_now());
    assert_eq!(
        app.post_event(&event).await,
        accepted(),
        "addressed to 127.0.0.1"
    );
    let rebinding = reqwest::Client::new()
        .get(format!("http://{}/healthz", app.addr))
        .header("host", "attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(rebinding.status().as_u16(), 403);
}

/// A test-mode deployment refuses live events (and the other way round):
/// staging and production never mix.
#[tokio::test]
async fn an_event_of_the_other_mode_is_refused_and_not_stored() {
    let app = TestApp::spawn_with(|c| c.mode = Some(tether_shared::config::Mode::Test)).await;
    let mut live = new_event("customer.created", unix_now());
    live["livemode"] = json!(true);
    assert_refused(&app.post_event(&live).await, 400, "test mode");
    assert_nothing_stored(&app.pool).await;
    let test = new_event("customer.created", unix_now());
    assert_eq!(app.post_event(&test).await, accepted());
}
