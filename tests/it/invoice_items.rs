//! Invoice items: each event alone, any delivery order ending in the same
//! tombstoned row, older and newer API shapes, backfill, and privacy.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::{
    fake_stripe::FakeStripe,
    helpers::TestApp,
    kind_support::{event, linked_users, stripe_fixture},
    supabase::{as_role, run_optional_sql},
    worker_support::{apply, in_three_orders, log_statuses},
};

const ITEM: &str = "ii_1Pgc6sB7WZ01zgkWrG16hkdl";

/// Stripe's fixture item, on a subscription and a price (API 2025-03-31.basil
/// shape), edited by `edit`.
fn item(edit: impl FnOnce(&mut Value)) -> Value {
    let mut item = stripe_fixture("invoiceitem");
    item["parent"]["subscription_details"]["subscription"] = json!("sub_1");
    item["pricing"]["price_details"] = json!({"price": "price_1", "product": "prod_1"});
    edit(&mut item);
    item
}

async fn rows(pool: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT row(i.stripe_invoice_item_id, c.stripe_customer_id, i.stripe_invoice_id, i.stripe_subscription_id,
                   i.stripe_price_id, i.amount, i.currency, i.quantity, i.description, i.proration,
                   extract(epoch FROM i.period_start)::int8, extract(epoch FROM i.period_end)::int8,
                   i.metadata, i.livemode, extract(epoch FROM i.stripe_created)::int8,
                   i.deleted_at IS NOT NULL)::text
         FROM invoice_items i LEFT JOIN end_customers c ON c.id = i.customer_id ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

const CREATED_ROW: &str = "(ii_1Pgc6sB7WZ01zgkWrG16hkdl,cus_QXg1o8vcGmoR32,,sub_1,price_1,1000,usd,1,\
    \"My First Invoice Item (created for API docs)\",f,1721954054,1721954054,{},f,1234567890,f)";

#[tokio::test]
async fn each_invoice_item_event_alone_produces_its_row() {
    let app = TestApp::spawn().await;
    let created = event("invoiceitem.created", 100, item(|_| {}));
    apply(&app, &created).await;
    assert_eq!(
        log_statuses(&app.pool, created["id"].as_str().unwrap()).await,
        ["success"]
    );
    assert_eq!(rows(&app.pool).await, [CREATED_ROW]);

    // Stripe sends the whole item with the deletion.
    apply(
        &app,
        &event(
            "invoiceitem.deleted",
            200,
            item(|i| i["invoice"] = json!("in_1")),
        ),
    )
    .await;
    assert_eq!(
        rows(&app.pool).await,
        [CREATED_ROW
            .replace(",,sub_1", ",in_1,sub_1")
            .replace(",f)", ",t)")]
    );
}

#[tokio::test]
async fn a_deletion_is_final_in_every_delivery_order() {
    let app = TestApp::spawn().await;
    let stub = json!({"id": ITEM, "object": "invoiceitem", "deleted": true});
    let events = [
        event("invoiceitem.created", 100, item(|_| {})),
        event("invoiceitem.deleted", 160, stub),
    ];
    let expected = [CREATED_ROW.replace(",f)", ",t)")];
    let [ordered, reversed, shuffled] = in_three_orders(&app, &events, 3, rows).await;
    assert_eq!(ordered, expected);
    assert_eq!(
        reversed, expected,
        "the details still come from the creation"
    );
    assert_eq!(shuffled, expected);
}

/// Up to 2025-02-24.acacia the item named its `subscription` and `price`
/// at the top; fields of another shape read as absent.
#[tokio::test]
async fn the_older_api_shape_reads_to_the_same_row() {
    let app = TestApp::spawn().await;
    let older = item(|i| {
        let object = i.as_object_mut().unwrap();
        object.remove("parent");
        object.remove("pricing");
        object.insert("subscription".into(), json!("sub_1"));
        object.insert("price".into(), json!({"id": "price_1", "object": "price"}));
        object.insert("proration".into(), json!("no"));
    });
    apply(&app, &event("invoiceitem.created", 100, older)).await;
    assert_eq!(
        rows(&app.pool).await,
        [CREATED_ROW.replace(",f,1721954054", ",,1721954054")]
    );
}

#[tokio::test]
async fn backfill_imports_invoice_items() {
    let app = TestApp::spawn().await;
    let fake = FakeStripe::start(0, 0, 0);
    let items: Vec<Value> = (0..3)
        .map(|n| {
            item(|i| {
                i["id"] = json!(format!("ii_fake{n}"));
                i["amount"] = json!(n * 100);
            })
        })
        .collect();
    fake.serve_list("/v1/invoiceitems", items).await;
    let report = fake.run_json(&app, &["backfill", "invoice-items"]);
    assert_eq!(report[0]["objects"], json!(3), "{report}");
    let amounts: Vec<i64> = sqlx::query_scalar(
        "SELECT amount FROM invoice_items WHERE last_event_id = 'snapshot' ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(amounts, [0, 100, 200]);
}

#[tokio::test]
async fn invoice_items_are_private_and_each_user_reads_only_their_own() {
    let app = TestApp::spawn().await;
    let users = linked_users(&app, &["cus_alice", "cus_bob"]).await;
    for customer in ["cus_alice", "cus_bob"] {
        let object = item(|i| {
            i["id"] = json!(format!("ii_{customer}"));
            i["customer"] = json!(customer);
        });
        apply(&app, &event("invoiceitem.created", 100, object)).await;
    }
    let select = "SELECT stripe_invoice_item_id FROM invoice_items ORDER BY 1";
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
        ["ii_cus_alice"]
    );
}
