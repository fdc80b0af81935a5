//! Products and prices: the pricing page. Each event alone, any delivery
//! order, tombstones, and a price that arrives before its product.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{helpers::TestApp, worker_support::*};

const PRODUCT: &str = "prod_QXg1hqf4jFNsqG";
const PRICE: &str = "price_1PgafmB7WZ01zgkW6dKueIc5";
/// The fixture product's `default_price` (another price than the fixture's).
const DEFAULT_PRICE: &str = "price_1PgafmB7WZ01zgkW02Hf9z6c";

/// Both tables, in a form that compares across runs.
async fn catalog(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT 'product ' || row(stripe_product_id, name, description, active, default_price_id, metadata,
                                  livemode, deleted_at IS NOT NULL, is_placeholder, last_event_id)::text
         FROM products
         UNION ALL
         SELECT 'price ' || row(p.stripe_price_id, pr.stripe_product_id, p.active, p.currency, p.unit_amount,
                                p.type, p.recurring_interval, p.recurring_interval_count, p.nickname,
                                p.livemode, p.deleted_at IS NOT NULL, p.last_event_id)::text
         FROM prices p LEFT JOIN products pr ON pr.id = p.product_id
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

type ProductRow = (Option<String>, Option<bool>, Option<String>, bool, bool);

async fn product_row(pool: &PgPool) -> Option<ProductRow> {
    sqlx::query_as(
        "SELECT name, active, default_price_id, deleted_at IS NOT NULL, is_placeholder
         FROM products WHERE stripe_product_id = $1",
    )
    .bind(PRODUCT)
    .fetch_optional(pool)
    .await
    .unwrap()
}

type PriceRow = (
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    bool,
    Option<String>,
);

async fn price_row(pool: &PgPool) -> Option<PriceRow> {
    sqlx::query_as(
        "SELECT p.unit_amount, p.currency, p.recurring_interval, p.nickname, pr.stripe_product_id,
                p.deleted_at IS NOT NULL, p.type
         FROM prices p LEFT JOIN products pr ON pr.id = p.product_id WHERE p.stripe_price_id = $1",
    )
    .bind(PRICE)
    .fetch_optional(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn each_product_and_price_event_alone_produces_its_row() {
    let app = TestApp::spawn().await;
    apply(&app, &fixture("product.created")).await;
    assert_eq!(
        product_row(&app.pool).await,
        Some((
            Some("T-shirt".into()),
            Some(true),
            Some(DEFAULT_PRICE.into()),
            false,
            false
        ))
    );
    apply(&app, &fixture("product.updated")).await;
    assert_eq!(
        product_row(&app.pool).await.unwrap().0.as_deref(),
        Some("T-shirt (organic)")
    );
    apply(&app, &fixture("price.created")).await;
    assert_eq!(
        price_row(&app.pool).await,
        Some((
            Some(2000),
            Some("usd".into()),
            Some("month".into()),
            None,
            Some(PRODUCT.into()),
            false,
            Some("recurring".into())
        ))
    );
    apply(&app, &fixture("price.updated")).await;
    assert_eq!(
        price_row(&app.pool).await.unwrap().3.as_deref(),
        Some("Monthly")
    );
    apply(&app, &fixture("price.deleted")).await;
    let price = price_row(&app.pool).await.unwrap();
    assert_eq!(
        (price.0, price.5),
        (Some(2000), true),
        "a tombstone that keeps what the stub left out"
    );
    apply(&app, &fixture("product.deleted")).await;
    assert_eq!(
        product_row(&app.pool).await,
        Some((
            Some("T-shirt (organic)".into()),
            Some(true),
            Some(DEFAULT_PRICE.into()),
            true,
            false
        ))
    );
    for event in ["product.created", "price.created"] {
        let id = fixture(event)["id"].as_str().unwrap().to_owned();
        assert_eq!(log_statuses(&app.pool, &id).await, ["success"], "{event}");
    }
}

fn catalog_events() -> Vec<Value> {
    [
        "product.created",
        "product.updated",
        "price.created",
        "price.updated",
        "price.deleted",
        "product.deleted",
    ]
    .iter()
    .map(|t| fixture(t))
    .collect()
}

#[tokio::test]
async fn any_delivery_order_ends_in_the_same_catalog() {
    let app = TestApp::spawn().await;
    let events = catalog_events();
    let seen = in_three_orders(&app, &events, 7, catalog).await;
    assert_eq!(seen[0], seen[1], "reversed");
    assert_eq!(seen[0], seen[2], "shuffled with duplicates");
    let tombstones = "SELECT (SELECT count(*) FROM products WHERE deleted_at IS NOT NULL)
                           + (SELECT count(*) FROM prices WHERE deleted_at IS NOT NULL)";
    assert_eq!(
        count(&app.pool, tombstones).await,
        2,
        "both deleted, whatever the order"
    );
}

#[tokio::test]
async fn a_deleted_product_stays_deleted() {
    let app = TestApp::spawn().await;
    apply(&app, &fixture("product.deleted")).await;
    let mut later = fixture_at("product.updated", 1_780_000_000);
    later["data"]["object"]["name"] = json!("Back from the dead?");
    apply(&app, &later).await;
    let row = product_row(&app.pool).await.unwrap();
    assert_eq!(
        (row.0.as_deref(), row.3),
        (Some("Back from the dead?"), true)
    );
}

#[tokio::test]
async fn a_price_before_its_product_links_to_a_placeholder_then_the_product() {
    let app = TestApp::spawn().await;
    apply(&app, &fixture("price.created")).await;
    assert_eq!(
        product_row(&app.pool).await,
        Some((None, None, None, false, true)),
        "a placeholder"
    );
    assert_eq!(
        price_row(&app.pool).await.unwrap().4.as_deref(),
        Some(PRODUCT)
    );
    apply(&app, &fixture("product.created")).await;
    let product = product_row(&app.pool).await.unwrap();
    assert_eq!(
        (product.0.as_deref(), product.4),
        (Some("T-shirt"), false),
        "filled in"
    );
    assert_eq!(count(&app.pool, "SELECT count(*) FROM products").await, 1);
}

/// A plan is a recurring price's older name, with the same id: its events
/// write the same row, and the price's `lookup_key`, which a plan does not
/// carry, is kept.
#[tokio::test]
async fn plan_events_are_prices() {
    let app = TestApp::spawn().await;
    let mut price = fixture("price.created");
    price["data"]["object"]["lookup_key"] = json!("pro_monthly");
    apply(&app, &price).await;
    apply(&app, &fixture("plan.updated")).await;
    let row: (Option<String>, Option<String>, Option<i64>, Option<String>, i64) = sqlx::query_as(
        "SELECT nickname, lookup_key, unit_amount, recurring_interval, (SELECT count(*) FROM prices)
         FROM prices WHERE stripe_price_id = $1",
    )
    .bind(PRICE)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        row,
        (
            Some("Monthly (plan)".into()),
            Some("pro_monthly".into()),
            Some(2000),
            Some("month".into()),
            1
        )
    );
    apply(&app, &fixture("plan.deleted")).await;
    assert!(price_row(&app.pool).await.unwrap().5, "deleted as a price");
    let id = fixture("plan.updated")["id"].as_str().unwrap().to_owned();
    assert_eq!(log_statuses(&app.pool, &id).await, ["success"]);
}

#[tokio::test]
async fn backfill_imports_products_and_prices_linked() {
    let app = TestApp::spawn().await;
    let fake = crate::fake_stripe::FakeStripe::start_catalog(120, 250);
    let report = fake.run_json(&app, &["backfill", "products", "prices"]);
    let objects: Vec<(Value, Value)> = report
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["kind"].clone(), r["objects"].clone()))
        .collect();
    assert_eq!(
        objects,
        [
            (json!("products"), json!(120)),
            (json!("prices"), json!(250))
        ]
    );
    let linked = "SELECT count(*) FROM prices p JOIN products pr ON pr.id = p.product_id
                  WHERE NOT pr.is_placeholder AND pr.stripe_product_id = p.stripe_product_id";
    assert_eq!(
        count(&app.pool, linked).await,
        250,
        "every price linked to its product"
    );
}

const USER: &str = "4d3c2b1a-0f9e-4d8c-8b7a-6f5e4d3c2b1a";
const CUSTOMER: &str = "cus_QXg1o8vcGmoR32";

/// The Supabase purchase flow: `checkout.session.completed` with the user
/// as `client_reference_id` links that user to the session's customer.
#[tokio::test]
async fn a_completed_checkout_links_its_user_to_the_customer() {
    let app = TestApp::spawn().await;
    let mut seen = Vec::new();
    for order in [
        ["customer.created", "checkout.session.completed"],
        ["checkout.session.completed", "customer.created"],
    ] {
        reset(&app.pool).await;
        sqlx::query("DELETE FROM checkout_sessions")
            .execute(&app.pool)
            .await
            .unwrap();
        sqlx::query("DELETE FROM users")
            .execute(&app.pool)
            .await
            .unwrap();
        for event in order {
            apply(&app, &fixture(event)).await;
        }
        let session: (String, String, Option<i64>, String, Option<String>) = sqlx::query_as(
            "SELECT s.status, s.payment_status, s.amount_total, c.stripe_customer_id, s.client_reference_id
             FROM checkout_sessions s JOIN end_customers c ON c.id = s.customer_id",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(
            session,
            (
                "complete".into(),
                "paid".into(),
                Some(1099),
                CUSTOMER.into(),
                Some(USER.into())
            )
        );
        let linked: String = sqlx::query_scalar(
            "SELECT c.stripe_customer_id FROM users u JOIN end_customers c ON c.id = u.customer_id
             WHERE u.id = $1::uuid",
        )
        .bind(USER)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(linked, CUSTOMER);
        seen.push(snapshot(&app.pool).await);
    }
    assert_eq!(seen[0], seen[1], "either order, the same customer row");
}

/// A user already linked keeps their customer: a checkout never re-links.
#[tokio::test]
async fn a_checkout_does_not_replace_an_existing_link() {
    let app = TestApp::spawn().await;
    let mut other = fixture("customer.created");
    other["data"]["object"]["id"] = json!("cus_already");
    apply(&app, &other).await;
    sqlx::query("INSERT INTO users (id, customer_id) SELECT $1::uuid, id FROM end_customers WHERE stripe_customer_id = 'cus_already'")
        .bind(USER)
        .execute(&app.pool)
        .await
        .unwrap();
    apply(&app, &fixture("checkout.session.completed")).await;
    let linked: String = sqlx::query_scalar(
        "SELECT c.stripe_customer_id FROM users u JOIN end_customers c ON c.id = u.customer_id WHERE u.id = $1::uuid",
    )
    .bind(USER)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(linked, "cus_already");
}
