//! Charges, refunds and disputes: the refund view. Each event alone, any
//! delivery order, a refund seen from its payment row, older API shapes,
//! and a backfill of charges.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{helpers::TestApp, worker_support::*};

const CUSTOMER: &str = "cus_QXg1o8vcGmoR32";
const PAYMENT: &str = "pi_1PgafyB7WZ01zgkWSjxsAJo3";
const CHARGE: &str = "ch_1PgafuB7WZ01zgkWXYmPNZs8";
const REFUND: &str = "re_1Pgc72B7WZ01zgkWqPvrRrPE";
const DISPUTE: &str = "dp_1Pgc71B7WZ01zgkWMevJiAUx";
/// A second after every sample event.
const LATER: i64 = 1_780_000_000;

/// The sample `base` as a new event of type `event_type`, created at
/// `created`, its object changed by `edit`.
fn event(base: &str, event_type: &str, created: i64, edit: impl FnOnce(&mut Value)) -> Value {
    let mut event = fixture_at(base, created);
    event["type"] = json!(event_type);
    edit(&mut event["data"]["object"]);
    event
}

/// One row as JSON, `sql` selecting it as `to_jsonb(row)`.
async fn row(pool: &PgPool, sql: &str, id: &str) -> Value {
    sqlx::query_scalar::<_, Value>(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(id)
        .fetch_optional(pool)
        .await
        .unwrap()
        .unwrap_or(Value::Null)
}

async fn charge_row(pool: &PgPool) -> Value {
    row(
        pool,
        "SELECT to_jsonb(r) FROM (
             SELECT ch.amount, ch.amount_captured, ch.amount_refunded, ch.currency, ch.status, ch.paid,
                    ch.captured, ch.refunded, ch.failure_code, ch.failure_message, ch.description,
                    ch.metadata, ch.livemode, extract(epoch FROM ch.stripe_created)::int8 AS created,
                    c.stripe_customer_id AS customer, ch.stripe_payment_intent_id AS payment_intent,
                    ch.receipt_url IS NOT NULL AS has_receipt
             FROM charges ch LEFT JOIN end_customers c ON c.id = ch.customer_id
             WHERE ch.stripe_charge_id = $1) AS r",
        CHARGE,
    )
    .await
}

async fn refund_row(pool: &PgPool) -> Value {
    row(
        pool,
        "SELECT to_jsonb(r) FROM (
             SELECT f.amount, f.currency, f.status, f.reason, f.failure_reason, f.stripe_charge_id AS charge,
                    f.stripe_payment_intent_id AS payment_intent, c.stripe_customer_id AS customer,
                    f.metadata, f.livemode, extract(epoch FROM f.stripe_created)::int8 AS created
             FROM refunds f LEFT JOIN end_customers c ON c.id = f.customer_id
             WHERE f.stripe_refund_id = $1) AS r",
        REFUND,
    )
    .await
}

async fn dispute_row(pool: &PgPool) -> Value {
    row(
        pool,
        "SELECT to_jsonb(r) FROM (
             SELECT amount, currency, status, reason, extract(epoch FROM evidence_due_by)::int8 AS due_by,
                    is_charge_refundable, stripe_charge_id AS charge, stripe_payment_intent_id AS payment_intent,
                    metadata, livemode, extract(epoch FROM stripe_created)::int8 AS created
             FROM disputes WHERE stripe_dispute_id = $1) AS r",
        DISPUTE,
    )
    .await
}

async fn amount_refunded(pool: &PgPool) -> Option<i64> {
    sqlx::query_scalar("SELECT amount_refunded FROM payments WHERE stripe_payment_intent_id = $1")
        .bind(PAYMENT)
        .fetch_optional(pool)
        .await
        .unwrap()
}

/// `base` with `changes` laid over it.
fn with(base: &Value, changes: Value) -> Value {
    let mut merged = base.clone();
    for (key, value) in changes.as_object().unwrap() {
        merged[key] = value.clone();
    }
    merged
}

/// Empties the tables between two runs in one test.
async fn reset_all(pool: &PgPool) {
    reset(pool).await;
    sqlx::query("TRUNCATE charges, refunds, disputes")
        .execute(pool)
        .await
        .unwrap();
}

async fn apply_alone(app: &TestApp, event: &Value) {
    reset_all(&app.pool).await;
    apply(app, event).await;
    let id = event["id"].as_str().unwrap();
    assert_eq!(
        log_statuses(&app.pool, id).await,
        ["success"],
        "{}",
        event["type"]
    );
}

#[tokio::test]
async fn each_charge_event_alone_produces_its_row() {
    let app = TestApp::spawn().await;
    let succeeded = json!({
        "amount": 100, "amount_captured": 0, "amount_refunded": 0, "currency": "usd",
        "status": "succeeded", "paid": true, "captured": false, "refunded": false,
        "failure_code": null, "failure_message": null,
        "description": "My First Test Charge (created for API docs)", "metadata": {},
        "livemode": false, "created": 1234567890, "customer": CUSTOMER, "payment_intent": PAYMENT,
        "has_receipt": true,
    });
    apply_alone(&app, &fixture("charge.succeeded")).await;
    assert_eq!(charge_row(&app.pool).await, succeeded);

    let cases: [(&str, Value); 6] = [
        (
            "charge.failed",
            json!({"status": "failed", "paid": false, "failure_code": "card_declined",
                   "failure_message": "Your card was declined."}),
        ),
        (
            "charge.captured",
            json!({"captured": true, "amount_captured": 100}),
        ),
        (
            "charge.updated",
            json!({"description": "Order 42", "metadata": {"order": "42"}}),
        ),
        (
            "charge.pending",
            json!({"status": "pending", "paid": false}),
        ),
        ("charge.expired", json!({"status": "failed", "paid": false})),
        ("charge.succeeded", json!({"livemode": true})),
    ];
    for (event_type, changes) in cases {
        let edited = changes.clone();
        apply_alone(
            &app,
            &event("charge.succeeded", event_type, LATER, |object| {
                for (key, value) in edited.as_object().unwrap() {
                    object[key] = value.clone();
                }
            }),
        )
        .await;
        assert_eq!(
            charge_row(&app.pool).await,
            with(&succeeded, changes),
            "{event_type}"
        );
    }

    apply_alone(&app, &fixture("charge.refunded")).await;
    assert_eq!(
        charge_row(&app.pool).await,
        with(
            &succeeded,
            json!({"amount_refunded": 100, "refunded": true})
        ),
        "the sample charge.refunded"
    );
}

#[tokio::test]
async fn each_refund_event_alone_produces_its_row() {
    let app = TestApp::spawn().await;
    let created = json!({
        "amount": 100, "currency": "usd", "status": "succeeded", "reason": null,
        "failure_reason": null, "charge": CHARGE, "payment_intent": PAYMENT, "customer": CUSTOMER,
        "metadata": {}, "livemode": false, "created": 1234567890,
    });
    apply_alone(&app, &fixture("refund.created")).await;
    assert_eq!(refund_row(&app.pool).await, created);

    let cases: [(&str, Value); 3] = [
        (
            "refund.updated",
            json!({"reason": "requested_by_customer", "metadata": {"ticket": "T-9"}}),
        ),
        (
            "refund.failed",
            json!({"status": "failed", "failure_reason": "expired_or_canceled_card"}),
        ),
        ("charge.refund.updated", json!({"status": "pending"})),
    ];
    for (event_type, changes) in cases {
        let edited = changes.clone();
        apply_alone(
            &app,
            &event("refund.created", event_type, LATER, |object| {
                for (key, value) in edited.as_object().unwrap() {
                    object[key] = value.clone();
                }
            }),
        )
        .await;
        assert_eq!(
            refund_row(&app.pool).await,
            with(&created, changes),
            "{event_type}"
        );
    }
}

#[tokio::test]
async fn each_dispute_event_alone_produces_its_row() {
    let app = TestApp::spawn().await;
    let created = json!({
        "amount": 1000, "currency": "usd", "status": "warning_needs_response", "reason": "general",
        "due_by": 1723679999, "is_charge_refundable": true, "charge": CHARGE, "payment_intent": PAYMENT,
        "metadata": {}, "livemode": false, "created": 1234567890,
    });
    apply_alone(&app, &fixture("charge.dispute.created")).await;
    assert_eq!(dispute_row(&app.pool).await, created);

    let cases: [(&str, Value); 4] = [
        (
            "charge.dispute.updated",
            json!({"status": "under_review", "reason": "fraudulent"}),
        ),
        (
            "charge.dispute.funds_withdrawn",
            json!({"status": "needs_response", "is_charge_refundable": false}),
        ),
        ("charge.dispute.funds_reinstated", json!({"status": "won"})),
        ("charge.dispute.closed", json!({"status": "lost"})),
    ];
    for (event_type, changes) in cases {
        let edited = changes.clone();
        apply_alone(
            &app,
            &event("charge.dispute.created", event_type, LATER, |object| {
                for (key, value) in edited.as_object().unwrap() {
                    object[key] = value.clone();
                }
            }),
        )
        .await;
        assert_eq!(
            dispute_row(&app.pool).await,
            with(&created, changes),
            "{event_type}"
        );
    }
}

/// Every synced row of this feature, comparable across runs.
async fn refund_view(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT 'charge ' || row(ch.stripe_charge_id, ch.amount, ch.amount_captured, ch.amount_refunded,
                                 ch.status, ch.captured, ch.refunded, ch.description, ch.stripe_payment_intent_id,
                                 c.stripe_customer_id, ch.last_event_id)::text
         FROM charges ch LEFT JOIN end_customers c ON c.id = ch.customer_id
         UNION ALL
         SELECT 'refund ' || row(f.stripe_refund_id, f.amount, f.status, f.reason, f.stripe_charge_id,
                                 f.stripe_payment_intent_id, f.last_event_id)::text
         FROM refunds f
         UNION ALL
         SELECT 'dispute ' || row(stripe_dispute_id, amount, status, evidence_due_by, is_charge_refundable,
                                  last_event_id)::text
         FROM disputes
         UNION ALL
         SELECT 'payment ' || row(stripe_payment_intent_id, status, amount_refunded, last_event_id)::text
         FROM payments
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// A payment's life: paid, charged, refunded in two parts (the first in the
/// same second as the charge's success, which outranks it), disputed.
fn lifecycle() -> Vec<Value> {
    let t = LATER;
    let refunded = |amount: i64| {
        move |o: &mut Value| {
            o["amount_refunded"] = json!(amount);
            o["refunded"] = json!(amount == 100);
        }
    };
    vec![
        fixture_at("payment_intent.succeeded", t),
        event("charge.succeeded", "charge.succeeded", t, |_| {}),
        event("charge.succeeded", "charge.refunded", t, refunded(40)),
        event("refund.created", "refund.created", t, |o| {
            o["amount"] = json!(40);
            o["status"] = json!("pending");
        }),
        event("refund.created", "refund.updated", t + 60, |o| {
            o["amount"] = json!(40);
        }),
        event(
            "charge.succeeded",
            "charge.refunded",
            t + 120,
            refunded(100),
        ),
        event("charge.succeeded", "charge.updated", t + 180, |o| {
            refunded(100)(o);
            o["description"] = json!("Order 42");
        }),
        event(
            "charge.dispute.created",
            "charge.dispute.created",
            t + 240,
            |_| {},
        ),
        event(
            "charge.dispute.created",
            "charge.dispute.funds_withdrawn",
            t + 300,
            |o| o["status"] = json!("needs_response"),
        ),
        event(
            "charge.dispute.created",
            "charge.dispute.closed",
            t + 360,
            |o| {
                o["status"] = json!("lost");
            },
        ),
    ]
}

async fn deliver(app: &TestApp, events: &[Value], drain_each: bool) -> Vec<String> {
    reset_all(&app.pool).await;
    for event in events {
        post_ok(app, event).await;
        if drain_each {
            drain(&app.pool).await;
        }
    }
    drain(&app.pool).await;
    assert_eq!(unprocessed(&app.pool).await, 0, "every event processed");
    refund_view(&app.pool).await
}

#[tokio::test]
async fn any_delivery_order_ends_in_the_same_refund_view() {
    let app = TestApp::spawn().await;
    let events = lifecycle();
    let expected = deliver(&app, &events, true).await;
    assert_eq!(
        charge_row(&app.pool).await["amount_refunded"],
        json!(100),
        "{expected:#?}"
    );
    assert_eq!(
        charge_row(&app.pool).await["description"],
        json!("Order 42")
    );
    assert_eq!(refund_row(&app.pool).await["status"], json!("succeeded"));
    assert_eq!(dispute_row(&app.pool).await["status"], json!("lost"));
    assert_eq!(amount_refunded(&app.pool).await, Some(100));
    assert_eq!(expected.len(), 4, "{expected:#?}");

    let reversed: Vec<Value> = events.iter().rev().cloned().collect();
    assert_eq!(deliver(&app, &reversed, true).await, expected, "reversed");
    assert_eq!(
        deliver(&app, &reversed, false).await,
        expected,
        "reversed, in one claim"
    );
    let doubled: Vec<Value> = events.iter().chain(events.iter()).cloned().collect();
    for seed in 1..=6u64 {
        let mut shuffled = doubled.clone();
        fastrand::Rng::with_seed(seed).shuffle(&mut shuffled);
        assert_eq!(
            deliver(&app, &shuffled, seed % 2 == 0).await,
            expected,
            "shuffled with duplicates, seed {seed}"
        );
    }
}

/// The partial refund in the same second as the charge's success: the
/// success outranks it (lifecycle rank), yet the refund still counts.
#[tokio::test]
async fn a_refund_in_the_same_second_as_the_success_still_counts() {
    let app = TestApp::spawn().await;
    let events = &lifecycle()[..3];
    for order in [events.to_vec(), events.iter().rev().cloned().collect()] {
        deliver(&app, &order, true).await;
        let charge = charge_row(&app.pool).await;
        assert_eq!(
            (
                &charge["status"],
                &charge["amount_refunded"],
                &charge["refunded"]
            ),
            (&json!("succeeded"), &json!(40), &json!(false))
        );
        assert_eq!(amount_refunded(&app.pool).await, Some(40));
    }
}

#[tokio::test]
async fn a_refund_after_success_shows_on_the_payment_row() {
    let app = TestApp::spawn().await;
    let events = [
        fixture("payment_intent.succeeded"),
        fixture("charge.refunded"),
        fixture("refund.created"),
    ];
    apply(&app, &events[0]).await;
    assert_eq!(
        amount_refunded(&app.pool).await,
        Some(0),
        "nothing refunded yet"
    );
    apply(&app, &events[1]).await;
    assert_eq!(amount_refunded(&app.pool).await, Some(100));
    apply(&app, &events[2]).await;
    assert_eq!(
        amount_refunded(&app.pool).await,
        Some(100),
        "the charge and its refund tell the same refund, counted once"
    );
    let in_order = refund_view(&app.pool).await;

    let reversed: Vec<Value> = events.iter().rev().cloned().collect();
    assert_eq!(deliver(&app, &reversed, true).await, in_order, "reversed");
    assert_eq!(amount_refunded(&app.pool).await, Some(100));
}

#[tokio::test]
async fn a_refund_alone_counts_and_a_failed_one_does_not() {
    let app = TestApp::spawn().await;
    let partial = event("refund.created", "refund.created", LATER, |o| {
        o["amount"] = json!(30);
    });
    apply(&app, &partial).await;
    apply(&app, &fixture("payment_intent.succeeded")).await;
    assert_eq!(
        amount_refunded(&app.pool).await,
        Some(30),
        "a refund that came before its payment"
    );
    let failed = event("refund.created", "refund.failed", LATER + 60, |o| {
        o["amount"] = json!(30);
        o["status"] = json!("failed");
    });
    apply(&app, &failed).await;
    assert_eq!(amount_refunded(&app.pool).await, Some(0));
}

/// Older and newer API shapes of one object read to the same columns.
async fn same_columns(app: &TestApp, older: Value, newer: Value, read: &str) {
    let mut rows = Vec::new();
    for event in [older, newer] {
        apply_alone(app, &event).await;
        rows.push(match read {
            "charge" => charge_row(&app.pool).await,
            "refund" => refund_row(&app.pool).await,
            _ => dispute_row(&app.pool).await,
        });
    }
    assert_ne!(rows[0], Value::Null);
    assert_eq!(rows[0], rows[1], "{read}: older and newer shape");
}

/// API 2022-11-15 stopped embedding a charge's `refunds` list; older
/// versions send it with the refunds in it.
#[tokio::test]
async fn a_charge_with_and_without_its_refunds_list_reads_the_same() {
    let app = TestApp::spawn().await;
    let refund = fixture("refund.created")["data"]["object"].clone();
    let older = event("charge.refunded", "charge.refunded", LATER, |o| {
        o["refunds"] = json!({"object": "list", "data": [refund], "has_more": false,
                              "total_count": 1, "url": format!("/v1/charges/{CHARGE}/refunds")});
    });
    let newer = event("charge.refunded", "charge.refunded", LATER, |o| {
        o.as_object_mut().unwrap().remove("refunds");
    });
    same_columns(&app, older, newer, "charge").await;
    assert_eq!(charge_row(&app.pool).await["amount_refunded"], json!(100));
}

/// Before 2024-10-28.acacia a card refund's changes came as
/// `charge.refund.updated`; from then on as `refund.updated`.
#[tokio::test]
async fn a_refund_update_reads_the_same_under_either_event_type() {
    let app = TestApp::spawn().await;
    let edit = |o: &mut Value| o["reason"] = json!("duplicate");
    let older = event("refund.created", "charge.refund.updated", LATER, edit);
    let newer = event("refund.created", "refund.updated", LATER, edit);
    same_columns(&app, older, newer, "refund").await;
    assert_eq!(refund_row(&app.pool).await["reason"], json!("duplicate"));
}

/// 2014-12-08 replaced a dispute's `evidence_due_by` with
/// `evidence_details.due_by`; 2014-08-20 replaced `balance_transaction`
/// with `balance_transactions`.
#[tokio::test]
async fn a_dispute_reads_its_due_date_from_either_shape() {
    let app = TestApp::spawn().await;
    let older = event(
        "charge.dispute.created",
        "charge.dispute.created",
        LATER,
        |o| {
            let o = o.as_object_mut().unwrap();
            o.remove("evidence_details");
            o.remove("balance_transactions");
            o.insert("evidence_due_by".into(), json!(1723679999));
            o.insert("evidence".into(), Value::Null);
            o.insert(
                "balance_transaction".into(),
                json!("txn_1PgaxNB7WZ01zgkWEV3TLf40"),
            );
        },
    );
    let newer = fixture_at("charge.dispute.created", LATER);
    same_columns(&app, older, newer, "dispute").await;
    assert_eq!(dispute_row(&app.pool).await["due_by"], json!(1723679999));
}

#[tokio::test]
async fn backfill_imports_charges_and_their_refunds_reach_the_payments() {
    let app = TestApp::spawn().await;
    let fake = crate::fake_stripe::FakeStripe::start_charges(3, 5, 5);
    let report = fake.run_json(
        &app,
        &["backfill", "customers", "payment-intents", "charges"],
    );
    let objects: Vec<(Value, Value)> = report
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["kind"].clone(), r["objects"].clone()))
        .collect();
    assert_eq!(
        objects,
        [
            (json!("customers"), json!(3)),
            (json!("payment-intents"), json!(5)),
            (json!("charges"), json!(5))
        ]
    );
    let refunded: Vec<i64> = sqlx::query_scalar(
        "SELECT amount_refunded FROM payments WHERE stripe_payment_intent_id LIKE 'pi_fake%'
         ORDER BY stripe_payment_intent_id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(refunded, [0, 1, 2, 3, 4], "charge i refunded i cents");
    let linked = "SELECT count(*) FROM charges ch JOIN end_customers c ON c.id = ch.customer_id
                  WHERE NOT c.is_placeholder";
    assert_eq!(count(&app.pool, linked).await, 5);
}

/// A charge writes `payments.amount_refunded`, so it takes its payment
/// intent's lock, the one a payment's own events take: a charge and its
/// payment applied by two workers at once never work it out from two
/// snapshots and lose the refund.
#[tokio::test]
async fn a_charge_waits_for_its_payment_intents_lock() {
    let app = TestApp::spawn().await;
    let mut other_worker = app.pool.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(PAYMENT)
        .execute(&mut *other_worker)
        .await
        .unwrap();
    post_ok(&app, &fixture("charge.refunded")).await;
    let pool = app.pool.clone();
    let applying = tokio::spawn(async move { drain(&pool).await });
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let charges = "SELECT count(*) FROM charges";
    assert_eq!(
        count(&app.pool, charges).await,
        0,
        "waits while the payment intent is locked"
    );
    other_worker.commit().await.unwrap();
    assert_eq!(applying.await.unwrap(), 1);
    assert_eq!(count(&app.pool, charges).await, 1);
}
