//! Setup intents, payouts, top-ups, early fraud warnings and reviews: Stripe's
//! published object read into each row, each event alone, every delivery
//! order, a backfill through the fake, and the operator's rows private
//! even with the read-own-rows policies.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    fake_stripe::FakeStripe,
    helpers::TestApp,
    payment_methods::{event_of, resource},
    supabase::{as_role, run_optional_sql, supabase_shape},
    worker_support::*,
};

/// One row of `table` as JSON, `columns` selected, the timestamps as
/// seconds.
async fn row(pool: &PgPool, table: &str, id_column: &str, columns: &str, id: &str) -> Value {
    let sql = format!(
        "SELECT to_jsonb(r) FROM (SELECT {columns},
                extract(epoch FROM stripe_created)::int8 AS created
         FROM {table} WHERE {id_column} = $1) AS r"
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(pool)
        .await
        .unwrap()
        .unwrap_or(Value::Null)
}

/// `object` with `changes` laid over it.
fn with(object: &Value, changes: &Value) -> Value {
    let mut merged = object.clone();
    for (key, value) in changes.as_object().unwrap() {
        merged[key] = value.clone();
    }
    merged
}

/// A kind's table and how the tests read it.
struct Case {
    resource: &'static str,
    table: &'static str,
    id_column: &'static str,
    columns: &'static str,
}

const SETUP_INTENT: Case = Case {
    resource: "setup_intent",
    table: "setup_intents",
    id_column: "stripe_setup_intent_id",
    columns: "status, usage, stripe_customer_id AS customer, stripe_payment_method_id AS payment_method,
              last_setup_error_code, last_setup_error_message, cancellation_reason, metadata, livemode",
};
const PAYOUT: Case = Case {
    resource: "payout",
    table: "payouts",
    id_column: "stripe_payout_id",
    columns:
        "amount, currency, status, extract(epoch FROM arrival_date)::int8 AS arrival_date, method,
              type, automatic, failure_code, failure_message, destination, reconciliation_status,
              metadata, livemode",
};
const TOPUP: Case = Case {
    resource: "topup",
    table: "topups",
    id_column: "stripe_topup_id",
    columns: "amount, currency, status, description,
              extract(epoch FROM expected_availability_date)::int8 AS expected_availability_date,
              failure_code, failure_message, metadata, livemode",
};
const WARNING: Case = Case {
    resource: "radar.early_fraud_warning",
    table: "early_fraud_warnings",
    id_column: "stripe_early_fraud_warning_id",
    columns: "stripe_charge_id AS charge, stripe_payment_intent_id AS payment_intent, fraud_type,
              actionable, livemode",
};
const REVIEW: Case = Case {
    resource: "review",
    table: "reviews",
    id_column: "stripe_review_id",
    columns: "stripe_charge_id AS charge, stripe_payment_intent_id AS payment_intent, reason, open,
              opened_reason, closed_reason, livemode",
};

impl Case {
    fn id(&self) -> String {
        resource(self.resource)["id"].as_str().unwrap().to_owned()
    }

    async fn row(&self, pool: &PgPool) -> Value {
        row(pool, self.table, self.id_column, self.columns, &self.id()).await
    }

    /// Applies each of `events` (type, changes to the published object,
    /// changes they make to its row) alone, and checks the row.
    async fn each_alone(&self, app: &TestApp, published: Value, events: &[(&str, Value, Value)]) {
        for (event_type, object_changes, row_changes) in events {
            reset(&app.pool).await;
            let object = with(&resource(self.resource), object_changes);
            let event = event_of(event_type, 1_780_000_000, object);
            apply(app, &event).await;
            assert_eq!(
                log_statuses(&app.pool, event["id"].as_str().unwrap()).await,
                ["success"],
                "{event_type}"
            );
            assert_eq!(
                self.row(&app.pool).await,
                with(&published, row_changes),
                "{event_type}"
            );
        }
    }

    /// Events whose object changes show as the same columns.
    async fn each_alone_same(&self, app: &TestApp, published: Value, events: &[(&str, Value)]) {
        let events: Vec<(&str, Value, Value)> = events
            .iter()
            .map(|(t, changes)| (*t, changes.clone(), changes.clone()))
            .collect();
        self.each_alone(app, published, &events).await;
    }
}

#[tokio::test]
async fn each_setup_intent_event_alone_produces_its_row() {
    let app = TestApp::spawn().await;
    let published = json!({
        "status": "requires_payment_method", "usage": "off_session", "customer": null,
        "payment_method": null, "last_setup_error_code": "idempotency_error",
        "last_setup_error_message": null, "cancellation_reason": null, "metadata": {},
        "livemode": false, "created": 1234567890,
    });
    let succeeded = json!({"status": "succeeded", "payment_method": "pm_1", "customer": "cus_1"});
    let events = [
        ("setup_intent.created", json!({}), json!({})),
        (
            "setup_intent.requires_action",
            json!({"status": "requires_action"}),
            json!({"status": "requires_action"}),
        ),
        (
            "setup_intent.setup_failed",
            json!({"last_setup_error": {"code": "card_declined", "message": "Your card was declined."}}),
            json!({"last_setup_error_code": "card_declined",
                   "last_setup_error_message": "Your card was declined."}),
        ),
        (
            "setup_intent.canceled",
            json!({"status": "canceled", "cancellation_reason": "abandoned"}),
            json!({"status": "canceled", "cancellation_reason": "abandoned"}),
        ),
        (
            "setup_intent.succeeded",
            with(&succeeded, &json!({"last_setup_error": null})),
            with(&succeeded, &json!({"last_setup_error_code": null})),
        ),
    ];
    SETUP_INTENT.each_alone(&app, published, &events).await;
    let linked = "SELECT count(*) FROM setup_intents s JOIN end_customers c ON c.id = s.customer_id
                  WHERE c.is_placeholder";
    assert_eq!(
        count(&app.pool, linked).await,
        1,
        "a placeholder customer, linked"
    );
}

#[tokio::test]
async fn each_payout_event_alone_produces_its_row() {
    let app = TestApp::spawn().await;
    let published = json!({
        "amount": 1100, "currency": "usd", "status": "in_transit", "arrival_date": 1234567890,
        "method": "standard", "type": "bank_account", "automatic": true, "failure_code": null,
        "failure_message": null, "destination": "ba_1Pgc79B7WZ01zgkWoU5vBiXt",
        "reconciliation_status": "completed", "metadata": {}, "livemode": false, "created": 1234567890,
    });
    let events = [
        (
            "payout.created",
            json!({"status": "pending", "reconciliation_status": "not_applicable"}),
        ),
        ("payout.updated", json!({"metadata": {"batch": "7"}})),
        ("payout.paid", json!({"status": "paid"})),
        (
            "payout.failed",
            json!({"status": "failed", "failure_code": "account_closed",
                   "failure_message": "The bank account has been closed."}),
        ),
        ("payout.canceled", json!({"status": "canceled"})),
        ("payout.reconciliation_completed", json!({})),
    ];
    PAYOUT.each_alone_same(&app, published, &events).await;
}

#[tokio::test]
async fn each_topup_event_alone_produces_its_row() {
    let app = TestApp::spawn().await;
    let published = json!({
        "amount": 1000, "currency": "usd", "status": "pending",
        "description": "Top-up description", "expected_availability_date": 123456789,
        "failure_code": null, "failure_message": null, "metadata": {"order_id": "12345678"},
        "livemode": false, "created": 1234567890,
    });
    let events = [
        ("topup.created", json!({})),
        ("topup.succeeded", json!({"status": "succeeded"})),
        (
            "topup.failed",
            json!({"status": "failed", "failure_code": "insufficient_funds",
                   "failure_message": "The bank account has insufficient funds."}),
        ),
        ("topup.canceled", json!({"status": "canceled"})),
        ("topup.reversed", json!({"status": "reversed"})),
    ];
    TOPUP.each_alone_same(&app, published, &events).await;
}

#[tokio::test]
async fn each_early_fraud_warning_event_alone_produces_its_row() {
    let app = TestApp::spawn().await;
    let published = json!({
        "charge": "ch_1234", "payment_intent": null, "fraud_type": "misc", "actionable": true,
        "livemode": false, "created": 1234567890,
    });
    let events = [
        ("radar.early_fraud_warning.created", json!({})),
        (
            "radar.early_fraud_warning.updated",
            json!({"actionable": false, "fraud_type": "card_never_received"}),
        ),
    ];
    WARNING.each_alone_same(&app, published, &events).await;
    reset(&app.pool).await;
    let expanded = with(
        &resource(WARNING.resource),
        &json!({"charge": {"id": "ch_1234", "object": "charge"}, "payment_intent": "pi_1"}),
    );
    apply(
        &app,
        &event_of("radar.early_fraud_warning.created", 100, expanded),
    )
    .await;
    let row = WARNING.row(&app.pool).await;
    assert_eq!(
        (&row["charge"], &row["payment_intent"]),
        (&json!("ch_1234"), &json!("pi_1"))
    );
}

#[tokio::test]
async fn each_review_event_alone_produces_its_row() {
    let app = TestApp::spawn().await;
    let published = json!({
        "charge": "ch_1PgafuB7WZ01zgkWXYmPNZs8", "payment_intent": null, "reason": "reason",
        "open": true, "opened_reason": "rule", "closed_reason": null, "livemode": false,
        "created": 1234567890,
    });
    let events = [
        ("review.opened", json!({"reason": "rule"})),
        (
            "review.closed",
            json!({"open": false, "reason": "approved", "closed_reason": "approved"}),
        ),
    ];
    REVIEW.each_alone_same(&app, published, &events).await;
}

async fn every_row(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT 'setup ' || row(stripe_setup_intent_id, status, last_setup_error_code, last_event_id)::text
         FROM setup_intents
         UNION ALL SELECT 'payout ' || row(stripe_payout_id, status, reconciliation_status, last_event_id)::text
         FROM payouts
         UNION ALL SELECT 'topup ' || row(stripe_topup_id, status, last_event_id)::text
         FROM topups
         UNION ALL SELECT 'warning ' || row(stripe_early_fraud_warning_id, actionable, last_event_id)::text
         FROM early_fraud_warnings
         UNION ALL SELECT 'review ' || row(stripe_review_id, open, closed_reason, last_event_id)::text
         FROM reviews
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn any_delivery_order_ends_in_the_same_rows() {
    let app = TestApp::spawn().await;
    let at = |resource_name: &str, event_type: &str, created: i64, changes: Value| {
        event_of(
            event_type,
            created,
            with(&resource(resource_name), &changes),
        )
    };
    let events = [
        at("setup_intent", "setup_intent.created", 100, json!({})),
        at(
            "setup_intent",
            "setup_intent.setup_failed",
            101,
            json!({"last_setup_error": {"code": "card_declined"}}),
        ),
        at(
            "setup_intent",
            "setup_intent.succeeded",
            102,
            json!({"status": "succeeded", "last_setup_error": null}),
        ),
        at(
            "payout",
            "payout.created",
            100,
            json!({"status": "pending"}),
        ),
        at(
            "payout",
            "payout.paid",
            101,
            json!({"status": "paid", "reconciliation_status": "in_progress"}),
        ),
        at(
            "payout",
            "payout.reconciliation_completed",
            102,
            json!({"status": "paid", "reconciliation_status": "completed"}),
        ),
        at(
            "radar.early_fraud_warning",
            "radar.early_fraud_warning.created",
            100,
            json!({}),
        ),
        at(
            "radar.early_fraud_warning",
            "radar.early_fraud_warning.updated",
            101,
            json!({"actionable": false}),
        ),
        at("topup", "topup.created", 100, json!({})),
        at(
            "topup",
            "topup.succeeded",
            101,
            json!({"status": "succeeded"}),
        ),
        at(
            "topup",
            "topup.reversed",
            102,
            json!({"status": "reversed"}),
        ),
        at("review", "review.opened", 100, json!({})),
        at(
            "review",
            "review.closed",
            101,
            json!({"open": false, "closed_reason": "refunded"}),
        ),
    ];
    let last = |i: usize| events[i]["id"].as_str().unwrap().to_owned();
    let [ordered, reversed, shuffled] = in_three_orders(&app, &events, 9, every_row).await;
    let expected = [
        format!("payout ({},paid,completed,{})", PAYOUT.id(), last(5)),
        format!("review ({},f,refunded,{})", REVIEW.id(), last(12)),
        format!("setup ({},succeeded,,{})", SETUP_INTENT.id(), last(2)),
        format!("topup ({},reversed,{})", TOPUP.id(), last(10)),
        format!("warning ({},f,{})", WARNING.id(), last(7)),
    ];
    assert_eq!(ordered, expected);
    assert_eq!(reversed, expected);
    assert_eq!(shuffled, expected);
}

#[tokio::test]
async fn backfill_imports_setup_intents_payouts_warnings_and_reviews() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let lists = [
        ("/v1/setup_intents", SETUP_INTENT, "seti_"),
        ("/v1/payouts", PAYOUT, "po_"),
        ("/v1/topups", TOPUP, "tu_"),
        ("/v1/radar/early_fraud_warnings", WARNING, "issfr_"),
        ("/v1/reviews", REVIEW, "prv_"),
    ];
    for (path, case, prefix) in &lists {
        let objects = (0..3)
            .map(|i| {
                with(
                    &resource(case.resource),
                    &json!({"id": format!("{prefix}fake{i}")}),
                )
            })
            .collect();
        fake.serve_list(path, objects).await;
    }
    let report = fake.run_json(
        &app,
        &[
            "backfill",
            "setup-intents",
            "payouts",
            "topups",
            "early-fraud-warnings",
            "reviews",
        ],
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
            (json!("setup-intents"), json!(3)),
            (json!("payouts"), json!(3)),
            (json!("early-fraud-warnings"), json!(3)),
            (json!("reviews"), json!(3)),
            (json!("topups"), json!(3)),
        ]
    );
    for (_, case, _) in &lists {
        let sql = format!(
            "SELECT count(*) FROM {} WHERE last_event_id = 'snapshot'",
            case.table
        );
        assert_eq!(count(&app.pool, &sql).await, 3, "{}", case.table);
    }
}

/// Payouts, top-ups and Radar's signals are the operator's: no user reads them,
/// even with the read-own-rows policies installed.
#[tokio::test]
async fn payouts_and_fraud_signals_stay_private_with_the_read_own_rows_policies() {
    let app = TestApp::spawn().await;
    supabase_shape(&app.pool, "public").await;
    apply(&app, &fixture("customer.created")).await;
    for (case, event_type) in [
        (PAYOUT, "payout.paid"),
        (TOPUP, "topup.succeeded"),
        (WARNING, "radar.early_fraud_warning.created"),
        (REVIEW, "review.opened"),
    ] {
        apply(&app, &event_of(event_type, 100, resource(case.resource))).await;
    }
    let user = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO users (id, customer_id) SELECT $1, id FROM end_customers")
        .bind(user)
        .execute(&app.pool)
        .await
        .unwrap();
    run_optional_sql(&app, "read_own_rows", &["schema=public"]);
    let user = user.to_string();
    for table in ["payouts", "topups", "early_fraud_warnings", "reviews"] {
        let select = format!("SELECT count(*)::text FROM {table}");
        assert_eq!(
            as_role(&app.pool, "anon", None, &select).await.unwrap(),
            ["0"],
            "{table}"
        );
        assert_eq!(
            as_role(&app.pool, "authenticated", Some(&user), &select)
                .await
                .unwrap(),
            ["0"],
            "{table}"
        );
        assert_eq!(
            count(&app.pool, &format!("SELECT count(*) FROM {table}")).await,
            1
        );
    }
}
