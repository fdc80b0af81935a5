//! The generic store, `stripe_objects`: the object of every event type whose
//! family has no typed table ([`homes::GENERIC_FAMILIES`]), one row per
//! object holding its JSON, under the same rules as every synced table:
//! the version guard and tie rule decide which event's object the row
//! holds, and a `*.deleted` event leaves a tombstone that no event, older
//! or newer, takes away. A deletion never becomes the row's version, so
//! the JSON is the newest event's that carried the object, in any order.

use std::collections::HashSet;

use sqlx::PgConnection;

use crate::{
    Refusal, Required, StripeObject, SyncedKind, Version, fields, homes, order::bind_versions,
};

#[derive(Debug, Clone, PartialEq)]
pub struct ObjectChange {
    pub stripe_id: String,
    pub object_type: String,
    pub stripe_customer_id: Option<String>,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
    /// The object as JSON text, written as it came.
    pub data: String,
    pub deleted: bool,
}

/// `stripe_objects`, one row per object of a generic family.
pub struct StripeObjects;

impl SyncedKind for StripeObjects {
    /// Not a Stripe object name: the generic store is found by family
    /// ([`SyncedKind::handles`]), never by an event's object kind.
    const OBJECT: &'static str = "tether.generic_object";
    const ID_PREFIX: &'static str = "";
    const TABLE: &'static str = "stripe_objects";
    const EVENTS: &'static [&'static str] = &[];
    /// Any object of the long tail is kept as it came.
    const REQUIRED: &'static [Required] = &[];
    type Change = ObjectChange;

    fn handles(event_type: &str) -> bool {
        matches!(homes::home(event_type), Some(homes::Home::Generic))
    }

    fn read(event_type: &str, object: &StripeObject) -> Result<ObjectChange, Refusal> {
        let object_type = fields::string(object, "object")
            .or_else(|| tether_stripe::kind::object_kind(event_type).map(str::to_owned))
            .ok_or(Refusal::NoId {
                expected: "Stripe object",
            })?;
        let stripe_id = fields::string(object, "id")
            .filter(|id| !id.is_empty())
            // An object without an id of its own (balance) is one per
            // account: its type stands in for the id.
            .unwrap_or_else(|| object_type.clone());
        Ok(ObjectChange {
            stripe_id,
            object_type,
            stripe_customer_id: fields::reference(object, "customer"),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
            data: object.to_json(),
            deleted: tether_stripe::kind::action(event_type) == "deleted"
                || fields::boolean(object, "deleted") == Some(true),
        })
    }

    fn object_id(change: &ObjectChange) -> &str {
        &change.stripe_id
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a ObjectChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }

    fn is_terminal(change: &ObjectChange) -> bool {
        change.deleted
    }

    fn is_stub(change: &ObjectChange) -> bool {
        change.deleted
    }

    fn write_terminal<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a ObjectChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        write_tombstones(conn, changes)
    }
}

/// The newest object per id, where newer than the row. Its account is the
/// one set for the transaction (`crate::account`), as on every synced table.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &ObjectChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO stripe_objects AS o (stripe_id, object_type, stripe_customer_id, livemode,
                                      stripe_created, data, last_event_id, last_event_created, last_event_rank)
         SELECT t.id, t.object_type, t.customer, COALESCE(t.livemode, e.livemode),
                to_timestamp(t.stripe_created), t.data::jsonb, t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::int8[], $6::text[],
                     $7::text[], $8::int8[], $9::int2[])
              AS t(id, object_type, customer, livemode, stripe_created, data, event_id, created, rank)
         LEFT JOIN received_events e ON e.id = t.event_id
         ON CONFLICT (stripe_id) DO UPDATE SET
             object_type = EXCLUDED.object_type,
             stripe_customer_id = EXCLUDED.stripe_customer_id,
             livemode = COALESCE(EXCLUDED.livemode, o.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, o.stripe_created),
             data = EXCLUDED.data,
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE o.last_event_id IS NULL OR ",
        crate::stored_is_older!("o"),
        "
         RETURNING stripe_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.object_type.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_customer_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.data.as_str()).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}

/// Sets `deleted_at` where it is not set yet, whatever the row's version:
/// a deletion is final. An object seen only as a deletion gets a row with
/// no version and no JSON, so its own older events still fill them in.
async fn write_tombstones(
    conn: &mut PgConnection,
    changes: &[(&Version, &ObjectChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let written: Vec<String> = sqlx::query_scalar(
        "INSERT INTO stripe_objects AS o (stripe_id, object_type, livemode, deleted_at)
         SELECT t.id, t.object_type, e.livemode, to_timestamp(t.created)
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[])
              AS t(id, object_type, event_id, created)
         LEFT JOIN received_events e ON e.id = t.event_id
         ON CONFLICT (stripe_id) DO UPDATE SET deleted_at = EXCLUDED.deleted_at, updated_at = now()
         WHERE o.deleted_at IS NULL
         RETURNING stripe_id",
    )
    .bind(
        changes
            .iter()
            .map(|(_, c)| c.stripe_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        changes
            .iter()
            .map(|(_, c)| c.object_type.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        changes
            .iter()
            .map(|(v, _)| v.event_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(changes.iter().map(|(v, _)| v.created).collect::<Vec<_>>())
    .fetch_all(conn)
    .await?;
    Ok(written.into_iter().collect())
}
