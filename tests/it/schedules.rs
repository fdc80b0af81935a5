//! Subscription schedules (with their phases) and quotes: each read from
//! Stripe's published fixture, the same rows in every delivery order,
//! phases replaced as a set, backfill through the fake Stripe API, and RLS.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    billing_fixtures::*,
    fake_stripe::FakeStripe,
    helpers::TestApp,
    worker_support::{apply, in_three_orders},
};

const T: i64 = 1_780_000_000;
const PRICE: &str = "price_1PgafmB7WZ01zgkW6dKueIc5";

async fn schedule_rows(pool: &PgPool) -> Vec<String> {
    texts(
        pool,
        "SELECT 'schedule ' || row(s.stripe_subscription_schedule_id, c.stripe_customer_id, s.stripe_subscription_id,
                                   s.status, s.end_behavior, extract(epoch FROM s.current_phase_start)::int8,
                                   extract(epoch FROM s.current_phase_end)::int8,
                                   extract(epoch FROM s.canceled_at)::int8, extract(epoch FROM s.released_at)::int8,
                                   extract(epoch FROM s.completed_at)::int8, s.metadata, s.livemode,
                                   extract(epoch FROM s.stripe_created)::int8)::text
         FROM subscription_schedules s LEFT JOIN end_customers c ON c.id = s.customer_id
         UNION ALL
         SELECT 'phase ' || row(stripe_subscription_schedule_id, position, extract(epoch FROM start_date)::int8,
                                extract(epoch FROM end_date)::int8, currency, items, metadata)::text
         FROM subscription_schedule_phases
         ORDER BY 1",
    )
    .await
}

async fn quote_rows(pool: &PgPool) -> Vec<String> {
    texts(
        pool,
        "SELECT row(q.stripe_quote_id, c.stripe_customer_id, q.status, q.number, q.amount_subtotal,
                   q.amount_total, q.currency, extract(epoch FROM q.expires_at)::int8, q.stripe_subscription_id,
                   q.stripe_invoice_id, q.metadata, q.livemode, extract(epoch FROM q.stripe_created)::int8)::text
         FROM quotes q LEFT JOIN end_customers c ON c.id = q.customer_id ORDER BY 1",
    )
    .await
}

/// A phase from `start` to `end` billing `quantity` of the sample price.
fn phase(start: i64, end: i64, quantity: i64) -> Value {
    let mut phase = resource("subscription_schedule")["phases"][0].clone();
    phase["start_date"] = json!(start);
    phase["end_date"] = json!(end);
    phase["items"][0]["quantity"] = json!(quantity);
    phase
}

#[tokio::test]
async fn the_schedule_fixture_reads_into_its_row_and_phases() {
    let app = TestApp::spawn().await;
    apply(
        &app,
        &event(
            "subscription_schedule.created",
            T,
            resource("subscription_schedule"),
        ),
    )
    .await;
    assert_eq!(
        schedule_rows(&app.pool).await,
        [
            format!(
                r#"phase (sub_sched_1Pgc7AB7WZ01zgkWaeHcsbnC,0,1722558872,1754008472,usd,"[{{""price"": ""{PRICE}"", ""quantity"": 1}}]",{{}})"#
            ),
            "schedule (sub_sched_1Pgc7AB7WZ01zgkWaeHcsbnC,cus_QXg1o8vcGmoR32,,not_started,release,1573629589,\
             1725067410,1234567890,1234567890,1234567890,{},f,1234567890)"
                .to_owned(),
        ]
    );
}

#[tokio::test]
async fn a_schedules_phases_are_replaced_as_a_set_in_every_delivery_order() {
    let app = TestApp::spawn().await;
    let schedule = |status: &str, phases: Value, extra: Value| {
        let mut changes = json!({"status": status, "phases": phases, "canceled_at": null,
                                 "completed_at": null, "released_at": null,
                                 "current_phase": {"start_date": 100, "end_date": 200}});
        for (key, value) in extra.as_object().unwrap() {
            changes[key] = value.clone();
        }
        object("subscription_schedule", changes)
    };
    let events = [
        event(
            "subscription_schedule.created",
            T,
            schedule("not_started", json!([phase(100, 200, 1)]), json!({})),
        ),
        event(
            "subscription_schedule.updated",
            T + 60,
            schedule(
                "active",
                json!([phase(100, 200, 1), phase(200, 300, 5)]),
                json!({"subscription": "sub_1"}),
            ),
        ),
        event(
            "subscription_schedule.released",
            T + 120,
            schedule(
                "released",
                json!([phase(100, 200, 3)]),
                json!({"subscription": null, "released_at": T + 120, "released_subscription": "sub_1"}),
            ),
        ),
    ];
    let seen = in_three_orders(&app, &events, 8, schedule_rows).await;
    let expected = [
        format!(
            r#"phase (sub_sched_1Pgc7AB7WZ01zgkWaeHcsbnC,0,100,200,usd,"[{{""price"": ""{PRICE}"", ""quantity"": 3}}]",{{}})"#
        ),
        "schedule (sub_sched_1Pgc7AB7WZ01zgkWaeHcsbnC,cus_QXg1o8vcGmoR32,,released,release,100,200,,1780000120,,\
         {},f,1234567890)"
            .to_owned(),
    ];
    assert_eq!(seen, [expected.clone(), expected.clone(), expected]);
}

#[tokio::test]
async fn a_schedule_event_without_phases_keeps_the_stored_ones() {
    let app = TestApp::spawn().await;
    apply(
        &app,
        &event(
            "subscription_schedule.created",
            T,
            resource("subscription_schedule"),
        ),
    )
    .await;
    let mut without = object("subscription_schedule", json!({"status": "active"}));
    without.as_object_mut().unwrap().remove("phases");
    apply(
        &app,
        &event("subscription_schedule.updated", T + 60, without),
    )
    .await;
    let phases = texts(
        &app.pool,
        "SELECT position::text FROM subscription_schedule_phases",
    )
    .await;
    assert_eq!(phases, ["0"]);
}

#[tokio::test]
async fn the_quote_fixture_reads_into_its_row_and_acceptance_wins_in_every_order() {
    let app = TestApp::spawn().await;
    apply(&app, &event("quote.created", T, resource("quote"))).await;
    assert_eq!(
        quote_rows(&app.pool).await,
        [
            "(qt_1Pgc79B7WZ01zgkWHyj9Adwl,cus_QXg1o8vcGmoR32,draft,,0,0,usd,1234567890,,,{},f,1234567890)"
        ]
    );
    let quote = |status: &str, extra: Value| {
        let mut changes = json!({"status": status, "amount_subtotal": 5000, "amount_total": 4500});
        for (key, value) in extra.as_object().unwrap() {
            changes[key] = value.clone();
        }
        object("quote", changes)
    };
    let events = [
        event("quote.created", T, quote("draft", json!({}))),
        event(
            "quote.finalized",
            T + 60,
            quote("open", json!({"number": "QT-0001"})),
        ),
        event(
            "quote.accepted",
            T + 120,
            quote(
                "accepted",
                json!({"number": "QT-0001", "subscription": "sub_1", "invoice": "in_1"}),
            ),
        ),
    ];
    let seen = in_three_orders(&app, &events, 6, quote_rows).await;
    let expected = [
        "(qt_1Pgc79B7WZ01zgkWHyj9Adwl,cus_QXg1o8vcGmoR32,accepted,QT-0001,5000,4500,usd,1234567890,sub_1,in_1,\
         {},f,1234567890)",
    ];
    assert_eq!(
        seen,
        [expected, expected, expected].map(|e| e.map(String::from).to_vec())
    );
}

#[tokio::test]
async fn schedules_phases_and_quotes_are_private_and_each_user_reads_their_own() {
    let app = TestApp::spawn().await;
    let alice = alice_and_bob(&app).await;
    for (customer, who) in [("cus_alice", "alice"), ("cus_bob", "bob")] {
        let schedule = object(
            "subscription_schedule",
            json!({"id": format!("sub_sched_{who}"), "customer": customer}),
        );
        apply(&app, &event("subscription_schedule.created", T, schedule)).await;
        let quote = object(
            "quote",
            json!({"id": format!("qt_{who}"), "customer": customer}),
        );
        apply(&app, &event("quote.created", T, quote)).await;
    }
    let select = "SELECT stripe_subscription_schedule_id FROM subscription_schedules
                  UNION ALL SELECT 'phase of ' || stripe_subscription_schedule_id FROM subscription_schedule_phases
                  UNION ALL SELECT stripe_quote_id FROM quotes ORDER BY 1";
    let [anon, alice_before, anon_after, alice_after] =
        seen_by_anon_and_alice(&app, &alice, select).await;
    let nothing = Vec::<String>::new();
    assert_eq!(
        (anon, alice_before, anon_after),
        (nothing.clone(), nothing.clone(), nothing)
    );
    assert_eq!(
        alice_after,
        ["phase of sub_sched_alice", "qt_alice", "sub_sched_alice"]
    );
}

#[tokio::test]
async fn backfill_imports_schedules_and_quotes_through_the_api() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let schedules: Vec<Value> = (0..2)
        .map(|i| {
            object(
                "subscription_schedule",
                json!({"id": format!("sub_sched_{i}")}),
            )
        })
        .collect();
    let quotes: Vec<Value> = (0..3)
        .map(|i| {
            object(
                "quote",
                json!({"id": format!("qt_{i}"), "amount_total": i * 100}),
            )
        })
        .collect();
    fake.serve_list("/v1/subscription_schedules", schedules)
        .await;
    fake.serve_list("/v1/quotes", quotes).await;
    let report = fake.run_json(&app, &["backfill", "subscription-schedules", "quotes"]);
    let objects: Vec<(Value, Value)> = report
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["kind"].clone(), r["objects"].clone()))
        .collect();
    assert_eq!(
        objects,
        [
            (json!("subscription-schedules"), json!(2)),
            (json!("quotes"), json!(3))
        ]
    );
    let rows = texts(
        &app.pool,
        "SELECT s.stripe_subscription_schedule_id || ' ' || count(p.*) FROM subscription_schedules s
         JOIN subscription_schedule_phases p ON p.subscription_schedule_id = s.id
         GROUP BY s.stripe_subscription_schedule_id UNION ALL SELECT stripe_quote_id || ' ' || amount_total FROM quotes ORDER BY 1",
    )
    .await;
    assert_eq!(
        rows,
        [
            "qt_0 0",
            "qt_1 100",
            "qt_2 200",
            "sub_sched_0 1",
            "sub_sched_1 1"
        ]
    );
}
