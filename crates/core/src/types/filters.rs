//! The filters of a vector store search (`ComparisonFilter` and
//! `CompoundFilter` in the whole API's OpenAPI document), and what they
//! match: [`Filter::matches`] a file's attributes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// A search filter over the attributes of vector store files.
///
/// ```
/// use assistant_stream::types::Filter;
/// use serde_json::json;
///
/// let filter: Filter = serde_json::from_value(json!({"type": "and", "filters": [
///     {"type": "eq", "key": "author", "value": "Ann"},
///     {"type": "gte", "key": "year", "value": 2020},
/// ]}))?;
/// let attributes = json!({"author": "Ann", "year": 2023});
/// assert!(filter.matches(attributes.as_object().unwrap()));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Filter {
    /// `eq`, `ne`, `gt`, `gte`, `lt`, `lte`, `in` or `nin` of one attribute.
    Compare {
        /// The operator.
        op: CompareOp,
        /// The attribute.
        key: String,
        /// A string, number or boolean; a list for `in` and `nin`.
        value: Value,
    },
    /// Every filter matches (`and`; an empty list matches everything).
    And(Vec<Filter>),
    /// Some filter matches (`or`; an empty list matches nothing).
    Or(Vec<Filter>),
    /// A shape this version does not know, kept as sent: it matches nothing.
    Unknown(Value),
}

string_enum! {
    /// A comparison of a [`Filter`].
    pub enum CompareOp {
        /// Equal.
        Eq = "eq",
        /// Not equal.
        Ne = "ne",
        /// Greater than.
        Gt = "gt",
        /// Greater than or equal.
        Gte = "gte",
        /// Less than.
        Lt = "lt",
        /// Less than or equal.
        Lte = "lte",
        /// One of a list.
        In = "in",
        /// None of a list.
        Nin = "nin",
    }
}

impl Filter {
    /// Whether a file with these attributes matches.
    ///
    /// An attribute the file does not have matches no comparison (`ne` and
    /// `nin` included), as `NULL` compares in SQL. Numbers compare by value
    /// (`1` equals `1.0`), strings by their bytes (so ISO dates order by
    /// time); a string and a number are never equal and never ordered.
    pub fn matches(&self, attributes: &Map<String, Value>) -> bool {
        match self {
            Filter::Compare { op, key, value } => match attributes.get(key) {
                None | Some(Value::Null) => false,
                Some(attribute) => compare(op, attribute, value),
            },
            Filter::And(filters) => filters.iter().all(|f| f.matches(attributes)),
            Filter::Or(filters) => filters.iter().any(|f| f.matches(attributes)),
            Filter::Unknown(_) => false,
        }
    }
}

fn compare(op: &CompareOp, attribute: &Value, value: &Value) -> bool {
    match op {
        CompareOp::Eq => same(attribute, value),
        CompareOp::Ne => !same(attribute, value),
        CompareOp::Gt => order(attribute, value) == Some(Ordering::Greater),
        CompareOp::Gte => matches!(
            order(attribute, value),
            Some(Ordering::Greater | Ordering::Equal)
        ),
        CompareOp::Lt => order(attribute, value) == Some(Ordering::Less),
        CompareOp::Lte => matches!(
            order(attribute, value),
            Some(Ordering::Less | Ordering::Equal)
        ),
        CompareOp::In => value
            .as_array()
            .is_some_and(|list| list.iter().any(|item| same(attribute, item))),
        CompareOp::Nin => value
            .as_array()
            .is_some_and(|list| !list.iter().any(|item| same(attribute, item))),
        CompareOp::Unknown(_) => false,
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

impl Serialize for Filter {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Filter::Compare { op, key, value } => {
                serde_json::json!({"type": op, "key": key, "value": value}).serialize(serializer)
            }
            Filter::And(filters) => {
                serde_json::json!({"type": "and", "filters": filters}).serialize(serializer)
            }
            Filter::Or(filters) => {
                serde_json::json!({"type": "or", "filters": filters}).serialize(serializer)
            }
            Filter::Unknown(raw) => raw.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Filter::from_value(Value::deserialize(deserializer)?))
    }
}

impl Filter {
    fn from_value(raw: Value) -> Filter {
        let kind = raw.get("type").and_then(Value::as_str).unwrap_or("eq");
        match kind {
            "and" | "or" => {
                let Some(items) = raw.get("filters").and_then(Value::as_array) else {
                    return Filter::Unknown(raw);
                };
                let filters = items.iter().cloned().map(Filter::from_value).collect();
                if kind == "and" {
                    Filter::And(filters)
                } else {
                    Filter::Or(filters)
                }
            }
            op => {
                let op: CompareOp = op.parse().unwrap_or_else(|never| match never {});
                match (
                    &op,
                    raw.get("key").and_then(Value::as_str),
                    raw.get("value"),
                ) {
                    (CompareOp::Unknown(_), _, _) | (_, None, _) | (_, _, None) => {
                        Filter::Unknown(raw)
                    }
                    (_, Some(key), Some(value)) => Filter::Compare {
                        key: key.to_owned(),
                        value: value.clone(),
                        op,
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter(value: Value) -> Filter {
        serde_json::from_value(value).unwrap()
    }

    fn attributes(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn comparisons_match_as_documented() {
        let file = attributes(
            json!({"author": "Ann", "year": 2023, "date": "2023-05-01", "draft": false}),
        );
        let cases = [
            (json!({"type": "eq", "key": "author", "value": "Ann"}), true),
            (json!({"key": "author", "value": "Ann"}), true),
            (json!({"type": "eq", "key": "year", "value": 2023.0}), true),
            (json!({"type": "ne", "key": "author", "value": "Bob"}), true),
            (json!({"type": "gt", "key": "year", "value": 2020}), true),
            (json!({"type": "gte", "key": "year", "value": 2023}), true),
            (json!({"type": "lt", "key": "year", "value": 2023}), false),
            (
                json!({"type": "lte", "key": "date", "value": "2023-12-31"}),
                true,
            ),
            (json!({"type": "gt", "key": "author", "value": 5}), false),
            (json!({"type": "eq", "key": "draft", "value": false}), true),
            (
                json!({"type": "in", "key": "author", "value": ["Bob", "Ann"]}),
                true,
            ),
            (
                json!({"type": "nin", "key": "year", "value": [2022, 2024]}),
                true,
            ),
            (
                json!({"type": "nin", "key": "year", "value": [2023]}),
                false,
            ),
            // A missing attribute matches nothing, `ne` included.
            (json!({"type": "ne", "key": "missing", "value": "x"}), false),
            (
                json!({"type": "nin", "key": "missing", "value": ["x"]}),
                false,
            ),
            (json!({"type": "and", "filters": []}), true),
            (json!({"type": "or", "filters": []}), false),
            (
                json!({"type": "or", "filters": [
                {"type": "eq", "key": "author", "value": "Bob"},
                {"type": "and", "filters": [
                    {"type": "gte", "key": "year", "value": 2020},
                    {"type": "eq", "key": "draft", "value": false}]}]}),
                true,
            ),
            (
                json!({"type": "like", "key": "author", "value": "A%"}),
                false,
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(filter(raw.clone()).matches(&file), expected, "{raw}");
        }
    }

    #[test]
    fn filters_write_back_what_they_read() {
        let raw = json!({"type": "or", "filters": [
            {"type": "eq", "key": "a", "value": 1},
            {"type": "and", "filters": [{"type": "in", "key": "b", "value": ["x", "y"]}]},
            {"type": "like", "key": "c", "value": "z"}]});
        assert_eq!(serde_json::to_value(filter(raw.clone())).unwrap(), raw);
    }
}
