//! The worker applies events to the synced tables: right values, any order,
//! once in effect.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    helpers::{SAMPLE_EVENTS, TestApp},
    worker_support::*,
};

const CUSTOMER: &str = "cus_QXg1o8vcGmoR32";
const PAYMENT: &str = "pi_1PgafyB7WZ01zgkWSjxsAJo3";
const SUBSCRIPTION: &str = "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw";

type CustomerRow = (
    Option<String>,
    Option<String>,
    Option<String>,
    Value,
    bool,
    bool,
);

async fn customer_row(pool: &PgPool, id: &str) -> Option<CustomerRow> {
    sqlx::query_as(
        "SELECT email, name, phone, metadata, deleted_at IS NOT NULL, is_placeholder
         FROM end_customers WHERE stripe_customer_id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .unwrap()
}

type PaymentRow = (Option<i64>, Option<String>, Option<String>, Option<String>);

/// amount, currency, status, and the Stripe id of the linked customer.
async fn payment_row(pool: &PgPool, id: &str) -> Option<PaymentRow> {
    sqlx::query_as(
        "SELECT p.amount, p.currency, p.status, c.stripe_customer_id
         FROM payments p LEFT JOIN end_customers c ON c.id = p.customer_id
         WHERE p.stripe_payment_intent_id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .unwrap()
}

type SubscriptionRow = (
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<bool>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// status, price, quantity, cancel_at_period_end, period start/end (unix), customer.
async fn subscription_row(pool: &PgPool, id: &str) -> Option<SubscriptionRow> {
    sqlx::query_as(
        "SELECT s.status, s.price_id, s.quantity, s.cancel_at_period_end,
                extract(epoch FROM s.current_period_start)::int8, extract(epoch FROM s.current_period_end)::int8,
                c.stripe_customer_id
         FROM subscriptions s LEFT JOIN end_customers c ON c.id = s.customer_id
         WHERE s.stripe_subscription_id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .unwrap()
}

/// One row's text columns, for the kinds asserted in full elsewhere.
async fn text_row(pool: &PgPool, sql: &'static str) -> Vec<String> {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

fn metadata(plan: bool) -> Value {
    let mut m = json!({ "supabase_user_id": "8d0f1c2e-5b7a-4c1e-9f3a-2b6d7e8f9a01" });
    if plan {
        m["plan"] = json!("pro");
    }
    m
}

#[tokio::test]
async fn each_sample_event_alone_produces_its_row() {
    let app = TestApp::spawn().await;
    let jenny = |email: &str, name: &str, deleted, plan| {
        Some((
            Some(email.into()),
            Some(name.into()),
            Some("+15555550100".into()),
            metadata(plan),
            deleted,
            false,
        ))
    };
    let sub = |status: &str| {
        Some((
            Some(status.into()),
            Some("price_1PgafmB7WZ01zgkW6dKueIc5".into()),
            Some(1),
            Some(true),
            Some(1896570518),
            Some(976287773),
            Some(CUSTOMER.into()),
        ))
    };
    for (event_type, _) in SAMPLE_EVENTS {
        reset(&app.pool).await;
        let event = fixture(event_type);
        post_ok(&app, &event).await;
        assert_eq!(drain(&app.pool).await, 1, "{event_type}: one job");
        let pool = &app.pool;
        let id = event["id"].as_str().unwrap();
        match *event_type {
            "customer.created" => assert_eq!(
                customer_row(pool, CUSTOMER).await,
                jenny("jenny.rosen@example.com", "Jenny Rosen", false, false)
            ),
            "customer.updated" => assert_eq!(
                customer_row(pool, CUSTOMER).await,
                jenny("jenny@example.org", "Jenny R. Rosen", false, true)
            ),
            "customer.deleted" => assert_eq!(
                customer_row(pool, CUSTOMER).await,
                jenny("jenny@example.org", "Jenny R. Rosen", true, true)
            ),
            "payment_intent.succeeded" => assert_eq!(
                payment_row(pool, PAYMENT).await,
                Some((
                    Some(1099),
                    Some("usd".into()),
                    Some("succeeded".into()),
                    Some(CUSTOMER.into())
                ))
            ),
            "payment_intent.payment_failed" => assert_eq!(
                payment_row(pool, PAYMENT).await,
                Some((
                    Some(1099),
                    Some("usd".into()),
                    Some("requires_payment_method".into()),
                    Some(CUSTOMER.into())
                ))
            ),
            "customer.subscription.created" | "customer.subscription.updated" => {
                assert_eq!(subscription_row(pool, SUBSCRIPTION).await, sub("active"))
            }
            "customer.subscription.deleted" => {
                assert_eq!(subscription_row(pool, SUBSCRIPTION).await, sub("canceled"))
            }
            // Their rows are asserted in `billing`; here: no other table moves.
            t if t.starts_with("product.") || t.starts_with("price.") || t.starts_with("plan.") => {
                assert_eq!(
                    snapshot(pool).await,
                    Vec::<String>::new(),
                    "{event_type} writes no customer, payment or subscription row"
                )
            }
            // Their rows are asserted in `refunds`; here: the customer they
            // name, not seen yet, is a placeholder.
            "charge.succeeded" | "charge.refunded" | "refund.created" => assert_eq!(
                customer_row(pool, CUSTOMER).await.map(|row| row.5),
                Some(true),
                "{event_type}: its customer is a placeholder"
            ),
            "charge.dispute.created" => assert_eq!(
                snapshot(pool).await,
                Vec::<String>::new(),
                "a dispute names no customer"
            ),
            "checkout.session.completed"
            | "invoice.created"
            | "invoice.finalized"
            | "invoice.payment_failed"
            | "invoice.paid"
            | "invoice.voided"
            | "invoice.deleted" => assert_eq!(
                customer_row(pool, CUSTOMER).await.map(|row| row.5),
                Some(true),
                "its customer, not seen yet, is a placeholder"
            ),
            "payment_method.attached" => assert_eq!(
                text_row(
                    pool,
                    "SELECT ARRAY[stripe_customer_id, type, card_last4] FROM payment_methods
                     WHERE stripe_payment_method_id = 'pm_1Pgc75B7WZ01zgkWlHVgdEGJ'"
                )
                .await,
                [CUSTOMER, "card", "4242"]
            ),
            "setup_intent.succeeded" => assert_eq!(
                text_row(
                    pool,
                    "SELECT ARRAY[stripe_customer_id, status] FROM setup_intents
                     WHERE stripe_setup_intent_id = 'seti_1Pgag7B7WZ01zgkWSgwGdb8Z'"
                )
                .await,
                [CUSTOMER, "succeeded"]
            ),
            "payout.paid" => assert_eq!(
                text_row(
                    pool,
                    "SELECT ARRAY[status, amount::text, currency] FROM payouts
                     WHERE stripe_payout_id = 'po_1Pgc79B7WZ01zgkWu1KToYf4'"
                )
                .await,
                ["paid", "1100", "usd"]
            ),
            other => panic!("no expectation for {other}"),
        }
        assert_eq!(log_statuses(pool, id).await, ["success"], "{event_type}");
        let processed: bool =
            sqlx::query_scalar("SELECT processed_at IS NOT NULL FROM stripe_events WHERE id = $1")
                .bind(id)
                .fetch_one(pool)
                .await
                .unwrap();
        assert!(processed, "{event_type} is marked processed");
    }
}

fn all_fixtures() -> Vec<Value> {
    SAMPLE_EVENTS.iter().map(|(t, _)| fixture(t)).collect()
}

async fn deliver(app: &TestApp, events: &[Value], drain_each: bool) -> Vec<String> {
    reset(&app.pool).await;
    for event in events {
        post_ok(app, event).await;
        if drain_each {
            drain(&app.pool).await;
        }
    }
    drain(&app.pool).await;
    assert_eq!(unprocessed(&app.pool).await, 0, "every event processed");
    snapshot(&app.pool).await
}

#[tokio::test]
async fn any_delivery_order_and_repetition_ends_in_the_same_tables() {
    let app = TestApp::spawn().await;
    let mut in_order = all_fixtures();
    in_order.sort_by_key(|e| e["created"].as_i64());
    let expected = deliver(&app, &in_order, true).await;
    assert_eq!(
        expected.len(),
        4,
        "one customer, one payment, one subscription and its item: {expected:#?}"
    );
    assert!(
        expected[0].contains("jenny@example.org") && expected[0].contains("\"Jenny R. Rosen\""),
        "{}",
        expected[0]
    );
    assert!(
        expected[1].contains("requires_payment_method"),
        "the later payment event wins: {}",
        expected[1]
    );
    assert!(expected[2].contains("canceled"), "{}", expected[2]);

    let reversed: Vec<Value> = in_order.iter().rev().cloned().collect();
    assert_eq!(deliver(&app, &reversed, true).await, expected, "reversed");
    let doubled: Vec<Value> = in_order
        .iter()
        .flat_map(|e| [e.clone(), e.clone()])
        .collect();
    assert_eq!(
        deliver(&app, &doubled, true).await,
        expected,
        "every event twice"
    );
    for seed in 1..=12u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut shuffled: Vec<Value> = doubled.clone();
        rng.shuffle(&mut shuffled);
        let drain_each = seed % 2 == 0;
        assert_eq!(
            deliver(&app, &shuffled, drain_each).await,
            expected,
            "shuffled, seed {seed}"
        );
    }
}

#[tokio::test]
async fn a_payment_before_its_customer_is_kept_and_linked_later() {
    let app = TestApp::spawn().await;
    apply(&app, &fixture("payment_intent.succeeded")).await;
    assert_eq!(
        payment_row(&app.pool, PAYMENT).await.unwrap().3.as_deref(),
        Some(CUSTOMER),
        "linked to a placeholder"
    );
    assert_eq!(
        customer_row(&app.pool, CUSTOMER).await,
        Some((None, None, None, json!({}), false, true))
    );

    apply(&app, &fixture("customer.created")).await;
    let customer = customer_row(&app.pool, CUSTOMER).await.unwrap();
    assert_eq!(
        (customer.0.as_deref(), customer.5),
        (Some("jenny.rosen@example.com"), false),
        "placeholder filled in"
    );
    let customers = count(&app.pool, "SELECT count(*) FROM end_customers").await;
    assert_eq!(
        customers, 1,
        "the placeholder became the customer, no second row"
    );
}

#[tokio::test]
async fn a_subscription_before_its_customer_is_kept_and_linked_later() {
    let app = TestApp::spawn().await;
    apply(&app, &fixture("customer.subscription.created")).await;
    assert_eq!(
        subscription_row(&app.pool, SUBSCRIPTION)
            .await
            .unwrap()
            .6
            .as_deref(),
        Some(CUSTOMER)
    );
    apply(&app, &fixture("customer.updated")).await;
    assert_eq!(
        customer_row(&app.pool, CUSTOMER)
            .await
            .unwrap()
            .1
            .as_deref(),
        Some("Jenny R. Rosen")
    );
}

#[tokio::test]
async fn a_payment_without_customer_is_stored_unlinked() {
    let app = TestApp::spawn().await;
    let mut event = fixture("payment_intent.succeeded");
    event["data"]["object"]["customer"] = Value::Null;
    apply(&app, &event).await;
    assert_eq!(
        payment_row(&app.pool, PAYMENT).await,
        Some((
            Some(1099),
            Some("usd".into()),
            Some("succeeded".into()),
            None
        ))
    );
}

#[tokio::test]
async fn an_older_update_after_the_delete_does_not_bring_the_customer_back() {
    let app = TestApp::spawn().await;
    let deleted = fixture("customer.deleted");
    let mut late_update = fixture_at(
        "customer.updated",
        deleted["created"].as_i64().unwrap() - 30,
    );
    late_update["data"]["object"]["name"] = json!("Stale Name");
    apply(&app, &deleted).await;
    apply(&app, &late_update).await;
    let row = customer_row(&app.pool, CUSTOMER).await.unwrap();
    assert_eq!(
        (row.1.as_deref(), row.4),
        (Some("Jenny R. Rosen"), true),
        "still deleted, name unchanged"
    );
    assert_eq!(
        log_statuses(&app.pool, late_update["id"].as_str().unwrap()).await,
        ["stale"]
    );
}

#[tokio::test]
async fn the_same_event_applied_twice_is_logged_duplicate() {
    let app = TestApp::spawn().await;
    let event = fixture("customer.created");
    apply(&app, &event).await;
    let before = snapshot(&app.pool).await;
    // A replay: the same event queued again.
    let id = event["id"].as_str().unwrap().to_owned();
    let mut tx = app.pool.begin().await.unwrap();
    tether_queue::push(&mut tx, &[tether_queue::JobPayload::one(&id)])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(drain(&app.pool).await, 1);
    assert_eq!(snapshot(&app.pool).await, before, "nothing changed");
    assert_eq!(log_statuses(&app.pool, &id).await, ["success", "duplicate"]);
}

#[tokio::test]
async fn events_in_the_same_second_follow_the_lifecycle() {
    let app = TestApp::spawn().await;
    let second = 1_780_000_000;
    let succeeded = fixture_at("payment_intent.succeeded", second);
    let failed = fixture_at("payment_intent.payment_failed", second);
    // Worst order: the terminal status arrives first.
    apply(&app, &succeeded).await;
    apply(&app, &failed).await;
    assert_eq!(
        payment_row(&app.pool, PAYMENT).await.unwrap().2.as_deref(),
        Some("succeeded")
    );
    assert_eq!(
        log_statuses(&app.pool, failed["id"].as_str().unwrap()).await,
        ["stale"]
    );
}

/// Up to 2025-02-24.acacia the billing period sits on the subscription; from
/// 2025-03-31.basil it sits on each item. Both sync.
#[tokio::test]
async fn subscription_periods_sync_from_both_api_shapes() {
    let app = TestApp::spawn().await;
    let mut acacia = fixture_at("customer.subscription.created", 1_780_000_000);
    acacia["api_version"] = json!("2025-02-24.acacia");
    let object = &mut acacia["data"]["object"];
    object["id"] = json!("sub_acacia");
    object["current_period_start"] = json!(1_700_000_000);
    object["current_period_end"] = json!(1_702_592_000);
    for item in object["items"]["data"].as_array_mut().unwrap() {
        item.as_object_mut().unwrap().remove("current_period_start");
        item.as_object_mut().unwrap().remove("current_period_end");
    }
    let mut basil = fixture_at("customer.subscription.created", 1_780_000_000);
    basil["api_version"] = json!("2025-03-31.basil");
    basil["data"]["object"]["id"] = json!("sub_basil");
    let basil_item = &mut basil["data"]["object"]["items"]["data"][0];
    basil_item["current_period_start"] = json!(1_710_000_000);
    basil_item["current_period_end"] = json!(1_712_592_000);
    basil["data"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("current_period_start");

    post_ok(&app, &acacia).await;
    apply(&app, &basil).await;
    let periods = |row: Option<SubscriptionRow>| row.map(|r| (r.4, r.5));
    assert_eq!(
        periods(subscription_row(&app.pool, "sub_acacia").await),
        Some((Some(1_700_000_000), Some(1_702_592_000)))
    );
    assert_eq!(
        periods(subscription_row(&app.pool, "sub_basil").await),
        Some((Some(1_710_000_000), Some(1_712_592_000)))
    );
}

/// amount_received, latest_charge, error code, error message, created.
type FailureRow = (
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// Why a payment failed and when a subscription ended are columns, so an
/// app can show them without reading Stripe's JSON.
#[tokio::test]
async fn failure_and_cancellation_details_are_columns() {
    let app = TestApp::spawn().await;
    let mut failed = fixture("payment_intent.payment_failed");
    failed["data"]["object"]["last_payment_error"] = json!({"type": "card_error", "code": "card_declined", "message": "Your card was declined."});
    failed["data"]["object"]["latest_charge"] = json!("ch_declined");
    apply(&app, &failed).await;
    let payment: FailureRow = sqlx::query_as(
        "SELECT amount_received, latest_charge, last_payment_error_code,
                    last_payment_error_message, extract(epoch FROM stripe_created)::int8
             FROM payments WHERE stripe_payment_intent_id = $1",
    )
    .bind(PAYMENT)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        payment,
        (
            Some(0),
            Some("ch_declined".into()),
            Some("card_declined".into()),
            Some("Your card was declined.".into()),
            Some(1_234_567_890)
        )
    );

    let mut canceled = fixture("customer.subscription.deleted");
    canceled["data"]["object"]["canceled_at"] = json!(1_721_950_000);
    apply(&app, &canceled).await;
    let subscription: (Option<i64>, Option<i64>, Option<String>) = sqlx::query_as(
        "SELECT extract(epoch FROM canceled_at)::int8, extract(epoch FROM ended_at)::int8,
                collection_method
         FROM subscriptions WHERE stripe_subscription_id = $1",
    )
    .bind(SUBSCRIPTION)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        subscription,
        (
            Some(1_721_950_000),
            Some(1_721_954_400),
            Some("charge_automatically".into())
        )
    );
}

#[tokio::test]
async fn a_payload_that_is_not_its_type_is_dead_at_once_and_blocks_nothing() {
    let app = TestApp::spawn().await;
    let mut bad = fixture_at("customer.updated", 1_780_000_000);
    bad["data"]["object"]["object"] = json!("charge");
    bad["data"]["object"]["id"] = json!("ch_123");
    let good = fixture("customer.created");
    post_ok(&app, &bad).await;
    apply(&app, &good).await;
    let bad_id = bad["id"].as_str().unwrap();
    assert_eq!(log_statuses(&app.pool, bad_id).await, ["dead"]);
    assert_eq!(
        log_statuses(&app.pool, good["id"].as_str().unwrap()).await,
        ["success"]
    );
    let dead: Vec<String> = tether_queue::inspect::jobs(&app.pool)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.status == tether_queue::JobStatus::Killed)
        .filter(|j| {
            j.events
                .as_ref()
                .is_ok_and(|e| e.iter().any(|id| id == bad_id))
        })
        .map(|j| j.last_error.unwrap_or_default())
        .collect();
    assert_eq!(dead.len(), 1, "kept as one dead letter");
    assert!(dead[0].contains("not a customer"), "{}", dead[0]);
}

/// A field the row cannot be without, present with another shape, is not
/// written as NULL and logged a success: the event dead-letters at once,
/// naming the field, and `status --check` reports it.
#[tokio::test]
async fn a_required_field_of_the_wrong_type_is_dead_at_once_naming_it() {
    let app = TestApp::spawn().await;
    let mut bad = fixture("payment_intent.succeeded");
    bad["data"]["object"]["amount"] = json!("not-a-number");
    post_ok(&app, &bad).await;
    drain(&app.pool).await;
    let bad_id = bad["id"].as_str().unwrap();
    assert_eq!(log_statuses(&app.pool, bad_id).await, ["dead"]);
    let payment = bad["data"]["object"]["id"].as_str().unwrap();
    assert_eq!(
        payment_row(&app.pool, payment).await,
        None,
        "no row of NULLs"
    );
    let error: String = sqlx::query_scalar(
        "SELECT error_message FROM webhook_logs WHERE event_id = $1 AND status = 'dead'",
    )
    .bind(bad_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(
        error.contains(r#"data.object.amount is "not-a-number", not an integer"#),
        "{error}"
    );
    let check = tether(&app, &["status", "--check"]);
    assert!(
        !check.status.success(),
        "status --check sees the dead letter"
    );

    // The same payment with a null amount (an older shape) still applies.
    let mut tolerated = fixture_at("payment_intent.succeeded", 1_780_000_000);
    tolerated["data"]["object"]["amount"] = Value::Null;
    apply(&app, &tolerated).await;
    assert!(payment_row(&app.pool, payment).await.is_some());
}

/// A full tie (same second, same stage) goes to the greater event id, by
/// bytes, whether the two events meet in one job or one after the other, and
/// whatever collation the database would use for text (en-US puts `evt_a`
/// before `evt_B`; bytes put it after).
#[tokio::test]
async fn a_full_tie_is_decided_by_bytes_even_under_a_linguistic_collation() {
    let app = TestApp::spawn().await;
    sqlx::query(
        r#"ALTER TABLE end_customers ALTER COLUMN last_event_id TYPE text COLLATE "en-US-x-icu""#,
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let second = 1_780_000_000;
    let mut upper = fresh_event_with_id("customer.updated", "evt_B", second);
    upper["data"]["object"]["name"] = json!("from evt_B");
    let mut lower = fresh_event_with_id("customer.updated", "evt_a", second);
    lower["data"]["object"]["name"] = json!("from evt_a");

    apply(&app, &upper).await;
    apply(&app, &lower).await;

    assert_eq!(
        customer_row(&app.pool, CUSTOMER)
            .await
            .unwrap()
            .1
            .as_deref(),
        Some("from evt_a")
    );
    assert_eq!(log_statuses(&app.pool, "evt_a").await, ["success"]);
}

fn fresh_event_with_id(event_type: &str, id: &str, created: i64) -> Value {
    crate::helpers::fresh_event(event_type, id, created).unwrap()
}

/// A deletion lands whatever order it arrives in: deleted then updated,
/// updated then deleted, and both in one claim end in the same row, with
/// the newer details and the tombstone.
#[tokio::test]
async fn a_deletion_sticks_whatever_the_delivery_order() {
    let app = TestApp::spawn().await;
    let deleted = fixture_at("customer.deleted", 1_780_000_010);
    let mut updated = fixture_at("customer.updated", 1_780_000_011);
    updated["data"]["object"]["name"] = json!("Newer Name");
    let mut rows = Vec::new();
    for order in [[&deleted, &updated], [&updated, &deleted]] {
        reset(&app.pool).await;
        for event in order {
            apply(&app, event).await;
        }
        rows.push(customer_row(&app.pool, CUSTOMER).await.unwrap());
    }
    reset(&app.pool).await;
    post_ok(&app, &updated).await;
    post_ok(&app, &deleted).await;
    drain(&app.pool).await;
    rows.push(customer_row(&app.pool, CUSTOMER).await.unwrap());

    for row in &rows {
        assert_eq!(
            (row.1.as_deref(), row.4),
            (Some("Newer Name"), true),
            "{rows:?}"
        );
    }
    assert_eq!(rows[0], rows[1]);
    assert_eq!(rows[1], rows[2]);
    assert_eq!(
        log_statuses(&app.pool, deleted["id"].as_str().unwrap()).await,
        ["success"],
        "the late deletion changed the row"
    );
}

/// A deletion may carry only a stub: the tombstone keeps what was known.
#[tokio::test]
async fn a_deletion_stub_keeps_the_last_known_details() {
    let app = TestApp::spawn().await;
    let created = fixture_at("customer.created", 1_780_000_000);
    let mut stub = fixture_at("customer.deleted", 1_780_000_001);
    stub["data"]["object"] = json!({ "id": CUSTOMER, "object": "customer", "deleted": true });
    apply(&app, &created).await;
    apply(&app, &stub).await;
    let row = customer_row(&app.pool, CUSTOMER).await.unwrap();
    assert_eq!(
        (row.0.as_deref(), row.1.as_deref(), row.4),
        (Some("jenny.rosen@example.com"), Some("Jenny Rosen"), true)
    );
    assert_eq!(row.3, created["data"]["object"]["metadata"]);
}

/// Stripe never reactivates a canceled subscription: an older `updated`
/// that says `active` loses, and a cancellation older than the row's newest
/// event still cancels.
#[tokio::test]
async fn a_canceled_subscription_never_returns_to_active() {
    let app = TestApp::spawn().await;
    let canceled = fixture_at("customer.subscription.deleted", 1_780_000_010);
    let mut newer = fixture_at("customer.subscription.updated", 1_780_000_011);
    newer["data"]["object"]["status"] = json!("active");
    newer["data"]["object"]["cancel_at_period_end"] = json!(true);
    for order in [[&canceled, &newer], [&newer, &canceled]] {
        reset(&app.pool).await;
        for event in order {
            apply(&app, event).await;
        }
        let (status,): (Option<String>,) =
            sqlx::query_as("SELECT status FROM subscriptions WHERE stripe_subscription_id = $1")
                .bind(SUBSCRIPTION)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(status.as_deref(), Some("canceled"));
    }
}

/// A `customer` field holding another kind's id links nothing, and makes
/// no placeholder customer.
#[tokio::test]
async fn a_customer_reference_that_is_not_a_customer_id_is_not_linked() {
    let app = TestApp::spawn().await;
    let mut payment = fixture("payment_intent.succeeded");
    payment["data"]["object"]["customer"] = json!("pi_not_a_customer");
    apply(&app, &payment).await;
    assert_eq!(payment_row(&app.pool, PAYMENT).await.unwrap().3, None);
    assert_eq!(
        count(&app.pool, "SELECT count(*) FROM end_customers").await,
        0
    );
}

/// A type this release does not know (one a newer Stripe API adds) is
/// stored, logged `ignored` and marked processed, and changes no table;
/// `tether replay` can apply it once a release handles it.
#[tokio::test]
async fn an_unhandled_type_is_logged_ignored_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let mut event = fixture_at("customer.created", 1_780_000_000);
    event["type"] = json!("customer.frobnicated");
    apply(&app, &event).await;
    let id = event["id"].as_str().unwrap();
    assert_eq!(log_statuses(&app.pool, id).await, ["ignored"]);
    assert_eq!(snapshot(&app.pool).await, Vec::<String>::new());
    assert_eq!(unprocessed(&app.pool).await, 0, "marked processed");
}
