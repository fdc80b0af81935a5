//! `topup.*` -> `topups`: money added to the Stripe balance from a bank
//! account. The account's own data; it names no customer.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields, object_id,
    order::bind_versions, required,
};

#[derive(Debug, Clone, PartialEq)]
pub struct TopupChange {
    pub stripe_topup_id: String,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub status: Option<String>,
    pub description: Option<String>,
    pub expected_availability_date: Option<i64>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
}

/// `topups`, one row per Topup.
pub struct Topups;

impl SyncedKind for Topups {
    const OBJECT: &'static str = "topup";
    const ID_PREFIX: &'static str = "tu_";
    const TABLE: &'static str = "topups";
    const EVENTS: &'static [&'static str] = &[
        "topup.created",
        "topup.succeeded",
        "topup.failed",
        "topup.canceled",
        "topup.reversed",
    ];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "topups",
        path: "/topups",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("amount", Shape::Integer),
        required("currency", Shape::Text),
        required("status", Shape::Text),
    ];
    type Change = TopupChange;

    fn read(_event_type: &str, object: &StripeObject) -> Result<TopupChange, Refusal> {
        Ok(TopupChange {
            stripe_topup_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            amount: fields::integer(object, "amount"),
            currency: fields::string(object, "currency"),
            status: fields::string(object, "status"),
            description: fields::string(object, "description"),
            expected_availability_date: fields::integer(object, "expected_availability_date"),
            failure_code: fields::string(object, "failure_code"),
            failure_message: fields::string(object, "failure_message"),
            metadata: fields::metadata(object),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
        })
    }

    fn object_id(change: &TopupChange) -> &str {
        &change.stripe_topup_id
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a TopupChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }
}

/// The newest change per top-up, where newer than the row.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &TopupChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO topups AS t (stripe_topup_id, amount, currency, status, description,
                              expected_availability_date, failure_code, failure_message, metadata,
                              livemode, stripe_created, last_event_id, last_event_created,
                              last_event_rank)
         SELECT n.id, n.amount, n.currency, n.status, n.description,
                to_timestamp(n.expected_availability_date), n.failure_code, n.failure_message,
                n.metadata, n.livemode, to_timestamp(n.stripe_created), n.event_id,
                to_timestamp(n.created), n.rank
         FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], $6::int8[],
                     $7::text[], $8::text[], $9::jsonb[], $10::bool[], $11::int8[], $12::text[],
                     $13::int8[], $14::int2[])
              AS n(id, amount, currency, status, description, expected_availability_date,
                   failure_code, failure_message, metadata, livemode, stripe_created, event_id,
                   created, rank)
         ON CONFLICT (stripe_topup_id) DO UPDATE SET
             amount = EXCLUDED.amount, currency = EXCLUDED.currency, status = EXCLUDED.status,
             description = EXCLUDED.description,
             expected_availability_date = EXCLUDED.expected_availability_date,
             failure_code = EXCLUDED.failure_code, failure_message = EXCLUDED.failure_message,
             metadata = EXCLUDED.metadata,
             livemode = COALESCE(EXCLUDED.livemode, t.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, t.stripe_created),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
        crate::stored_is_older!("t"),
        "
         RETURNING stripe_topup_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_topup_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.amount).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.currency.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.status.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.description.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.expected_availability_date).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.failure_code.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.failure_message.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| &c.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}
