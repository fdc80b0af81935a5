//! Tolerant reads from a Stripe object: a wrong shape reads as absent.
//!
//! The object an event carries is held as [`StripeObject`]: its top-level
//! fields as raw JSON text, each parsed only when a kind reads it. A large
//! event (a long list of items, a big metadata) then costs about its own
//! size in memory, not the several times that a full tree of values takes.

use std::{borrow::Cow, collections::HashMap};

use serde::Deserialize;
use serde_json::{Value, value::RawValue};

#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct StripeObject(HashMap<String, Box<RawValue>>);

impl StripeObject {
    /// `data.object` of an event's body. Anything but an object, or a body
    /// that does not parse, reads as an empty object, which every kind
    /// refuses (no id): a permanent, per-event failure.
    pub fn of_event(body: &str) -> Self {
        #[derive(Deserialize)]
        struct Event<'a> {
            #[serde(borrow)]
            data: Data<'a>,
        }
        #[derive(Deserialize)]
        struct Data<'a> {
            #[serde(borrow)]
            object: &'a RawValue,
        }
        serde_json::from_str::<Event<'_>>(body)
            .ok()
            .and_then(|event| serde_json::from_str(event.data.object.get()).ok())
            .unwrap_or_default()
    }

    /// A field's JSON text as it came, unparsed.
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.get())
    }

    /// The object as JSON text, its fields as they came.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".into())
    }
}

/// Something with named fields: a [`StripeObject`], or a parsed value
/// inside one (a subscription item).
pub trait Fields {
    fn field(&self, key: &str) -> Option<Cow<'_, Value>>;
}

impl Fields for StripeObject {
    /// A field that is not valid to parse (a number beyond f64, say) reads
    /// as absent, like any other wrong shape.
    fn field(&self, key: &str) -> Option<Cow<'_, Value>> {
        serde_json::from_str(self.0.get(key)?.get())
            .ok()
            .map(Cow::Owned)
    }
}

impl Fields for Value {
    fn field(&self, key: &str) -> Option<Cow<'_, Value>> {
        self.get(key).map(Cow::Borrowed)
    }
}

pub fn string(object: &impl Fields, key: &str) -> Option<String> {
    object.field(key)?.as_str().map(str::to_owned)
}

pub fn integer(object: &impl Fields, key: &str) -> Option<i64> {
    object.field(key)?.as_i64()
}

pub fn boolean(object: &impl Fields, key: &str) -> Option<bool> {
    object.field(key)?.as_bool()
}

/// A number that may have a fraction (a coupon's `percent_off` 25.5).
pub fn decimal(object: &impl Fields, key: &str) -> Option<f64> {
    object.field(key)?.as_f64()
}

/// `metadata`, or `{}` when it is absent or not an object.
pub fn metadata(object: &impl Fields) -> Value {
    match object.field("metadata") {
        Some(m) if m.is_object() => m.into_owned(),
        _ => Value::Object(Default::default()),
    }
}

/// An expandable reference: `"cus_123"` or an expanded `{"id": "cus_123", ...}`.
pub fn reference(object: &impl Fields, key: &str) -> Option<String> {
    match object.field(key)?.as_ref() {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Object(expanded) => expanded.get("id")?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// A field holding an object (`recurring`), parsed, for reading inside it.
pub fn field_value(object: &impl Fields, key: &str) -> Option<Value> {
    let value = object.field(key)?;
    value.is_object().then(|| value.into_owned())
}

/// The first element of a Stripe list (`{"data": [...]}`) under `key`.
pub fn first_item(object: &impl Fields, key: &str) -> Option<Value> {
    let list = object.field(key)?;
    list.get("data")?.as_array()?.first().cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(json: &str) -> StripeObject {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn fields_read_tolerantly() {
        let o = object(
            r#"{"email":"a@b","amount":12,"customer":{"id":"cus_1"},"metadata":[1],
                           "huge":1e400,"items":{"data":[{"quantity":3}]}}"#,
        );
        assert_eq!(string(&o, "email").as_deref(), Some("a@b"));
        assert_eq!(string(&o, "amount"), None, "wrong shape");
        assert_eq!(integer(&o, "amount"), Some(12));
        assert_eq!(reference(&o, "customer").as_deref(), Some("cus_1"));
        assert_eq!(metadata(&o), serde_json::json!({}), "not an object");
        assert_eq!(integer(&o, "huge"), None, "beyond f64 reads as absent");
        assert_eq!(
            first_item(&o, "items").and_then(|i| integer(&i, "quantity")),
            Some(3)
        );
    }
}
