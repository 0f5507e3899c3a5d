//! One-pass (de)serialization of objects tagged by `type`.
//!
//! serde's internally tagged enums buffer the whole object before choosing a
//! variant and cannot keep unknown variants as raw JSON. The API puts `type`
//! near the front of each object (after `index` in deltas), so this reads keys
//! until it meets `type`, buffers only those, and deserializes the rest of the
//! object straight into the variant's payload.

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::marker::PhantomData;

/// Implemented by `tagged_enum!` for each tagged enum.
#[doc(hidden)]
pub trait TaggedVariants: Sized {
    const NAME: &'static str;
    /// The known tags, in declaration order (the server lists them in errors).
    const TAGS: &'static [&'static str];
    fn is_known(tag: &str) -> bool;
    fn deserialize_variant<'de, D: Deserializer<'de>>(tag: &str, body: D)
    -> Result<Self, D::Error>;
    fn unknown(raw: Value) -> Self;
}

pub(crate) fn serialize_tagged<S: Serializer, T: Serialize>(
    serializer: S,
    tag: &'static str,
    payload: &T,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Tagged<'a, T> {
        #[serde(rename = "type")]
        tag: &'static str,
        #[serde(flatten)]
        payload: &'a T,
    }
    Tagged { tag, payload }.serialize(serializer)
}

pub(crate) fn deserialize_tagged<'de, D: Deserializer<'de>, T: TaggedVariants>(
    deserializer: D,
) -> Result<T, D::Error> {
    deserializer.deserialize_map(TaggedVisitor(PhantomData))
}

struct TaggedVisitor<T>(PhantomData<T>);

impl<'de, T: TaggedVariants> Visitor<'de> for TaggedVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a JSON object with a `type` field ({})", T::NAME)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut before_tag = BeforeTag::default();
        let tag = loop {
            match map.next_key::<Key<'de>>()? {
                Some(key) if key.as_str() == "type" => break map.next_value::<Key<'de>>()?,
                Some(key) => {
                    let value = map.next_value::<Value>()?;
                    before_tag.push(key, value);
                }
                None => {
                    // No tag at all: keep what was sent rather than fail the event.
                    return Ok(T::unknown(Value::Object(before_tag.into_map())));
                }
            }
        };
        if T::is_known(tag.as_str()) {
            T::deserialize_variant(
                tag.as_str(),
                ChainedMap {
                    before: before_tag,
                    pending: None,
                    rest: map,
                },
            )
        } else {
            let mut raw = before_tag.into_map();
            raw.insert("type".to_owned(), Value::String(tag.into_owned()));
            while let Some((key, value)) = map.next_entry::<String, Value>()? {
                raw.insert(key, value);
            }
            Ok(T::unknown(Value::Object(raw)))
        }
    }
}

/// A map key or tag, borrowed from the input when the input allows it.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }

    fn into_owned(self) -> String {
        match self {
            Key::Borrowed(s) => s.to_owned(),
            Key::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Entries read before the tag. Usually one (`index`), so the first is kept
/// inline and only further ones allocate.
#[derive(Default)]
struct BeforeTag<'de> {
    first: Option<(Key<'de>, Value)>,
    more: std::collections::VecDeque<(Key<'de>, Value)>,
}

impl<'de> BeforeTag<'de> {
    fn push(&mut self, key: Key<'de>, value: Value) {
        if self.first.is_none() && self.more.is_empty() {
            self.first = Some((key, value));
        } else {
            self.more.push_back((key, value));
        }
    }

    fn pop(&mut self) -> Option<(Key<'de>, Value)> {
        self.first.take().or_else(|| self.more.pop_front())
    }

    fn into_map(mut self) -> Map<String, Value> {
        let mut map = Map::new();
        while let Some((key, value)) = self.pop() {
            map.insert(key.into_owned(), value);
        }
        map
    }
}

/// The entries read before the tag, then the rest of the original map.
struct ChainedMap<'de, A> {
    before: BeforeTag<'de>,
    pending: Option<Value>,
    rest: A,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for ChainedMap<'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        if let Some((key, value)) = self.before.pop() {
            self.pending = Some(value);
            return match key {
                Key::Borrowed(key) => seed
                    .deserialize(de::value::BorrowedStrDeserializer::new(key))
                    .map(Some),
                Key::Owned(key) => seed.deserialize(key.into_deserializer()).map(Some),
            };
        }
        self.rest.next_key_seed(seed)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        match self.pending.take() {
            Some(value) => seed.deserialize(value).map_err(de::Error::custom),
            None => self.rest.next_value_seed(seed),
        }
    }
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for ChainedMap<'de, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// `null` and a missing field both mean the type's default (an empty list, say).
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
