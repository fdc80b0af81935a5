//! Invoices and subscription items: the billing page. Each event alone, any
//! delivery order, tombstones, an invoice before its customer, a
//! multi-item subscription whose items change, and both API shapes.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{helpers::TestApp, worker_support::*};

const INVOICE: &str = "in_1Pgc6tB7WZ01zgkWu9fdqL6I";
const CUSTOMER: &str = "cus_QXg1o8vcGmoR32";
const SUBSCRIPTION: &str = "sub_1Pgc6rB7WZ01zgkWNy0Cn5nw";
const ITEM: &str = "si_QXhVnC2h0Jczwc";
const PRICE: &str = "price_1PgafmB7WZ01zgkW6dKueIc5";
const HOSTED: &str =
    "https://invoice.stripe.com/i/acct_1Pgc6rB7WZ01zgkW/test_in_1Pgc6tB7WZ01zgkWu9fdqL6I";

/// What a billing page shows of one invoice.
#[derive(Debug, PartialEq)]
struct Invoice {
    status: Option<String>,
    number: Option<String>,
    amounts: (Option<i64>, Option<i64>, Option<i64>),
    hosted_invoice_url: Option<String>,
    invoice_pdf: Option<String>,
    customer: Option<String>,
    subscription: Option<String>,
    deleted: bool,
}

async fn invoice(pool: &PgPool, id: &str) -> Option<Invoice> {
    type Row = (
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        bool,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT i.status, i.number, i.amount_due, i.amount_paid, i.amount_remaining, i.hosted_invoice_url,
                i.invoice_pdf, c.stripe_customer_id, i.stripe_subscription_id, i.deleted_at IS NOT NULL
         FROM invoices i LEFT JOIN end_customers c ON c.id = i.customer_id
         WHERE i.stripe_invoice_id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .unwrap();
    row.map(|r| Invoice {
        status: r.0,
        number: r.1,
        amounts: (r.2, r.3, r.4),
        hosted_invoice_url: r.5,
        invoice_pdf: r.6,
        customer: r.7,
        subscription: r.8,
        deleted: r.9,
    })
}

/// The invoice's lines: (line's price, subscription, subscription item, amount, quantity).
async fn lines(
    pool: &PgPool,
    id: &str,
) -> Vec<(
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
)> {
    sqlx::query_as(
        "SELECT stripe_price_id, stripe_subscription_id, stripe_subscription_item_id, amount, quantity
         FROM invoice_lines WHERE stripe_invoice_id = $1 ORDER BY stripe_invoice_line_id",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .unwrap()
}

fn open_invoice(status: &str, amounts: (i64, i64, i64)) -> Invoice {
    Invoice {
        status: Some(status.into()),
        number: Some("A1B2C3D4-0001".into()),
        amounts: (Some(amounts.0), Some(amounts.1), Some(amounts.2)),
        hosted_invoice_url: Some(HOSTED.into()),
        invoice_pdf: Some(format!("{HOSTED}/pdf")),
        customer: Some(CUSTOMER.into()),
        subscription: Some(SUBSCRIPTION.into()),
        deleted: false,
    }
}

fn draft_invoice(deleted: bool) -> Invoice {
    Invoice {
        status: Some("draft".into()),
        number: None,
        amounts: (Some(1000), Some(0), Some(1000)),
        hosted_invoice_url: None,
        invoice_pdf: None,
        customer: Some(CUSTOMER.into()),
        subscription: Some(SUBSCRIPTION.into()),
        deleted,
    }
}

#[tokio::test]
async fn each_invoice_event_alone_produces_its_row() {
    let app = TestApp::spawn().await;
    let cases = [
        ("invoice.created", draft_invoice(false)),
        ("invoice.finalized", open_invoice("open", (1000, 0, 1000))),
        (
            "invoice.payment_failed",
            open_invoice("open", (1000, 0, 1000)),
        ),
        ("invoice.paid", open_invoice("paid", (1000, 1000, 0))),
        ("invoice.voided", open_invoice("void", (1000, 0, 1000))),
        ("invoice.deleted", draft_invoice(true)),
    ];
    for (event_type, expected) in cases {
        reset(&app.pool).await;
        let event = fixture(event_type);
        apply(&app, &event).await;
        assert_eq!(
            invoice(&app.pool, INVOICE).await,
            Some(expected),
            "{event_type}"
        );
        assert_eq!(
            lines(&app.pool, INVOICE).await,
            [(
                Some(PRICE.into()),
                Some(SUBSCRIPTION.into()),
                Some(ITEM.into()),
                Some(1000),
                Some(1)
            )],
            "{event_type}: the line links to its price and subscription item"
        );
        let id = event["id"].as_str().unwrap();
        assert_eq!(
            log_statuses(&app.pool, id).await,
            ["success"],
            "{event_type}"
        );
    }
}

/// Invoices and their lines, in a form that compares across runs.
async fn billing(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT 'invoice ' || row(i.stripe_invoice_id, c.stripe_customer_id, i.stripe_subscription_id, i.status,
                                  i.number, i.amount_due, i.amount_paid, i.amount_remaining, i.paid_at,
                                  i.hosted_invoice_url, i.deleted_at IS NOT NULL, i.last_event_id)::text
         FROM invoices i LEFT JOIN end_customers c ON c.id = i.customer_id
         UNION ALL
         SELECT 'line ' || row(stripe_invoice_id, stripe_invoice_line_id, stripe_price_id, amount, quantity)::text
         FROM invoice_lines
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn any_delivery_order_ends_in_the_same_invoice() {
    let app = TestApp::spawn().await;
    let events: Vec<Value> = [
        "customer.created",
        "invoice.created",
        "invoice.finalized",
        "invoice.payment_failed",
        "invoice.paid",
    ]
    .iter()
    .map(|t| fixture(t))
    .collect();
    let seen = in_three_orders(&app, &events, 13, billing).await;
    assert_eq!(seen[0], seen[1], "reversed");
    assert_eq!(seen[0], seen[2], "shuffled with duplicates");
    assert_eq!(
        invoice(&app.pool, INVOICE).await,
        Some(open_invoice("paid", (1000, 1000, 0))),
        "the newest event's state"
    );
}

#[tokio::test]
async fn an_invoice_before_its_customer_links_to_a_placeholder_then_the_customer() {
    let app = TestApp::spawn().await;
    apply(&app, &fixture("invoice.paid")).await;
    let placeholder: (bool, Option<String>) = sqlx::query_as(
        "SELECT is_placeholder, email FROM end_customers WHERE stripe_customer_id = $1",
    )
    .bind(CUSTOMER)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(placeholder, (true, None));
    assert_eq!(
        invoice(&app.pool, INVOICE)
            .await
            .unwrap()
            .customer
            .as_deref(),
        Some(CUSTOMER)
    );
    apply(&app, &fixture("customer.created")).await;
    let filled: (bool, Option<String>, i64) = sqlx::query_as(
        "SELECT c.is_placeholder, c.email, (SELECT count(*) FROM end_customers)
         FROM invoices i JOIN end_customers c ON c.id = i.customer_id WHERE i.stripe_invoice_id = $1",
    )
    .bind(INVOICE)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        filled,
        (false, Some("jenny.rosen@example.com".into()), 1),
        "the same customer row, filled in"
    );
}

#[tokio::test]
async fn a_deleted_invoice_stays_deleted() {
    let app = TestApp::spawn().await;
    apply(&app, &fixture("invoice.deleted")).await;
    let mut later = fixture_at("invoice.finalized", 1_780_000_000);
    later["data"]["object"]["number"] = json!("LATER-0002");
    apply(&app, &later).await;
    let row = invoice(&app.pool, INVOICE).await.unwrap();
    assert_eq!(
        (row.number.as_deref(), row.deleted),
        (Some("LATER-0002"), true),
        "details move on, the tombstone stays"
    );
}

/// Up to 2025-02-24.acacia an invoice names its subscription at the top and
/// each line its `price` (an object) and `subscription_item`; from
/// 2025-03-31.basil they sit under `parent` and `pricing`. Both read the same.
#[tokio::test]
async fn invoices_sync_from_both_api_shapes() {
    let app = TestApp::spawn().await;
    let basil = fixture("invoice.paid");
    let mut acacia = fixture_at("invoice.paid", 1_721_954_580);
    acacia["api_version"] = json!("2025-02-24.acacia");
    let object = &mut acacia["data"]["object"];
    object["id"] = json!("in_acacia");
    object["subscription"] = json!(SUBSCRIPTION);
    object.as_object_mut().unwrap().remove("parent");
    let line = &mut object["lines"]["data"][0];
    line["price"] = json!({"id": PRICE, "object": "price", "product": "prod_QXg1hqf4jFNsqG"});
    line["subscription"] = json!(SUBSCRIPTION);
    line["subscription_item"] = json!(ITEM);
    line.as_object_mut().unwrap().remove("parent");
    line.as_object_mut().unwrap().remove("pricing");
    apply(&app, &basil).await;
    apply(&app, &acacia).await;
    assert_eq!(
        invoice(&app.pool, "in_acacia").await,
        invoice(&app.pool, INVOICE).await
    );
    assert_eq!(
        lines(&app.pool, "in_acacia").await,
        lines(&app.pool, INVOICE).await
    );
    assert_eq!(lines(&app.pool, INVOICE).await.len(), 1);
}

/// A subscription's items as (item, price, quantity), by item id.
async fn items(pool: &PgPool) -> Vec<(String, Option<String>, Option<i64>)> {
    sqlx::query_as(
        "SELECT stripe_subscription_item_id, stripe_price_id, quantity FROM subscription_items
         WHERE stripe_subscription_id = $1 ORDER BY 1",
    )
    .bind(SUBSCRIPTION)
    .fetch_all(pool)
    .await
    .unwrap()
}

/// The fixture subscription with the given (item id, price, quantity) items.
fn with_items(event_type: &str, created: i64, listed: &[(&str, &str, i64)]) -> Value {
    let mut event = fixture_at(event_type, created);
    let first = event["data"]["object"]["items"]["data"][0].clone();
    let data: Vec<Value> = listed
        .iter()
        .map(|(id, price, quantity)| {
            let mut item = first.clone();
            item["id"] = json!(id);
            item["price"]["id"] = json!(price);
            item["quantity"] = json!(quantity);
            item
        })
        .collect();
    event["data"]["object"]["items"]["data"] = json!(data);
    event
}

#[tokio::test]
async fn a_multi_item_subscription_keeps_every_item_and_drops_removed_ones() {
    let app = TestApp::spawn().await;
    let created = with_items(
        "customer.subscription.created",
        1_780_000_000,
        &[
            ("si_seats", "price_seats", 5),
            ("si_metered", "price_api_calls", 1),
        ],
    );
    apply(&app, &created).await;
    assert_eq!(
        items(&app.pool).await,
        [
            ("si_metered".into(), Some("price_api_calls".into()), Some(1)),
            ("si_seats".into(), Some("price_seats".into()), Some(5)),
        ]
    );
    let updated = with_items(
        "customer.subscription.updated",
        1_780_000_060,
        &[("si_seats", "price_seats", 8)],
    );
    apply(&app, &updated).await;
    assert_eq!(
        items(&app.pool).await,
        [("si_seats".into(), Some("price_seats".into()), Some(8))],
        "the add-on was removed, the seats changed"
    );
    // A late delivery of an older event brings nothing back.
    apply(&app, &created).await;
    assert_eq!(
        items(&app.pool).await,
        [("si_seats".into(), Some("price_seats".into()), Some(8))]
    );
    let single: (Option<String>, Option<i64>) = sqlx::query_as(
        "SELECT price_id, quantity FROM subscriptions WHERE stripe_subscription_id = $1",
    )
    .bind(SUBSCRIPTION)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        single,
        (Some("price_seats".into()), Some(8)),
        "the first item stays on the subscription for single-item readers"
    );
}

#[tokio::test]
async fn a_truncated_item_list_removes_nothing() {
    let app = TestApp::spawn().await;
    let both = with_items(
        "customer.subscription.created",
        1_780_000_000,
        &[("si_a", "price_a", 1), ("si_b", "price_b", 2)],
    );
    apply(&app, &both).await;
    let mut truncated = with_items(
        "customer.subscription.updated",
        1_780_000_060,
        &[("si_a", "price_a", 3)],
    );
    truncated["data"]["object"]["items"]["has_more"] = json!(true);
    apply(&app, &truncated).await;
    assert_eq!(
        items(&app.pool).await,
        [
            ("si_a".into(), Some("price_a".into()), Some(3)),
            ("si_b".into(), Some("price_b".into()), Some(2)),
        ],
        "si_b may be beyond the page Stripe sent"
    );
}

#[tokio::test]
async fn any_delivery_order_ends_in_the_same_items() {
    let app = TestApp::spawn().await;
    let events = vec![
        with_items(
            "customer.subscription.created",
            1_780_000_000,
            &[
                ("si_seats", "price_seats", 5),
                ("si_metered", "price_api_calls", 1),
            ],
        ),
        with_items(
            "customer.subscription.updated",
            1_780_000_060,
            &[
                ("si_seats", "price_seats", 8),
                ("si_support", "price_support", 1),
            ],
        ),
        with_items(
            "customer.subscription.updated",
            1_780_000_120,
            &[
                ("si_seats", "price_seats", 9),
                ("si_support", "price_support", 1),
            ],
        ),
    ];
    let seen = in_three_orders(&app, &events, 5, snapshot).await;
    assert_eq!(seen[0], seen[1], "reversed");
    assert_eq!(seen[0], seen[2], "shuffled with duplicates");
    assert_eq!(
        items(&app.pool).await,
        [
            ("si_seats".into(), Some("price_seats".into()), Some(9)),
            ("si_support".into(), Some("price_support".into()), Some(1)),
        ]
    );
}

/// Up to 2025-02-24.acacia the period sits on the subscription, and each
/// item shares it; from 2025-03-31.basil each item has its own.
#[tokio::test]
async fn item_periods_sync_from_both_api_shapes() {
    let app = TestApp::spawn().await;
    let mut acacia = fixture_at("customer.subscription.created", 1_780_000_000);
    let object = &mut acacia["data"]["object"];
    object["current_period_start"] = json!(1_780_000_000);
    object["current_period_end"] = json!(1_782_592_000);
    let item = &mut object["items"]["data"][0];
    item.as_object_mut().unwrap().remove("current_period_start");
    item.as_object_mut().unwrap().remove("current_period_end");
    apply(&app, &acacia).await;
    let acacia_period: (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT extract(epoch FROM current_period_start)::int8, extract(epoch FROM current_period_end)::int8
         FROM subscription_items WHERE stripe_subscription_item_id = $1",
    )
    .bind(ITEM)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(acacia_period, (Some(1_780_000_000), Some(1_782_592_000)));

    let mut basil = fixture_at("customer.subscription.updated", 1_780_000_060);
    let item = &mut basil["data"]["object"]["items"]["data"][0];
    item["current_period_start"] = json!(1_780_086_400);
    item["current_period_end"] = json!(1_782_678_400);
    apply(&app, &basil).await;
    let basil_period: (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT extract(epoch FROM current_period_start)::int8, extract(epoch FROM current_period_end)::int8
         FROM subscription_items WHERE stripe_subscription_item_id = $1",
    )
    .bind(ITEM)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(basil_period, (Some(1_780_086_400), Some(1_782_678_400)));
}

#[tokio::test]
async fn backfill_imports_invoices_with_their_lines_and_customers() {
    let app = TestApp::spawn().await;
    let fake = crate::fake_stripe::FakeStripe::start_invoices(30, 75);
    let report = fake.run_json(&app, &["backfill", "customers", "invoices"]);
    let invoices = report
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kind"] == json!("invoices"))
        .cloned();
    assert_eq!(
        invoices.map(|k| (k["objects"].clone(), k["written"].clone())),
        Some((json!(75), json!(75)))
    );
    let linked: (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(c.id) FILTER (WHERE NOT c.is_placeholder), (SELECT count(*) FROM invoice_lines)
         FROM invoices i LEFT JOIN end_customers c ON c.id = i.customer_id",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        linked,
        (75, 75, 75),
        "every invoice linked to a real customer, one line each"
    );
    let again = fake.run_json(&app, &["backfill", "invoices"]);
    assert_eq!(
        again[0]["written"],
        json!(0),
        "nothing newer the second time"
    );
}
