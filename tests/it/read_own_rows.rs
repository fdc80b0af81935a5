//! The opt-in read-own-rows policies, checked for every table linked to a
//! customer: the tables come from the schema and the objects from the
//! registry and Stripe's published fixture, so a new kind is covered
//! without a line here.

use serde_json::{Value, json};
use sqlx::PgPool;
use tether_sync::KINDS;

use crate::{
    helpers::TestApp,
    kind_support::{event, linked_users, stripe_fixture},
    supabase::{as_role, run_optional_sql},
    worker_support::{apply, count},
};

const CUSTOMERS: [&str; 2] = ["cus_alice", "cus_bob"];

/// A table linked to a customer, directly or (for a list replaced as a
/// set) through its parent.
#[derive(sqlx::FromRow)]
struct Linked {
    name: String,
    parent: Option<String>,
    parent_column: Option<String>,
    customer_column: String,
}

async fn customer_linked_tables(pool: &PgPool) -> Vec<Linked> {
    sqlx::query_as(
        "SELECT name, parent, parent_column, customer_column
         FROM tether_synced_tables('public') WHERE customer_column IS NOT NULL ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Stripe's fixture object for `object`, made `customer`'s: every id in it
/// (the object's and its lists' items') gets the customer as a suffix, so
/// two customers' objects never share one.
fn owned_by(object: &str, customer: &str) -> Value {
    let mut value = match object {
        // Not a resource of its own in the fixture: the summary a webhook
        // carries, around the fixture's active entitlement.
        "entitlements.active_entitlement_summary" => json!({
            "object": object, "livemode": false,
            "entitlements": {"object": "list", "has_more": false,
                             "data": [stripe_fixture("entitlements.active_entitlement")]},
        }),
        // Its line items come only when expanded, as backfill asks.
        "checkout.session" => {
            let mut session = stripe_fixture(object);
            session["line_items"] = json!({"object": "list", "has_more": false,
                                           "data": [stripe_fixture("item")]});
            session
        }
        _ => stripe_fixture(object),
    };
    suffix_ids(&mut value, customer);
    value["customer"] = json!(customer);
    value
}

fn suffix_ids(value: &mut Value, suffix: &str) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                match field {
                    Value::String(id) if key == "id" => *id = format!("{id}_{suffix}"),
                    _ => suffix_ids(field, suffix),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| suffix_ids(item, suffix)),
        _ => {}
    }
}

/// How many of `table`'s rows belong to `customer`, as the owner counts.
async fn rows_of(pool: &PgPool, table: &Linked, customer: &str) -> i64 {
    let owned = format!("(SELECT id FROM end_customers WHERE stripe_customer_id = '{customer}')");
    let sql = match (&table.parent, &table.parent_column) {
        (Some(parent), Some(column)) => format!(
            "SELECT count(*) FROM {} WHERE {column} IN (SELECT id FROM {parent} WHERE {} IN {owned})",
            table.name, table.customer_column
        ),
        _ => format!(
            "SELECT count(*) FROM {} WHERE {} IN {owned}",
            table.name, table.customer_column
        ),
    };
    count(pool, &sql).await
}

#[tokio::test]
async fn every_customer_linked_table_shows_a_user_only_their_own_rows() {
    let app = TestApp::spawn().await;
    let users = linked_users(&app, &CUSTOMERS).await;
    let tables = customer_linked_tables(&app.pool).await;
    // One object of every kind writing a customer-linked table, for each
    // customer, through the kind's first event.
    for kind in KINDS.iter() {
        if !tables
            .iter()
            .any(|t| t.parent.is_none() && t.name == kind.table())
        {
            continue;
        }
        for customer in CUSTOMERS {
            let object = owned_by(kind.object(), customer);
            apply(&app, &event(kind.events()[0], 100, object)).await;
        }
    }
    run_optional_sql(&app, "read_own_rows", &["schema=public"]);

    let alice = users[0].as_str();
    for table in &tables {
        let select = format!("SELECT count(*)::text FROM {}", table.name);
        let (mine, theirs) = (
            rows_of(&app.pool, table, CUSTOMERS[0]).await,
            rows_of(&app.pool, table, CUSTOMERS[1]).await,
        );
        assert!(
            mine > 0 && theirs > 0,
            "{}: rows for both customers",
            table.name
        );
        assert_eq!(
            as_role(&app.pool, "authenticated", Some(alice), &select)
                .await
                .unwrap(),
            [mine.to_string()],
            "{}: alice reads exactly hers",
            table.name
        );
        assert_eq!(
            as_role(&app.pool, "anon", None, &select).await.unwrap(),
            ["0"],
            "{}: anon reads nothing",
            table.name
        );
    }
}
