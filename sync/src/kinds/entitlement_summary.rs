//! `entitlements.active_entitlement_summary.updated` ->
//! `entitlement_summaries` and `active_entitlements`: what each customer
//! may use now. The summary is the customer's whole set, so it is kept
//! like a subscription's items: one versioned row per customer, and its
//! list replaced as a set whenever that row is written. An older summary
//! arriving late is stale and changes nothing.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    Gather, ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields,
    items::{ItemTable, Listed},
    kinds::customer::{self, Customers},
    order::bind_versions,
    required,
};

const ENTITLEMENTS: ItemTable = ItemTable {
    table: "active_entitlements",
    parent_column: "stripe_customer_id",
    id_column: "stripe_active_entitlement_id",
};

#[derive(Debug, Clone, PartialEq)]
pub struct SummaryChange {
    /// The summary's identity: Stripe gives it no id of its own.
    pub stripe_customer_id: String,
    pub livemode: Option<bool>,
    pub entitlements: Listed<ActiveEntitlement>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ActiveEntitlement {
    pub stripe_active_entitlement_id: String,
    pub stripe_feature_id: Option<String>,
    pub lookup_key: Option<String>,
    pub livemode: Option<bool>,
}

/// `entitlement_summaries` and `active_entitlements`.
pub struct EntitlementSummaries;

impl SyncedKind for EntitlementSummaries {
    const OBJECT: &'static str = "entitlements.active_entitlement_summary";
    /// The summary is keyed by its customer.
    const ID_PREFIX: &'static str = Customers::ID_PREFIX;
    const TABLE: &'static str = "entitlement_summaries";
    const PARENTS: &'static [&'static str] = &[Customers::OBJECT];
    const EVENTS: &'static [&'static str] = &["entitlements.active_entitlement_summary.updated"];
    /// Stripe lists a customer's active entitlements one by one; backfill
    /// gathers them into the summary a webhook would carry.
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "entitlements",
        path: "/entitlements/active_entitlements",
        params: &[("customer", "{customer}")],
    });
    const GATHER: Option<Gather> = Some(summary_of);
    const REQUIRED: &'static [Required] = &[
        required("customer", Shape::Reference),
        required("entitlements", Shape::Object),
    ];
    type Change = SummaryChange;

    fn read(_event_type: &str, object: &StripeObject) -> Result<SummaryChange, Refusal> {
        if let Some(found) = fields::string(object, "object")
            && found != Self::OBJECT
        {
            return Err(Refusal::WrongObject {
                found,
                expected: Self::OBJECT,
            });
        }
        let stripe_customer_id = customer::linked_customer(object).ok_or(Refusal::NoId {
            expected: "customer",
        })?;
        Ok(SummaryChange {
            stripe_customer_id,
            livemode: fields::boolean(object, "livemode"),
            entitlements: Listed::read(object, "entitlements", read_entitlement, entitlement_id),
        })
    }

    fn object_id(change: &SummaryChange) -> &str {
        &change.stripe_customer_id
    }

    fn references(change: &SummaryChange) -> Vec<(&'static str, &str)> {
        vec![(Customers::OBJECT, change.stripe_customer_id.as_str())]
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a SummaryChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }
}

/// The summary of `customer`'s whole list of active entitlements.
fn summary_of(customer: &str, entitlements: Vec<Value>) -> Value {
    let livemode = entitlements.first().and_then(|e| e.get("livemode").cloned());
    serde_json::json!({
        "object": EntitlementSummaries::OBJECT,
        "customer": customer,
        "livemode": livemode,
        "entitlements": {"object": "list", "data": entitlements, "has_more": false},
    })
}

/// One active entitlement; its feature may be an id or expanded.
fn read_entitlement(entitlement: &Value) -> Option<ActiveEntitlement> {
    let feature = entitlement.get("feature");
    Some(ActiveEntitlement {
        stripe_active_entitlement_id: fields::string(entitlement, "id")?,
        stripe_feature_id: fields::reference(entitlement, "feature"),
        lookup_key: fields::string(entitlement, "lookup_key")
            .or_else(|| feature.and_then(|f| fields::string(f, "lookup_key"))),
        livemode: fields::boolean(entitlement, "livemode"),
    })
}

fn entitlement_id(entitlement: &ActiveEntitlement) -> &str {
    &entitlement.stripe_active_entitlement_id
}

/// The newest summary per customer where newer than the row, then the
/// set of each summary written.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &SummaryChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let written = upsert_summaries(conn, changes).await?;
    let rewritten: Vec<&SummaryChange> = changes
        .iter()
        .map(|(_, c)| *c)
        .filter(|c| written.contains(&c.stripe_customer_id))
        .collect();
    write_entitlements(conn, &rewritten).await?;
    Ok(written)
}

async fn upsert_summaries(
    conn: &mut PgConnection,
    changes: &[(&Version, &SummaryChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO entitlement_summaries AS s (stripe_customer_id, customer_id, livemode, last_event_id,
                                             last_event_created, last_event_rank)
         SELECT t.customer, c.id, t.livemode, t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::bool[], $3::text[], $4::int8[], $5::int2[])
              AS t(customer, livemode, event_id, created, rank)
         LEFT JOIN end_customers c ON c.stripe_customer_id = t.customer
         ON CONFLICT (stripe_customer_id) DO UPDATE SET
             customer_id = EXCLUDED.customer_id,
             livemode = COALESCE(EXCLUDED.livemode, s.livemode),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
        crate::stored_is_older!("s"),
        "
         RETURNING stripe_customer_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_customer_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}

/// Replaces each written customer's active entitlements with the newest set.
async fn write_entitlements(
    conn: &mut PgConnection,
    summaries: &[&SummaryChange],
) -> Result<(), sqlx::Error> {
    let rows: Vec<(&str, &ActiveEntitlement)> = summaries
        .iter()
        .flat_map(|s| {
            s.entitlements
                .items
                .iter()
                .map(|e| (s.stripe_customer_id.as_str(), e))
        })
        .collect();
    if !rows.is_empty() {
        sqlx::query(
            "INSERT INTO active_entitlements AS e (summary_id, stripe_customer_id, stripe_active_entitlement_id,
                                               stripe_feature_id, lookup_key, livemode)
             SELECT s.id, t.customer, t.id, t.feature, t.lookup_key, t.livemode
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[])
                  AS t(customer, id, feature, lookup_key, livemode)
             JOIN entitlement_summaries s ON s.stripe_customer_id = t.customer
             ON CONFLICT (stripe_customer_id, stripe_active_entitlement_id) DO UPDATE SET
                 stripe_feature_id = EXCLUDED.stripe_feature_id, lookup_key = EXCLUDED.lookup_key,
                 livemode = COALESCE(EXCLUDED.livemode, e.livemode), updated_at = now()",
        )
        .bind(rows.iter().map(|(c, _)| *c).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, e)| e.stripe_active_entitlement_id.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, e)| e.stripe_feature_id.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, e)| e.lookup_key.as_deref()).collect::<Vec<_>>())
        .bind(rows.iter().map(|(_, e)| e.livemode).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    }
    let lists: Vec<(&str, &Listed<ActiveEntitlement>)> = summaries
        .iter()
        .map(|s| (s.stripe_customer_id.as_str(), &s.entitlements))
        .collect();
    ENTITLEMENTS
        .remove_unlisted(conn, &lists, entitlement_id)
        .await?;
    Ok(())
}
