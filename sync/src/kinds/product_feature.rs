//! Product features -> `product_features`: which entitlement feature each
//! product grants. Stripe sends no event for them and lists them one
//! product at a time (`/v1/products/{id}/features`), so their rows come
//! from `tether backfill product-features`; the listed objects do not name
//! their product, and backfill writes it in (`ListParent::field`).

use std::collections::HashSet;

use sqlx::PgConnection;

use crate::{
    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields, object_id,
    order::bind_versions, required,
};

#[derive(Debug, Clone, PartialEq)]
pub struct ProductFeatureChange {
    pub stripe_product_feature_id: String,
    pub stripe_product_id: Option<String>,
    pub stripe_feature_id: Option<String>,
    pub lookup_key: Option<String>,
    pub feature_name: Option<String>,
    pub livemode: Option<bool>,
}

/// `product_features`, one row per product and feature it grants.
pub struct ProductFeatures;

impl SyncedKind for ProductFeatures {
    const OBJECT: &'static str = "product_feature";
    const ID_PREFIX: &'static str = "prodft_";
    const TABLE: &'static str = "product_features";
    /// Stripe's event list has none for product features.
    const EVENTS: &'static [&'static str] = &[];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "product-features",
        path: "/products/{product}/features",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("product", Shape::Reference),
        required("entitlement_feature", Shape::Object),
    ];
    type Change = ProductFeatureChange;

    fn read(_event_type: &str, object: &StripeObject) -> Result<ProductFeatureChange, Refusal> {
        let feature = fields::field_value(object, "entitlement_feature");
        let of_feature = |key| feature.as_ref().and_then(|f| fields::string(f, key));
        Ok(ProductFeatureChange {
            stripe_product_feature_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            stripe_product_id: fields::reference(object, "product"),
            stripe_feature_id: of_feature("id"),
            lookup_key: of_feature("lookup_key"),
            feature_name: of_feature("name"),
            livemode: fields::boolean(object, "livemode"),
        })
    }

    fn object_id(change: &ProductFeatureChange) -> &str {
        &change.stripe_product_feature_id
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a ProductFeatureChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }
}

/// The newest change per product feature, where newer than the row.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &ProductFeatureChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO product_features AS f (stripe_product_feature_id, stripe_product_id,
                                        stripe_feature_id, lookup_key, feature_name, livemode,
                                        last_event_id, last_event_created, last_event_rank)
         SELECT t.id, t.product, t.feature, t.lookup_key, t.name, t.livemode, t.event_id,
                to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[],
                     $7::text[], $8::int8[], $9::int2[])
              AS t(id, product, feature, lookup_key, name, livemode, event_id, created, rank)
         ON CONFLICT (stripe_product_feature_id) DO UPDATE SET
             stripe_product_id = COALESCE(EXCLUDED.stripe_product_id, f.stripe_product_id),
             stripe_feature_id = EXCLUDED.stripe_feature_id, lookup_key = EXCLUDED.lookup_key,
             feature_name = EXCLUDED.feature_name,
             livemode = COALESCE(EXCLUDED.livemode, f.livemode),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
        crate::stored_is_older!("f"),
        "
         RETURNING stripe_product_feature_id",
    ))
    .bind(
        changes
            .iter()
            .map(|(_, c)| c.stripe_product_feature_id.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(changes.iter().map(|(_, c)| c.stripe_product_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_feature_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.lookup_key.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.feature_name.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}
