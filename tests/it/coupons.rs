//! Coupons, promotion codes and discounts: each read from Stripe's
//! published fixture, the same rows in every delivery order, tombstones
//! where Stripe deletes, placeholders for a coupon named first, older API
//! shapes, backfill through the fake Stripe API, and RLS.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    billing_fixtures::*,
    fake_stripe::FakeStripe,
    helpers::TestApp,
    worker_support::{apply, in_three_orders, log_statuses},
};

/// The fixture coupon's id; an account chooses coupon ids, so no prefix.
const COUPON: &str = "Z4OV52SU";
const PROMO: &str = "promo_1Pgc79B7WZ01zgkWNy4mn5NX";
const DISCOUNT: &str = "di_1Pgc6rB7WZ01zgkW7Al8Fal9";
const T: i64 = 1_780_000_000;

async fn coupon_rows(pool: &PgPool) -> Vec<String> {
    texts(
        pool,
        "SELECT row(stripe_coupon_id, name, percent_off, amount_off, currency, duration, duration_in_months,
                   max_redemptions, times_redeemed, extract(epoch FROM redeem_by)::int8, valid, metadata,
                   livemode, extract(epoch FROM stripe_created)::int8,
                   extract(epoch FROM deleted_at)::int8, is_placeholder, last_event_id IS NOT NULL)::text
         FROM coupons ORDER BY stripe_coupon_id",
    )
    .await
}

async fn promotion_code_rows(pool: &PgPool) -> Vec<String> {
    texts(
        pool,
        "SELECT row(p.stripe_promotion_code_id, p.code, co.stripe_coupon_id, co.is_placeholder, p.active,
                   c.stripe_customer_id, extract(epoch FROM p.expires_at)::int8, p.max_redemptions,
                   p.times_redeemed, p.metadata, p.livemode)::text
         FROM promotion_codes p LEFT JOIN coupons co ON co.id = p.coupon_id
         LEFT JOIN end_customers c ON c.id = p.customer_id ORDER BY 1",
    )
    .await
}

async fn discount_rows(pool: &PgPool) -> Vec<String> {
    texts(
        pool,
        "SELECT row(d.stripe_discount_id, c.stripe_customer_id, c.is_placeholder, co.stripe_coupon_id,
                   d.stripe_promotion_code_id, d.stripe_subscription_id, d.stripe_invoice_id,
                   extract(epoch FROM d.starts_at)::int8, extract(epoch FROM d.ends_at)::int8, d.livemode,
                   extract(epoch FROM d.deleted_at)::int8)::text
         FROM discounts d LEFT JOIN end_customers c ON c.id = d.customer_id
         LEFT JOIN coupons co ON co.id = d.coupon_id ORDER BY 1",
    )
    .await
}

#[tokio::test]
async fn the_coupon_fixture_reads_into_its_row_under_each_event_type() {
    let app = TestApp::spawn().await;
    apply(&app, &event("coupon.created", T, resource("coupon"))).await;
    assert_eq!(
        coupon_rows(&app.pool).await,
        [r#"(Z4OV52SU,"25.5% off",25.5,,usd,forever,3,,0,1234567890,t,{},f,1234567890,,f,t)"#]
    );
    let updated = object(
        "coupon",
        json!({"name": "Spring", "times_redeemed": 4, "metadata": {"team": "growth"}}),
    );
    apply(&app, &event("coupon.updated", T + 1, updated)).await;
    assert_eq!(
        coupon_rows(&app.pool).await,
        [
            r#"(Z4OV52SU,Spring,25.5,,usd,forever,3,,4,1234567890,t,"{""team"": ""growth""}",f,1234567890,,f,t)"#
        ]
    );
    // coupon.deleted carries the whole coupon as it was.
    apply(
        &app,
        &event(
            "coupon.deleted",
            T + 2,
            object("coupon", json!({"valid": false})),
        ),
    )
    .await;
    assert_eq!(
        coupon_rows(&app.pool).await,
        [
            r#"(Z4OV52SU,"25.5% off",25.5,,usd,forever,3,,0,1234567890,f,{},f,1234567890,1780000002,f,t)"#
        ]
    );
}

#[tokio::test]
async fn a_coupons_deletion_is_final_in_every_delivery_order() {
    let app = TestApp::spawn().await;
    let amount_off = |redeemed: i64| {
        object(
            "coupon",
            json!({"percent_off": null, "amount_off": 500, "times_redeemed": redeemed}),
        )
    };
    let events = [
        event("coupon.created", T, amount_off(0)),
        event("coupon.updated", T + 60, amount_off(7)),
        // The API's DELETE answer: a stub with the id only.
        event("coupon.deleted", T + 120, resource("deleted_coupon")),
        // Stripe may still send an update created after the deletion.
        event("coupon.updated", T + 180, amount_off(8)),
    ];
    let seen = in_three_orders(&app, &events, 3, coupon_rows).await;
    let expected = [
        "(Z4OV52SU,\"25.5% off\",,500,usd,forever,3,,8,1234567890,t,{},f,1234567890,1780000120,f,t)",
    ];
    assert_eq!(
        seen,
        [expected, expected, expected].map(|e| e.map(String::from).to_vec())
    );
}

fn promotion_code(coupon: Value, active: bool) -> Value {
    object(
        "promotion_code",
        json!({"promotion": {"type": "coupon", "coupon": coupon}, "active": active,
               "customer": "cus_alice", "times_redeemed": if active { 0 } else { 9 }}),
    )
}

#[tokio::test]
async fn a_promotion_code_links_its_coupon_in_every_delivery_order() {
    let app = TestApp::spawn().await;
    let events = [
        event("coupon.created", T, resource("coupon")),
        event(
            "promotion_code.created",
            T,
            promotion_code(json!(COUPON), true),
        ),
        event(
            "promotion_code.updated",
            T + 60,
            promotion_code(json!(COUPON), false),
        ),
    ];
    let read = async |pool: &PgPool| {
        let mut rows = promotion_code_rows(pool).await;
        rows.extend(coupon_rows(pool).await);
        rows
    };
    let [ordered, reversed, shuffled] = in_three_orders(&app, &events, 5, read).await;
    assert_eq!(
        ordered,
        [
            "(promo_1Pgc79B7WZ01zgkWNy4mn5NX,FALL20,Z4OV52SU,f,f,cus_alice,1234567890,,9,{},f)",
            "(Z4OV52SU,\"25.5% off\",25.5,,usd,forever,3,,0,1234567890,t,{},f,1234567890,,f,t)",
        ]
    );
    assert_eq!(
        reversed, ordered,
        "the code first: its coupon is a placeholder until it comes"
    );
    assert_eq!(shuffled, ordered);
}

#[tokio::test]
async fn a_promotion_code_before_its_coupon_links_a_placeholder() {
    let app = TestApp::spawn().await;
    apply(
        &app,
        &event(
            "promotion_code.created",
            T,
            promotion_code(json!(COUPON), true),
        ),
    )
    .await;
    assert_eq!(
        promotion_code_rows(&app.pool).await,
        ["(promo_1Pgc79B7WZ01zgkWNy4mn5NX,FALL20,Z4OV52SU,t,t,cus_alice,1234567890,,0,{},f)"]
    );
}

/// Before 2025-09-30.clover a promotion code and a discount carried the
/// whole coupon as `coupon`; from then on its id under `promotion` or
/// `source`.
#[tokio::test]
async fn the_coupon_is_read_from_either_api_shape() {
    let app = TestApp::spawn().await;
    let mut older_code = promotion_code(Value::Null, true);
    older_code.as_object_mut().unwrap().remove("promotion");
    older_code["coupon"] = resource("coupon");
    apply(&app, &event("promotion_code.created", T, older_code)).await;
    let mut older_discount = resource("discount");
    older_discount.as_object_mut().unwrap().remove("source");
    older_discount["coupon"] = resource("coupon");
    apply(&app, &event("customer.discount.created", T, older_discount)).await;
    let linked: Vec<String> = texts(
        &app.pool,
        "SELECT co.stripe_coupon_id FROM promotion_codes p JOIN coupons co ON co.id = p.coupon_id
         UNION ALL SELECT co.stripe_coupon_id FROM discounts d JOIN coupons co ON co.id = d.coupon_id",
    )
    .await;
    assert_eq!(linked, [COUPON, COUPON]);
}

fn discount(ends: Option<i64>) -> Value {
    object(
        "discount",
        json!({"source": {"type": "coupon", "coupon": COUPON}, "promotion_code": PROMO,
               "subscription": "sub_1", "end": ends}),
    )
}

#[tokio::test]
async fn a_discount_reads_the_fixture_and_its_removal_is_final_in_every_order() {
    let app = TestApp::spawn().await;
    apply(
        &app,
        &event("customer.discount.created", T, resource("discount")),
    )
    .await;
    assert_eq!(
        discount_rows(&app.pool).await,
        ["(di_1Pgc6rB7WZ01zgkW7Al8Fal9,cus_QXg1o8vcGmoR32,t,,,,,1234567890,1234567890,f,)"],
        "the fixture names no coupon (source.coupon null); livemode is the event's"
    );

    let mut removed = discount(Some(1_790_000_000));
    removed["deleted"] = json!(true);
    let events = [
        event("customer.discount.created", T, discount(None)),
        event(
            "customer.discount.updated",
            T + 60,
            discount(Some(1_790_000_000)),
        ),
        event("customer.discount.deleted", T + 120, removed),
    ];
    let seen = in_three_orders(&app, &events, 9, discount_rows).await;
    let expected = [
        "(di_1Pgc6rB7WZ01zgkW7Al8Fal9,cus_QXg1o8vcGmoR32,t,Z4OV52SU,promo_1Pgc79B7WZ01zgkWNy4mn5NX,sub_1,,\
         1234567890,1790000000,f,1780000120)",
    ];
    assert_eq!(
        seen,
        [expected, expected, expected].map(|e| e.map(String::from).to_vec())
    );
}

#[tokio::test]
async fn a_discount_without_its_deletion_event_type_is_not_deleted() {
    let app = TestApp::spawn().await;
    apply(&app, &event("customer.discount.updated", T, discount(None))).await;
    let kept: Vec<String> = texts(
        &app.pool,
        "SELECT stripe_discount_id || ' ' || (deleted_at IS NULL) FROM discounts",
    )
    .await;
    assert_eq!(kept, [format!("{DISCOUNT} true")]);
}

#[tokio::test]
async fn a_coupon_with_a_duration_of_another_type_is_dead_at_once() {
    let app = TestApp::spawn().await;
    let bad = event(
        "coupon.created",
        T,
        object("coupon", json!({"duration": 3})),
    );
    apply(&app, &bad).await;
    assert_eq!(
        log_statuses(&app.pool, bad["id"].as_str().unwrap()).await,
        ["dead"]
    );
    assert_eq!(coupon_rows(&app.pool).await, Vec::<String>::new());
}

#[tokio::test]
async fn discounts_and_codes_are_private_and_each_user_reads_their_own() {
    let app = TestApp::spawn().await;
    let alice = alice_and_bob(&app).await;
    apply(&app, &event("coupon.created", T, resource("coupon"))).await;
    for (customer, id) in [("cus_alice", "di_alice"), ("cus_bob", "di_bob")] {
        let discount = object("discount", json!({"id": id, "customer": customer}));
        apply(&app, &event("customer.discount.created", T, discount)).await;
        let code = object(
            "promotion_code",
            json!({"id": format!("promo_{customer}"), "customer": customer}),
        );
        apply(&app, &event("promotion_code.created", T, code)).await;
    }
    let select = "SELECT stripe_discount_id FROM discounts
                  UNION ALL SELECT stripe_promotion_code_id FROM promotion_codes
                  UNION ALL SELECT stripe_coupon_id FROM coupons ORDER BY 1";
    let [anon, alice_before, anon_after, alice_after] =
        seen_by_anon_and_alice(&app, &alice, select).await;
    let nothing = Vec::<String>::new();
    assert_eq!(
        (anon, alice_before, anon_after),
        (nothing.clone(), nothing.clone(), nothing)
    );
    assert_eq!(
        alice_after,
        ["di_alice", "promo_cus_alice"],
        "coupons stay private"
    );
}

#[tokio::test]
async fn backfill_imports_coupons_and_promotion_codes_through_the_api() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let coupons: Vec<Value> = (0..3)
        .map(|i| {
            object(
                "coupon",
                json!({"id": format!("COUPON{i}"), "times_redeemed": i}),
            )
        })
        .collect();
    let codes: Vec<Value> = (0..2)
        .map(|i| {
            object(
                "promotion_code",
                json!({"id": format!("promo_{i}"), "code": format!("CODE{i}"),
                       "promotion": {"type": "coupon", "coupon": format!("COUPON{i}")}}),
            )
        })
        .collect();
    fake.serve_list("/v1/coupons", coupons).await;
    fake.serve_list("/v1/promotion_codes", codes).await;
    let report = fake.run_json(&app, &["backfill", "coupons", "promotion-codes"]);
    let objects: Vec<(Value, Value)> = report
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["kind"].clone(), r["objects"].clone()))
        .collect();
    assert_eq!(
        objects,
        [
            (json!("coupons"), json!(3)),
            (json!("promotion-codes"), json!(2))
        ]
    );
    let linked: Vec<String> = texts(
        &app.pool,
        "SELECT p.code || ' ' || co.stripe_coupon_id || ' ' || co.times_redeemed
         FROM promotion_codes p JOIN coupons co ON co.id = p.coupon_id WHERE NOT co.is_placeholder
         ORDER BY 1",
    )
    .await;
    assert_eq!(linked, ["CODE0 COUPON0 0", "CODE1 COUPON1 1"]);
}
