//! Tolerant reads from a Stripe object: a wrong shape reads as absent.
//!
//! The object an event carries is held as [`StripeObject`]: its JSON text
//! and where each top-level field's value lies in it, found in one pass
//! that allocates nothing per field. A field is parsed only when a kind
//! reads it, and straight into what it is read as (a string, a number),
//! never through a tree of values: reading an event's fields was most of a
//! worker's CPU while every field became a `Value` first.

use std::{borrow::Cow, fmt, ops::Range};

use serde::{
    Deserialize, Deserializer,
    de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor},
};
use serde_json::{Value, value::RawValue};

#[derive(Default)]
pub struct StripeObject {
    /// The object's JSON text, or the whole body of the event it came in.
    text: String,
    holds: Holds,
    /// Each top-level field of the object: its key and the span of its
    /// value in `text`, in the order they came.
    fields: Vec<(Key, Range<usize>)>,
}

/// What `StripeObject::text` is.
#[derive(Default)]
enum Holds {
    #[default]
    Object,
    /// An event's body, its object at `data.object`: kept whole, so the
    /// object is found in the one pass that reads the body.
    Event,
}

/// A field's name: where it lies in the text, or, if it was written with
/// escapes, its unescaped form.
enum Key {
    At(Range<usize>),
    Escaped(Box<str>),
}

impl StripeObject {
    /// `data.object` of an event's body. Anything but an object, or a body
    /// that does not parse, reads as an empty object, which every kind
    /// refuses (no id): a permanent, per-event failure. The body is kept
    /// as it came, not copied.
    pub fn of_event(body: String) -> Self {
        let fields = index_event(&body);
        match fields {
            Ok(fields) => Self {
                text: body,
                holds: Holds::Event,
                fields,
            },
            Err(_) => Self::default(),
        }
    }

    /// An object from its JSON text; anything but an object is an error.
    fn from_text(text: String) -> Result<Self, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_str(&text);
        let fields = deserializer.deserialize_map(IndexFields { text: &text })?;
        deserializer.end()?;
        Ok(Self {
            text,
            holds: Holds::Object,
            fields,
        })
    }

    /// A field's JSON text as it came, unparsed. A field named twice reads
    /// as its last value, as a JSON object's would.
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(name, _)| self.name(name) == key)
            .map(|(_, value)| &self.text[value.clone()])
    }

    /// The object as JSON text, its fields as they came.
    pub fn to_json(&self) -> String {
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
        match self.holds {
            Holds::Object if !self.text.is_empty() => self.text.clone(),
            Holds::Event => serde_json::from_str::<Event<'_>>(&self.text)
                .map_or_else(|_| "{}".into(), |event| event.data.object.get().to_owned()),
            Holds::Object => "{}".into(),
        }
    }

    fn name<'a>(&'a self, key: &'a Key) -> &'a str {
        match key {
            Key::At(span) => &self.text[span.clone()],
            Key::Escaped(name) => name,
        }
    }
}

/// Where each field of an event body's `data.object` lies in the body.
fn index_event(body: &str) -> Result<Vec<(Key, Range<usize>)>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(body);
    let fields = deserializer.deserialize_map(Member {
        name: "data",
        inner: Member {
            name: "object",
            inner: IndexFields { text: body },
        },
    })?;
    deserializer.end()?;
    Ok(fields)
}

impl fmt::Debug for StripeObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StripeObject").field(&self.text).finish()
    }
}

impl<'de> Deserialize<'de> for StripeObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Self::from_text(Box::<str>::from(raw).into()).map_err(de::Error::custom)
    }
}

/// Reads the one member `name` of an object with `inner`, skipping the
/// others; an object without it, or with it twice, is an error.
#[derive(Clone, Copy)]
struct Member<V> {
    name: &'static str,
    inner: V,
}

impl<'de, V: Visitor<'de> + Copy> Visitor<'de> for Member<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object with `{}`", self.name)
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Name<'de>>()? {
            if key.as_str() != self.name {
                map.next_value::<IgnoredAny>()?;
            } else if found.is_some() {
                return Err(de::Error::duplicate_field(self.name));
            } else {
                found = Some(map.next_value_seed(AsMap(self.inner))?);
            }
        }
        found.ok_or_else(|| de::Error::missing_field(self.name))
    }
}

/// Deserializes an object with the visitor it holds.
struct AsMap<V>(V);

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for AsMap<V> {
    type Value = V::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        deserializer.deserialize_map(self.0)
    }
}

/// Finds each top-level field of the object `text` holds, as spans of it.
#[derive(Clone, Copy)]
struct IndexFields<'a> {
    text: &'a str,
}

impl<'de> Visitor<'de> for IndexFields<'de> {
    type Value = Vec<(Key, Range<usize>)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut fields = Vec::new();
        while let Some(name) = map.next_key::<Name<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            let key = match name {
                Name::Borrowed(name) => Key::At(span(self.text, name)),
                Name::Owned(name) => Key::Escaped(name.into()),
            };
            fields.push((key, span(self.text, value.get())));
        }
        Ok(fields)
    }
}

/// Where `part`, a slice of `text`, lies in it.
fn span(text: &str, part: &str) -> Range<usize> {
    let start = (part.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    debug_assert!(start + part.len() <= text.len(), "a slice of the text");
    start..start + part.len()
}

/// A field name, borrowed from the text unless it had escapes.
enum Name<'a> {
    Borrowed(&'a str),
    Owned(String),
}

impl Name<'_> {
    fn as_str(&self) -> &str {
        match self {
            Name::Borrowed(name) => name,
            Name::Owned(name) => name,
        }
    }
}

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E>(self, name: &'de str) -> Result<Self::Value, E> {
                Ok(Name::Borrowed(name))
            }
            fn visit_str<E>(self, name: &str) -> Result<Self::Value, E> {
                Ok(Name::Owned(name.to_owned()))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

/// Something with named fields: a [`StripeObject`], or a parsed value
/// inside one (a subscription item).
pub trait Fields {
    /// A field parsed as a `T`; absent, null or of another shape, `None`.
    fn read<T: DeserializeOwned>(&self, key: &str) -> Option<T>;

    /// A field as a value, for reading inside it.
    fn field(&self, key: &str) -> Option<Cow<'_, Value>>;
}

impl Fields for StripeObject {
    /// A field that is not valid to parse (a number beyond f64, say) reads
    /// as absent, like any other wrong shape.
    fn read<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        serde_json::from_str(self.raw(key)?).ok()
    }

    fn field(&self, key: &str) -> Option<Cow<'_, Value>> {
        self.read(key).map(Cow::Owned)
    }
}

impl Fields for Value {
    fn read<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        T::deserialize(self.get(key)?).ok()
    }

    fn field(&self, key: &str) -> Option<Cow<'_, Value>> {
        self.get(key).map(Cow::Borrowed)
    }
}

pub fn string(object: &impl Fields, key: &str) -> Option<String> {
    object.read(key)
}

pub fn integer(object: &impl Fields, key: &str) -> Option<i64> {
    object.read(key)
}

pub fn boolean(object: &impl Fields, key: &str) -> Option<bool> {
    object.read(key)
}

/// A number that may have a fraction (a coupon's `percent_off` 25.5).
pub fn decimal(object: &impl Fields, key: &str) -> Option<f64> {
    object.read(key)
}

/// `metadata`, or `{}` when it is absent or not an object.
pub fn metadata(object: &impl Fields) -> Value {
    match object.read("metadata") {
        Some(m @ Value::Object(_)) => m,
        _ => Value::Object(Default::default()),
    }
}

/// An expandable reference: `"cus_123"` or an expanded `{"id": "cus_123", ...}`.
pub fn reference(object: &impl Fields, key: &str) -> Option<String> {
    match object.read(key)? {
        Reference::Id(id) if !id.is_empty() => Some(id),
        Reference::Id(_) => None,
        Reference::Expanded(id) => id,
    }
}

/// A field holding an object (`recurring`), parsed, for reading inside it.
pub fn field_value(object: &impl Fields, key: &str) -> Option<Value> {
    let value = object.field(key)?;
    value.is_object().then(|| value.into_owned())
}

/// An expandable reference as it came: an id, or an object and its id if
/// that is a string.
pub(crate) enum Reference {
    Id(String),
    Expanded(Option<String>),
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ReferenceVisitor;
        impl<'de> Visitor<'de> for ReferenceVisitor {
            type Value = Reference;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id or an object")
            }
            fn visit_str<E>(self, id: &str) -> Result<Reference, E> {
                Ok(Reference::Id(id.to_owned()))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Reference, M::Error> {
                let mut id = None;
                while let Some(key) = map.next_key::<Name<'de>>()? {
                    if key.as_str() == "id" {
                        id = map.next_value::<Value>()?.as_str().map(str::to_owned);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Reference::Expanded(id))
            }
        }
        deserializer.deserialize_any(ReferenceVisitor)
    }
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
        let items = o.field("items").unwrap();
        assert_eq!(
            crate::items::first_element(&items).and_then(|i| integer(i, "quantity")),
            Some(3)
        );
    }

    #[test]
    fn an_event_reads_as_its_object_and_its_fields_as_they_came() {
        let body = r#"{"id":"evt_1","data":{"object":{"id":"cus_1","n":1,"n":2,"na\u006de":"x"}},"type":"t"}"#;
        let object = StripeObject::of_event(body.into());
        assert_eq!(string(&object, "id").as_deref(), Some("cus_1"));
        assert_eq!(
            integer(&object, "n"),
            Some(2),
            "a repeated field reads as its last"
        );
        assert_eq!(
            string(&object, "name").as_deref(),
            Some("x"),
            "an escaped name"
        );
        assert_eq!(
            object.to_json(),
            r#"{"id":"cus_1","n":1,"n":2,"na\u006de":"x"}"#
        );
        let twice = r#"{"data":{"object":{"id":"a"}},"data":{"object":{"id":"b"}}}"#;
        for broken in [
            r#"{"data":{"object":[1]}}"#,
            r#"{"data":{}}"#,
            twice,
            "not json",
        ] {
            assert_eq!(
                StripeObject::of_event(broken.into()).raw("id"),
                None,
                "{broken}"
            );
        }
    }

    #[test]
    fn references_read_either_form() {
        let o = object(
            r#"{"items":{"object":"list","data":[{"id":"si_1"},{"id":"si_2"}]},
                "price":{"id":7},"blank":""}"#,
        );
        let items = o.field("items").unwrap();
        let first = crate::items::first_element(&items).unwrap();
        assert_eq!(
            reference(&o, "price"),
            None,
            "an object whose id is no string"
        );
        assert_eq!(reference(&o, "blank"), None, "an empty id");
        assert_eq!(reference(first, "id").as_deref(), Some("si_1"));
    }
}
