//! Payment methods: the card on file, linked to its customer while
//! attached, the customer's default marked, a detach final in every
//! delivery order, a backfill that lists each synced customer's cards, and
//! rows private to their own user.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    fake_stripe::FakeStripe,
    helpers::TestApp,
    supabase::{as_role, run_optional_sql, supabase_shape},
    worker_support::*,
};

const CUSTOMER: &str = "cus_QXg1o8vcGmoR32";
const CARD: &str = "pm_1Pgc75B7WZ01zgkWlHVgdEGJ";

pub use crate::kind_support::{event as event_of, stripe_fixture as resource};

/// Stripe's payment method, attached to `customer`, `edit`ed.
fn card(customer: Option<&str>, edit: impl FnOnce(&mut Value)) -> Value {
    let mut card = resource("payment_method");
    card["customer"] = json!(customer);
    edit(&mut card);
    card
}

async fn card_row(pool: &PgPool, id: &str) -> Value {
    sqlx::query_scalar(
        "SELECT to_jsonb(r) FROM (
             SELECT p.type, p.card_brand, p.card_last4, p.card_exp_month, p.card_exp_year, p.card_funding,
                    p.card_country, p.card_wallet, p.billing_email, p.billing_name, p.metadata, p.livemode,
                    extract(epoch FROM p.stripe_created)::int8 AS created, p.stripe_customer_id AS customer,
                    c.stripe_customer_id AS linked_customer,
                    extract(epoch FROM p.detached_at)::int8 AS detached_at
             FROM payment_methods p LEFT JOIN end_customers c ON c.id = p.customer_id
             WHERE p.stripe_payment_method_id = $1) AS r",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .unwrap()
    .unwrap_or(Value::Null)
}

/// Stripe's published payment method, read into its row.
fn published_card_row() -> Value {
    json!({
        "type": "card", "card_brand": "visa", "card_last4": "4242", "card_exp_month": 8,
        "card_exp_year": 2030, "card_funding": "credit", "card_country": "US", "card_wallet": "link",
        "billing_email": "jenny@example.com", "billing_name": null, "metadata": {"order_id": "123456789"},
        "livemode": false, "created": 1234567890, "customer": CUSTOMER, "linked_customer": CUSTOMER,
        "detached_at": null,
    })
}

#[tokio::test]
async fn each_payment_method_event_alone_produces_its_row() {
    let app = TestApp::spawn().await;
    let attached = published_card_row();
    for event_type in [
        "payment_method.attached",
        "payment_method.updated",
        "payment_method.automatically_updated",
    ] {
        reset(&app.pool).await;
        let event = event_of(event_type, 1_780_000_000, card(Some(CUSTOMER), |_| {}));
        apply(&app, &event).await;
        assert_eq!(
            log_statuses(&app.pool, event["id"].as_str().unwrap()).await,
            ["success"]
        );
        assert_eq!(card_row(&app.pool, CARD).await, attached, "{event_type}");
    }

    reset(&app.pool).await;
    apply(
        &app,
        &event_of("payment_method.detached", 1_780_000_000, card(None, |_| {})),
    )
    .await;
    let mut detached = attached.clone();
    detached["customer"] = Value::Null;
    detached["linked_customer"] = Value::Null;
    detached["detached_at"] = json!(1_780_000_000);
    assert_eq!(card_row(&app.pool, CARD).await, detached);
}

#[tokio::test]
async fn a_payment_method_without_a_card_or_of_a_drifted_shape_reads_as_absent() {
    let app = TestApp::spawn().await;
    let debit = card(Some(CUSTOMER), |o| {
        o["type"] = json!("sepa_debit");
        o.as_object_mut().unwrap().remove("card");
        o["billing_details"] = json!("not an object");
    });
    apply(&app, &event_of("payment_method.attached", 100, debit)).await;
    let row = card_row(&app.pool, CARD).await;
    assert_eq!(
        (
            &row["type"],
            &row["card_brand"],
            &row["billing_email"],
            &row["customer"]
        ),
        (
            &json!("sepa_debit"),
            &Value::Null,
            &Value::Null,
            &json!(CUSTOMER)
        )
    );
}

#[tokio::test]
async fn a_payment_method_whose_type_is_not_text_dead_letters() {
    let app = TestApp::spawn().await;
    let event = event_of(
        "payment_method.attached",
        100,
        card(Some(CUSTOMER), |o| o["type"] = json!(7)),
    );
    apply(&app, &event).await;
    assert_eq!(
        log_statuses(&app.pool, event["id"].as_str().unwrap()).await,
        ["dead"]
    );
    assert_eq!(card_row(&app.pool, CARD).await, Value::Null);
}

async fn cards(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT row(p.stripe_payment_method_id, p.stripe_customer_id, c.stripe_customer_id,
                    p.card_exp_year, extract(epoch FROM p.detached_at)::int8, p.last_event_id IS NOT NULL)::text
         FROM payment_methods p LEFT JOIN end_customers c ON c.id = p.customer_id ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Attached, updated, detached, and an update in the detach's second whose
/// event id wins the tie: the detach still holds in every order.
#[tokio::test]
async fn a_detach_is_final_in_every_delivery_order() {
    let app = TestApp::spawn().await;
    let year = |y: i64| move |o: &mut Value| o["card"]["exp_year"] = json!(y);
    let mut detach = event_of("payment_method.detached", 102, card(None, year(2031)));
    detach["id"] = json!("evt_1detach");
    let mut tied_update = event_of(
        "payment_method.updated",
        102,
        card(Some(CUSTOMER), year(2032)),
    );
    tied_update["id"] = json!("evt_2update");
    let events = [
        event_of(
            "payment_method.attached",
            100,
            card(Some(CUSTOMER), year(2030)),
        ),
        event_of(
            "payment_method.updated",
            101,
            card(Some(CUSTOMER), year(2031)),
        ),
        detach,
        tied_update,
    ];
    let [ordered, reversed, shuffled] = in_three_orders(&app, &events, 3, cards).await;
    let expected = [format!("({CARD},,,2032,102,t)")];
    assert_eq!(ordered, expected);
    assert_eq!(reversed, expected);
    assert_eq!(shuffled, expected);
}

/// The customer's own cards as their billing page lists them.
async fn on_file(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT row(stripe_customer_id, stripe_payment_method_id, card_brand, card_last4, is_default)::text
         FROM customer_payment_methods ORDER BY stripe_payment_method_id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_customers_default_card_is_marked_and_a_detached_one_leaves_the_list() {
    let app = TestApp::spawn().await;
    let mut customer = fixture_at("customer.updated", 100);
    customer["data"]["object"]["invoice_settings"] = json!({"default_payment_method": CARD});
    let spare = card(Some(CUSTOMER), |o| {
        o["id"] = json!("pm_spare");
        o["card"]["last4"] = json!("0005");
    });
    apply(&app, &customer).await;
    apply(
        &app,
        &event_of("payment_method.attached", 100, card(Some(CUSTOMER), |_| {})),
    )
    .await;
    apply(
        &app,
        &event_of("payment_method.attached", 100, spare.clone()),
    )
    .await;
    assert_eq!(
        on_file(&app.pool).await,
        [
            format!("({CUSTOMER},{CARD},visa,4242,t)"),
            format!("({CUSTOMER},pm_spare,visa,0005,f)"),
        ]
    );
    let default: Option<String> = sqlx::query_scalar(
        "SELECT default_payment_method FROM end_customers WHERE stripe_customer_id = $1",
    )
    .bind(CUSTOMER)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(default.as_deref(), Some(CARD));

    let mut detached = spare;
    detached["customer"] = Value::Null;
    apply(&app, &event_of("payment_method.detached", 101, detached)).await;
    assert_eq!(
        on_file(&app.pool).await,
        [format!("({CUSTOMER},{CARD},visa,4242,t)")]
    );
}

#[tokio::test]
async fn backfill_lists_each_synced_customers_payment_methods() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(2, 0, 0);
    let numbered = |customer: &str, n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| {
                card(Some(customer), |o| {
                    o["id"] = json!(format!("pm_{customer}_{i:03}"));
                })
            })
            .collect()
    };
    // More than one page (100) for the first customer.
    fake.serve_list(
        "/v1/customers/cus_fake0000000/payment_methods",
        numbered("cus_fake0000000", 150),
    )
    .await;
    fake.serve_list(
        "/v1/customers/cus_fake0000001/payment_methods",
        numbered("cus_fake0000001", 2),
    )
    .await;
    let report = fake.run_json(&app, &["backfill", "customers", "payment-methods"]);
    assert_eq!(report[1]["kind"], "payment-methods");
    assert_eq!(report[1]["objects"], 152);
    assert_eq!(report[1]["finished"], true);
    let per_customer: Vec<(String, i64)> = sqlx::query_as(
        "SELECT c.stripe_customer_id, count(*) FROM payment_methods p
         JOIN end_customers c ON c.id = p.customer_id GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        per_customer,
        [
            ("cus_fake0000000".to_owned(), 150),
            ("cus_fake0000001".to_owned(), 2)
        ]
    );
    let again = fake.run_json(&app, &["backfill", "payment-methods"]);
    assert_eq!(again[0]["pages"], 0, "a finished backfill is not repeated");
}

#[tokio::test]
async fn payment_methods_are_private_and_each_user_reads_only_their_own() {
    let app = TestApp::spawn().await;
    supabase_shape(&app.pool, "public").await;
    for customer in ["cus_alice", "cus_bob"] {
        let mut created = fixture("customer.created");
        created["data"]["object"]["id"] = json!(customer);
        apply(&app, &created).await;
        let own = card(Some(customer), |o| {
            o["id"] = json!(format!("pm_{customer}"))
        });
        apply(&app, &event_of("payment_method.attached", 100, own)).await;
        let setup = json!({"id": format!("seti_{customer}"), "object": "setup_intent",
                           "status": "succeeded", "customer": customer});
        apply(&app, &event_of("setup_intent.succeeded", 100, setup)).await;
    }
    let alice = uuid::Uuid::new_v4();
    sqlx::query(
        "INSERT INTO users (id, customer_id) SELECT $1, id FROM end_customers WHERE stripe_customer_id = 'cus_alice'",
    )
    .bind(alice)
    .execute(&app.pool)
    .await
    .unwrap();
    let alice = alice.to_string();
    let reads = [
        "SELECT stripe_payment_method_id FROM payment_methods",
        "SELECT stripe_payment_method_id FROM customer_payment_methods",
        "SELECT stripe_setup_intent_id FROM setup_intents",
    ];
    for select in reads {
        assert_eq!(
            as_role(&app.pool, "anon", None, select).await.unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            as_role(&app.pool, "authenticated", Some(&alice), select)
                .await
                .unwrap(),
            Vec::<String>::new(),
            "private until the read-own-rows policies: {select}"
        );
    }
    run_optional_sql(&app, "read_own_rows", &["schema=public"]);
    let own = [["pm_cus_alice"], ["pm_cus_alice"], ["seti_cus_alice"]];
    for (select, own) in reads.into_iter().zip(own) {
        assert_eq!(
            as_role(&app.pool, "anon", None, select).await.unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            as_role(&app.pool, "authenticated", Some(&alice), select)
                .await
                .unwrap(),
            own,
            "{select}"
        );
    }
}
