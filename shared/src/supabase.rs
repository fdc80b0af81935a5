//! Supabase database webhooks: the JSON a `supabase_functions.http_request`
//! trigger posts for each row change, read into a typed change.
//!
//! The row itself stays a JSON map: columns differ per table, and a consumer
//! reads only the few it needs (as [`SupabaseWebhook::signup`] does).

use serde_json::{Map, Value};
use uuid::Uuid;

/// One row change, as Supabase posts it.
#[derive(Debug, Clone, PartialEq)]
pub struct SupabaseWebhook {
    pub schema: String,
    pub table: String,
    pub change: RowChange,
}

/// The row images that come with each kind of change. Supabase also sends the
/// image that cannot exist (`old_record` of an INSERT, `record` of a DELETE)
/// as `null`; it is not kept.
#[derive(Debug, Clone, PartialEq)]
pub enum RowChange {
    Insert {
        record: Map<String, Value>,
    },
    Update {
        record: Map<String, Value>,
        old_record: Map<String, Value>,
    },
    Delete {
        old_record: Map<String, Value>,
    },
}

impl RowChange {
    /// The `type` Supabase sends for this change.
    pub fn kind(&self) -> &'static str {
        match self {
            RowChange::Insert { .. } => "INSERT",
            RowChange::Update { .. } => "UPDATE",
            RowChange::Delete { .. } => "DELETE",
        }
    }
}

/// A new organization, from an INSERT into a table named `organizations`
/// (ADR-0008: the app's sign-up creates one per new account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationSignup {
    /// `schema.table` the row was inserted into.
    pub source: String,
    pub id: String,
    pub record: Map<String, Value>,
}

impl OrganizationSignup {
    /// A text column of the row, if present and not empty.
    pub fn text(&self, column: &str) -> Option<&str> {
        self.record.get(column)?.as_str().filter(|v| !v.is_empty())
    }
}

/// A new user, from an INSERT into `auth.users` (or a `public.users` mirror).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSignup {
    pub user_id: Uuid,
    /// `None` for phone and anonymous sign-ups, whose email is `null`.
    pub email: Option<String>,
    /// `email_confirmed_at` is set: the user proved the address is theirs.
    /// Only then may the email match an existing Stripe customer.
    pub email_confirmed: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SupabaseError {
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    #[error("body is not a JSON object")]
    NotAnObject,
    #[error("`{0}` is missing, empty or not a string")]
    MissingField(&'static str),
    #[error("`type` must be INSERT, UPDATE or DELETE, got {0:?}")]
    UnknownType(String),
    #[error("{0} webhook has no `record` object")]
    MissingRecord(&'static str),
    #[error("{0} webhook has no `old_record` object")]
    MissingOldRecord(&'static str),
    #[error("users INSERT has a bad `id`: {0}")]
    BadUserId(String),
}

/// Echoed values are cut to this many characters: an error message must stay
/// one short log line whatever the body holds.
const ECHO_CHARS: usize = 32;

/// Reads a database webhook body: `type`, `schema`, `table`, and the row
/// images that `type` needs.
pub fn parse_supabase_webhook(body: &[u8]) -> Result<SupabaseWebhook, SupabaseError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| SupabaseError::NotJson(e.to_string()))?;
    let Value::Object(mut fields) = value else {
        return Err(SupabaseError::NotAnObject);
    };
    let kind = take_string(&mut fields, "type")?;
    let schema = take_string(&mut fields, "schema")?;
    let table = take_string(&mut fields, "table")?;
    let record = take_object(&mut fields, "record");
    let old_record = take_object(&mut fields, "old_record");
    let change = match kind.as_str() {
        "INSERT" => RowChange::Insert {
            record: record.ok_or(SupabaseError::MissingRecord("INSERT"))?,
        },
        "UPDATE" => RowChange::Update {
            record: record.ok_or(SupabaseError::MissingRecord("UPDATE"))?,
            old_record: old_record.ok_or(SupabaseError::MissingOldRecord("UPDATE"))?,
        },
        "DELETE" => RowChange::Delete {
            old_record: old_record.ok_or(SupabaseError::MissingOldRecord("DELETE"))?,
        },
        _ => return Err(SupabaseError::UnknownType(echo(&kind))),
    };
    Ok(SupabaseWebhook {
        schema,
        table,
        change,
    })
}

impl SupabaseWebhook {
    /// The new user if this is an INSERT into a users table with a valid id;
    /// `None` for anything else, including a users INSERT with a bad id (use
    /// [`Self::try_signup`] to tell those apart).
    /// An INSERT into an `organizations` table whose row has an `id`.
    pub fn organization(&self) -> Option<OrganizationSignup> {
        let RowChange::Insert { record } = &self.change else {
            return None;
        };
        if self.table != "organizations" {
            return None;
        }
        let id = match record.get("id")? {
            Value::String(id) if !id.is_empty() => id.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        Some(OrganizationSignup {
            source: format!("{}.{}", self.schema, self.table),
            id,
            record: record.clone(),
        })
    }

    pub fn signup(&self) -> Option<UserSignup> {
        self.try_signup().ok().flatten()
    }

    /// `Ok(None)`: not a users INSERT. `Err`: a users INSERT whose `id` is
    /// not a usable uuid, which means a misconfigured trigger, not a no-op.
    pub fn try_signup(&self) -> Result<Option<UserSignup>, SupabaseError> {
        let RowChange::Insert { record } = &self.change else {
            return Ok(None);
        };
        let is_users = self.table == "users" && matches!(self.schema.as_str(), "auth" | "public");
        if !is_users {
            return Ok(None);
        }
        let id = match record.get("id") {
            Some(Value::String(id)) => id,
            Some(_) => return Err(SupabaseError::BadUserId("not a string".into())),
            None => return Err(SupabaseError::BadUserId("missing".into())),
        };
        let user_id = Uuid::try_parse(id)
            .map_err(|e| SupabaseError::BadUserId(format!("not a uuid ({e})")))?;
        // Postgres never hands out the nil uuid; seeing one means a default
        // or a test row, and every nil "user" would merge into one.
        if user_id.is_nil() {
            return Err(SupabaseError::BadUserId("nil uuid".into()));
        }
        let email = record
            .get("email")
            .and_then(Value::as_str)
            .filter(|email| !email.is_empty())
            .map(str::to_owned);
        // Any non-null value counts: Supabase writes a timestamp, and the
        // column's format is not ours to check.
        let email_confirmed = !matches!(record.get("email_confirmed_at"), None | Some(Value::Null));
        Ok(Some(UserSignup {
            user_id,
            email,
            email_confirmed,
        }))
    }
}

fn take_string(
    fields: &mut Map<String, Value>,
    name: &'static str,
) -> Result<String, SupabaseError> {
    match fields.remove(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(SupabaseError::MissingField(name)),
    }
}

/// A missing image, `null`, and a non-object are all "no image": the caller
/// reports which one the change needed.
fn take_object(fields: &mut Map<String, Value>, name: &str) -> Option<Map<String, Value>> {
    match fields.remove(name) {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    }
}

fn echo(value: &str) -> String {
    let mut chars = value.chars();
    let mut cut: String = chars.by_ref().take(ECHO_CHARS).collect();
    if chars.next().is_some() {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests;
