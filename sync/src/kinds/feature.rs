//! Entitlement features -> `features`: what a product can grant
//! (`lookup_key` is the name an app checks). Stripe sends no event for a
//! feature, so its rows come from `tether backfill features`
//! (`/v1/entitlements/features`); customers' entitlements name features by
//! id and lookup key, so an app needs this table only for names.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields, object_id,
    order::bind_versions, required,
};

#[derive(Debug, Clone, PartialEq)]
pub struct FeatureChange {
    pub stripe_feature_id: String,
    pub lookup_key: Option<String>,
    pub name: Option<String>,
    pub active: Option<bool>,
    pub metadata: Value,
    pub livemode: Option<bool>,
}

/// `features`, one row per entitlement feature.
pub struct Features;

impl SyncedKind for Features {
    const OBJECT: &'static str = "entitlements.feature";
    const ID_PREFIX: &'static str = "feat_";
    const TABLE: &'static str = "features";
    /// Stripe's event list has none for features.
    const EVENTS: &'static [&'static str] = &[];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "features",
        path: "/entitlements/features",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("lookup_key", Shape::Text),
        required("active", Shape::Boolean),
    ];
    type Change = FeatureChange;

    fn read(_event_type: &str, object: &StripeObject) -> Result<FeatureChange, Refusal> {
        Ok(FeatureChange {
            stripe_feature_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            lookup_key: fields::string(object, "lookup_key"),
            name: fields::string(object, "name"),
            active: fields::boolean(object, "active"),
            metadata: fields::metadata(object),
            livemode: fields::boolean(object, "livemode"),
        })
    }

    fn object_id(change: &FeatureChange) -> &str {
        &change.stripe_feature_id
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a FeatureChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }
}

/// The newest change per feature, where newer than the row.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &FeatureChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO features AS f (stripe_feature_id, lookup_key, name, active, metadata, livemode,
                                last_event_id, last_event_created, last_event_rank)
         SELECT t.id, t.lookup_key, t.name, t.active, t.metadata, t.livemode,
                t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::jsonb[], $6::bool[],
                     $7::text[], $8::int8[], $9::int2[])
              AS t(id, lookup_key, name, active, metadata, livemode, event_id, created, rank)
         ON CONFLICT (stripe_feature_id) DO UPDATE SET
             lookup_key = EXCLUDED.lookup_key, name = EXCLUDED.name, active = EXCLUDED.active,
             metadata = EXCLUDED.metadata, livemode = COALESCE(EXCLUDED.livemode, f.livemode),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
        crate::stored_is_older!("f"),
        "
         RETURNING stripe_feature_id",
    ))
    .bind(
        changes
            .iter()
            .map(|(_, c)| c.stripe_feature_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        changes
            .iter()
            .map(|(_, c)| c.lookup_key.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        changes
            .iter()
            .map(|(_, c)| c.name.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(changes.iter().map(|(_, c)| c.active).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| &c.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}
