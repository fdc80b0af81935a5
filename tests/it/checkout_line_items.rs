//! A checkout session's line items: kept when Stripe includes them (an
//! expanded session), replaced as a set by the newest session that has
//! them, untouched by one that does not, and private like the session.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    fake_stripe::FakeStripe,
    helpers::{TestApp, new_event_id},
    kind_support::{linked_users, stripe_fixture},
    supabase::{as_role, run_optional_sql},
    worker_support::{apply, fixture_at, in_three_orders, log_statuses},
};

const SESSION: &str = "cs_test_a1YS1URlnyQCN5fUUduORoQ7Pw41PJqDWkIVQCpJPqkfIhd6tVY8XB1OLY";

/// A line item of Stripe's fixture with its own id and quantity.
fn line_item(id: &str, quantity: i64) -> Value {
    let mut item = stripe_fixture("item");
    item["id"] = json!(id);
    item["quantity"] = json!(quantity);
    item["amount_subtotal"] = json!(1000 * quantity);
    item["amount_total"] = json!(1000 * quantity);
    item
}

/// The sample `checkout.session.completed` at `created`, expanded with
/// `items` unless `None`.
fn completed(created: i64, items: Option<Vec<Value>>) -> Value {
    let mut event = fixture_at("checkout.session.completed", created);
    if let Some(items) = items {
        event["data"]["object"]["line_items"] = json!({"object": "list", "data": items,
            "has_more": false, "url": format!("/v1/checkout/sessions/{SESSION}/line_items")});
    }
    event
}

async fn line_items(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT row(l.stripe_checkout_session_id, l.stripe_line_item_id, l.stripe_price_id, l.stripe_product_id,
                   l.description, l.quantity, l.currency, l.amount_subtotal, l.amount_discount, l.amount_tax,
                   l.amount_total, s.stripe_checkout_session_id IS NOT NULL)::text
         FROM checkout_session_line_items l
         LEFT JOIN checkout_sessions s ON s.id = l.checkout_session_id ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

fn row(id: &str, quantity: i64) -> String {
    let amount = 1000 * quantity;
    format!(
        "({SESSION},{id},price_1PgafmB7WZ01zgkW02Hf9z6c,prod_QXg1hqf4jFNsqG,T-shirt,{quantity},usd,\
         {amount},0,0,{amount},t)"
    )
}

#[tokio::test]
async fn an_expanded_session_keeps_its_line_items_and_one_without_them_changes_none() {
    let app = TestApp::spawn().await;
    let expanded = completed(100, Some(vec![line_item("li_a", 1), line_item("li_b", 2)]));
    apply(&app, &expanded).await;
    assert_eq!(
        log_statuses(&app.pool, expanded["id"].as_str().unwrap()).await,
        ["success"]
    );
    assert_eq!(
        line_items(&app.pool).await,
        [row("li_a", 1), row("li_b", 2)]
    );

    apply(&app, &completed(200, None)).await;
    assert_eq!(
        line_items(&app.pool).await,
        [row("li_a", 1), row("li_b", 2)],
        "Stripe sends line items only when expanded: their absence removes none"
    );

    apply(&app, &completed(300, Some(vec![line_item("li_b", 3)]))).await;
    assert_eq!(
        line_items(&app.pool).await,
        [row("li_b", 3)],
        "replaced as a set"
    );
}

#[tokio::test]
async fn the_newest_list_wins_in_every_delivery_order() {
    let app = TestApp::spawn().await;
    let events = [
        completed(100, Some(vec![line_item("li_a", 1)])),
        completed(160, Some(vec![line_item("li_a", 2), line_item("li_b", 1)])),
        // The newest event, as webhooks send it: not expanded.
        completed(220, None),
    ];
    let expected = [row("li_a", 2), row("li_b", 1)];
    let [ordered, reversed, shuffled] = in_three_orders(&app, &events, 13, line_items).await;
    assert_eq!(ordered, expected);
    assert_eq!(reversed, expected, "an older event's list still lands");
    assert_eq!(shuffled, expected);
}

/// A backfill asks Stripe to expand each session's line items.
#[tokio::test]
async fn backfill_asks_for_line_items_and_keeps_them() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let mut session = completed(100, Some(vec![line_item("li_a", 1)]))["data"]["object"].clone();
    session["customer"] = Value::Null;
    fake.serve_list("/v1/checkout/sessions", vec![session])
        .await;
    let report = fake.run_json(&app, &["backfill", "checkout-sessions"]);
    assert_eq!(report[0]["objects"], json!(1), "{report}");
    assert_eq!(line_items(&app.pool).await, [row("li_a", 1)]);
    let asked = fake.requests().await;
    assert!(
        asked.iter().any(|r| r["path"] == "/v1/checkout/sessions"
            && r["query"].to_string().contains("data.line_items")),
        "{asked:?}"
    );
}

#[tokio::test]
async fn line_items_are_private_and_each_user_reads_only_their_own() {
    let app = TestApp::spawn().await;
    let users = linked_users(&app, &["cus_alice", "cus_bob"]).await;
    for customer in ["cus_alice", "cus_bob"] {
        let mut session = completed(100, Some(vec![line_item(&format!("li_{customer}"), 1)]));
        session["id"] = json!(new_event_id());
        session["data"]["object"]["id"] = json!(format!("cs_test_{customer}"));
        session["data"]["object"]["customer"] = json!(customer);
        apply(&app, &session).await;
    }
    let select = "SELECT stripe_line_item_id FROM checkout_session_line_items ORDER BY 1";
    assert_eq!(
        as_role(&app.pool, "anon", None, select).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        as_role(&app.pool, "authenticated", Some(&users[0]), select)
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
        as_role(&app.pool, "authenticated", Some(&users[0]), select)
            .await
            .unwrap(),
        ["li_cus_alice"]
    );
}
