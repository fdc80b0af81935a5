//! Credit notes and their lines: each event alone, the lines replaced as a
//! set in any delivery order, API-version drift, backfill, and privacy.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    fake_stripe::FakeStripe,
    helpers::TestApp,
    kind_support::{event, linked_users, stripe_fixture},
    supabase::{as_role, run_optional_sql},
    worker_support::{apply, in_three_orders, log_statuses},
};

/// Stripe's fixture note (issued, two lines), edited by `edit`.
fn note(edit: impl FnOnce(&mut Value)) -> Value {
    let mut note = stripe_fixture("credit_note");
    note["voided_at"] = Value::Null;
    edit(&mut note);
    note
}

async fn notes(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT row(n.stripe_credit_note_id, c.stripe_customer_id, n.stripe_invoice_id, n.number, n.amount,
                   n.currency, n.status, n.reason, n.type, n.total, n.memo,
                   extract(epoch FROM n.voided_at)::int8, n.metadata, n.livemode,
                   extract(epoch FROM n.stripe_created)::int8)::text
         FROM credit_notes n LEFT JOIN end_customers c ON c.id = n.customer_id ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn lines(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT row(l.stripe_credit_note_id, l.stripe_credit_note_line_id, l.type, l.amount, l.quantity,
                   l.description, l.stripe_invoice_line_id, n.id IS NOT NULL)::text
         FROM credit_note_lines l LEFT JOIN credit_notes n ON n.id = l.credit_note_id ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

const ISSUED: &str = "(cn_1Pgc75B7WZ01zgkWJMPt5riP,cus_QXg1o8vcGmoR32,in_1Pgc75B7WZ01zgkWYv4iMwt7,\
    ABCD-1234-CN-01,1690,usd,issued,,pre_payment,1690,,,{},f,1234567890)";
const FIRST_LINE: &str = "(cn_1Pgc75B7WZ01zgkWJMPt5riP,cnli_1Pgc75B7WZ01zgkWla6u0GdZ,invoice_line_item,\
    1190,1,\"My First Invoice Item (created for API docs)\",il_1Pgc74B7WZ01zgkWWh45tUBA,t)";
const SECOND_LINE: &str = "(cn_1Pgc75B7WZ01zgkWJMPt5riP,cnli_1Pgc75B7WZ01zgkW9m0EaOVh,custom_line_item,\
    500,1,\"Service credit\",,t)";

#[tokio::test]
async fn each_credit_note_event_alone_produces_its_rows() {
    let app = TestApp::spawn().await;
    let created = event("credit_note.created", 100, note(|_| {}));
    apply(&app, &created).await;
    assert_eq!(
        log_statuses(&app.pool, created["id"].as_str().unwrap()).await,
        ["success"]
    );
    assert_eq!(notes(&app.pool).await, [ISSUED]);
    assert_eq!(
        lines(&app.pool).await,
        [SECOND_LINE, FIRST_LINE],
        "ordered by line id"
    );

    let updated = note(|n| {
        n["memo"] = json!("Goodwill");
        n["reason"] = json!("order_change");
        n["metadata"] = json!({"ticket": "T-1"});
    });
    apply(&app, &event("credit_note.updated", 200, updated)).await;
    assert_eq!(
        notes(&app.pool).await,
        [ISSUED.replace(
            "issued,,pre_payment,1690,,,{}",
            "issued,order_change,pre_payment,1690,Goodwill,,\"{\"\"ticket\"\": \"\"T-1\"\"}\""
        )]
    );

    let voided = note(|n| {
        n["status"] = json!("void");
        n["voided_at"] = json!(1_700_000_000);
    });
    apply(&app, &event("credit_note.voided", 300, voided)).await;
    assert_eq!(
        notes(&app.pool).await,
        [ISSUED.replace(
            "issued,,pre_payment,1690,,,",
            "void,,pre_payment,1690,,1700000000,"
        )]
    );
}

#[tokio::test]
async fn the_newest_lines_replace_the_set_in_every_delivery_order() {
    let app = TestApp::spawn().await;
    let one_line = note(|n| {
        n["lines"]["data"].as_array_mut().unwrap().truncate(1);
        n["amount"] = json!(1190);
    });
    let events = [
        event("credit_note.created", 100, note(|_| {})),
        event("credit_note.updated", 160, one_line),
        event(
            "credit_note.voided",
            220,
            note(|n| n["status"] = json!("void")),
        ),
    ];
    let read = async |pool: &PgPool| {
        let mut rows = notes(pool).await;
        rows.extend(lines(pool).await);
        rows
    };
    let expected = [
        ISSUED.replace("issued", "void"),
        SECOND_LINE.to_owned(),
        FIRST_LINE.to_owned(),
    ];
    let [ordered, reversed, shuffled] = in_three_orders(&app, &events, 9, read).await;
    assert_eq!(ordered, expected, "the void note lists both lines again");
    assert_eq!(reversed, expected);
    assert_eq!(shuffled, expected);
}

/// Fields of a shape no API version sends read as absent; the row still lands.
#[tokio::test]
async fn fields_of_unknown_shape_read_as_absent() {
    let app = TestApp::spawn().await;
    let drifted = note(|n| {
        n["memo"] = json!({"text": "x"});
        n["total"] = json!("1690");
        n["lines"]["data"][0]["quantity"] = json!("one");
    });
    apply(&app, &event("credit_note.created", 100, drifted)).await;
    assert_eq!(
        notes(&app.pool).await,
        [ISSUED.replace("pre_payment,1690,", "pre_payment,,")]
    );
    assert_eq!(
        lines(&app.pool).await[1],
        FIRST_LINE.replace("1190,1,", "1190,,")
    );
}

#[tokio::test]
async fn a_credit_note_whose_amount_is_not_a_number_is_dead_at_once() {
    let app = TestApp::spawn().await;
    let bad = event(
        "credit_note.created",
        100,
        note(|n| n["amount"] = json!("lots")),
    );
    apply(&app, &bad).await;
    assert_eq!(
        log_statuses(&app.pool, bad["id"].as_str().unwrap()).await,
        ["dead"]
    );
    assert_eq!(notes(&app.pool).await, Vec::<String>::new());
}

#[tokio::test]
async fn backfill_imports_credit_notes_with_their_lines() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let notes: Vec<Value> = (0..3)
        .map(|n| {
            note(|note| {
                note["id"] = json!(format!("cn_fake{n}"));
                note["amount"] = json!(n * 10);
            })
        })
        .collect();
    fake.serve_list("/v1/credit_notes", notes).await;
    let report = fake.run_json(&app, &["backfill", "credit-notes"]);
    assert_eq!(report[0]["objects"], json!(3), "{report}");
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT n.stripe_credit_note_id || ' ' || n.amount || ' ' || count(l.id)
         FROM credit_notes n JOIN credit_note_lines l ON l.credit_note_id = n.id
         WHERE n.last_event_id = 'snapshot' GROUP BY n.stripe_credit_note_id, n.amount ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rows, ["cn_fake0 0 2", "cn_fake1 10 2", "cn_fake2 20 2"]);
}

#[tokio::test]
async fn credit_notes_are_private_and_each_user_reads_only_their_own() {
    let app = TestApp::spawn().await;
    let users = linked_users(&app, &["cus_alice", "cus_bob"]).await;
    for customer in ["cus_alice", "cus_bob"] {
        let object = note(|n| {
            n["id"] = json!(format!("cn_{customer}"));
            n["customer"] = json!(customer);
            for (i, line) in n["lines"]["data"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .enumerate()
            {
                line["id"] = json!(format!("cnli_{customer}_{i}"));
            }
        });
        apply(&app, &event("credit_note.created", 100, object)).await;
    }
    let select = "SELECT stripe_credit_note_id FROM credit_notes
                  UNION ALL SELECT stripe_credit_note_line_id FROM credit_note_lines ORDER BY 1";
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
        ["cn_cus_alice", "cnli_cus_alice_0", "cnli_cus_alice_1"]
    );
}
