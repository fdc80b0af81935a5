//! The Stripe event envelope: what ingest checks before it stores a body.
//!
//! Only the envelope is read here; `data.object` is kept raw for the worker,
//! which reads just the fields each handler needs.

use serde::Deserialize;

/// A body that verified and reads as a Stripe event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventEnvelope {
    pub id: String,
    pub event_type: String,
    pub created: i64,
    pub api_version: Option<String>,
    pub livemode: bool,
    pub account: Option<String>,
    /// `data.object.id`; some objects have none (a `balance`).
    pub object_id: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    #[error("body is not a Stripe event: {0}")]
    NotAnEvent(&'static str),
}

impl EnvelopeError {
    pub fn not_utf8(error: std::str::Utf8Error) -> Self {
        Self::NotJson(format!("not UTF-8 ({error})"))
    }
}

#[derive(Deserialize)]
struct RawEnvelope<'a> {
    #[serde(borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "type", borrow)]
    event_type: Option<std::borrow::Cow<'a, str>>,
    created: Option<i64>,
    #[serde(borrow)]
    api_version: Option<std::borrow::Cow<'a, str>>,
    livemode: Option<bool>,
    #[serde(borrow)]
    account: Option<std::borrow::Cow<'a, str>>,
    data: Option<ObjectOnly<RawData<'a>>>,
}

#[derive(Deserialize)]
struct RawData<'a> {
    #[serde(borrow)]
    object: Option<ObjectOnly<RawObject<'a>>>,
}

/// `T`, read only from a JSON object: serde's derive would also fill a
/// struct from an array, field by field.
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Only<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Only<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(Only(std::marker::PhantomData))
            .map(ObjectOnly)
    }
}

#[derive(Deserialize)]
struct RawObject<'a> {
    #[serde(borrow)]
    id: Option<std::borrow::Cow<'a, str>>,
}

/// Reads and checks the envelope: an `evt_` id, a type, `created`, and a
/// `data.object`, whose id, when it has one, is not empty.
pub fn parse_envelope(body: &[u8]) -> Result<EventEnvelope, EnvelopeError> {
    // serde_json skips the fields the envelope ignores without checking their
    // UTF-8, so a body with bad bytes outside the envelope would pass as JSON.
    // (Lone `\uD800` escapes do still pass: the JSON grammar allows them, and
    // the database refuses them per event.)
    parse_envelope_str(std::str::from_utf8(body).map_err(EnvelopeError::not_utf8)?)
}

/// [`parse_envelope`] for a body already known to be UTF-8 (ingest turns
/// the request body into the `String` it stores first, checking it once).
pub fn parse_envelope_str(body: &str) -> Result<EventEnvelope, EnvelopeError> {
    // serde would read a JSON array into the envelope field by field.
    if body.trim_start().starts_with('[') {
        return Err(EnvelopeError::NotAnEvent("expected a JSON object"));
    }
    // Skipped fields are not depth-checked by serde_json, and PostgreSQL
    // refuses deep nesting when it stores the body.
    if nesting_depth(body) > MAX_NESTING {
        return Err(EnvelopeError::NotAnEvent("nested deeper than 64 levels"));
    }
    let raw: RawEnvelope<'_> = serde_json::from_str(body).map_err(|e| {
        if e.is_data() {
            EnvelopeError::NotAnEvent("expected a JSON object with Stripe event fields")
        } else {
            EnvelopeError::NotJson(e.to_string())
        }
    })?;
    let id = raw.id.ok_or(EnvelopeError::NotAnEvent("missing id"))?;
    if !id.starts_with("evt_") || id.len() <= 4 || id.len() > 255 {
        return Err(EnvelopeError::NotAnEvent("id is not an evt_ id"));
    }
    let event_type = raw
        .event_type
        .ok_or(EnvelopeError::NotAnEvent("missing type"))?;
    if event_type.is_empty() || event_type.len() > 255 {
        return Err(EnvelopeError::NotAnEvent("type is empty or too long"));
    }
    let created = raw
        .created
        .ok_or(EnvelopeError::NotAnEvent("missing created"))?;
    if created <= 0 {
        return Err(EnvelopeError::NotAnEvent(
            "created is not a positive unix time",
        ));
    }
    let ObjectOnly(object) = raw
        .data
        .and_then(|ObjectOnly(d)| d.object)
        .ok_or(EnvelopeError::NotAnEvent("missing data.object"))?;
    // Stripe sends objects without an id (`balance.available` carries the
    // balance); the worker decides what such an object means.
    if object.id.as_deref() == Some("") {
        return Err(EnvelopeError::NotAnEvent("data.object has an empty id"));
    }
    Ok(EventEnvelope {
        id: id.into_owned(),
        event_type: event_type.into_owned(),
        created,
        api_version: raw.api_version.map(|s| s.into_owned()),
        livemode: raw.livemode.unwrap_or(false),
        account: raw.account.map(|s| s.into_owned()),
        object_id: object.id.map(|s| s.into_owned()),
    })
}

/// Deepest nesting of objects and arrays accepted. Stripe's objects nest a
/// handful of levels (an expanded list inside an object inside an event).
pub const MAX_NESTING: usize = 64;

/// The deepest nesting of `{` and `[` in a JSON text, ignoring brackets
/// inside strings. One pass, no allocation; a string's contents are
/// skipped with `memchr` rather than byte by byte, since strings are most
/// of an event's bytes and this runs on every delivery.
fn nesting_depth(json: &str) -> usize {
    let bytes = json.as_bytes();
    let (mut depth, mut deepest, mut at) = (0usize, 0usize, 0usize);
    while let Some(&byte) = bytes.get(at) {
        at += 1;
        match byte {
            b'"' => match string_end(bytes, at) {
                Some(end) => at = end,
                // Unterminated: not JSON, which the parse reports.
                None => break,
            },
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Just past the quote that closes the string whose contents start at
/// `from`, or `None` if it never closes.
fn string_end(bytes: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let rest = bytes.get(from..)?;
        let found = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[found] == b'"' {
            return Some(from + found + 1);
        }
        // An escape: its next byte is never the end of the string.
        from += found + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_sample_event() {
        let env = parse_envelope(
            crate::samples::sample_event("customer.created")
                .unwrap()
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(env.id, "evt_1PgcvGpWP4vWeUmAuvnGwuI9");
        assert_eq!(env.event_type, "customer.created");
        assert_eq!(env.created, 1721954100);
        assert_eq!(env.api_version.as_deref(), Some("2026-07-29.dahlia"));
        assert_eq!(env.object_id.as_deref(), Some("cus_QXg1o8vcGmoR32"));
        assert!(!env.livemode);
    }

    #[test]
    fn an_object_without_an_id_is_an_event() {
        let body = br#"{"id":"evt_1","type":"balance.available","created":1,
                        "data":{"object":{"object":"balance","available":[]}}}"#;
        let env = parse_envelope(body).unwrap();
        assert_eq!(env.event_type, "balance.available");
        assert_eq!(env.object_id, None);
    }

    #[test]
    fn rejects_what_is_not_an_event() {
        let cases: &[(&str, &str)] = &[
            (r#"[1,2]"#, "object"),
            (r#"{"id":"evt_1","type":"x.y","created":1}"#, "data.object"),
            (
                r#"{"id":"ch_1","type":"x.y","created":1,"data":{"object":{"id":"o"}}}"#,
                "evt_",
            ),
            (
                r#"{"id":"evt_1","created":1,"data":{"object":{"id":"o"}}}"#,
                "type",
            ),
            (
                r#"{"id":"evt_1","type":"x.y","data":{"object":{"id":"o"}}}"#,
                "created",
            ),
            (
                r#"{"id":"evt_1","type":"x.y","created":1,"data":{"object":{"id":""}}}"#,
                "empty id",
            ),
            (
                r#"{"id":"evt_1","type":"x.y","created":"soon","data":{"object":{"id":"o"}}}"#,
                "object",
            ),
        ];
        for (body, why) in cases {
            let err = parse_envelope(body.as_bytes()).unwrap_err();
            assert!(
                err.to_string().contains(why),
                "{body}: {err} should mention {why}"
            );
        }
        assert!(matches!(
            parse_envelope(b"{not json"),
            Err(EnvelopeError::NotJson(_))
        ));
        assert!(matches!(
            parse_envelope(b""),
            Err(EnvelopeError::NotJson(_))
        ));
    }

    #[test]
    fn an_array_is_not_an_event_even_with_the_fields_in_order() {
        let body =
            r#"["evt_x","customer.created",1721960000,null,false,null,{"object":{"id":"cus_x"}}]"#;
        assert_eq!(
            parse_envelope(body.as_bytes()),
            Err(EnvelopeError::NotAnEvent("expected a JSON object"))
        );
    }

    #[test]
    fn data_and_its_object_must_be_objects_too() {
        for body in [
            r#"{"id":"evt_1","type":"x.y","created":1,"data":{"object":["cus_x"]}}"#,
            r#"{"id":"evt_1","type":"x.y","created":1,"data":[{"id":"cus_x"}]}"#,
        ] {
            assert!(
                matches!(
                    parse_envelope(body.as_bytes()),
                    Err(EnvelopeError::NotAnEvent(_))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_even_in_fields_it_does_not_read() {
        let deep = format!("{}1{}", "[".repeat(MAX_NESTING), "]".repeat(MAX_NESTING));
        let body = |inner: &str| {
            format!(
                r#"{{"id":"evt_1","type":"x.y","created":1,"data":{{"object":{{"id":"o","x":{inner}}}}}}}"#
            )
        };
        assert!(matches!(
            parse_envelope(body(&deep).as_bytes()),
            Err(EnvelopeError::NotAnEvent(_))
        ));
        assert!(parse_envelope(body("[[1]]").as_bytes()).is_ok());
        // Brackets inside strings are text, not nesting.
        let text = format!("\"{}\\\"\"", "[".repeat(200));
        assert!(
            parse_envelope(body(&text).as_bytes()).is_ok(),
            "{}",
            body(&text)
        );
    }

    #[test]
    fn nesting_counts_brackets_outside_strings_only() {
        assert_eq!(nesting_depth(r#"{"a":[{"b":[]}]}"#), 4);
        assert_eq!(
            nesting_depth(r#"{"a":"[[[{{{"}"#),
            1,
            "brackets in a string"
        );
        assert_eq!(
            nesting_depth(r#"{"a":"\\","b":[[1]]}"#),
            3,
            "an escaped backslash ends no string early"
        );
        assert_eq!(
            nesting_depth(r#"{"a":"\"[[["}"#),
            1,
            "an escaped quote ends no string"
        );
        assert_eq!(
            nesting_depth(r#"{"a":"[[[\"#),
            1,
            "unterminated after an escape"
        );
        assert_eq!(nesting_depth(r#"[[["#), 3);
    }

    /// The scan that skips strings agrees with a walk over every byte, on
    /// texts made of the bytes that matter to it.
    #[test]
    fn nesting_agrees_with_a_byte_by_byte_walk() {
        /// Where the walk is: outside strings at some depth, or inside
        /// one, just after a backslash or not.
        #[derive(Clone, Copy)]
        enum At {
            Outside(usize),
            InString(usize),
            AfterEscape(usize),
        }
        fn walked(json: &str) -> usize {
            let mut deepest = 0;
            let mut at = At::Outside(0);
            for c in json.chars() {
                at = match (at, c) {
                    (At::AfterEscape(d), _) => At::InString(d),
                    (At::InString(d), '\\') => At::AfterEscape(d),
                    (At::InString(d), '"') | (At::Outside(d), ' ' | 'a' | '\\') => At::Outside(d),
                    (At::InString(d), _) | (At::Outside(d), '"') => At::InString(d),
                    (At::Outside(d), '[' | '{') => {
                        deepest = deepest.max(d + 1);
                        At::Outside(d + 1)
                    }
                    // The alphabet's last bytes: the closing brackets.
                    (At::Outside(d), _) => At::Outside(d.saturating_sub(1)),
                };
            }
            deepest
        }
        let mut rng = fastrand::Rng::with_seed(23);
        let alphabet = ['"', '\\', '[', ']', '{', '}', 'a', ' '];
        for _ in 0..20_000 {
            let len = rng.usize(0..40);
            let text: String = (0..len)
                .map(|_| alphabet[rng.usize(0..alphabet.len())])
                .collect();
            assert_eq!(nesting_depth(&text), walked(&text), "{text:?}");
        }
    }

    /// Found by the `envelope` fuzz target: invalid UTF-8 in a field the
    /// envelope does not read was accepted, though such a body is not JSON.
    #[test]
    fn rejects_invalid_utf8_even_in_fields_it_does_not_read() {
        let body = b"{\"id\":\"evt_1\",\"type\":\"x.y\",\"created\":1,\
                     \"data\":{\"object\":{\"id\":\"o\",\"url\":\"/v1/subs\x98\x8dription\"}}}";
        let err = parse_envelope(body).unwrap_err();
        assert!(
            matches!(&err, EnvelopeError::NotJson(why) if why.contains("UTF-8")),
            "{err}"
        );
    }
}
