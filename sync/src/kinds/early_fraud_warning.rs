//! `radar.early_fraud_warning.*` -> `early_fraud_warnings`: a card issuer
//! reporting a charge as fraud, linked by Stripe id to the charge and its
//! payment intent (like disputes, it names no customer).

use std::collections::HashSet;

use sqlx::PgConnection;

use crate::{
    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields,
    kinds::charge, object_id, order::bind_versions, required,
};

#[derive(Debug, Clone, PartialEq)]
pub struct EarlyFraudWarningChange {
    pub stripe_early_fraud_warning_id: String,
    pub stripe_charge_id: Option<String>,
    pub stripe_payment_intent_id: Option<String>,
    pub fraud_type: Option<String>,
    pub actionable: Option<bool>,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
}

/// `early_fraud_warnings`, one row per Radar EarlyFraudWarning.
pub struct EarlyFraudWarnings;

impl SyncedKind for EarlyFraudWarnings {
    const OBJECT: &'static str = "radar.early_fraud_warning";
    const ID_PREFIX: &'static str = "issfr_";
    const TABLE: &'static str = "early_fraud_warnings";
    const EVENTS: &'static [&'static str] = &[
        "radar.early_fraud_warning.created",
        "radar.early_fraud_warning.updated",
    ];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "early-fraud-warnings",
        path: "/radar/early_fraud_warnings",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("charge", Shape::Reference),
        required("fraud_type", Shape::Text),
        required("actionable", Shape::Boolean),
    ];
    type Change = EarlyFraudWarningChange;

    fn read(_event_type: &str, object: &StripeObject) -> Result<EarlyFraudWarningChange, Refusal> {
        Ok(EarlyFraudWarningChange {
            stripe_early_fraud_warning_id: object_id(object, Self::OBJECT, Self::ID_PREFIX)?,
            stripe_charge_id: fields::reference(object, "charge"),
            stripe_payment_intent_id: charge::payment_intent(object),
            fraud_type: fields::string(object, "fraud_type"),
            actionable: fields::boolean(object, "actionable"),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
        })
    }

    fn object_id(change: &EarlyFraudWarningChange) -> &str {
        &change.stripe_early_fraud_warning_id
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a EarlyFraudWarningChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }
}

/// The newest change per warning, where newer than the row.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &EarlyFraudWarningChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO early_fraud_warnings AS w (stripe_early_fraud_warning_id, stripe_charge_id,
                               stripe_payment_intent_id, fraud_type, actionable, livemode, stripe_created,
                               last_event_id, last_event_created, last_event_rank)
         SELECT t.id, t.charge, t.payment_intent, t.fraud_type, t.actionable, t.livemode,
                to_timestamp(t.stripe_created), t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::bool[], $7::int8[],
                     $8::text[], $9::int8[], $10::int2[])
              AS t(id, charge, payment_intent, fraud_type, actionable, livemode, stripe_created, event_id,
                   created, rank)
         ON CONFLICT (stripe_early_fraud_warning_id) DO UPDATE SET
             stripe_charge_id = EXCLUDED.stripe_charge_id,
             stripe_payment_intent_id = EXCLUDED.stripe_payment_intent_id,
             fraud_type = EXCLUDED.fraud_type, actionable = EXCLUDED.actionable,
             livemode = COALESCE(EXCLUDED.livemode, w.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, w.stripe_created),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
        crate::stored_is_older!("w"),
        "
         RETURNING stripe_early_fraud_warning_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_early_fraud_warning_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_charge_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_payment_intent_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.fraud_type.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.actionable).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}
