//! `quote.*` -> `quotes`: priced offers a customer accepts, linked to the
//! customer (a placeholder when the quote comes first) and, by Stripe id,
//! to the subscription and invoice that accepting it made.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields,
    kinds::customer::{self, Customers},
    object_id,
    order::bind_versions,
    required,
};

#[derive(Debug, Clone, PartialEq)]
pub struct QuoteChange {
    pub stripe_quote_id: String,
    pub stripe_customer_id: Option<String>,
    pub status: Option<String>,
    pub number: Option<String>,
    pub amount_subtotal: Option<i64>,
    pub amount_total: Option<i64>,
    pub currency: Option<String>,
    pub expires_at: Option<i64>,
    pub stripe_subscription_id: Option<String>,
    pub stripe_invoice_id: Option<String>,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
}

pub struct Quotes;

impl SyncedKind for Quotes {
    const OBJECT: &'static str = "quote";
    const ID_PREFIX: &'static str = "qt_";
    const TABLE: &'static str = "quotes";
    const PARENTS: &'static [&'static str] = &[Customers::OBJECT];
    const EVENTS: &'static [&'static str] = &[
        "quote.created",
        "quote.finalized",
        "quote.accepted",
        "quote.canceled",
    ];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "quotes",
        path: "/quotes",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("status", Shape::Text),
        required("amount_total", Shape::Integer),
        required("currency", Shape::Text),
    ];
    type Change = QuoteChange;

    fn read(_event_type: &str, object: &StripeObject) -> Result<QuoteChange, Refusal> {
        Ok(QuoteChange {
            stripe_quote_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            stripe_customer_id: customer::linked_customer(object),
            status: fields::string(object, "status"),
            number: fields::string(object, "number"),
            amount_subtotal: fields::integer(object, "amount_subtotal"),
            amount_total: fields::integer(object, "amount_total"),
            currency: fields::string(object, "currency"),
            expires_at: fields::integer(object, "expires_at"),
            stripe_subscription_id: fields::reference(object, "subscription"),
            stripe_invoice_id: fields::reference(object, "invoice"),
            metadata: fields::metadata(object),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
        })
    }

    fn object_id(change: &QuoteChange) -> &str {
        &change.stripe_quote_id
    }

    fn references(change: &QuoteChange) -> Vec<(&'static str, &str)> {
        customer::as_parent(&change.stripe_customer_id)
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a QuoteChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }
}

/// The newest change per quote, where newer than the row, linked to its
/// customer's row (placeholders exist already).
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &QuoteChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO quotes AS q (stripe_quote_id, customer_id, stripe_customer_id, status, number,
                              amount_subtotal, amount_total, currency, expires_at, stripe_subscription_id,
                              stripe_invoice_id, metadata, livemode, stripe_created, last_event_id,
                              last_event_created, last_event_rank)
         SELECT t.id, c.id, t.customer, t.status, t.number, t.subtotal, t.total, t.currency,
                to_timestamp(t.expires_at), t.subscription, t.invoice, t.metadata, t.livemode,
                to_timestamp(t.stripe_created), t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[], $7::text[],
                     $8::int8[], $9::text[], $10::text[], $11::jsonb[], $12::bool[], $13::int8[],
                     $14::text[], $15::int8[], $16::int2[])
              AS t(id, customer, status, number, subtotal, total, currency, expires_at, subscription,
                   invoice, metadata, livemode, stripe_created, event_id, created, rank)
         LEFT JOIN end_customers c ON c.stripe_customer_id = t.customer
         ON CONFLICT (stripe_quote_id) DO UPDATE SET
             customer_id = EXCLUDED.customer_id, stripe_customer_id = EXCLUDED.stripe_customer_id,
             status = EXCLUDED.status, number = EXCLUDED.number,
             amount_subtotal = EXCLUDED.amount_subtotal, amount_total = EXCLUDED.amount_total,
             currency = EXCLUDED.currency, expires_at = EXCLUDED.expires_at,
             stripe_subscription_id = EXCLUDED.stripe_subscription_id,
             stripe_invoice_id = EXCLUDED.stripe_invoice_id, metadata = EXCLUDED.metadata,
             livemode = COALESCE(EXCLUDED.livemode, q.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, q.stripe_created),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
        crate::stored_is_older!("q"),
        "
         RETURNING stripe_quote_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_quote_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_customer_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.status.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.number.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.amount_subtotal).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.amount_total).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.currency.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.expires_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_subscription_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_invoice_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| &c.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}
