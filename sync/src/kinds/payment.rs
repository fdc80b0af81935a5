//! `payment_intent.*` -> `payments`.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    BenchMarker, BenchTokens, ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind,
    Version, fields,
    kinds::customer::{self, Customers},
    object_id,
    order::bind_versions,
    required,
};

#[derive(Debug, Clone, PartialEq)]
pub struct PaymentChange {
    pub stripe_payment_intent_id: String,
    pub stripe_customer_id: Option<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub status: Option<String>,
    pub description: Option<String>,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub amount_received: Option<i64>,
    pub latest_charge: Option<String>,
    pub stripe_created: Option<i64>,
    pub canceled_at: Option<i64>,
    pub cancellation_reason: Option<String>,
    /// `last_payment_error.code` and `.message`: why the last attempt failed.
    pub last_error_code: Option<String>,
    pub last_error_message: Option<String>,
}

/// `payments`, one row per PaymentIntent.
pub struct PaymentIntents;

impl SyncedKind for PaymentIntents {
    const OBJECT: &'static str = "payment_intent";
    const ID_PREFIX: &'static str = "pi_";
    const TABLE: &'static str = "payments";
    const PARENTS: &'static [&'static str] = &[Customers::OBJECT];
    const BENCH: Option<BenchMarker> = Some(BenchMarker {
        plant: plant_bench_marker,
        read_rows: "SELECT stripe_payment_intent_id, last_event_id, amount, false
                    FROM payments WHERE stripe_payment_intent_id = ANY($1)",
        tombstones: false,
    });
    const EVENTS: &'static [&'static str] = &[
        "payment_intent.created",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "payment_intent.processing",
        "payment_intent.requires_action",
        "payment_intent.amount_capturable_updated",
        "payment_intent.partially_funded",
    ];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "payment-intents",
        path: "/payment_intents",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("amount", Shape::Integer),
        required("currency", Shape::Text),
        required("status", Shape::Text),
        required("customer", Shape::Reference),
    ];
    type Change = PaymentChange;

    fn read(_event_type: &str, object: &StripeObject) -> Result<PaymentChange, Refusal> {
        read(object)
    }

    fn object_id(change: &PaymentChange) -> &str {
        &change.stripe_payment_intent_id
    }

    fn references(change: &PaymentChange) -> Vec<(&'static str, &str)> {
        customer::as_parent(&change.stripe_customer_id)
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a PaymentChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }
}

/// The bench's marker is the amount.
fn plant_bench_marker(object: &mut Value, tokens: &BenchTokens<'_>) {
    object["customer"] = tokens.customer_id.into();
    object["amount"] = tokens.marker.into();
}

fn read(object: &StripeObject) -> Result<PaymentChange, Refusal> {
    let last_error = fields::field_value(object, "last_payment_error");
    Ok(PaymentChange {
        stripe_payment_intent_id: object_id(
            object,
            PaymentIntents::OBJECT,
            PaymentIntents::ID_PREFIX,
        )?,
        stripe_customer_id: customer::linked_customer(object),
        amount: fields::integer(object, "amount"),
        currency: fields::string(object, "currency"),
        status: fields::string(object, "status"),
        description: fields::string(object, "description"),
        metadata: fields::metadata(object),
        livemode: fields::boolean(object, "livemode"),
        amount_received: fields::integer(object, "amount_received"),
        latest_charge: fields::reference(object, "latest_charge"),
        stripe_created: fields::integer(object, "created"),
        canceled_at: fields::integer(object, "canceled_at"),
        cancellation_reason: fields::string(object, "cancellation_reason"),
        last_error_code: last_error.as_ref().and_then(|e| fields::string(e, "code")),
        last_error_message: last_error
            .as_ref()
            .and_then(|e| fields::string(e, "message")),
    })
}

/// Writes the newest change per payment intent where it is newer than the
/// row, linked to its customer's row (placeholders must exist already).
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &PaymentChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(
        concat!(
            "INSERT INTO payments AS p (customer_id, stripe_payment_intent_id, amount, currency, status,
                                    description, metadata, livemode, amount_received, latest_charge,
                                    stripe_created, canceled_at, cancellation_reason, last_payment_error_code,
                                    last_payment_error_message, amount_refunded, last_event_id,
                                    last_event_created, last_event_rank)
         SELECT c.id, t.pi, t.amount, t.currency, t.status, t.description, t.metadata, t.livemode,
                t.amount_received, t.latest_charge, to_timestamp(t.stripe_created), to_timestamp(t.canceled_at),
                t.cancellation_reason, t.error_code, t.error_message,
                -- A new row counts the charges and refunds that came first;
                -- an update keeps the amount their writes maintain.
                ",
            crate::refunded_amount!("t.pi"),
            ",
                t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::jsonb[],
                     $8::bool[], $9::int8[], $10::text[], $11::int8[], $12::int8[], $13::text[], $14::text[],
                     $15::text[], $16::text[], $17::int8[], $18::int2[])
              AS t(pi, cid, amount, currency, status, description, metadata, livemode, amount_received,
                   latest_charge, stripe_created, canceled_at, cancellation_reason, error_code, error_message,
                   event_id, created, rank)
         LEFT JOIN end_customers c ON c.stripe_customer_id = t.cid
         ON CONFLICT (stripe_payment_intent_id) DO UPDATE SET
             customer_id = EXCLUDED.customer_id, amount = EXCLUDED.amount, currency = EXCLUDED.currency,
             status = EXCLUDED.status, description = EXCLUDED.description, metadata = EXCLUDED.metadata,
             livemode = COALESCE(EXCLUDED.livemode, p.livemode),
             amount_received = EXCLUDED.amount_received, latest_charge = EXCLUDED.latest_charge,
             stripe_created = COALESCE(EXCLUDED.stripe_created, p.stripe_created),
             canceled_at = EXCLUDED.canceled_at, cancellation_reason = EXCLUDED.cancellation_reason,
             last_payment_error_code = EXCLUDED.last_payment_error_code,
             last_payment_error_message = EXCLUDED.last_payment_error_message,
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
            crate::stored_is_older!("p"),
            "
         RETURNING stripe_payment_intent_id",
        ),
    )
    .bind(changes.iter().map(|(_, p)| p.stripe_payment_intent_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| p.stripe_customer_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| p.amount).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| p.currency.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| p.status.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| p.description.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| &p.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| p.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| p.amount_received).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| p.latest_charge.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| p.stripe_created).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| p.canceled_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| p.cancellation_reason.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| p.last_error_code.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, p)| p.last_error_message.as_deref()).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}
