//! The fields a row cannot be without, and the shape each must have.
//!
//! Every other field is read tolerantly: an unknown shape reads as absent,
//! which is right for optional fields and API-version drift. A required
//! field (a payment's amount) that arrives with another shape would write a
//! row that means nothing, logged as a success; it is refused instead, a
//! permanent failure naming the field, so the event dead-letters at once.
//! An absent or null required field is still tolerated: deletion stubs and
//! older API versions leave fields out.

use serde::de::DeserializeOwned;

use crate::{Refusal, StripeObject, fields::Reference};

/// A field a kind's row needs, and its shape.
#[derive(Debug, Clone, Copy)]
pub struct Required {
    pub field: &'static str,
    pub shape: Shape,
}

/// The JSON shapes a required field may be declared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Text,
    /// A whole number that fits in `int8`.
    Integer,
    Boolean,
    Object,
    /// An expandable reference: an id, or an object with one.
    Reference,
}

impl Shape {
    /// Whether `raw`, a field's JSON text, has this shape. Each is parsed
    /// as what the kind will read it as, never as a whole value: an object
    /// (a subscription's items) is only recognised by its brace, the text
    /// being valid JSON already. Text that does not parse at all (a number
    /// beyond f64) is no value of any other shape.
    fn admits(self, raw: &str) -> bool {
        fn parses<T: DeserializeOwned>(raw: &str) -> bool {
            serde_json::from_str::<T>(raw).is_ok()
        }
        match self {
            Shape::Text => parses::<String>(raw),
            Shape::Integer => parses::<i64>(raw),
            Shape::Boolean => parses::<bool>(raw),
            Shape::Object => raw.starts_with('{'),
            Shape::Reference => matches!(
                serde_json::from_str(raw),
                Ok(Reference::Id(_) | Reference::Expanded(Some(_)))
            ),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Shape::Text => "a string",
            Shape::Integer => "an integer",
            Shape::Boolean => "a boolean",
            Shape::Object => "an object",
            Shape::Reference => "an id or an object with one",
        }
    }
}

/// Shorthand for a kind's declaration: `required("amount", Shape::Integer)`.
pub const fn required(field: &'static str, shape: Shape) -> Required {
    Required { field, shape }
}

/// Refuses `object` when one of `fields` is present, not null, and of
/// another shape than declared.
pub fn check(object: &StripeObject, fields: &[Required]) -> Result<(), Refusal> {
    for required in fields {
        let Some(raw) = object.raw(required.field) else {
            continue;
        };
        if raw != "null" && !required.shape.admits(raw) {
            return Err(Refusal::WrongField {
                field: required.field,
                expected: required.shape.name(),
                found: truncated(raw),
            });
        }
    }
    Ok(())
}

/// The start of a refused value, enough to recognise it in a log.
fn truncated(raw: &str) -> String {
    const MAX: usize = 40;
    match raw.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &raw[..end]),
        None => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYMENT: &[Required] = &[
        required("amount", Shape::Integer),
        required("currency", Shape::Text),
        required("customer", Shape::Reference),
    ];

    fn check_json(json: &str) -> Result<(), Refusal> {
        check(&serde_json::from_str(json).unwrap(), PAYMENT)
    }

    #[test]
    fn a_required_field_of_another_shape_is_refused_by_name() {
        let refusal = check_json(r#"{"amount":"not-a-number","currency":"usd"}"#).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            r#"data.object.amount is "not-a-number", not an integer"#
        );
        assert_eq!(
            check_json(r#"{"amount":12.5}"#).unwrap_err().to_string(),
            "data.object.amount is 12.5, not an integer"
        );
        assert_eq!(
            check_json(r#"{"amount":1e400}"#).unwrap_err().to_string(),
            "data.object.amount is 1e400, not an integer"
        );
        assert!(check_json(r#"{"customer":7}"#).is_err());
        assert!(check_json(r#"{"customer":{"name":"x"}}"#).is_err());
    }

    #[test]
    fn absent_null_and_well_shaped_required_fields_pass() {
        assert_eq!(check_json(r#"{}"#), Ok(()));
        assert_eq!(check_json(r#"{"amount":null,"currency":null}"#), Ok(()));
        assert_eq!(
            check_json(r#"{"amount":100,"currency":"usd","customer":{"id":"cus_1"}}"#),
            Ok(())
        );
        assert_eq!(check_json(r#"{"customer":"cus_1","other":"x"}"#), Ok(()));
    }

    #[test]
    fn a_long_refused_value_is_shortened() {
        let long = "x".repeat(100);
        let refusal = check_json(&format!(r#"{{"currency":7,"amount":"{long}"}}"#)).unwrap_err();
        let shown = format!("\"{}...", "x".repeat(39));
        assert_eq!(
            refusal.to_string(),
            format!("data.object.amount is {shown}, not an integer")
        );
    }
}
