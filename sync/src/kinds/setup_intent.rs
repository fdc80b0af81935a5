//! `setup_intent.*` -> `setup_intents`: saving a payment method for later,
//! linked to the customer (a placeholder when the intent comes first) and,
//! by Stripe id, to the payment method it set up.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    BenchMarker,    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields,
    kinds::customer::{self, Customers},
    object_id,
    order::bind_versions,
    required,
};

#[derive(Debug, Clone, PartialEq)]
pub struct SetupIntentChange {
    pub stripe_setup_intent_id: String,
    pub stripe_customer_id: Option<String>,
    pub stripe_payment_method_id: Option<String>,
    pub status: Option<String>,
    pub usage: Option<String>,
    pub last_setup_error_code: Option<String>,
    pub last_setup_error_message: Option<String>,
    pub cancellation_reason: Option<String>,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
}

/// `setup_intents`, one row per SetupIntent.
pub struct SetupIntents;

impl SyncedKind for SetupIntents {
    const OBJECT: &'static str = "setup_intent";
    const ID_PREFIX: &'static str = "seti_";
    const TABLE: &'static str = "setup_intents";
    const PARENTS: &'static [&'static str] = &[Customers::OBJECT];
    const BENCH: Option<BenchMarker> = Some(BenchMarker {
        plant: crate::kind::plant_in_metadata_with_customer,
        read_rows: "SELECT stripe_setup_intent_id, last_event_id, (metadata->>'bench')::int8, false
                    FROM setup_intents WHERE stripe_setup_intent_id = ANY($1)",
        tombstones: false,
    });
    const EVENTS: &'static [&'static str] = &[
        "setup_intent.created",
        "setup_intent.requires_action",
        "setup_intent.setup_failed",
        "setup_intent.succeeded",
        "setup_intent.canceled",
    ];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "setup-intents",
        path: "/setup_intents",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("status", Shape::Text),
        required("customer", Shape::Reference),
        required("payment_method", Shape::Reference),
    ];
    type Change = SetupIntentChange;

    fn read(_event_type: &str, object: &StripeObject) -> Result<SetupIntentChange, Refusal> {
        let error = fields::field_value(object, "last_setup_error");
        let error_field = |key| error.as_ref().and_then(|e| fields::string(e, key));
        Ok(SetupIntentChange {
            stripe_setup_intent_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            stripe_customer_id: customer::linked_customer(object),
            stripe_payment_method_id: fields::reference(object, "payment_method"),
            status: fields::string(object, "status"),
            usage: fields::string(object, "usage"),
            // A decline has a `code`; some errors only a `type`.
            last_setup_error_code: error_field("code").or_else(|| error_field("type")),
            last_setup_error_message: error_field("message"),
            cancellation_reason: fields::string(object, "cancellation_reason"),
            metadata: fields::metadata(object),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
        })
    }

    fn object_id(change: &SetupIntentChange) -> &str {
        &change.stripe_setup_intent_id
    }

    fn references(change: &SetupIntentChange) -> Vec<(&'static str, &str)> {
        customer::as_parent(&change.stripe_customer_id)
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a SetupIntentChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }
}

/// The newest change per setup intent, where newer than the row, linked to
/// its customer's row (placeholders exist already).
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &SetupIntentChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO setup_intents AS s (stripe_setup_intent_id, customer_id, stripe_customer_id,
                               stripe_payment_method_id, status, usage, last_setup_error_code,
                               last_setup_error_message, cancellation_reason, metadata, livemode,
                               stripe_created, last_event_id, last_event_created, last_event_rank)
         SELECT t.id, c.id, t.customer, t.payment_method, t.status, t.usage, t.error_code, t.error_message,
                t.cancellation_reason, t.metadata, t.livemode, to_timestamp(t.stripe_created),
                t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::text[], $9::jsonb[], $10::bool[], $11::int8[], $12::text[], $13::int8[],
                     $14::int2[])
              AS t(id, customer, payment_method, status, usage, error_code, error_message,
                   cancellation_reason, metadata, livemode, stripe_created, event_id, created, rank)
         LEFT JOIN end_customers c ON c.stripe_customer_id = t.customer
         ON CONFLICT (stripe_setup_intent_id) DO UPDATE SET
             customer_id = EXCLUDED.customer_id, stripe_customer_id = EXCLUDED.stripe_customer_id,
             stripe_payment_method_id = EXCLUDED.stripe_payment_method_id,
             status = EXCLUDED.status, usage = EXCLUDED.usage,
             last_setup_error_code = EXCLUDED.last_setup_error_code,
             last_setup_error_message = EXCLUDED.last_setup_error_message,
             cancellation_reason = EXCLUDED.cancellation_reason, metadata = EXCLUDED.metadata,
             livemode = COALESCE(EXCLUDED.livemode, s.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, s.stripe_created),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
        crate::stored_is_older!("s"),
        "
         RETURNING stripe_setup_intent_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_setup_intent_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_customer_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_payment_method_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.status.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.usage.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.last_setup_error_code.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.last_setup_error_message.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.cancellation_reason.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| &c.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}
