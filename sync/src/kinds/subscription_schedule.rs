//! `subscription_schedule.*` -> `subscription_schedules` and their
//! `subscription_schedule_phases`: planned plan changes. The phases are
//! replaced as a set whenever the schedule's row is written, so they always
//! match the schedule's newest event.

use std::collections::HashSet;

use serde_json::{Value, json};
use sqlx::PgConnection;

use crate::{
    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields,
    kinds::customer::{self, Customers},
    object_id,
    order::bind_versions,
    required,
};

#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleChange {
    pub stripe_subscription_schedule_id: String,
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    pub status: Option<String>,
    pub end_behavior: Option<String>,
    pub current_phase_start: Option<i64>,
    pub current_phase_end: Option<i64>,
    pub canceled_at: Option<i64>,
    pub released_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
    /// `None` when the event carried no phase list to replace the stored
    /// one with (an absent or malformed `phases`).
    pub phases: Option<Vec<Phase>>,
}

/// One phase, by its place in the schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub start_date: Option<i64>,
    pub end_date: Option<i64>,
    pub currency: Option<String>,
    /// `[{"price": id, "quantity": n}]`: what the phase bills.
    pub items: Value,
    pub metadata: Value,
}

pub struct SubscriptionSchedules;

impl SyncedKind for SubscriptionSchedules {
    const OBJECT: &'static str = "subscription_schedule";
    const ID_PREFIX: &'static str = "sub_sched_";
    const TABLE: &'static str = "subscription_schedules";
    const PARENTS: &'static [&'static str] = &[Customers::OBJECT];
    const EVENTS: &'static [&'static str] = &[
        "subscription_schedule.created",
        "subscription_schedule.updated",
        "subscription_schedule.released",
        "subscription_schedule.canceled",
        "subscription_schedule.completed",
        "subscription_schedule.aborted",
        "subscription_schedule.expiring",
    ];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "subscription-schedules",
        path: "/subscription_schedules",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("status", Shape::Text),
        required("customer", Shape::Reference),
    ];
    type Change = ScheduleChange;

    fn read(_event_type: &str, object: &StripeObject) -> Result<ScheduleChange, Refusal> {
        let current_phase = fields::field_value(object, "current_phase");
        let phase_date = |key: &str| current_phase.as_ref().and_then(|p| fields::integer(p, key));
        Ok(ScheduleChange {
            stripe_subscription_schedule_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            stripe_customer_id: customer::linked_customer(object),
            stripe_subscription_id: fields::reference(object, "subscription"),
            status: fields::string(object, "status"),
            end_behavior: fields::string(object, "end_behavior"),
            current_phase_start: phase_date("start_date"),
            current_phase_end: phase_date("end_date"),
            canceled_at: fields::integer(object, "canceled_at"),
            released_at: fields::integer(object, "released_at"),
            completed_at: fields::integer(object, "completed_at"),
            metadata: fields::metadata(object),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
            phases: read_phases(object),
        })
    }

    fn object_id(change: &ScheduleChange) -> &str {
        &change.stripe_subscription_schedule_id
    }

    fn references(change: &ScheduleChange) -> Vec<(&'static str, &str)> {
        customer::as_parent(&change.stripe_customer_id)
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a ScheduleChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }
}

/// `phases` is a plain array (not a paged list): a schedule carries all of
/// them. An element that is not an object is skipped.
fn read_phases(object: &StripeObject) -> Option<Vec<Phase>> {
    let phases = fields::Fields::field(object, "phases")?;
    let phases = phases.as_array()?;
    Some(
        phases
            .iter()
            .filter(|p| p.is_object())
            .map(read_phase)
            .collect(),
    )
}

fn read_phase(phase: &Value) -> Phase {
    let items = phase
        .get("items")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    json!({
                        "price": fields::reference(item, "price"),
                        "quantity": fields::integer(item, "quantity"),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Phase {
        start_date: fields::integer(phase, "start_date"),
        end_date: fields::integer(phase, "end_date"),
        currency: fields::string(phase, "currency"),
        items: Value::Array(items),
        metadata: fields::metadata(phase),
    }
}

/// Writes the newest change per schedule where it is newer than the row,
/// then the phases of the schedules written.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &ScheduleChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let written = upsert_schedules(conn, changes).await?;
    let rewritten: Vec<&ScheduleChange> = changes
        .iter()
        .map(|(_, c)| *c)
        .filter(|c| written.contains(&c.stripe_subscription_schedule_id))
        .collect();
    replace_phases(conn, &rewritten).await?;
    Ok(written)
}

async fn upsert_schedules(
    conn: &mut PgConnection,
    changes: &[(&Version, &ScheduleChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO subscription_schedules AS s (stripe_subscription_schedule_id, customer_id, stripe_customer_id,
                                              stripe_subscription_id, status, end_behavior, current_phase_start,
                                              current_phase_end, canceled_at, released_at, completed_at,
                                              metadata, livemode, stripe_created, last_event_id,
                                              last_event_created, last_event_rank)
         SELECT t.id, c.id, t.customer, t.subscription, t.status, t.end_behavior, to_timestamp(t.phase_start),
                to_timestamp(t.phase_end), to_timestamp(t.canceled_at), to_timestamp(t.released_at),
                to_timestamp(t.completed_at), t.metadata, t.livemode, to_timestamp(t.stripe_created),
                t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[],
                     $8::int8[], $9::int8[], $10::int8[], $11::jsonb[], $12::bool[], $13::int8[],
                     $14::text[], $15::int8[], $16::int2[])
              AS t(id, customer, subscription, status, end_behavior, phase_start, phase_end, canceled_at,
                   released_at, completed_at, metadata, livemode, stripe_created, event_id, created, rank)
         LEFT JOIN end_customers c ON c.stripe_customer_id = t.customer
         ON CONFLICT (stripe_subscription_schedule_id) DO UPDATE SET
             customer_id = EXCLUDED.customer_id, stripe_customer_id = EXCLUDED.stripe_customer_id,
             stripe_subscription_id = EXCLUDED.stripe_subscription_id, status = EXCLUDED.status,
             end_behavior = EXCLUDED.end_behavior, current_phase_start = EXCLUDED.current_phase_start,
             current_phase_end = EXCLUDED.current_phase_end, canceled_at = EXCLUDED.canceled_at,
             released_at = EXCLUDED.released_at, completed_at = EXCLUDED.completed_at,
             metadata = EXCLUDED.metadata,
             livemode = COALESCE(EXCLUDED.livemode, s.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, s.stripe_created),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
        crate::stored_is_older!("s"),
        "
         RETURNING stripe_subscription_schedule_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_subscription_schedule_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_customer_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_subscription_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.status.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.end_behavior.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.current_phase_start).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.current_phase_end).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.canceled_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.released_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.completed_at).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| &c.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}

/// Replaces the phases of each schedule just written with its newest
/// list. A phase has no id, so the set is its positions: the old rows go
/// and the new ones come in one statement pair, inside the job's
/// transaction.
async fn replace_phases(
    conn: &mut PgConnection,
    schedules: &[&ScheduleChange],
) -> Result<(), sqlx::Error> {
    let listed: Vec<(&str, &Vec<Phase>)> = schedules
        .iter()
        .filter_map(|s| {
            Some((
                s.stripe_subscription_schedule_id.as_str(),
                s.phases.as_ref()?,
            ))
        })
        .collect();
    if listed.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "DELETE FROM subscription_schedule_phases WHERE stripe_subscription_schedule_id = ANY($1)",
    )
    .bind(listed.iter().map(|(id, _)| *id).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await?;
    let phases: Vec<(&str, i32, &Phase)> = listed
        .iter()
        .flat_map(|(id, phases)| {
            phases
                .iter()
                .zip(0..)
                .map(move |(phase, position)| (*id, position, phase))
        })
        .collect();
    sqlx::query(
        "INSERT INTO subscription_schedule_phases (subscription_schedule_id, stripe_subscription_schedule_id,
                                                   position, start_date, end_date, currency, items, metadata)
         SELECT s.id, t.schedule, t.position, to_timestamp(t.start_date), to_timestamp(t.end_date),
                t.currency, t.items, t.metadata
         FROM unnest($1::text[], $2::int4[], $3::int8[], $4::int8[], $5::text[], $6::jsonb[], $7::jsonb[])
              AS t(schedule, position, start_date, end_date, currency, items, metadata)
         JOIN subscription_schedules s ON s.stripe_subscription_schedule_id = t.schedule",
    )
    .bind(phases.iter().map(|(id, _, _)| *id).collect::<Vec<_>>())
    .bind(phases.iter().map(|(_, position, _)| *position).collect::<Vec<_>>())
    .bind(phases.iter().map(|(_, _, p)| p.start_date).collect::<Vec<_>>())
    .bind(phases.iter().map(|(_, _, p)| p.end_date).collect::<Vec<_>>())
    .bind(phases.iter().map(|(_, _, p)| p.currency.as_deref()).collect::<Vec<_>>())
    .bind(phases.iter().map(|(_, _, p)| &p.items).collect::<Vec<_>>())
    .bind(phases.iter().map(|(_, _, p)| &p.metadata).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}
