//! The generic store, `stripe_objects`: objects of the families without a
//! typed table keep their newest JSON, their account and their tombstone,
//! the same in every delivery order; types housed nowhere stay `ignored`.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    helpers::{TestApp, new_event_id},
    supabase::{as_role, run_optional_sql, supabase_shape},
    worker_support::{apply, in_three_orders, log_statuses},
};

/// A webhook envelope around `object`, from the connected account `account`.
fn event(event_type: &str, created: i64, account: Option<&str>, object: Value) -> Value {
    json!({
        "id": new_event_id(),
        "object": "event",
        "api_version": "2026-07-29.dahlia",
        "created": created,
        "type": event_type,
        "livemode": false,
        "account": account,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "data": {"object": object},
    })
}

fn issuing_card(status: &str) -> Value {
    json!({"id": "ic_1", "object": "issuing.card", "status": status, "last4": "4242",
           "created": 1_700_000_000, "livemode": false})
}

async fn rows(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT row(stripe_id, object_type, account, stripe_customer_id, livemode,
                   extract(epoch FROM stripe_created)::int8, deleted_at IS NOT NULL,
                   data ->> 'status', last_event_id IS NOT NULL)::text
         FROM stripe_objects ORDER BY stripe_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_object_keeps_its_newest_json_in_every_order() {
    let app = TestApp::spawn().await;
    let events = [
        event(
            "issuing_card.created",
            100,
            Some("acct_1"),
            issuing_card("inactive"),
        ),
        event(
            "issuing_card.updated",
            101,
            Some("acct_1"),
            issuing_card("active"),
        ),
        event(
            "issuing_card.updated",
            102,
            Some("acct_1"),
            issuing_card("canceled"),
        ),
    ];
    let [ordered, reversed, shuffled] = in_three_orders(&app, &events, 7, rows).await;
    let expected = ["(ic_1,issuing.card,acct_1,,f,1700000000,f,canceled,t)"];
    assert_eq!(ordered, expected);
    assert_eq!(reversed, expected);
    assert_eq!(shuffled, expected);
    let data: Value = sqlx::query_scalar("SELECT data FROM stripe_objects")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(data["last4"], "4242", "the whole object is kept");
}

#[tokio::test]
async fn a_deletion_is_final_and_keeps_the_newest_details() {
    let app = TestApp::spawn().await;
    let person = |first_name: &str| {
        json!({"id": "person_1", "object": "person", "account": "acct_1",
               "first_name": first_name, "customer": null, "created": 1_700_000_000})
    };
    let events = [
        event("person.created", 100, Some("acct_1"), person("Jenny")),
        event("person.updated", 101, Some("acct_1"), person("Jen")),
        event(
            "person.deleted",
            102,
            Some("acct_1"),
            json!({"id": "person_1", "object": "person", "deleted": true}),
        ),
        // Stripe may still send an update created after the deletion.
        event("person.updated", 103, Some("acct_1"), person("Jo")),
    ];
    let read = async |pool: &PgPool| -> Vec<String> {
        sqlx::query_scalar(
            "SELECT row(stripe_id, deleted_at IS NOT NULL, data ->> 'first_name')::text
             FROM stripe_objects",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    };
    let [ordered, reversed, shuffled] = in_three_orders(&app, &events, 11, read).await;
    let expected = ["(person_1,t,Jo)"];
    assert_eq!(ordered, expected);
    assert_eq!(reversed, expected);
    assert_eq!(shuffled, expected);
}

#[tokio::test]
async fn an_object_without_an_id_is_kept_under_its_type() {
    let app = TestApp::spawn().await;
    let balance = |amount: i64| json!({"object": "balance", "available": [{"amount": amount}]});
    apply(&app, &event("balance.available", 100, None, balance(5))).await;
    apply(&app, &event("balance.available", 101, None, balance(9))).await;
    let row: (String, Value) = sqlx::query_as(
        "SELECT stripe_id, data -> 'available' -> 0 -> 'amount' FROM stripe_objects",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(row, ("balance".to_owned(), json!(9)));
}

#[tokio::test]
async fn a_type_housed_nowhere_is_stored_and_ignored() {
    let app = TestApp::spawn().await;
    let clock = event(
        "test_helpers.test_clock.ready",
        100,
        None,
        json!({"id": "clock_1", "object": "test_helpers.test_clock", "status": "ready"}),
    );
    apply(&app, &clock).await;
    assert_eq!(
        log_statuses(&app.pool, clock["id"].as_str().unwrap()).await,
        ["ignored"]
    );
    assert_eq!(rows(&app.pool).await, Vec::<String>::new());
}

#[tokio::test]
async fn the_generic_store_is_private_and_each_user_reads_their_customers_objects() {
    let app = TestApp::spawn().await;
    supabase_shape(&app.pool, "public").await;
    for (customer, session) in [("cus_alice", "vs_alice"), ("cus_bob", "vs_bob")] {
        let mut created = crate::worker_support::fixture("customer.created");
        created["data"]["object"]["id"] = json!(customer);
        apply(&app, &created).await;
        let verification = json!({"id": session, "object": "identity.verification_session",
                                  "status": "verified", "customer": customer});
        apply(
            &app,
            &event(
                "identity.verification_session.verified",
                100,
                None,
                verification,
            ),
        )
        .await;
    }
    let alice = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO users (id, customer_id) SELECT $1, id FROM end_customers WHERE stripe_customer_id = 'cus_alice'",
    )
    .bind(alice)
    .execute(&app.pool)
    .await
    .unwrap();
    let select = "SELECT stripe_id FROM stripe_objects ORDER BY 1";
    let alice = alice.to_string();
    assert_eq!(
        as_role(&app.pool, "anon", None, select).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        as_role(&app.pool, "authenticated", Some(&alice), select)
            .await
            .unwrap(),
        Vec::<String>::new(),
        "private until the read-own-rows policies are installed"
    );
    run_optional_sql(&app, "read_own_rows", &["schema=public"]);
    assert_eq!(
        as_role(&app.pool, "anon", None, select).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        as_role(&app.pool, "authenticated", Some(&alice), select)
            .await
            .unwrap(),
        ["vs_alice"]
    );
}
