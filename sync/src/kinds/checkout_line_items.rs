//! A checkout session's `line_items`: what was bought, kept in
//! `checkout_session_line_items`. Stripe includes them only when the
//! session is expanded (`expand[]=line_items`; webhook events never are,
//! a backfill asks for them), so a session without them changes none of
//! its lines, and the newest object of a session may well lack them while
//! an older one has them. The list therefore keeps its own
//! version on the session's row (`line_items_event_*`): the newest event
//! that carried the list replaces the set, in any delivery order.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    Version,
    fields::{self, StripeObject},
    items::{ItemTable, Listed},
};

const LINE_ITEMS: ItemTable = ItemTable {
    table: "checkout_session_line_items",
    parent_column: "stripe_checkout_session_id",
    id_column: "stripe_line_item_id",
};

#[derive(Debug, Clone, PartialEq)]
pub struct LineItem {
    pub stripe_line_item_id: String,
    pub stripe_price_id: Option<String>,
    pub stripe_product_id: Option<String>,
    pub description: Option<String>,
    pub quantity: Option<i64>,
    pub currency: Option<String>,
    pub amount_subtotal: Option<i64>,
    pub amount_discount: Option<i64>,
    pub amount_tax: Option<i64>,
    pub amount_total: Option<i64>,
}

/// The session's line items, empty and incomplete (changing nothing) when
/// the session was not expanded.
pub fn read(session: &StripeObject) -> Listed<LineItem> {
    Listed::read(session, "line_items", read_item, item_id)
}

fn read_item(item: &Value) -> Option<LineItem> {
    let price = item.get("price");
    Some(LineItem {
        stripe_line_item_id: fields::string(item, "id")?,
        stripe_price_id: fields::reference(item, "price"),
        stripe_product_id: price.and_then(|p| fields::reference(p, "product")),
        description: fields::string(item, "description"),
        quantity: fields::integer(item, "quantity"),
        currency: fields::string(item, "currency"),
        amount_subtotal: fields::integer(item, "amount_subtotal"),
        amount_discount: fields::integer(item, "amount_discount"),
        amount_tax: fields::integer(item, "amount_tax"),
        amount_total: fields::integer(item, "amount_total"),
    })
}

fn item_id(item: &LineItem) -> &str {
    &item.stripe_line_item_id
}

/// A session's list and the version of the event that carried it.
pub type Carried<'a> = (&'a Version, &'a str, &'a Listed<LineItem>);

/// Writes each session's newest list where it is newer than the list the
/// session's row holds; the row exists already. Returns the sessions whose
/// lines were written.
pub async fn write(
    conn: &mut PgConnection,
    carried: &[Carried<'_>],
) -> Result<HashSet<String>, sqlx::Error> {
    let mut newest: BTreeMap<&str, Carried<'_>> = BTreeMap::new();
    for &(version, session, list) in carried.iter().filter(|(_, _, l)| l.changes_anything()) {
        let current = newest.entry(session).or_insert((version, session, list));
        if current.0 < version {
            *current = (version, session, list);
        }
    }
    if newest.is_empty() {
        return Ok(HashSet::new());
    }
    let newer = claim_newer(conn, &newest).await?;
    let lists: Vec<(&str, &Listed<LineItem>)> = newest
        .values()
        .filter(|(_, session, _)| newer.contains(*session))
        .map(|&(_, session, list)| (session, list))
        .collect();
    let items: Vec<(&str, &LineItem)> = lists
        .iter()
        .flat_map(|(session, list)| list.items.iter().map(|i| (*session, i)))
        .collect();
    if !items.is_empty() {
        upsert_items(conn, &items).await?;
    }
    LINE_ITEMS.remove_unlisted(conn, &lists, item_id).await?;
    Ok(newer)
}

/// Moves each session's list version forward where this list is newer (the
/// version guard's order and tie rule); returns those sessions.
async fn claim_newer(
    conn: &mut PgConnection,
    newest: &BTreeMap<&str, Carried<'_>>,
) -> Result<HashSet<String>, sqlx::Error> {
    let sessions: Vec<&str> = newest.keys().copied().collect();
    let versions: Vec<&Version> = newest.values().map(|(v, _, _)| *v).collect();
    let claimed: Vec<String> = sqlx::query_scalar(
        "UPDATE checkout_sessions s SET line_items_event_id = t.event_id,
                line_items_event_created = to_timestamp(t.created), line_items_event_rank = t.rank
         FROM unnest($1::text[], $2::text[], $3::int8[], $4::int2[]) AS t(id, event_id, created, rank)
         WHERE s.stripe_checkout_session_id = t.id
           AND (s.line_items_event_id IS NULL
                OR (s.line_items_event_created, s.line_items_event_rank, s.line_items_event_id COLLATE \"C\")
                   < (to_timestamp(t.created), t.rank, t.event_id COLLATE \"C\"))
         RETURNING s.stripe_checkout_session_id",
    )
    .bind(sessions)
    .bind(versions.iter().map(|v| v.event_id.as_str()).collect::<Vec<_>>())
    .bind(versions.iter().map(|v| v.created).collect::<Vec<_>>())
    .bind(versions.iter().map(|v| v.rank).collect::<Vec<_>>())
    .fetch_all(conn)
    .await?;
    Ok(claimed.into_iter().collect())
}

async fn upsert_items(
    conn: &mut PgConnection,
    items: &[(&str, &LineItem)],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO checkout_session_line_items AS l (checkout_session_id, stripe_checkout_session_id,
                                                   stripe_line_item_id, stripe_price_id, stripe_product_id,
                                                   description, quantity, currency, amount_subtotal,
                                                   amount_discount, amount_tax, amount_total)
         SELECT s.id, t.session, t.id, t.price, t.product, t.description, t.quantity, t.currency,
                t.subtotal, t.discount, t.tax, t.total
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::text[],
                     $8::int8[], $9::int8[], $10::int8[], $11::int8[])
              AS t(session, id, price, product, description, quantity, currency, subtotal, discount, tax, total)
         JOIN checkout_sessions s ON s.stripe_checkout_session_id = t.session
         ON CONFLICT (stripe_checkout_session_id, stripe_line_item_id) DO UPDATE SET
             stripe_price_id = EXCLUDED.stripe_price_id, stripe_product_id = EXCLUDED.stripe_product_id,
             description = EXCLUDED.description, quantity = EXCLUDED.quantity, currency = EXCLUDED.currency,
             amount_subtotal = EXCLUDED.amount_subtotal, amount_discount = EXCLUDED.amount_discount,
             amount_tax = EXCLUDED.amount_tax, amount_total = EXCLUDED.amount_total, updated_at = now()",
    )
    .bind(items.iter().map(|(s, _)| *s).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, i)| i.stripe_line_item_id.as_str()).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, i)| i.stripe_price_id.as_deref()).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, i)| i.stripe_product_id.as_deref()).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, i)| i.description.as_deref()).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, i)| i.quantity).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, i)| i.currency.as_deref()).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, i)| i.amount_subtotal).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, i)| i.amount_discount).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, i)| i.amount_tax).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, i)| i.amount_total).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}
