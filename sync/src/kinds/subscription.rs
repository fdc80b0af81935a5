//! `customer.subscription.*` -> `subscriptions`.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    BenchMarker, BenchTokens, ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind,
    Version, fields,
    items::{self, ItemTable, Listed},
    kinds::customer::{self, Customers},
    object_id,
    order::bind_versions,
    required,
};

const ITEMS: ItemTable = ItemTable {
    table: "subscription_items",
    parent_column: "stripe_subscription_id",
    id_column: "stripe_subscription_item_id",
};

#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionChange {
    pub stripe_subscription_id: String,
    pub stripe_customer_id: Option<String>,
    pub status: Option<String>,
    pub price_id: Option<String>,
    pub quantity: Option<i64>,
    pub cancel_at_period_end: Option<bool>,
    pub current_period_start: Option<i64>,
    pub current_period_end: Option<i64>,
    pub cancel_at: Option<i64>,
    pub canceled_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub trial_start: Option<i64>,
    pub trial_end: Option<i64>,
    pub collection_method: Option<String>,
    pub stripe_created: Option<i64>,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub items: Listed<SubscriptionItem>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionItem {
    pub stripe_subscription_item_id: String,
    pub stripe_price_id: Option<String>,
    pub stripe_product_id: Option<String>,
    pub quantity: Option<i64>,
    pub current_period_start: Option<i64>,
    pub current_period_end: Option<i64>,
    pub metadata: Value,
    pub stripe_created: Option<i64>,
}

/// `subscriptions` and `subscription_items`.
pub struct Subscriptions;

impl SyncedKind for Subscriptions {
    const OBJECT: &'static str = "subscription";
    const ID_PREFIX: &'static str = "sub_";
    const TABLE: &'static str = "subscriptions";
    const PARENTS: &'static [&'static str] = &[Customers::OBJECT];
    const BENCH: Option<BenchMarker> = Some(BenchMarker {
        plant: plant_bench_marker,
        read_rows: "SELECT stripe_subscription_id, last_event_id, quantity::int8, false
                    FROM subscriptions WHERE stripe_subscription_id = ANY($1)",
        tombstones: false,
    });
    const EVENTS: &'static [&'static str] = &[
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "customer.subscription.pending_update_applied",
        "customer.subscription.pending_update_expired",
        "customer.subscription.trial_will_end",
    ];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "subscriptions",
        path: "/subscriptions",
        params: &[("status", "all")],
    });
    const REQUIRED: &'static [Required] = &[
        required("status", Shape::Text),
        required("customer", Shape::Reference),
        required("items", Shape::Object),
    ];
    type Change = SubscriptionChange;

    fn read(event_type: &str, object: &StripeObject) -> Result<SubscriptionChange, Refusal> {
        read(event_type, object)
    }

    fn object_id(change: &SubscriptionChange) -> &str {
        &change.stripe_subscription_id
    }

    fn references(change: &SubscriptionChange) -> Vec<(&'static str, &str)> {
        customer::as_parent(&change.stripe_customer_id)
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a SubscriptionChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }

    /// Stripe never reactivates a canceled subscription.
    fn is_terminal(change: &SubscriptionChange) -> bool {
        change.status.as_deref() == Some(CANCELED)
    }

    fn write_terminal<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a SubscriptionChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        write_cancellations(conn, changes)
    }
}

/// The bench's marker is the first item's quantity.
fn plant_bench_marker(object: &mut Value, tokens: &BenchTokens<'_>) {
    object["customer"] = tokens.customer_id.into();
    object["items"]["data"][0]["quantity"] = tokens.marker.into();
}

fn read(event_type: &str, object: &StripeObject) -> Result<SubscriptionChange, Refusal> {
    // The items are parsed once: the first one's price and quantity stand
    // for the subscription's, and each one is a row of its own.
    let list = fields::Fields::field(object, "items");
    let item = list.as_deref().and_then(items::first_element);
    // Up to 2025-02-24.acacia the period is on the subscription; from
    // 2025-03-31.basil it moved to each item. Read whichever is there.
    let period = |key: &str| {
        fields::integer(object, key).or_else(|| item.and_then(|i| fields::integer(i, key)))
    };
    let status = if event_type == "customer.subscription.deleted" {
        Some(CANCELED.to_owned())
    } else {
        fields::string(object, "status")
    };
    Ok(SubscriptionChange {
        stripe_subscription_id: object_id(object, Subscriptions::OBJECT, Subscriptions::ID_PREFIX)?,
        stripe_customer_id: customer::linked_customer(object),
        status,
        price_id: item
            .and_then(|i| i.get("price"))
            .and_then(|p| fields::string(p, "id")),
        quantity: item
            .and_then(|i| fields::integer(i, "quantity"))
            .or_else(|| fields::integer(object, "quantity")),
        cancel_at_period_end: fields::boolean(object, "cancel_at_period_end"),
        current_period_start: period("current_period_start"),
        current_period_end: period("current_period_end"),
        cancel_at: fields::integer(object, "cancel_at"),
        canceled_at: fields::integer(object, "canceled_at"),
        ended_at: fields::integer(object, "ended_at"),
        trial_start: fields::integer(object, "trial_start"),
        trial_end: fields::integer(object, "trial_end"),
        collection_method: fields::string(object, "collection_method"),
        stripe_created: fields::integer(object, "created"),
        metadata: fields::metadata(object),
        livemode: fields::boolean(object, "livemode"),
        items: Listed::of_list(list.as_deref(), |i| read_item(object, i), item_id),
    })
}

/// One item. Its period is its own from 2025-03-31.basil; before, the
/// subscription's period applies to every item.
fn read_item(subscription: &StripeObject, item: &Value) -> Option<SubscriptionItem> {
    let price = item.get("price");
    let period =
        |key: &str| fields::integer(item, key).or_else(|| fields::integer(subscription, key));
    Some(SubscriptionItem {
        stripe_subscription_item_id: fields::string(item, "id")?,
        stripe_price_id: fields::reference(item, "price"),
        stripe_product_id: price.and_then(|p| fields::reference(p, "product")),
        quantity: fields::integer(item, "quantity"),
        current_period_start: period("current_period_start"),
        current_period_end: period("current_period_end"),
        metadata: fields::metadata(item),
        stripe_created: fields::integer(item, "created"),
    })
}

fn item_id(item: &SubscriptionItem) -> &str {
    &item.stripe_subscription_item_id
}

/// The status a canceled subscription keeps.
const CANCELED: &str = "canceled";

/// A cancellation older than the row's newest event still cancels it.
async fn write_cancellations(
    conn: &mut PgConnection,
    changes: &[(&Version, &SubscriptionChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let written: Vec<String> = sqlx::query_scalar(
        "UPDATE subscriptions SET status = $2, updated_at = now()
         WHERE stripe_subscription_id = ANY($1) AND status IS DISTINCT FROM $2
         RETURNING stripe_subscription_id",
    )
    .bind(
        changes
            .iter()
            .map(|(_, c)| c.stripe_subscription_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(CANCELED)
    .fetch_all(conn)
    .await?;
    Ok(written.into_iter().collect())
}

/// Writes the newest change per subscription where it is newer than the
/// row, then the items of the subscriptions written.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &SubscriptionChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let written = upsert_subscriptions(conn, changes).await?;
    let rewritten: Vec<&SubscriptionChange> = changes
        .iter()
        .map(|(_, c)| *c)
        .filter(|c| written.contains(&c.stripe_subscription_id))
        .collect();
    write_items(conn, &rewritten).await?;
    Ok(written)
}

async fn upsert_subscriptions(
    conn: &mut PgConnection,
    changes: &[(&Version, &SubscriptionChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(
        concat!(
            "INSERT INTO subscriptions AS s (customer_id, stripe_subscription_id, status, price_id, quantity,
                                         cancel_at_period_end, current_period_start, current_period_end,
                                         metadata, livemode, cancel_at, canceled_at, ended_at,
                                         trial_start, trial_end, collection_method, stripe_created,
                                         last_event_id, last_event_created, last_event_rank)
         SELECT c.id, t.sub, t.status, t.price_id, t.quantity, t.cancel_at_period_end,
                to_timestamp(t.period_start), to_timestamp(t.period_end), t.metadata, t.livemode,
                to_timestamp(t.cancel_at), to_timestamp(t.canceled_at), to_timestamp(t.ended_at),
                to_timestamp(t.trial_start), to_timestamp(t.trial_end), t.collection_method,
                to_timestamp(t.stripe_created), t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::bool[], $7::int8[],
                     $8::int8[], $9::jsonb[], $10::bool[], $11::int8[], $12::int8[], $13::int8[],
                     $14::int8[], $15::int8[], $16::text[], $17::int8[], $18::text[], $19::int8[],
                     $20::int2[])
              AS t(sub, cid, status, price_id, quantity, cancel_at_period_end, period_start, period_end,
                   metadata, livemode, cancel_at, canceled_at, ended_at, trial_start, trial_end,
                   collection_method, stripe_created, event_id, created, rank)
         LEFT JOIN end_customers c ON c.stripe_customer_id = t.cid
         ON CONFLICT (stripe_subscription_id) DO UPDATE SET
             customer_id = EXCLUDED.customer_id, price_id = EXCLUDED.price_id,
             -- Canceled is final; later events may change everything else.
             status = CASE WHEN s.status = 'canceled' THEN s.status ELSE EXCLUDED.status END,
             quantity = EXCLUDED.quantity, cancel_at_period_end = EXCLUDED.cancel_at_period_end,
             current_period_start = EXCLUDED.current_period_start,
             current_period_end = EXCLUDED.current_period_end, metadata = EXCLUDED.metadata,
             cancel_at = EXCLUDED.cancel_at,
             -- A cancellation's time stays once known, like its status.
             canceled_at = COALESCE(EXCLUDED.canceled_at, s.canceled_at),
             ended_at = COALESCE(EXCLUDED.ended_at, s.ended_at),
             trial_start = EXCLUDED.trial_start, trial_end = EXCLUDED.trial_end,
             collection_method = EXCLUDED.collection_method,
             stripe_created = COALESCE(EXCLUDED.stripe_created, s.stripe_created),
             livemode = COALESCE(EXCLUDED.livemode, s.livemode),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
            crate::stored_is_older!("s"),
            "
         RETURNING stripe_subscription_id",
        ),
    )
    .bind(changes.iter().map(|(_, s)| s.stripe_subscription_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, s)| s.stripe_customer_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, s)| s.status.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, s)| s.price_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, s)| s.quantity).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, s)| s.cancel_at_period_end).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, s)| s.current_period_start).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, s)| s.current_period_end).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, s)| &s.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, s)| s.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, s)| s.cancel_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, s)| s.canceled_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, s)| s.ended_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, s)| s.trial_start).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, s)| s.trial_end).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, s)| s.collection_method.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, s)| s.stripe_created).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}

/// Replaces the items of each subscription just written with its newest list.
async fn write_items(
    conn: &mut PgConnection,
    subscriptions: &[&SubscriptionChange],
) -> Result<(), sqlx::Error> {
    let items: Vec<(&str, &SubscriptionItem)> = subscriptions
        .iter()
        .flat_map(|s| {
            s.items
                .items
                .iter()
                .map(|i| (s.stripe_subscription_id.as_str(), i))
        })
        .collect();
    if !items.is_empty() {
        upsert_items(conn, &items).await?;
    }
    let lists: Vec<(&str, &Listed<SubscriptionItem>)> = subscriptions
        .iter()
        .map(|s| (s.stripe_subscription_id.as_str(), &s.items))
        .collect();
    ITEMS.remove_unlisted(conn, &lists, item_id).await?;
    Ok(())
}

async fn upsert_items(
    conn: &mut PgConnection,
    items: &[(&str, &SubscriptionItem)],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO subscription_items AS i (subscription_id, stripe_subscription_id, stripe_subscription_item_id,
                                          stripe_price_id, stripe_product_id, quantity, current_period_start,
                                          current_period_end, metadata, stripe_created)
         SELECT s.id, t.sub, t.id, t.price, t.product, t.quantity, to_timestamp(t.period_start),
                to_timestamp(t.period_end), t.metadata, to_timestamp(t.created)
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[], $7::int8[],
                     $8::jsonb[], $9::int8[])
              AS t(sub, id, price, product, quantity, period_start, period_end, metadata, created)
         JOIN subscriptions s ON s.stripe_subscription_id = t.sub
         ON CONFLICT (stripe_subscription_id, stripe_subscription_item_id) DO UPDATE SET
             stripe_price_id = EXCLUDED.stripe_price_id, stripe_product_id = EXCLUDED.stripe_product_id,
             quantity = EXCLUDED.quantity, current_period_start = EXCLUDED.current_period_start,
             current_period_end = EXCLUDED.current_period_end, metadata = EXCLUDED.metadata,
             stripe_created = COALESCE(EXCLUDED.stripe_created, i.stripe_created), updated_at = now()",
    )
    .bind(items.iter().map(|(s, _)| *s).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, i)| i.stripe_subscription_item_id.as_str()).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, i)| i.stripe_price_id.as_deref()).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, i)| i.stripe_product_id.as_deref()).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, i)| i.quantity).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, i)| i.current_period_start).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, i)| i.current_period_end).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, i)| &i.metadata).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, i)| i.stripe_created).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}
