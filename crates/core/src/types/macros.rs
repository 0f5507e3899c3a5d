//! Declarative helpers for the two enum shapes the API uses everywhere:
//! string enums that gain new values over time, and objects tagged by `type`.
//!
//! Both keep what they do not know (`Unknown`), so a new status or a new
//! content type never breaks a stream.

/// A string enum with an `Unknown(String)` catch-all.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this version of the crate does not know, kept as sent.
            Unknown(String),
        }

        impl $name {
            /// The value as it appears on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $value, )*
                    Self::Unknown(other) => other,
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = ::std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(match s {
                    $( $value => Self::$variant, )*
                    other => Self::Unknown(other.to_owned()),
                })
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> ::serde::de::Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        f.write_str(concat!("a string (", stringify!($name), ")"))
                    }
                    fn visit_str<E: ::serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok(v.parse().unwrap_or_else(|never| match never {}))
                    }
                }
                deserializer.deserialize_str(V)
            }
        }
    };
}

/// An object tagged by its `type` field, with an `Unknown(Value)` catch-all
/// that keeps the raw JSON. Each variant's payload is a struct holding the
/// object's other fields.
macro_rules! tagged_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident($payload:ty) = $tag:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant($payload), )*
            /// A `type` this version of the crate does not know, kept as the raw JSON object.
            Unknown(::serde_json::Value),
        }

        impl $name {
            /// The `type` tag of this object.
            pub fn type_name(&self) -> &str {
                match self {
                    $( Self::$variant(_) => $tag, )*
                    Self::Unknown(raw) => raw.get("type").and_then(|t| t.as_str()).unwrap_or(""),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $( Self::$variant(payload) => $crate::types::tagged::serialize_tagged(serializer, $tag, payload), )*
                    Self::Unknown(raw) => ::serde::Serialize::serialize(raw, serializer),
                }
            }
        }

        impl $crate::types::tagged::TaggedVariants for $name {
            const NAME: &'static str = stringify!($name);
            const TAGS: &'static [&'static str] = &[$( $tag ),*];
            fn is_known(tag: &str) -> bool {
                matches!(tag, $( $tag )|*)
            }
            fn deserialize_variant<'de, D: ::serde::Deserializer<'de>>(
                tag: &str,
                body: D,
            ) -> Result<Self, D::Error> {
                match tag {
                    $( $tag => <$payload as ::serde::Deserialize>::deserialize(body).map(Self::$variant), )*
                    _ => Err(<D::Error as ::serde::de::Error>::custom("unreachable tag")),
                }
            }
            fn unknown(raw: ::serde_json::Value) -> Self {
                Self::Unknown(raw)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::types::tagged::deserialize_tagged(deserializer)
            }
        }
    };
}
