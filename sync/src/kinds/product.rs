//! `product.*` -> `products`: what a pricing page lists. A deleted product
//! stays as a tombstone; a price that arrives first gets a placeholder.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields, object_id,
    order::bind_versions, required, tombstone::Tombstones,
};

const TOMBSTONES: Tombstones = Tombstones {
    table: "products",
    id_column: "stripe_product_id",
    marks_placeholder: true,
};

#[derive(Debug, Clone, PartialEq)]
pub struct ProductChange {
    pub stripe_product_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub active: Option<bool>,
    pub default_price_id: Option<String>,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
    pub deleted: bool,
    /// A deletion stub, see `SyncedKind::is_stub`.
    pub stub: bool,
}

pub struct Products;

impl SyncedKind for Products {
    const OBJECT: &'static str = "product";
    const ID_PREFIX: &'static str = "prod_";
    const TABLE: &'static str = "products";
    const EVENTS: &'static [&'static str] =
        &["product.created", "product.updated", "product.deleted"];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "products",
        path: "/products",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("name", Shape::Text),
        required("active", Shape::Boolean),
    ];
    type Change = ProductChange;

    fn read(event_type: &str, object: &StripeObject) -> Result<ProductChange, Refusal> {
        Ok(ProductChange {
            stripe_product_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            name: fields::string(object, "name"),
            description: fields::string(object, "description"),
            active: fields::boolean(object, "active"),
            default_price_id: fields::reference(object, "default_price"),
            metadata: fields::metadata(object),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
            deleted: event_type == "product.deleted"
                || fields::boolean(object, "deleted") == Some(true),
            stub: fields::boolean(object, "deleted") == Some(true),
        })
    }

    fn object_id(change: &ProductChange) -> &str {
        &change.stripe_product_id
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a ProductChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }

    fn is_terminal(change: &ProductChange) -> bool {
        change.deleted
    }

    fn is_stub(change: &ProductChange) -> bool {
        change.stub
    }

    fn write_terminal<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a ProductChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        TOMBSTONES.write::<Self>(conn, changes)
    }

    fn ensure_placeholders<'a>(
        conn: &'a mut PgConnection,
        ids: &'a [&'a str],
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a {
        ensure_placeholders(conn, ids)
    }
}

/// The newest change per product, where newer than the row. A deletion
/// sets the tombstone and keeps what the stub leaves out.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &ProductChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO products AS p (stripe_product_id, name, description, active, default_price_id, metadata,
                                livemode, stripe_created, deleted_at, is_placeholder, last_event_id,
                                last_event_created, last_event_rank)
         SELECT t.id, t.name, t.description, t.active, t.default_price, t.metadata, t.livemode,
                to_timestamp(t.stripe_created), CASE WHEN t.deleted THEN to_timestamp(t.created) END, false,
                t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::text[], $6::jsonb[], $7::bool[],
                     $8::int8[], $9::bool[], $10::text[], $11::int8[], $12::int2[])
              AS t(id, name, description, active, default_price, metadata, livemode, stripe_created, deleted,
                   event_id, created, rank)
         ON CONFLICT (stripe_product_id) DO UPDATE SET
             name = COALESCE(EXCLUDED.name, CASE WHEN EXCLUDED.deleted_at IS NOT NULL THEN p.name END),
             description = CASE WHEN EXCLUDED.deleted_at IS NULL THEN EXCLUDED.description ELSE p.description END,
             active = COALESCE(EXCLUDED.active, CASE WHEN EXCLUDED.deleted_at IS NOT NULL THEN p.active END),
             default_price_id = CASE WHEN EXCLUDED.deleted_at IS NULL THEN EXCLUDED.default_price_id
                                     ELSE p.default_price_id END,
             metadata = CASE WHEN EXCLUDED.deleted_at IS NULL OR EXCLUDED.metadata <> '{}'::jsonb
                             THEN EXCLUDED.metadata ELSE p.metadata END,
             livemode = COALESCE(EXCLUDED.livemode, p.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, p.stripe_created),
             deleted_at = COALESCE(p.deleted_at, EXCLUDED.deleted_at),
             is_placeholder = false,
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE p.last_event_id IS NULL OR ",
        crate::stored_is_older!("p"),
        "
         RETURNING stripe_product_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_product_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.name.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.description.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.active).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.default_price_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| &c.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.deleted).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}

/// Rows for products a price names before the product's own events.
async fn ensure_placeholders(conn: &mut PgConnection, ids: &[&str]) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO products (stripe_product_id, is_placeholder)
         SELECT DISTINCT id, true FROM unnest($1::text[]) AS id
         ON CONFLICT (stripe_product_id) DO NOTHING",
    )
    .bind(ids)
    .execute(conn)
    .await?;
    Ok(())
}
