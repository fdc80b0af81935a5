//! Tax ids and tax rates: each read from Stripe's published fixture, the
//! same rows in every delivery order, a tax id's tombstone, the customer
//! read from either API shape, backfill through the fake Stripe API, and
//! RLS.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    billing_fixtures::*,
    fake_stripe::FakeStripe,
    helpers::TestApp,
    worker_support::{apply, in_three_orders},
};

const T: i64 = 1_780_000_000;

async fn tax_id_rows(pool: &PgPool) -> Vec<String> {
    texts(
        pool,
        "SELECT row(x.stripe_tax_id, c.stripe_customer_id, x.type, x.value, x.country, x.verification_status,
                   x.livemode, extract(epoch FROM x.stripe_created)::int8,
                   extract(epoch FROM x.deleted_at)::int8)::text
         FROM tax_ids x LEFT JOIN end_customers c ON c.id = x.customer_id ORDER BY 1",
    )
    .await
}

async fn tax_rate_rows(pool: &PgPool) -> Vec<String> {
    texts(
        pool,
        "SELECT row(stripe_tax_rate_id, display_name, description, percentage, inclusive, active, country,
                   state, jurisdiction, tax_type, metadata, livemode,
                   extract(epoch FROM stripe_created)::int8)::text
         FROM tax_rates ORDER BY 1",
    )
    .await
}

fn verified(status: &str) -> Value {
    object(
        "tax_id",
        json!({"verification": {"status": status, "verified_address": null, "verified_name": "ACME"}}),
    )
}

#[tokio::test]
async fn a_tax_id_reads_the_fixture_and_its_deletion_is_final_in_every_order() {
    let app = TestApp::spawn().await;
    apply(
        &app,
        &event("customer.tax_id.created", T, resource("tax_id")),
    )
    .await;
    let pending = "(txi_1Pgc6sB7WZ01zgkWXkvC78jZ,cus_QXg1o8vcGmoR32,eu_vat,DE123456789,DE,pending,f,1234567890,)";
    assert_eq!(tax_id_rows(&app.pool).await, [pending]);

    let events = [
        event("customer.tax_id.created", T, verified("pending")),
        event("customer.tax_id.updated", T + 60, verified("verified")),
        event(
            "customer.tax_id.deleted",
            T + 120,
            resource("deleted_tax_id"),
        ),
    ];
    let seen = in_three_orders(&app, &events, 4, tax_id_rows).await;
    let expected = [
        "(txi_1Pgc6sB7WZ01zgkWXkvC78jZ,cus_QXg1o8vcGmoR32,eu_vat,DE123456789,DE,verified,f,1234567890,1780000120)",
    ];
    assert_eq!(
        seen,
        [expected, expected, expected].map(|e| e.map(String::from).to_vec())
    );
}

/// Tax ids gained `owner` (2024-04-10); one whose top-level `customer` is
/// null names its customer there.
#[tokio::test]
async fn a_tax_ids_customer_is_read_from_its_owner_too() {
    let app = TestApp::spawn().await;
    let owned = object("tax_id", json!({"customer": null}));
    apply(&app, &event("customer.tax_id.created", T, owned)).await;
    let rows = tax_id_rows(&app.pool).await;
    assert!(rows[0].contains("cus_QXg1o8vcGmoR32"), "{rows:?}");
}

#[tokio::test]
async fn tax_ids_are_private_and_each_user_reads_their_own() {
    let app = TestApp::spawn().await;
    let alice = alice_and_bob(&app).await;
    for (customer, id) in [("cus_alice", "txi_alice"), ("cus_bob", "txi_bob")] {
        let tax_id = object(
            "tax_id",
            json!({"id": id, "customer": customer, "owner": null}),
        );
        apply(&app, &event("customer.tax_id.created", T, tax_id)).await;
    }
    apply(&app, &event("tax_rate.created", T, resource("tax_rate"))).await;
    let select = "SELECT stripe_tax_id FROM tax_ids UNION ALL SELECT stripe_tax_rate_id FROM tax_rates ORDER BY 1";
    let [anon, alice_before, anon_after, alice_after] =
        seen_by_anon_and_alice(&app, &alice, select).await;
    let nothing = Vec::<String>::new();
    assert_eq!(
        (anon, alice_before, anon_after),
        (nothing.clone(), nothing.clone(), nothing)
    );
    assert_eq!(alice_after, ["txi_alice"], "tax rates stay private");
}

#[tokio::test]
async fn a_tax_rate_reads_the_fixture_and_ends_the_same_in_every_order() {
    let app = TestApp::spawn().await;
    apply(&app, &event("tax_rate.created", T, resource("tax_rate"))).await;
    let active =
        "(txr_1Pgc7BB7WZ01zgkW4Iwwvf6z,VAT,\"VAT Germany\",19,f,t,DE,,DE,vat,{},f,1234567890)";
    assert_eq!(tax_rate_rows(&app.pool).await, [active]);

    let archived = object("tax_rate", json!({"active": false, "percentage": 7.5}));
    let events = [
        event("tax_rate.created", T, resource("tax_rate")),
        event("tax_rate.updated", T, archived),
    ];
    let seen = in_three_orders(&app, &events, 2, tax_rate_rows).await;
    let expected =
        ["(txr_1Pgc7BB7WZ01zgkW4Iwwvf6z,VAT,\"VAT Germany\",7.5,f,f,DE,,DE,vat,{},f,1234567890)"];
    assert_eq!(
        seen,
        [expected, expected, expected].map(|e| e.map(String::from).to_vec()),
        "an update in the creation's second still wins"
    );
}

/// Stripe lists a customer's tax ids per customer: backfill reads each
/// synced customer's list.
#[tokio::test]
async fn backfill_imports_each_customers_tax_ids() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(2, 0, 0);
    for (customer, ids) in [
        ("cus_fake0000000", &["txi_a0", "txi_a1"][..]),
        ("cus_fake0000001", &["txi_b0"][..]),
    ] {
        let listed = ids
            .iter()
            .map(|id| object("tax_id", json!({"id": id, "customer": customer})))
            .collect();
        fake.serve_list(&format!("/v1/customers/{customer}/tax_ids"), listed)
            .await;
    }
    let report = fake.run_json(&app, &["backfill", "customers", "tax-ids"]);
    assert_eq!(report[1]["kind"], json!("tax-ids"), "{report}");
    assert_eq!(report[1]["objects"], json!(3), "{report}");
    let rows = texts(
        &app.pool,
        "SELECT t.stripe_tax_id || ' ' || c.stripe_customer_id || ' ' || t.value
         FROM tax_ids t JOIN end_customers c ON c.id = t.customer_id ORDER BY 1",
    )
    .await;
    assert_eq!(
        rows,
        [
            "txi_a0 cus_fake0000000 DE123456789",
            "txi_a1 cus_fake0000000 DE123456789",
            "txi_b0 cus_fake0000001 DE123456789",
        ]
    );
}

#[tokio::test]
async fn backfill_imports_tax_rates_through_the_api() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let rates: Vec<Value> = [("txr_de", 19.0), ("txr_fr", 20.0), ("txr_ca_qc", 9.975)]
        .into_iter()
        .map(|(id, percentage)| object("tax_rate", json!({"id": id, "percentage": percentage})))
        .collect();
    fake.serve_list("/v1/tax_rates", rates).await;
    let report = fake.run_json(&app, &["backfill", "tax-rates"]);
    assert_eq!(report[0]["objects"], json!(3), "{report}");
    let percentages = texts(
        &app.pool,
        "SELECT stripe_tax_rate_id || ' ' || percentage FROM tax_rates ORDER BY 1",
    )
    .await;
    assert_eq!(percentages, ["txr_ca_qc 9.975", "txr_de 19", "txr_fr 20"]);
}
