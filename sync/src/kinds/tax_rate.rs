//! `tax_rate.*` -> `tax_rates`: the rates an account charges. Stripe never
//! deletes a tax rate; it archives it (`active` false).

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields, object_id,
    order::bind_versions, required,
};

#[derive(Debug, Clone, PartialEq)]
pub struct TaxRateChange {
    pub stripe_tax_rate_id: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub percentage: Option<f64>,
    pub inclusive: Option<bool>,
    pub active: Option<bool>,
    pub country: Option<String>,
    pub state: Option<String>,
    pub jurisdiction: Option<String>,
    pub tax_type: Option<String>,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
}

pub struct TaxRates;

impl SyncedKind for TaxRates {
    const OBJECT: &'static str = "tax_rate";
    const ID_PREFIX: &'static str = "txr_";
    const TABLE: &'static str = "tax_rates";
    const EVENTS: &'static [&'static str] = &["tax_rate.created", "tax_rate.updated"];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "tax-rates",
        path: "/tax_rates",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("display_name", Shape::Text),
        required("inclusive", Shape::Boolean),
        required("active", Shape::Boolean),
    ];
    type Change = TaxRateChange;

    fn read(_event_type: &str, object: &StripeObject) -> Result<TaxRateChange, Refusal> {
        Ok(TaxRateChange {
            stripe_tax_rate_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            display_name: fields::string(object, "display_name"),
            description: fields::string(object, "description"),
            percentage: fields::decimal(object, "percentage"),
            inclusive: fields::boolean(object, "inclusive"),
            active: fields::boolean(object, "active"),
            country: fields::string(object, "country"),
            state: fields::string(object, "state"),
            jurisdiction: fields::string(object, "jurisdiction"),
            tax_type: fields::string(object, "tax_type"),
            metadata: fields::metadata(object),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
        })
    }

    fn object_id(change: &TaxRateChange) -> &str {
        &change.stripe_tax_rate_id
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a TaxRateChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }
}

/// The newest change per tax rate, where newer than the row.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &TaxRateChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO tax_rates AS r (stripe_tax_rate_id, display_name, description, percentage, inclusive,
                                 active, country, state, jurisdiction, tax_type, metadata, livemode,
                                 stripe_created, last_event_id, last_event_created, last_event_rank)
         SELECT t.id, t.display_name, t.description, t.percentage::numeric, t.inclusive, t.active, t.country,
                t.state, t.jurisdiction, t.tax_type, t.metadata, t.livemode, to_timestamp(t.stripe_created),
                t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::bool[], $6::bool[], $7::text[],
                     $8::text[], $9::text[], $10::text[], $11::jsonb[], $12::bool[], $13::int8[],
                     $14::text[], $15::int8[], $16::int2[])
              AS t(id, display_name, description, percentage, inclusive, active, country, state,
                   jurisdiction, tax_type, metadata, livemode, stripe_created, event_id, created, rank)
         ON CONFLICT (stripe_tax_rate_id) DO UPDATE SET
             display_name = EXCLUDED.display_name, description = EXCLUDED.description,
             percentage = EXCLUDED.percentage, inclusive = EXCLUDED.inclusive, active = EXCLUDED.active,
             country = EXCLUDED.country, state = EXCLUDED.state, jurisdiction = EXCLUDED.jurisdiction,
             tax_type = EXCLUDED.tax_type, metadata = EXCLUDED.metadata,
             livemode = COALESCE(EXCLUDED.livemode, r.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, r.stripe_created),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
        crate::stored_is_older!("r"),
        "
         RETURNING stripe_tax_rate_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_tax_rate_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.display_name.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.description.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.percentage).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.inclusive).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.active).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.country.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.state.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.jurisdiction.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.tax_type.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| &c.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}
