//! Stripe Connect: every synced row carries its connected account, in every
//! delivery order; connected accounts as rows; ingest's allow-list; and
//! backfill and reconcile per account through the fake's `Stripe-Account`.

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    fake_stripe::{FakeStripe, KEY},
    helpers::{TestApp, assert_refused, stored_event_ids},
    kind_support::{event, stripe_fixture},
    supabase::{as_role, run_optional_sql, supabase_shape},
    worker_support::*,
};

const ALPHA: &str = "acct_1Alpha";
const BETA: &str = "acct_1Beta";

/// The connected account each object's id says it belongs to: ids here
/// end in the account's letter (`cus_a1`), `p` for the platform's own.
fn account_of(id: &str) -> Option<&'static str> {
    match id.rsplit('_').next().and_then(|tail| tail.chars().next()) {
        Some('a') => Some(ALPHA),
        Some('b') => Some(BETA),
        _ => None,
    }
}

/// `event` as delivered by a Connect endpoint for `account` (or the
/// platform's own endpoint with `None`).
fn from_account(mut event: Value, account: Option<&str>) -> Value {
    if let Some(account) = account {
        event["account"] = json!(account);
    }
    event
}

fn customer(id: &str, email: &str) -> Value {
    let mut object = stripe_fixture("customer");
    object["id"] = json!(id);
    object["email"] = json!(email);
    object
}

/// A subscription of `customer` with no items (item prices would be
/// shared fixture ids across accounts).
fn subscription(id: &str, customer: &str) -> Value {
    let mut object = stripe_fixture("subscription");
    object["id"] = json!(id);
    object["customer"] = json!(customer);
    object["items"]["data"] = json!([]);
    object
}

/// For the platform and two accounts: a customer created then updated, a
/// subscription whose customer never arrives (a placeholder), and a person
/// (the generic store).
fn events_of_three_accounts() -> Vec<Value> {
    let mut events = Vec::new();
    for tag in ["p", "a", "b"] {
        let account = account_of(&format!("x_{tag}"));
        let cus = format!("cus_{tag}1");
        let mut person = stripe_fixture("person");
        person["id"] = json!(format!("person_{tag}1"));
        person["account"] = json!(account);
        for e in [
            event(
                "customer.created",
                1_780_000_000,
                customer(&cus, "created@x"),
            ),
            event(
                "customer.updated",
                1_780_000_010,
                customer(&cus, &format!("{tag}@x")),
            ),
            event(
                "customer.subscription.updated",
                1_780_000_005,
                subscription(&format!("sub_{tag}1"), &format!("cus_{tag}2")),
            ),
            event("person.updated", 1_780_000_003, person),
        ] {
            events.push(from_account(e, account));
        }
    }
    events
}

/// Customers, subscriptions and generic objects with their accounts.
async fn rows_with_accounts(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT concat_ws(' ', 'customer', stripe_customer_id, account, email,
                         CASE WHEN is_placeholder THEN 'placeholder' END)
         FROM end_customers
         UNION ALL
         SELECT concat_ws(' ', 'subscription', s.stripe_subscription_id, s.account,
                          c.stripe_customer_id, c.account)
         FROM subscriptions s JOIN end_customers c ON c.id = s.customer_id
         UNION ALL
         SELECT concat_ws(' ', 'object', stripe_id, account) FROM stripe_objects
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn every_synced_table_takes_the_account_being_applied() {
    let app = TestApp::spawn().await;
    let missing: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT s.name FROM tether_synced_tables('public') s
         WHERE NOT EXISTS (SELECT FROM information_schema.columns c
                           WHERE c.table_schema = 'public' AND c.table_name = s.name
                             AND c.column_name = 'account'
                             AND c.column_default LIKE '%tether_applying_account()%')
         ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        missing,
        Vec::<String>::new(),
        "synced tables without account"
    );
}

#[tokio::test]
async fn objects_of_two_accounts_end_in_their_rows_in_every_order() {
    let app = TestApp::spawn().await;
    let events = events_of_three_accounts();
    let [in_order, reversed, shuffled] =
        in_three_orders(&app, &events, 21, rows_with_accounts).await;
    let expected = vec![
        "customer cus_a1 acct_1Alpha a@x",
        "customer cus_a2 acct_1Alpha placeholder",
        "customer cus_b1 acct_1Beta b@x",
        "customer cus_b2 acct_1Beta placeholder",
        "customer cus_p1 p@x",
        "customer cus_p2 placeholder",
        "object person_a1 acct_1Alpha",
        "object person_b1 acct_1Beta",
        "object person_p1",
        "subscription sub_a1 acct_1Alpha cus_a2 acct_1Alpha",
        "subscription sub_b1 acct_1Beta cus_b2 acct_1Beta",
        "subscription sub_p1 cus_p2",
    ];
    assert_eq!(in_order, expected);
    assert_eq!(reversed, expected);
    assert_eq!(shuffled, expected);

    // All of them at once, twice over, shuffled: claims that mix accounts
    // in one transaction.
    reset(&app.pool).await;
    let mut twice: Vec<Value> = events.iter().chain(&events).cloned().collect();
    fastrand::Rng::with_seed(5).shuffle(&mut twice);
    for e in &twice {
        post_ok(&app, e).await;
    }
    drain(&app.pool).await;
    assert_eq!(rows_with_accounts(&app.pool).await, expected);
}

fn account_object(id: &str, charges_enabled: bool, due: &[&str]) -> Value {
    let mut object = stripe_fixture("account");
    object["id"] = json!(id);
    object["charges_enabled"] = json!(charges_enabled);
    object["business_profile"]["name"] = json!("Alpha Goods");
    object["requirements"]["currently_due"] = json!(due);
    object
}

async fn account_row(pool: &PgPool) -> Value {
    sqlx::query_scalar(
        "SELECT jsonb_build_object('business_name', business_name, 'charges_enabled', charges_enabled,
                'requirements_due', requirements_due, 'capabilities', capabilities,
                'deauthorized_at', extract(epoch FROM deauthorized_at)::int8,
                'version', last_event_created IS NOT NULL)
         FROM accounts WHERE stripe_account_id = $1",
    )
    .bind(ALPHA)
    .fetch_optional(pool)
    .await
    .unwrap()
    .unwrap_or(Value::Null)
}

#[tokio::test]
async fn a_deauthorized_account_is_marked_in_every_order_and_keeps_its_rows() {
    let app = TestApp::spawn().await;
    let application = json!({"id": "ca_platform", "object": "application", "name": "Platform"});
    let events: Vec<Value> = [
        event(
            "account.application.authorized",
            1_780_000_000,
            application.clone(),
        ),
        event(
            "account.updated",
            1_780_000_001,
            account_object(ALPHA, false, &["external_account"]),
        ),
        event(
            "account.application.deauthorized",
            1_780_000_005,
            application,
        ),
        // The profile goes on changing after the deauthorization.
        event(
            "account.updated",
            1_780_000_009,
            account_object(ALPHA, true, &[]),
        ),
        event("customer.created", 1_780_000_002, customer("cus_a1", "a@x")),
    ]
    .into_iter()
    .map(|e| from_account(e, Some(ALPHA)))
    .collect();
    let read = async |pool: &PgPool| {
        vec![
            account_row(pool).await.to_string(),
            rows_with_accounts(pool).await.join("; "),
        ]
    };
    let expected = vec![
        json!({"business_name": "Alpha Goods", "charges_enabled": true, "requirements_due": [],
               "capabilities": {"card_payments": "active", "transfers": "active"},
               "deauthorized_at": 1_780_000_005, "version": true})
        .to_string(),
        "customer cus_a1 acct_1Alpha a@x".to_owned(),
    ];
    for seen in in_three_orders(&app, &events, 7, read).await {
        assert_eq!(seen, expected);
    }

    // Connected again, later: the mark is cleared, the profile untouched.
    let again = from_account(
        event(
            "account.application.authorized",
            1_780_000_020,
            json!({"id": "ca_platform", "object": "application"}),
        ),
        Some(ALPHA),
    );
    apply(&app, &again).await;
    assert_eq!(account_row(&app.pool).await["deauthorized_at"], Value::Null);
    assert_eq!(account_row(&app.pool).await["charges_enabled"], true);
}

#[tokio::test]
async fn a_deauthorization_without_an_account_is_a_dead_letter_naming_why() {
    let app = TestApp::spawn().await;
    let orphan = event(
        "account.application.deauthorized",
        1_780_000_000,
        json!({"id": "ca_platform", "object": "application"}),
    );
    apply(&app, &orphan).await;
    let letters = tether_json(&app, &["dlq", "list"]);
    assert_eq!(letters[0]["id"], orphan["id"]);
    let error = letters[0]["last_error"].as_str().unwrap();
    assert!(error.contains("names no connected account"), "{error}");
}

#[tokio::test]
async fn ingest_stores_only_the_listed_accounts_and_the_platform() {
    let app = TestApp::spawn_with(|config| config.accounts = vec![ALPHA.into()]).await;
    let stranger = from_account(
        event("customer.created", 1_780_000_000, customer("cus_x1", "x@x")),
        Some("acct_1Stranger"),
    );
    let reply = app.post_event(&stranger).await;
    assert_refused(&reply, 400, "acct_1Stranger");
    let rejected = count(&app.pool, "SELECT count(*) FROM rejected_deliveries").await;
    assert_eq!(rejected, 0, "a stranger's event is kept nowhere");

    let listed = from_account(
        event("customer.created", 1_780_000_000, customer("cus_a1", "a@x")),
        Some(ALPHA),
    );
    let platform = event("customer.created", 1_780_000_000, customer("cus_p1", "p@x"));
    post_ok(&app, &listed).await;
    post_ok(&app, &platform).await;
    let mut stored = vec![
        listed["id"].as_str().unwrap().to_owned(),
        platform["id"].as_str().unwrap().to_owned(),
    ];
    stored.sort();
    assert_eq!(stored_event_ids(&app.pool).await, stored);
}

/// `n` customers of `account`'s tag (`cus_a0000`...), as Stripe lists them.
fn listed_customers(tag: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| customer(&format!("cus_{tag}{i:04}"), &format!("{tag}{i}@x")))
        .collect()
}

/// Alpha and Beta, each with `n` customers, connected to the platform.
async fn connect_two_accounts(fake: &FakeStripe, n: usize) {
    let mut accounts = serde_json::Map::new();
    for (id, tag) in [(ALPHA, "a"), (BETA, "b")] {
        accounts.insert(
            id.into(),
            json!({
                "object": account_object(id, true, &[]),
                "lists": {"/v1/customers": listed_customers(tag, n)},
            }),
        );
    }
    fake.control(json!({ "accounts": accounts })).await;
}

async fn customers_by_account(pool: &PgPool) -> Vec<(Option<String>, i64)> {
    sqlx::query_as("SELECT account, count(*) FROM end_customers GROUP BY 1 ORDER BY 1 NULLS FIRST")
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn backfill_reads_the_platform_and_every_account_and_resumes_after_a_kill() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(30, 0, 0);
    connect_two_accounts(&fake, 250).await;

    // Killed while reading Alpha's third page, after five pages: the
    // accounts to cover, the `accounts` kind and the platform's customers
    // (one page each), and Alpha's pages 1 and 2.
    fake.control(json!({"hang_after_pages": 5})).await;
    let mut first = fake
        .tether(
            &app,
            KEY,
            &["backfill", "accounts", "customers", "--all-accounts"],
        )
        .spawn()
        .unwrap();
    eventually(Duration::from_secs(30), "two pages of Alpha", async || {
        count(
            &app.pool,
            "SELECT count(*) FROM end_customers WHERE account = 'acct_1Alpha'",
        )
        .await
            == 200
    })
    .await;
    first.kill().unwrap();
    first.wait().unwrap();

    fake.control(json!({"hang_after_pages": null})).await;
    let reports = fake.run_json(
        &app,
        &["backfill", "accounts", "customers", "--all-accounts"],
    );
    let summary: Vec<Value> = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            json!([
                r["account"],
                r["kind"],
                r["objects"],
                r["pages"],
                r["resumed"]
            ])
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            json!([null, "accounts", 2, 0, false]),
            json!([null, "customers", 30, 0, false]),
            json!([ALPHA, "customers", 250, 1, true]),
            json!([BETA, "customers", 250, 3, false]),
        ]
    );
    assert_eq!(
        customers_by_account(&app.pool).await,
        vec![
            (None, 30),
            (Some(ALPHA.into()), 250),
            (Some(BETA.into()), 250)
        ]
    );
    let accounts: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT stripe_account_id, business_name FROM accounts ORDER BY 1")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        accounts,
        vec![
            (ALPHA.into(), Some("Alpha Goods".into())),
            (BETA.into(), Some("Alpha Goods".into()))
        ]
    );
    // Every page of a connected account was asked for in it.
    let in_beta = fake
        .requests()
        .await
        .iter()
        .filter(|r| r["stripe_account"] == BETA)
        .map(|r| r["path"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(in_beta, vec!["/v1/customers"; 3]);
}

#[tokio::test]
async fn an_account_the_platform_does_not_have_stops_the_backfill_naming_it() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let out = fake
        .tether(
            &app,
            KEY,
            &["backfill", "customers", "--account", "acct_1Nobody"],
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("acct_1Nobody"), "{stderr}");

    let out = fake
        .tether(
            &app,
            KEY,
            &["backfill", "customers", "--account", "acct_1\nX: y"],
        )
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a malformed account is bad usage"
    );
}

#[tokio::test]
async fn reconcile_reads_each_accounts_event_log() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let now = crate::helpers::unix_now();
    let mut accounts = serde_json::Map::new();
    for (id, tag) in [(ALPHA, "a"), (BETA, "b")] {
        // As the event log lists them: the copy may not name its account.
        let events: Vec<Value> = (0..3)
            .map(|i| {
                event(
                    "customer.created",
                    now - 60 + i,
                    customer(&format!("cus_{tag}{i}"), "x@x"),
                )
            })
            .collect();
        accounts.insert(id.into(), json!({ "events": events }));
    }
    fake.control(json!({ "accounts": accounts })).await;

    let reports = fake.run_json(&app, &["reconcile", "--account", ALPHA, "--account", BETA]);
    let summary: Vec<Value> = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!([r["account"], r["found"], r["new"]]))
        .collect();
    assert_eq!(summary, vec![json!([ALPHA, 3, 3]), json!([BETA, 3, 3])]);
    drain(&app.pool).await;
    assert_eq!(
        customers_by_account(&app.pool).await,
        vec![(Some(ALPHA.into()), 3), (Some(BETA.into()), 3)]
    );
    let again = fake.run_json(&app, &["reconcile", "--account", ALPHA]);
    assert_eq!(again[0]["already_stored"], 3);
}

#[tokio::test]
async fn operators_narrow_dead_letters_and_status_to_one_account() {
    let app = TestApp::spawn().await;
    let mut refused = Vec::new();
    for account in [Some(ALPHA), Some(BETA), None] {
        // No customer id: refused at once, a dead letter.
        let mut object = customer("cus_x", "x@x");
        object.as_object_mut().unwrap().remove("id");
        let e = from_account(event("customer.created", 1_780_000_000, object), account);
        apply(&app, &e).await;
        refused.push(e["id"].as_str().unwrap().to_owned());
    }
    let letters = tether_json(&app, &["dlq", "list", "--account", ALPHA]);
    let ids: Vec<&str> = letters
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![refused[0].as_str()]);
    assert_eq!(letters[0]["account"], ALPHA);

    let replayed = tether_json(
        &app,
        &["dlq", "replay", "--all", "--account", BETA, "--dry-run"],
    );
    assert_eq!(replayed["ids"], json!([refused[1]]), "{replayed}");

    let status = tether_json(&app, &["status", "--account", BETA]);
    assert_eq!(status["windows"][0]["received"], 1);
    assert_eq!(status["windows"][0]["errors"], 1);
}

#[tokio::test]
async fn members_of_an_account_read_its_rows_and_nothing_else() {
    let app = TestApp::spawn().await;
    supabase_shape(&app.pool, "public").await;
    run_optional_sql(&app, "connect_policies", &["schema=public"]);
    for e in events_of_three_accounts() {
        apply(&app, &e).await;
    }
    for id in [ALPHA, BETA] {
        let e = from_account(
            event(
                "account.updated",
                1_780_000_000,
                account_object(id, true, &[]),
            ),
            Some(id),
        );
        apply(&app, &e).await;
    }
    let (alice, bob) = (
        "00000000-0000-0000-0000-00000000000a",
        "00000000-0000-0000-0000-00000000000b",
    );
    sqlx::query("INSERT INTO account_members (user_id, stripe_account_id) VALUES ($1::uuid, $2), ($3::uuid, $4)")
        .bind(alice)
        .bind(ALPHA)
        .bind(bob)
        .bind(BETA)
        .execute(&app.pool)
        .await
        .unwrap();
    let read = "SELECT stripe_customer_id FROM end_customers
                UNION ALL SELECT stripe_subscription_id FROM subscriptions
                UNION ALL SELECT stripe_id FROM stripe_objects
                UNION ALL SELECT stripe_account_id FROM accounts
                UNION ALL SELECT stripe_account_id FROM account_members
                ORDER BY 1";
    assert_eq!(
        as_role(&app.pool, "authenticated", Some(alice), read)
            .await
            .unwrap(),
        vec![
            "acct_1Alpha",
            "acct_1Alpha",
            "cus_a1",
            "cus_a2",
            "person_a1",
            "sub_a1"
        ]
    );
    assert_eq!(
        as_role(&app.pool, "authenticated", Some(bob), read)
            .await
            .unwrap(),
        vec![
            "acct_1Beta",
            "acct_1Beta",
            "cus_b1",
            "cus_b2",
            "person_b1",
            "sub_b1"
        ]
    );
    let public = "SELECT stripe_customer_id FROM end_customers
                  UNION ALL SELECT stripe_account_id FROM accounts";
    assert_eq!(
        as_role(&app.pool, "anon", None, public).await.unwrap(),
        Vec::<String>::new()
    );
}

/// A list Stripe keeps per customer is read, in a connected account, for
/// that account's customers only.
#[tokio::test]
async fn a_per_customer_list_in_an_account_walks_that_accounts_customers() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(3, 0, 0);
    let mut card = stripe_fixture("payment_method");
    card["id"] = json!("pm_a1");
    fake.control(json!({"accounts": {ALPHA: {
        "lists": {
            "/v1/customers": listed_customers("a", 2),
            "/v1/customers/cus_a0001/payment_methods": [card],
        },
    }}}))
    .await;
    fake.run_json(&app, &["backfill", "customers"]);
    fake.run_json(
        &app,
        &[
            "backfill",
            "customers",
            "payment-methods",
            "--account",
            ALPHA,
        ],
    );
    let cards: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT stripe_payment_method_id, stripe_customer_id, account FROM payment_methods",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        cards,
        vec![("pm_a1".into(), Some("cus_a0001".into()), Some(ALPHA.into()))]
    );
    let listed: Vec<String> = fake
        .requests()
        .await
        .iter()
        .filter(|r| r["path"].as_str().unwrap().ends_with("/payment_methods"))
        .map(|r| {
            format!(
                "{} {}",
                r["stripe_account"].as_str().unwrap(),
                r["path"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        listed,
        vec![
            format!("{ALPHA} /v1/customers/cus_a0000/payment_methods"),
            format!("{ALPHA} /v1/customers/cus_a0001/payment_methods"),
        ]
    );
}
