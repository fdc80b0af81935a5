//! Tolerant reads from a Stripe object: a wrong shape reads as absent.

use serde_json::Value;

pub fn string(object: &Value, key: &str) -> Option<String> {
    object.get(key)?.as_str().map(str::to_owned)
}

pub fn integer(object: &Value, key: &str) -> Option<i64> {
    object.get(key)?.as_i64()
}

pub fn boolean(object: &Value, key: &str) -> Option<bool> {
    object.get(key)?.as_bool()
}

/// `metadata`, or `{}` when it is absent or not an object.
pub fn metadata(object: &Value) -> Value {
    match object.get("metadata") {
        Some(m @ Value::Object(_)) => m.clone(),
        _ => Value::Object(Default::default()),
    }
}

/// An expandable reference: `"cus_123"` or an expanded `{"id": "cus_123", ...}`.
pub fn reference(object: &Value, key: &str) -> Option<String> {
    match object.get(key)? {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Object(expanded) => expanded.get("id")?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// The first element of a Stripe list (`{"data": [...]}`) under `key`.
pub fn first_item<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    object.get(key)?.get("data")?.as_array()?.first()
}
