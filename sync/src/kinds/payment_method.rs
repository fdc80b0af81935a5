//! `payment_method.*` -> `payment_methods`: the card (or other method) a
//! customer has on file, linked to the customer while attached.
//!
//! A detach is final: Stripe never re-attaches a detached payment method.
//! `payment_method.detached` carries `customer: null`; it clears the link
//! and records `detached_at`, and no event of the method, older or newer,
//! links it again. So the row ends the same in every delivery order, even
//! when the detach ties with an update in the same second.

use std::collections::HashSet;

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    BenchMarker,    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields,
    kinds::customer::{self, Customers},
    object_id_with,
    order::bind_versions,
    required,
};

const DETACHED: &str = "payment_method.detached";

/// Payment methods are `pm_`; cards and sources made before the Payment
/// Methods API keep their `card_` and `src_` ids when used as one.
const ID_PREFIXES: &[&str] = &[PaymentMethods::ID_PREFIX, "card_", "src_"];

#[derive(Debug, Clone, PartialEq)]
pub struct PaymentMethodChange {
    pub stripe_payment_method_id: String,
    pub stripe_customer_id: Option<String>,
    pub kind: Option<String>,
    pub card: Card,
    pub billing_email: Option<String>,
    pub billing_name: Option<String>,
    pub detached: bool,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
}

/// What a billing page shows of a card; all absent for other types.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Card {
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub exp_month: Option<i32>,
    pub exp_year: Option<i32>,
    pub funding: Option<String>,
    pub country: Option<String>,
    /// `apple_pay`, `google_pay`, `link`...: the wallet the card is in.
    pub wallet: Option<String>,
}

/// `payment_methods`, one row per PaymentMethod.
pub struct PaymentMethods;

impl SyncedKind for PaymentMethods {
    const OBJECT: &'static str = "payment_method";
    const ID_PREFIX: &'static str = "pm_";
    const TABLE: &'static str = "payment_methods";
    const PARENTS: &'static [&'static str] = &[Customers::OBJECT];
    const BENCH: Option<BenchMarker> = Some(BenchMarker {
        plant: crate::kind::plant_in_metadata_with_customer,
        read_rows: "SELECT stripe_payment_method_id, last_event_id, (metadata->>'bench')::int8, false
                    FROM payment_methods WHERE stripe_payment_method_id = ANY($1)",
        tombstones: false,
    });
    const EVENTS: &'static [&'static str] = &[
        "payment_method.attached",
        "payment_method.updated",
        "payment_method.automatically_updated",
        DETACHED,
    ];
    // Stripe lists a customer's payment methods, not an account's:
    // `tether backfill` asks for each synced customer's
    // (`ListEndpoint::PARENTS`).
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "payment-methods",
        path: "/customers/{customer}/payment_methods",
        params: &[],
    });
    const REQUIRED: &'static [Required] = &[
        required("type", Shape::Text),
        required("customer", Shape::Reference),
    ];
    type Change = PaymentMethodChange;

    fn read(event_type: &str, object: &StripeObject) -> Result<PaymentMethodChange, Refusal> {
        let detached = event_type == DETACHED;
        Ok(PaymentMethodChange {
            stripe_payment_method_id: object_id_with(object, Self::OBJECT, ID_PREFIXES)?,
            stripe_customer_id: customer::linked_customer(object).filter(|_| !detached),
            kind: fields::string(object, "type"),
            card: card(object),
            billing_email: billing_detail(object, "email"),
            billing_name: billing_detail(object, "name"),
            detached,
            metadata: fields::metadata(object),
            livemode: fields::boolean(object, "livemode"),
            stripe_created: fields::integer(object, "created"),
        })
    }

    fn object_id(change: &PaymentMethodChange) -> &str {
        &change.stripe_payment_method_id
    }

    fn references(change: &PaymentMethodChange) -> Vec<(&'static str, &str)> {
        customer::as_parent(&change.stripe_customer_id)
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a PaymentMethodChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert(conn, changes)
    }

    fn is_terminal(change: &PaymentMethodChange) -> bool {
        change.detached
    }

    fn write_terminal<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a PaymentMethodChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        write_detaches(conn, changes)
    }
}

fn card(object: &StripeObject) -> Card {
    let Some(card) = fields::field_value(object, "card") else {
        return Card::default();
    };
    let month_or_year = |key| fields::integer(&card, key).and_then(|v| i32::try_from(v).ok());
    Card {
        brand: fields::string(&card, "brand"),
        last4: fields::string(&card, "last4"),
        exp_month: month_or_year("exp_month"),
        exp_year: month_or_year("exp_year"),
        funding: fields::string(&card, "funding"),
        country: fields::string(&card, "country"),
        wallet: fields::field_value(&card, "wallet").and_then(|w| fields::string(&w, "type")),
    }
}

fn billing_detail(object: &StripeObject, key: &str) -> Option<String> {
    fields::field_value(object, "billing_details").and_then(|b| fields::string(&b, key))
}

/// A detach older than the row's newest event still detaches.
async fn write_detaches(
    conn: &mut PgConnection,
    changes: &[(&Version, &PaymentMethodChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let (ids, created): (Vec<&str>, Vec<i64>) = changes
        .iter()
        .map(|(v, c)| (c.stripe_payment_method_id.as_str(), v.created))
        .unzip();
    let written: Vec<String> = sqlx::query_scalar(
        "UPDATE payment_methods p SET customer_id = NULL, stripe_customer_id = NULL,
                detached_at = to_timestamp(t.created), updated_at = now()
         FROM unnest($1::text[], $2::int8[]) AS t(id, created)
         WHERE p.stripe_payment_method_id = t.id AND p.detached_at IS NULL
         RETURNING p.stripe_payment_method_id",
    )
    .bind(ids)
    .bind(created)
    .fetch_all(conn)
    .await?;
    Ok(written.into_iter().collect())
}

/// The newest change per payment method, where newer than the row, linked
/// to its customer's row (placeholders exist already) unless detached.
async fn upsert(
    conn: &mut PgConnection,
    changes: &[(&Version, &PaymentMethodChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let versions: Vec<&Version> = changes.iter().map(|(v, _)| *v).collect();
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO payment_methods AS p (stripe_payment_method_id, customer_id, stripe_customer_id, type,
                               card_brand, card_last4, card_exp_month, card_exp_year, card_funding,
                               card_country, card_wallet, billing_email, billing_name, detached_at,
                               metadata, livemode, stripe_created, last_event_id, last_event_created,
                               last_event_rank)
         SELECT t.id, c.id, t.customer, t.type, t.brand, t.last4, t.exp_month, t.exp_year, t.funding,
                t.country, t.wallet, t.email, t.name, CASE WHEN t.detached THEN to_timestamp(t.created) END,
                t.metadata, t.livemode, to_timestamp(t.stripe_created), t.event_id, to_timestamp(t.created),
                t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int4[], $7::int4[],
                     $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::bool[],
                     $14::jsonb[], $15::bool[], $16::int8[], $17::text[], $18::int8[], $19::int2[])
              AS t(id, customer, type, brand, last4, exp_month, exp_year, funding, country, wallet, email,
                   name, detached, metadata, livemode, stripe_created, event_id, created, rank)
         LEFT JOIN end_customers c ON c.stripe_customer_id = t.customer
         ON CONFLICT (stripe_payment_method_id) DO UPDATE SET
             -- Once detached, never linked again.
             customer_id = CASE WHEN p.detached_at IS NULL THEN EXCLUDED.customer_id END,
             stripe_customer_id = CASE WHEN p.detached_at IS NULL THEN EXCLUDED.stripe_customer_id END,
             detached_at = COALESCE(p.detached_at, EXCLUDED.detached_at),
             type = EXCLUDED.type, card_brand = EXCLUDED.card_brand, card_last4 = EXCLUDED.card_last4,
             card_exp_month = EXCLUDED.card_exp_month, card_exp_year = EXCLUDED.card_exp_year,
             card_funding = EXCLUDED.card_funding, card_country = EXCLUDED.card_country,
             card_wallet = EXCLUDED.card_wallet, billing_email = EXCLUDED.billing_email,
             billing_name = EXCLUDED.billing_name, metadata = EXCLUDED.metadata,
             livemode = COALESCE(EXCLUDED.livemode, p.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, p.stripe_created),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE ",
        crate::stored_is_older!("p"),
        "
         RETURNING stripe_payment_method_id",
    ))
    .bind(changes.iter().map(|(_, c)| c.stripe_payment_method_id.as_str()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_customer_id.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.kind.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.card.brand.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.card.last4.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.card.exp_month).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.card.exp_year).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.card.funding.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.card.country.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.card.wallet.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.billing_email.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.billing_name.as_deref()).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.detached).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| &c.metadata).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.livemode).collect::<Vec<_>>())
    .bind(changes.iter().map(|(_, c)| c.stripe_created).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(event_type: &str, json: &str) -> PaymentMethodChange {
        PaymentMethods::read(event_type, &serde_json::from_str(json).unwrap()).unwrap()
    }

    #[test]
    fn a_card_reads_its_brand_expiry_and_wallet() {
        let change = read(
            "payment_method.attached",
            r#"{"id":"pm_1","object":"payment_method","type":"card","customer":"cus_1",
                "card":{"brand":"visa","last4":"4242","exp_month":8,"exp_year":2030,
                        "wallet":{"type":"apple_pay"}}}"#,
        );
        assert_eq!(change.stripe_customer_id.as_deref(), Some("cus_1"));
        assert_eq!(change.card.brand.as_deref(), Some("visa"));
        assert_eq!(
            (change.card.exp_month, change.card.exp_year),
            (Some(8), Some(2030))
        );
        assert_eq!(change.card.wallet.as_deref(), Some("apple_pay"));
    }

    #[test]
    fn a_detach_links_no_customer_and_other_types_have_no_card() {
        let change = read(
            DETACHED,
            r#"{"id":"pm_1","object":"payment_method","type":"sepa_debit","customer":"cus_1",
                "card":"not an object"}"#,
        );
        assert!(change.detached);
        assert_eq!(change.stripe_customer_id, None);
        assert_eq!(change.card, Card::default());
    }

    #[test]
    fn an_expiry_beyond_int4_reads_as_absent() {
        let change = read(
            "payment_method.updated",
            r#"{"id":"card_1","type":"card","card":{"exp_year":99999999999}}"#,
        );
        assert_eq!(change.card.exp_year, None);
    }
}
