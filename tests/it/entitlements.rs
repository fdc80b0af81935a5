//! Entitlements: each customer's active set replaced as a whole by the
//! newest summary in any delivery order, features and product features
//! from backfill, all private by default, and `has_entitlement` deciding an
//! app's own policy.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    fake_stripe::FakeStripe,
    helpers::{TestApp, new_event_id},
    kind_support::{event, linked_users, stripe_fixture},
    supabase::{as_role, run_optional_sql},
    worker_support::{apply, fixture, in_three_orders, log_statuses},
};

const SUMMARY_UPDATED: &str = "entitlements.active_entitlement_summary.updated";

/// A customer's summary listing `keys` as active entitlements, in the shape
/// Stripe sends (features by id).
fn summary(customer: &str, keys: &[&str]) -> Value {
    let entitlements: Vec<Value> = keys
        .iter()
        .map(|key| {
            json!({"id": format!("ent_test_{key}"), "object": "entitlements.active_entitlement",
                   "feature": format!("feat_test_{key}"), "lookup_key": key, "livemode": false})
        })
        .collect();
    json!({"object": "entitlements.active_entitlement_summary", "customer": customer,
           "livemode": false, "entitlements": {"object": "list", "data": entitlements,
           "has_more": false, "url": "/v1/customer/x/entitlements"}})
}

/// Each customer's active lookup keys, with the summary's version.
async fn entitlements(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT s.stripe_customer_id || ' ' || coalesce(c.stripe_customer_id, '-') || ' '
                || coalesce(string_agg(e.lookup_key || ':' || e.stripe_feature_id, ','
                                       ORDER BY e.lookup_key), '')
                || ' ' || s.last_event_id
         FROM entitlement_summaries s
         LEFT JOIN end_customers c ON c.id = s.customer_id
         LEFT JOIN active_entitlements e ON e.summary_id = s.id
         GROUP BY s.stripe_customer_id, c.stripe_customer_id, s.last_event_id ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_summary_alone_gives_its_customer_exactly_its_entitlements() {
    let app = TestApp::spawn().await;
    let first = event(
        SUMMARY_UPDATED,
        100,
        summary("cus_a", &["pro-export", "seats"]),
    );
    apply(&app, &first).await;
    assert_eq!(
        log_statuses(&app.pool, first["id"].as_str().unwrap()).await,
        ["success"]
    );
    let id = first["id"].as_str().unwrap();
    assert_eq!(
        entitlements(&app.pool).await,
        [format!(
            "cus_a cus_a pro-export:feat_test_pro-export,seats:feat_test_seats {id}"
        )],
        "linked to a placeholder customer"
    );

    let emptied = event(SUMMARY_UPDATED, 101, summary("cus_a", &[]));
    apply(&app, &emptied).await;
    let id = emptied["id"].as_str().unwrap();
    assert_eq!(
        entitlements(&app.pool).await,
        [format!("cus_a cus_a  {id}")],
        "none left"
    );
}

#[tokio::test]
async fn the_newest_summary_wins_in_every_delivery_order() {
    let app = TestApp::spawn().await;
    let events = [
        event(SUMMARY_UPDATED, 100, summary("cus_a", &["basic"])),
        event(
            SUMMARY_UPDATED,
            160,
            summary("cus_a", &["basic", "pro-export"]),
        ),
        event(SUMMARY_UPDATED, 220, summary("cus_a", &["pro-export"])),
        event(SUMMARY_UPDATED, 130, summary("cus_b", &["basic"])),
        // A same-second tie: the greater event id wins, as everywhere.
        event(SUMMARY_UPDATED, 130, summary("cus_b", &["seats"])),
    ];
    let (b_first, b_second) = (
        events[3]["id"].as_str().unwrap(),
        events[4]["id"].as_str().unwrap(),
    );
    let b_wins = if b_first > b_second {
        ("basic", b_first)
    } else {
        ("seats", b_second)
    };
    let expected = [
        format!(
            "cus_a cus_a pro-export:feat_test_pro-export {}",
            events[2]["id"].as_str().unwrap()
        ),
        format!("cus_b cus_b {0}:feat_test_{0} {1}", b_wins.0, b_wins.1),
    ];
    let [ordered, reversed, shuffled] = in_three_orders(&app, &events, 5, entitlements).await;
    assert_eq!(ordered, expected);
    assert_eq!(
        reversed, expected,
        "an older summary delivered late is stale"
    );
    assert_eq!(shuffled, expected);
}

#[tokio::test]
async fn a_truncated_list_adds_but_removes_nothing() {
    let app = TestApp::spawn().await;
    apply(
        &app,
        &event(SUMMARY_UPDATED, 100, summary("cus_a", &["basic"])),
    )
    .await;
    let mut truncated = summary("cus_a", &["seats"]);
    truncated["entitlements"]["has_more"] = json!(true);
    let last = event(SUMMARY_UPDATED, 101, truncated);
    apply(&app, &last).await;
    let id = last["id"].as_str().unwrap();
    assert_eq!(
        entitlements(&app.pool).await,
        [format!(
            "cus_a cus_a basic:feat_test_basic,seats:feat_test_seats {id}"
        )]
    );
}

/// Stripe's published fixture, with a real customer id, reads into the
/// rows; its expanded feature gives the lookup key when the entitlement
/// has none, and fields of another shape read as absent.
#[tokio::test]
async fn stripes_fixture_summary_reads_into_rows_and_drift_is_tolerated() {
    let app = TestApp::spawn().await;
    let mut object = stripe_fixture("entitlements.active_entitlement_summary");
    object["customer"] = json!("cus_fixture");
    object["entitlements"]["data"][0]["id"] = json!("ent_test_1");
    object["entitlements"]["data"][0]["lookup_key"] = json!(7);
    object["entitlements"]["data"][0]["feature"]["id"] = json!("feat_test_1");
    object["livemode"] = json!("yes");
    apply(&app, &event(SUMMARY_UPDATED, 100, object)).await;
    let row: (String, Option<String>, Option<String>, Option<bool>) = sqlx::query_as(
        "SELECT e.stripe_active_entitlement_id, e.stripe_feature_id, e.lookup_key, s.livemode
         FROM active_entitlements e JOIN entitlement_summaries s ON s.id = e.summary_id",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        row,
        (
            "ent_test_1".into(),
            Some("feat_test_1".into()),
            Some("lookup_key".into()),
            None
        )
    );
}

#[tokio::test]
async fn a_summary_whose_list_is_not_a_list_is_dead_at_once() {
    let app = TestApp::spawn().await;
    let mut object = summary("cus_a", &["basic"]);
    object["entitlements"] = json!("basic");
    let bad = event(SUMMARY_UPDATED, 100, object);
    apply(&app, &bad).await;
    assert_eq!(
        log_statuses(&app.pool, bad["id"].as_str().unwrap()).await,
        ["dead"]
    );
    assert_eq!(entitlements(&app.pool).await, Vec::<String>::new());
}

#[tokio::test]
async fn backfill_imports_the_accounts_features() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let features: Vec<Value> = (0..3)
        .map(|i| {
            let mut feature = stripe_fixture("entitlements.feature");
            feature["id"] = json!(format!("feat_test_{i}"));
            feature["lookup_key"] = json!(format!("key-{i}"));
            feature["active"] = json!(i != 2);
            feature
        })
        .collect();
    fake.serve_list("/v1/entitlements/features", features).await;
    let report = fake.run_json(&app, &["backfill", "features"]);
    assert_eq!(report[0]["objects"], json!(3), "{report}");
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT row(stripe_feature_id, lookup_key, name, active, livemode, last_event_id)::text
         FROM features ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            "(feat_test_0,key-0,\"My super awesome feature\",t,f,snapshot)",
            "(feat_test_1,key-1,\"My super awesome feature\",t,f,snapshot)",
            "(feat_test_2,key-2,\"My super awesome feature\",f,f,snapshot)",
        ]
    );
}

/// Stripe lists a product's features per product, and the objects do not
/// name their product: backfill reads each synced product's list and
/// writes the product in. The rows are private.
#[tokio::test]
async fn backfill_imports_each_products_features() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start_catalog(2, 0);
    let granted = |product: &str, keys: &[&str]| -> Vec<Value> {
        keys.iter()
            .map(|key| {
                let mut granted = stripe_fixture("product_feature");
                granted["id"] = json!(format!("prodft_{product}_{key}"));
                granted["entitlement_feature"]["id"] = json!(format!("feat_{key}"));
                granted["entitlement_feature"]["lookup_key"] = json!(key);
                granted["entitlement_feature"]["name"] = json!(format!("Feature {key}"));
                granted
            })
            .collect()
    };
    let (basic, pro) = ("prod_fake0000000", "prod_fake0000001");
    fake.serve_list(
        &format!("/v1/products/{basic}/features"),
        granted(basic, &["export"]),
    )
    .await;
    fake.serve_list(
        &format!("/v1/products/{pro}/features"),
        granted(pro, &["export", "sso"]),
    )
    .await;
    let report = fake.run_json(&app, &["backfill", "products", "product-features"]);
    assert_eq!(report[1]["kind"], json!("product-features"), "{report}");
    assert_eq!(report[1]["objects"], json!(3), "{report}");
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT row(stripe_product_id, stripe_feature_id, lookup_key, feature_name, last_event_id)::text
         FROM product_features ORDER BY stripe_product_id, lookup_key",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        [
            "(prod_fake0000000,feat_export,export,\"Feature export\",snapshot)",
            "(prod_fake0000001,feat_export,export,\"Feature export\",snapshot)",
            "(prod_fake0000001,feat_sso,sso,\"Feature sso\",snapshot)",
        ]
    );
    crate::supabase::supabase_shape(&app.pool, "public").await;
    let select = "SELECT count(*)::text FROM product_features";
    assert_eq!(
        as_role(&app.pool, "anon", None, select).await.unwrap(),
        ["0"]
    );
}

/// Stripe lists a customer's active entitlements one by one, a page at a
/// time: backfill gathers each customer's whole list into its summary, so
/// the set is replaced (a stale entitlement goes) only once the last page
/// is read, and a customer with none is recorded as having none.
#[tokio::test]
async fn backfill_gathers_each_customers_active_entitlements_into_its_summary() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(3, 0, 0);
    let (many, none, one) = ("cus_fake0000000", "cus_fake0000001", "cus_fake0000002");
    let stale = event(SUMMARY_UPDATED, 100, summary(many, &["retired"]));
    apply(&app, &stale).await;
    let listed = |customer: &str, keys: &[String]| -> Vec<Value> {
        summary(
            customer,
            &keys.iter().map(String::as_str).collect::<Vec<_>>(),
        )["entitlements"]["data"]
            .as_array()
            .unwrap()
            .clone()
    };
    // More than one page (backfill asks for 100 at a time).
    let keys: Vec<String> = (0..150).map(|i| format!("k{i:03}")).collect();
    let path = "/v1/entitlements/active_entitlements";
    fake.serve_list(&format!("{path}?customer={many}"), listed(many, &keys))
        .await;
    fake.serve_list(
        &format!("{path}?customer={one}"),
        listed(one, &["sso".into()]),
    )
    .await;
    let report = fake.run_json(&app, &["backfill", "customers", "entitlements"]);
    assert_eq!(report[1]["kind"], json!("entitlements"), "{report}");
    assert_eq!(report[1]["objects"], json!(151), "{report}");
    let per_customer: Vec<String> = sqlx::query_scalar(
        "SELECT s.stripe_customer_id || ' ' || count(e.id) || ' '
                || coalesce(min(e.lookup_key), '-') || ' ' || coalesce(max(e.lookup_key), '-')
                || ' ' || s.last_event_id
         FROM entitlement_summaries s LEFT JOIN active_entitlements e ON e.summary_id = s.id
         GROUP BY s.id ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        per_customer,
        [
            format!("{many} 150 k000 k149 snapshot"),
            format!("{none} 0 - - snapshot"),
            format!("{one} 1 sso sso snapshot"),
        ]
    );
}

/// Two customers with their users; only Alice's customer has `pro-export`.
async fn alice_and_bob(app: &TestApp) -> (String, String) {
    let users = linked_users(app, &["cus_alice", "cus_bob"]).await;
    apply(
        app,
        &event(SUMMARY_UPDATED, 100, summary("cus_alice", &["pro-export"])),
    )
    .await;
    apply(
        app,
        &event(SUMMARY_UPDATED, 100, summary("cus_bob", &["basic"])),
    )
    .await;
    (users[0].clone(), users[1].clone())
}

#[tokio::test]
async fn entitlements_are_private_and_each_user_reads_only_their_own() {
    let app = TestApp::spawn().await;
    let (alice, _bob) = alice_and_bob(&app).await;
    let select = "SELECT lookup_key FROM active_entitlements ORDER BY 1";
    let summaries = "SELECT stripe_customer_id FROM entitlement_summaries ORDER BY 1";
    for sql in [select, summaries] {
        assert_eq!(
            as_role(&app.pool, "anon", None, sql).await.unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            as_role(&app.pool, "authenticated", Some(&alice), sql)
                .await
                .unwrap(),
            Vec::<String>::new(),
            "private until the read-own-rows policies are installed"
        );
    }
    run_optional_sql(&app, "read_own_rows", &["schema=public"]);
    assert_eq!(
        as_role(&app.pool, "anon", None, select).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        as_role(&app.pool, "authenticated", Some(&alice), select)
            .await
            .unwrap(),
        ["pro-export"],
        "Bob's basic is not Alice's to read"
    );
    assert_eq!(
        as_role(&app.pool, "authenticated", Some(&alice), summaries)
            .await
            .unwrap(),
        ["cus_alice"]
    );
}

/// The one-line access rule an app writes: a policy on its own table.
#[tokio::test]
async fn has_entitlement_decides_an_apps_own_policy() {
    let app = TestApp::spawn().await;
    let (alice, bob) = alice_and_bob(&app).await;
    run_optional_sql(&app, "billing_state", &["schema=public"]);
    sqlx::raw_sql(
        "CREATE TABLE exports (id int PRIMARY KEY, name text NOT NULL);
         INSERT INTO exports VALUES (1, 'q1.csv'), (2, 'q2.csv');
         ALTER TABLE exports ENABLE ROW LEVEL SECURITY;
         GRANT SELECT ON exports TO anon, authenticated;
         CREATE POLICY pro_exports ON exports FOR SELECT TO anon, authenticated
             USING ((SELECT has_entitlement('pro-export')));",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let select = "SELECT name FROM exports ORDER BY id";
    assert_eq!(
        as_role(&app.pool, "authenticated", Some(&alice), select)
            .await
            .unwrap(),
        ["q1.csv", "q2.csv"]
    );
    assert_eq!(
        as_role(&app.pool, "authenticated", Some(&bob), select)
            .await
            .unwrap(),
        Vec::<String>::new(),
        "Bob's customer has no pro-export"
    );
    assert_eq!(
        as_role(&app.pool, "anon", None, select).await.unwrap(),
        Vec::<String>::new()
    );

    // Alice's plan changes: the next summary takes the feature away.
    apply(
        &app,
        &event(SUMMARY_UPDATED, 200, summary("cus_alice", &["basic"])),
    )
    .await;
    assert_eq!(
        as_role(&app.pool, "authenticated", Some(&alice), select)
            .await
            .unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn billing_state_shows_the_users_customer_subscriptions_and_entitlements() {
    let app = TestApp::spawn().await;
    let (alice, _bob) = alice_and_bob(&app).await;
    for (id, status) in [("sub_live", "active"), ("sub_gone", "canceled")] {
        let mut s = fixture("customer.subscription.created");
        s["id"] = json!(new_event_id());
        s["data"]["object"]["id"] = json!(id);
        s["data"]["object"]["customer"] = json!("cus_alice");
        s["data"]["object"]["status"] = json!(status);
        s["data"]["object"]["items"]["data"][0]["id"] = json!(format!("si_{id}"));
        apply(&app, &s).await;
    }
    run_optional_sql(&app, "billing_state", &["schema=public"]);
    let state = "SELECT row(stripe_customer_id, subscriptions -> 0 ->> 'stripe_subscription_id',
                           subscriptions -> 0 ->> 'status', jsonb_array_length(subscriptions),
                           (subscriptions -> 0 ->> 'current_period_end') IS NOT NULL, entitlements)::text
                 FROM billing_state()";
    assert_eq!(
        as_role(&app.pool, "authenticated", Some(&alice), state)
            .await
            .unwrap(),
        ["(cus_alice,sub_live,active,1,t,{pro-export})"],
        "the canceled subscription is not current"
    );
    assert_eq!(
        as_role(&app.pool, "anon", None, state).await.unwrap(),
        Vec::<String>::new()
    );
}
