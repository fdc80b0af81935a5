//! `payout.*` -> `payouts`: money leaving the Stripe balance for a bank
//! account or card. The account's own data; it names no customer.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    BenchMarker,    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields, object_id,
    order::bind_versions, required,
};

#[derive(Debug, Clone, PartialEq)]
pub struct PayoutChange {
    pub stripe_payout_id: String,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub status: Option<String>,
    pub arrival_date: Option<i64>,
    pub method: Option<String>,
    pub kind: Option<String>,
    pub automatic: Option<bool>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub destination: Option<String>,
    pub reconciliation_status: Option<String>,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
}

/// `payouts`, one row per Payout.
pub struct Payouts;

impl SyncedKind for Payouts {
    const OBJECT: &'static str = "payout";
    const ID_PREFIX: &'static str = "po_";
    const TABLE: &'static str = "payouts";
    const BENCH: Option<BenchMarker> = Some(BenchMarker {
        plant: crate::kind::plant_in_metadata,
        read_rows: "SELECT stripe_payout_id, last_event_id, (metadata->>'bench')::int8, false
                    FROM payouts WHERE stripe_payout_id = ANY($1)",
        tombstones: false,
    });
    const EVENTS: &'static [&'static str] = &[
        "payout.created",
        "payout.updated",
        "payout.paid",
        "payout.failed",
        "payout.canceled",
        "payout.reconciliation_completed",
    ];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "payouts",
        path: "/payouts",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("amount", Shape::Integer),
        required("currency", Shape::Text),
        required("status", Shape::Text),
        required("arrival_date", Shape::Integer),
    ];
    type Change = PayoutChange;

    fn read(_event_type: &str, object: &StripeObject) -> Result<PayoutChange, Refusal> {
        Ok(PayoutChange {
            stripe_payout_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            amount: fields::integer(object, "amount"),
            currency: fields::string(object, "currency"),
            status: fields::string(object, "status"),
            arrival_date: fields::integer(object, "arrival_date"),
            method: fields::string(object, "method"),
            kind: fields::string(object, "type"),
            automatic: fields::boolean(object, "automatic"),
            failure_code: fields::string(object, "failure_code"),
            failure_message: fields::string(object, "failure_message"),
            destination: fields::reference(object, "destination"),
            reconciliation_status: fields::string(object, "reconciliation_status"),
            metadata: fields::metadata(object),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
        })
    }

    fn object_id(change: &PayoutChange) -> &str {
        &change.stripe_payout_id
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a PayoutChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }
}

/// The newest change per payout, where newer than the row.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &PayoutChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO payouts AS p (stripe_payout_id, amount, currency, status, arrival_date, method, type,
                               automatic, failure_code, failure_message, destination,
                               reconciliation_status, metadata, livemode, stripe_created, last_event_id,
                               last_event_created, last_event_rank)
         SELECT t.id, t.amount, t.currency, t.status, to_timestamp(t.arrival_date), t.method, t.type,
                t.automatic, t.failure_code, t.failure_message, t.destination, t.reconciliation_status,
                t.metadata, t.livemode, to_timestamp(t.stripe_created), t.event_id, to_timestamp(t.created),
                t.rank
         FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::int8[], $6::text[], $7::text[],
                     $8::bool[], $9::text[], $10::text[], $11::text[], $12::text[], $13::jsonb[],
                     $14::bool[], $15::int8[], $16::text[], $17::int8[], $18::int2[])
              AS t(id, amount, currency, status, arrival_date, method, type, automatic, failure_code,
                   failure_message, destination, reconciliation_status, metadata, livemode,
                   stripe_created, event_id, created, rank)
         ON CONFLICT (stripe_payout_id) DO UPDATE SET
             amount = EXCLUDED.amount, currency = EXCLUDED.currency, status = EXCLUDED.status,
             arrival_date = EXCLUDED.arrival_date, method = EXCLUDED.method, type = EXCLUDED.type,
             automatic = EXCLUDED.automatic, failure_code = EXCLUDED.failure_code,
             failure_message = EXCLUDED.failure_message, destination = EXCLUDED.destination,
             reconciliation_status = EXCLUDED.reconciliation_status, metadata = EXCLUDED.metadata,
             livemode = COALESCE(EXCLUDED.livemode, p.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, p.stripe_created),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
        crate::stored_is_older!("p"),
        "
         RETURNING stripe_payout_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_payout_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.amount).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.currency.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.status.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.arrival_date).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.method.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.kind.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.automatic).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.failure_code.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.failure_message.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.destination.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.reconciliation_status.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| &c.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}
