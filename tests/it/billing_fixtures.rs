//! What the billing-family tests (coupons, taxes, schedules) share: events
//! built around Stripe's published fixture objects
//! (`fixtures/stripe/fixtures3.json`, one of every resource), and one
//! signed-in user with their own customer, for the RLS checks.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    helpers::TestApp,
    supabase::{as_role, run_optional_sql, supabase_shape},
    worker_support::{apply, fixture},
};

pub use crate::kind_support::{event, stripe_fixture as resource};

/// `resource(name)` with `changes` laid over its top-level fields.
pub fn object(name: &str, changes: Value) -> Value {
    let mut object = resource(name);
    for (key, value) in changes.as_object().expect("changes are an object") {
        object[key] = value.clone();
    }
    object
}

/// Rows as text, `sql` selecting one text column.
pub async fn texts(pool: &PgPool, sql: &str) -> Vec<String> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(pool)
        .await
        .unwrap()
}

/// The customers `cus_alice` and `cus_bob`, and Alice as a signed-in user
/// linked to hers, in a database shaped like Supabase's. Returns Alice's
/// user id.
pub async fn alice_and_bob(app: &TestApp) -> String {
    supabase_shape(&app.pool, "public").await;
    for customer in ["cus_alice", "cus_bob"] {
        let mut created = fixture("customer.created");
        created["data"]["object"]["id"] = json!(customer);
        apply(app, &created).await;
    }
    let alice = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO users (id, customer_id)
         SELECT $1, id FROM end_customers WHERE stripe_customer_id = 'cus_alice'",
    )
    .bind(alice)
    .execute(&app.pool)
    .await
    .unwrap();
    alice.to_string()
}

/// What `select` shows to `anon` and to Alice, before and after the
/// read-own-rows policies are installed: `[anon, alice, anon, alice]`.
pub async fn seen_by_anon_and_alice(app: &TestApp, alice: &str, select: &str) -> [Vec<String>; 4] {
    let mut seen = Vec::new();
    for installed in [false, true] {
        if installed {
            run_optional_sql(app, "read_own_rows", &["schema=public"]);
        }
        seen.push(as_role(&app.pool, "anon", None, select).await.unwrap());
        seen.push(
            as_role(&app.pool, "authenticated", Some(alice), select)
                .await
                .unwrap(),
        );
    }
    seen.try_into().expect("four reads")
}
