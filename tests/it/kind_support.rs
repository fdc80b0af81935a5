//! What the tests of the typed kinds share: objects from Stripe's
//! published fixture (`fixtures/stripe/fixtures3.json`, one of every
//! resource), webhook envelopes around them, and Supabase users linked to
//! customers for the row-level security checks.

use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, new_event_id},
    supabase::supabase_shape,
    worker_support::{apply, fixture},
};

static FIXTURES: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
    let text = include_str!("../../fixtures/stripe/fixtures3.json");
    serde_json::from_str(text).expect("fixtures3.json parses")
});

/// One resource of the fixture, such as `"credit_note"`, as published.
pub fn stripe_fixture(resource: &str) -> Value {
    let object = FIXTURES["resources"][resource].clone();
    assert!(object.is_object(), "the fixture has no {resource}");
    object
}

/// A webhook envelope of type `event_type` around `object`.
pub fn event(event_type: &str, created: i64, object: Value) -> Value {
    json!({
        "id": new_event_id(), "object": "event", "api_version": "2026-07-29.dahlia",
        "created": created, "type": event_type, "livemode": false,
        "pending_webhooks": 1, "request": {"id": null, "idempotency_key": null},
        "data": {"object": object},
    })
}

/// Supabase's shape, the customers, and a user linked to each; returns the
/// users' ids in the customers' order.
pub async fn linked_users(app: &TestApp, customers: &[&str]) -> Vec<String> {
    supabase_shape(&app.pool, "public").await;
    let mut users = Vec::new();
    for customer in customers {
        let mut created = fixture("customer.created");
        created["id"] = json!(new_event_id());
        created["data"]["object"]["id"] = json!(customer);
        apply(app, &created).await;
        let user = uuid::Uuid::new_v4();
        sqlx::query(
            "INSERT INTO users (id, customer_id) SELECT $1, id FROM end_customers WHERE stripe_customer_id = $2",
        )
        .bind(user)
        .bind(customer)
        .execute(&app.pool)
        .await
        .unwrap();
        users.push(user.to_string());
    }
    users
}
