//! `account.updated` and `account.application.*` -> `accounts`: the
//! connected accounts of a Stripe Connect platform.
//!
//! The profile (`account.updated`) is versioned as on every synced table.
//! The authorization (`account.application.authorized/deauthorized`) names
//! the account only in the event's `account`, carries nothing of the
//! profile, and has a version of its own: it is a stub (like a deletion),
//! written by `write_terminal` under its own guard, so a deauthorization
//! never hides a profile update and every delivery order ends in the same
//! row.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    ListEndpoint, Refusal, Required, Shape, StripeObject, SyncedKind, Version, fields, object_id,
    order::bind_versions, required,
};

#[derive(Debug, Clone, PartialEq)]
pub enum AccountChange {
    Profile(Box<AccountProfile>),
    Authorization(Authorization),
}

#[derive(Debug, Clone, PartialEq)]
pub struct AccountProfile {
    pub stripe_account_id: String,
    pub business_name: Option<String>,
    pub email: Option<String>,
    pub country: Option<String>,
    pub default_currency: Option<String>,
    pub kind: Option<String>,
    pub charges_enabled: Option<bool>,
    pub payouts_enabled: Option<bool>,
    pub details_submitted: Option<bool>,
    pub requirements_due: Vec<String>,
    pub requirements_disabled_reason: Option<String>,
    pub capabilities: Value,
    pub metadata: Value,
    pub livemode: Option<bool>,
    pub stripe_created: Option<i64>,
}

/// The platform's access to the account, granted or withdrawn.
#[derive(Debug, Clone, PartialEq)]
pub struct Authorization {
    pub stripe_account_id: String,
    pub authorized: bool,
}

/// `accounts`, one row per connected account.
pub struct Accounts;

const AUTHORIZED: &str = "account.application.authorized";
const DEAUTHORIZED: &str = "account.application.deauthorized";

impl SyncedKind for Accounts {
    const OBJECT: &'static str = "account";
    const ID_PREFIX: &'static str = "acct_";
    const TABLE: &'static str = "accounts";
    const EVENTS: &'static [&'static str] = &["account.updated", AUTHORIZED, DEAUTHORIZED];
    const LIST: Option<ListEndpoint> = Some(ListEndpoint {
        name: "accounts",
        path: "/accounts",
        params: &[],
    });
    /// An authorization's object is the platform's application, not the
    /// account: only the profile's fields are required.
    const REQUIRED: &'static [Required] = &[
        required("charges_enabled", Shape::Boolean),
        required("payouts_enabled", Shape::Boolean),
    ];
    type Change = AccountChange;

    fn read(event_type: &str, object: &StripeObject) -> Result<AccountChange, Refusal> {
        Self::read_in(event_type, object, None)
    }

    fn read_in(
        event_type: &str,
        object: &StripeObject,
        account: Option<&str>,
    ) -> Result<AccountChange, Refusal> {
        if event_type == AUTHORIZED || event_type == DEAUTHORIZED {
            let stripe_account_id = account
                .filter(|id| id.starts_with(Self::ID_PREFIX))
                .ok_or(Refusal::NoAccount)?;
            return Ok(AccountChange::Authorization(Authorization {
                stripe_account_id: stripe_account_id.to_owned(),
                authorized: event_type == AUTHORIZED,
            }));
        }
        Ok(AccountChange::Profile(Box::new(read_profile(object)?)))
    }

    fn object_id(change: &AccountChange) -> &str {
        match change {
            AccountChange::Profile(p) => &p.stripe_account_id,
            AccountChange::Authorization(a) => &a.stripe_account_id,
        }
    }

    fn is_terminal(change: &AccountChange) -> bool {
        matches!(change, AccountChange::Authorization(_))
    }

    fn is_stub(change: &AccountChange) -> bool {
        Self::is_terminal(change)
    }

    fn upsert<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a AccountChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        upsert_profiles(conn, changes)
    }

    fn write_terminal<'a>(
        conn: &'a mut PgConnection,
        changes: &'a [(&'a Version, &'a AccountChange)],
    ) -> impl Future<Output = Result<HashSet<String>, sqlx::Error>> + Send + 'a {
        write_authorizations(conn, changes)
    }
}

fn read_profile(object: &StripeObject) -> Result<AccountProfile, Refusal> {
    let business_profile = fields::field_value(object, "business_profile");
    let requirements = fields::field_value(object, "requirements");
    Ok(AccountProfile {
        stripe_account_id: object_id(object, Accounts::OBJECT, Accounts::ID_PREFIX)?,
        business_name: business_profile
            .as_ref()
            .and_then(|p| fields::string(p, "name")),
        email: fields::string(object, "email"),
        country: fields::string(object, "country"),
        default_currency: fields::string(object, "default_currency"),
        kind: fields::string(object, "type"),
        charges_enabled: fields::boolean(object, "charges_enabled"),
        payouts_enabled: fields::boolean(object, "payouts_enabled"),
        details_submitted: fields::boolean(object, "details_submitted"),
        requirements_due: requirements
            .as_ref()
            .and_then(|r| r.get("currently_due")?.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|due| due.as_str().map(str::to_owned))
            .collect(),
        requirements_disabled_reason: requirements
            .as_ref()
            .and_then(|r| fields::string(r, "disabled_reason")),
        capabilities: fields::field_value(object, "capabilities")
            .unwrap_or_else(|| Value::Object(Default::default())),
        metadata: fields::metadata(object),
        livemode: fields::boolean(object, "livemode"),
        stripe_created: fields::integer(object, "created"),
    })
}

/// The newest profile per account, where newer than the row's profile.
async fn upsert_profiles(
    conn: &mut PgConnection,
    changes: &[(&Version, &AccountChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let (versions, profiles): (Vec<&Version>, Vec<&AccountProfile>) = changes
        .iter()
        .filter_map(|(v, c)| match c {
            AccountChange::Profile(p) => Some((*v, &**p)),
            AccountChange::Authorization(_) => None,
        })
        .unzip();
    if profiles.is_empty() {
        return Ok(HashSet::new());
    }
    let query = sqlx::query_scalar(concat!(
        "INSERT INTO accounts AS a (stripe_account_id, business_name, email, country, default_currency,
                                type, charges_enabled, payouts_enabled, details_submitted,
                                requirements_due, requirements_disabled_reason, capabilities, metadata,
                                livemode, stripe_created, last_event_id, last_event_created,
                                last_event_rank)
         SELECT t.id, t.business_name, t.email, t.country, t.default_currency, t.type, t.charges_enabled,
                t.payouts_enabled, t.details_submitted,
                ARRAY(SELECT jsonb_array_elements_text(t.requirements_due)),
                t.disabled_reason, t.capabilities, t.metadata, t.livemode,
                to_timestamp(t.stripe_created), t.event_id, to_timestamp(t.created), t.rank
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bool[],
                     $8::bool[], $9::bool[], $10::jsonb[], $11::text[], $12::jsonb[], $13::jsonb[],
                     $14::bool[], $15::int8[], $16::text[], $17::int8[], $18::int2[])
              AS t(id, business_name, email, country, default_currency, type, charges_enabled,
                   payouts_enabled, details_submitted, requirements_due, disabled_reason,
                   capabilities, metadata, livemode, stripe_created, event_id, created, rank)
         ON CONFLICT (stripe_account_id) DO UPDATE SET
             business_name = EXCLUDED.business_name, email = EXCLUDED.email,
             country = EXCLUDED.country, default_currency = EXCLUDED.default_currency,
             type = EXCLUDED.type, charges_enabled = EXCLUDED.charges_enabled,
             payouts_enabled = EXCLUDED.payouts_enabled,
             details_submitted = EXCLUDED.details_submitted,
             requirements_due = EXCLUDED.requirements_due,
             requirements_disabled_reason = EXCLUDED.requirements_disabled_reason,
             capabilities = EXCLUDED.capabilities, metadata = EXCLUDED.metadata,
             livemode = COALESCE(EXCLUDED.livemode, a.livemode),
             stripe_created = COALESCE(EXCLUDED.stripe_created, a.stripe_created),
             last_event_id = EXCLUDED.last_event_id,
             last_event_created = EXCLUDED.last_event_created,
             last_event_rank = EXCLUDED.last_event_rank,
             updated_at = now()
         WHERE a.last_event_id IS NULL OR ",
        crate::stored_is_older!("a"),
        "
         RETURNING stripe_account_id",
    ))
    .bind(profiles.iter().map(|p| p.stripe_account_id.as_str()).collect::<Vec<_>>())
    .bind(profiles.iter().map(|p| p.business_name.as_deref()).collect::<Vec<_>>())
    .bind(profiles.iter().map(|p| p.email.as_deref()).collect::<Vec<_>>())
    .bind(profiles.iter().map(|p| p.country.as_deref()).collect::<Vec<_>>())
    .bind(profiles.iter().map(|p| p.default_currency.as_deref()).collect::<Vec<_>>())
    .bind(profiles.iter().map(|p| p.kind.as_deref()).collect::<Vec<_>>())
    .bind(profiles.iter().map(|p| p.charges_enabled).collect::<Vec<_>>())
    .bind(profiles.iter().map(|p| p.payouts_enabled).collect::<Vec<_>>())
    .bind(profiles.iter().map(|p| p.details_submitted).collect::<Vec<_>>())
    .bind(profiles.iter().map(|p| Value::from(p.requirements_due.clone())).collect::<Vec<_>>())
    .bind(profiles.iter().map(|p| p.requirements_disabled_reason.as_deref()).collect::<Vec<_>>())
    .bind(profiles.iter().map(|p| &p.capabilities).collect::<Vec<_>>())
    .bind(profiles.iter().map(|p| &p.metadata).collect::<Vec<_>>())
    .bind(profiles.iter().map(|p| p.livemode).collect::<Vec<_>>())
    .bind(profiles.iter().map(|p| p.stripe_created).collect::<Vec<_>>());
    let written: Vec<String> = bind_versions(query, &versions).fetch_all(conn).await?;
    Ok(written.into_iter().collect())
}

/// The newest authorization per account, where newer than the row's
/// authorization. One statement cannot touch a row twice, so the newest
/// is chosen here first.
async fn write_authorizations(
    conn: &mut PgConnection,
    changes: &[(&Version, &AccountChange)],
) -> Result<HashSet<String>, sqlx::Error> {
    let mut newest: BTreeMap<&str, (&Version, bool)> = BTreeMap::new();
    for (version, change) in changes {
        let AccountChange::Authorization(a) = change else {
            continue;
        };
        let entry = newest
            .entry(&a.stripe_account_id)
            .or_insert((version, a.authorized));
        if entry.0 < *version {
            *entry = (version, a.authorized);
        }
    }
    if newest.is_empty() {
        return Ok(HashSet::new());
    }
    let written: Vec<String> = sqlx::query_scalar(
        r#"INSERT INTO accounts AS a (stripe_account_id, deauthorized_at, authorization_event_id,
                                      authorization_event_created, authorization_event_rank)
           SELECT t.id, CASE WHEN t.authorized THEN NULL ELSE to_timestamp(t.created) END,
                  t.event_id, to_timestamp(t.created), t.rank
           FROM unnest($1::text[], $2::bool[], $3::text[], $4::int8[], $5::int2[])
                AS t(id, authorized, event_id, created, rank)
           ON CONFLICT (stripe_account_id) DO UPDATE SET
               deauthorized_at = EXCLUDED.deauthorized_at,
               authorization_event_id = EXCLUDED.authorization_event_id,
               authorization_event_created = EXCLUDED.authorization_event_created,
               authorization_event_rank = EXCLUDED.authorization_event_rank,
               updated_at = now()
           WHERE a.authorization_event_id IS NULL
              OR (a.authorization_event_created, a.authorization_event_rank,
                  a.authorization_event_id COLLATE "C")
               < (EXCLUDED.authorization_event_created, EXCLUDED.authorization_event_rank,
                  EXCLUDED.authorization_event_id COLLATE "C")
           RETURNING stripe_account_id"#,
    )
    .bind(newest.keys().copied().collect::<Vec<_>>())
    .bind(newest.values().map(|(_, authorized)| *authorized).collect::<Vec<_>>())
    .bind(newest.values().map(|(v, _)| v.event_id.as_str()).collect::<Vec<_>>())
    .bind(newest.values().map(|(v, _)| v.created).collect::<Vec<_>>())
    .bind(newest.values().map(|(v, _)| v.rank).collect::<Vec<_>>())
    .fetch_all(conn)
    .await?;
    Ok(written.into_iter().collect())
}
