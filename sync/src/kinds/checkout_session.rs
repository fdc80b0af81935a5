//! `checkout.session.*` -> `checkout_sessions`, and the user link: a
//! session whose `client_reference_id` is a Supabase user id links that
//! user to the session's customer in `users` (the usual purchase flow, with
//! no code in the app). An existing link is kept.

use std::collections::HashSet;

use sqlx::PgConnection;

use crate::{
    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields,
    items::Listed,
    kinds::checkout_line_items::{self, LineItem},
    kinds::customer::{self, Customers},
    object_id,
    order::bind_versions,
    required,
};

#[derive(Debug, Clone, PartialEq)]
pub struct CheckoutSessionChange {
    pub stripe_checkout_session_id: String,
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub stripe_payment_intent_id: Option<String>,
    pub client_reference_id: Option<String>,
    pub mode: Option<String>,
    pub status: Option<String>,
    pub payment_status: Option<String>,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
    pub line_items: Listed<LineItem>,
}

pub struct CheckoutSessions;

impl SyncedKind for CheckoutSessions {
    const OBJECT: &'static str = "checkout.session";
    const ID_PREFIX: &'static str = "cs_";
    const TABLE: &'static str = "checkout_sessions";
    const PARENTS: &'static [&'static str] = &[Customers::OBJECT];
    const EVENTS: &'static [&'static str] = &[
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    ];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "checkout-sessions",
        path: "/checkout/sessions",
        // Line items come only when asked for.
        params: &[("expand[]", "data.line_items")],
    });
    const REQUIRED: &'static [Required] = &[
        required("mode", Shape::Text),
        required("status", Shape::Text),
        required("customer", Shape::Reference),
        required("amount_total", Shape::Integer),
    ];
    type Change = CheckoutSessionChange;

    fn read(_event_type: &str, object: &StripeObject) -> Result<CheckoutSessionChange, Refusal> {
        Ok(CheckoutSessionChange {
            stripe_checkout_session_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            stripe_customer_id: customer::linked_customer(object),
            stripe_subscription_id: fields::reference(object, "subscription"),
            stripe_payment_intent_id: fields::reference(object, "payment_intent"),
            client_reference_id: fields::string(object, "client_reference_id"),
            mode: fields::string(object, "mode"),
            status: fields::string(object, "status"),
            payment_status: fields::string(object, "payment_status"),
            amount_total: fields::integer(object, "amount_total"),
            currency: fields::string(object, "currency"),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
            line_items: checkout_line_items::read(object),
        })
    }

    fn object_id(change: &CheckoutSessionChange) -> &str {
        &change.stripe_checkout_session_id
    }

    fn references(change: &CheckoutSessionChange) -> Vec<(&'static str, &str)> {
        customer::as_parent(&change.stripe_customer_id)
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a CheckoutSessionChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }

    /// A session carrying its line items: Stripe sends them only when
    /// expanded, so an older event may be the one that has them, and they
    /// must land whatever order the events arrive in.
    fn is_terminal(change: &CheckoutSessionChange) -> bool {
        change.line_items.changes_anything()
    }

    fn write_terminal<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a CheckoutSessionChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        write_line_items(conn, changes)
    }
}

async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &CheckoutSessionChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO checkout_sessions AS s (stripe_checkout_session_id, customer_id, stripe_customer_id,
                                         stripe_subscription_id, stripe_payment_intent_id, client_reference_id,
                                         mode, status, payment_status, amount_total, currency, livemode,
                                         stripe_created, last_event_id, last_event_created, last_event_rank)
         SELECT t.id, c.id, t.customer, t.subscription, t.payment_intent, t.reference, t.mode, t.status,
                t.payment_status, t.amount_total, t.currency, t.livemode, to_timestamp(t.stripe_created),
                t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::text[], $9::int8[], $10::text[], $11::bool[], $12::int8[], $13::text[], $14::int8[],
                     $15::int2[])
              AS t(id, customer, subscription, payment_intent, reference, mode, status, payment_status,
                   amount_total, currency, livemode, stripe_created, event_id, created, rank)
         LEFT JOIN end_customers c ON c.stripe_customer_id = t.customer
         ON CONFLICT (stripe_checkout_session_id) DO UPDATE SET
             customer_id = EXCLUDED.customer_id, stripe_customer_id = EXCLUDED.stripe_customer_id,
             stripe_subscription_id = EXCLUDED.stripe_subscription_id,
             stripe_payment_intent_id = EXCLUDED.stripe_payment_intent_id,
             client_reference_id = EXCLUDED.client_reference_id, mode = EXCLUDED.mode,
             status = EXCLUDED.status, payment_status = EXCLUDED.payment_status,
             amount_total = EXCLUDED.amount_total, currency = EXCLUDED.currency,
             livemode = COALESCE(EXCLUDED.livemode, s.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, s.stripe_created),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE s.last_event_id IS NULL OR ",
        crate::stored_is_older!("s"),
        "
         RETURNING stripe_checkout_session_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_checkout_session_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_customer_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_subscription_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_payment_intent_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.client_reference_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.mode.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.status.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.payment_status.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.amount_total).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.currency.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions)
        .fetch_all(&mut *conn)
        .await?;
    checkout_line_items::write(conn, &carried(changes)).await?;
    link_users(conn, changes).await?;
    Ok(written.into_iter().collect())
}

/// The line items of sessions whose newest event did not carry them.
async fn write_line_items(
    conn: &mut PgConnection,
    changes: &[(&Version, &CheckoutSessionChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    checkout_line_items::write(conn, &carried(changes)).await
}

/// Each change's line items, for `checkout_line_items::write`.
fn carried<'a>(
    changes: &'a [(&'a Version, &'a CheckoutSessionChange)],
) -> Vec<checkout_line_items::Carried<'a>> {
    changes
        .iter()
        .map(|(v, c)| (*v, c.stripe_checkout_session_id.as_str(), &c.line_items))
        .collect()
}

/// `client_reference_id` that is a Supabase user id (a uuid) links that user
/// to the session's customer, unless the user is linked already.
async fn link_users(
    conn: &mut PgConnection,
    changes: &[(&Version, &CheckoutSessionChange)],
) -> Result<(), sqlx::Error> {
    let pairs: Vec<(&str, &str)> = changes
        .iter()
        .filter_map(|(_, c)| {
            let user = c.client_reference_id.as_deref()?;
            let customer = c.stripe_customer_id.as_deref()?;
            uuid_like(user).then_some((user, customer))
        })
        .collect();
    if pairs.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO users (id, customer_id)
         SELECT t.user_id::uuid, c.id FROM unnest($1::text[], $2::text[]) AS t(user_id, customer)
         JOIN end_customers c ON c.stripe_customer_id = t.customer
         ON CONFLICT (id) DO UPDATE SET customer_id = COALESCE(users.customer_id, EXCLUDED.customer_id)",
    )
    .bind(pairs.iter().map(|(u, _)| *u).collect::<Vec<_>>())
    .bind(pairs.iter().map(|(_, c)| *c).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// `8-4-4-4-12` hex digits: what `uuid` accepts, checked before a cast
/// that would otherwise fail the whole claim.
fn uuid_like(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::uuid_like;

    #[test]
    fn only_uuids_are_user_ids() {
        assert!(uuid_like("4d3c2b1a-0f9e-4d8c-8b7a-6f5e4d3c2b1a"));
        assert!(!uuid_like("order-42"));
        assert!(!uuid_like("4d3c2b1a-0f9e-4d8c-8b7a-6f5e4d3c2b1z"));
    }
}
