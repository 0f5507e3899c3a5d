//! The OpenAPI document of the Assistants API
//! (`../shared/openapi/assistants-v2.json`), read in place by the tests that
//! derive their cases from it: schemas with their `$ref`s resolved, and the
//! smallest valid value of a schema; and the objects on the embedded server
//! that a request's path and body name.
#![allow(dead_code)]

use crate::server_support::Harness;
use serde_json::{Map, Value, json};

const PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/openapi/assistants-v2.json"
);

/// Values a request takes from the server's state, by property name (the id
/// of an assistant, of a tool call): `None` for any other property.
pub type Fill<'a> = &'a dyn Fn(&str) -> Option<Value>;

pub struct Spec {
    doc: Value,
}

impl Spec {
    pub fn load() -> Spec {
        let text = std::fs::read_to_string(PATH).unwrap_or_else(|err| panic!("{PATH}: {err}"));
        Spec {
            doc: serde_json::from_str(&text).expect("the OpenAPI document is JSON"),
        }
    }

    /// The POST operations of the Assistants routes (`/assistants...`,
    /// `/threads...`) that take a JSON body: (path template, body schema).
    pub fn request_bodies(&self) -> Vec<(String, &Value)> {
        let mut bodies = Vec::new();
        for (path, item) in self.doc["paths"].as_object().expect("paths") {
            if !(path.starts_with("/assistants") || path.starts_with("/threads")) {
                continue;
            }
            if let Some(schema) = item.pointer("/post/requestBody/content/application~1json/schema")
            {
                bodies.push((path.clone(), self.resolve(schema)));
            }
        }
        bodies
    }

    /// Follows `$ref`s to the schema they name.
    pub fn resolve<'a>(&'a self, mut schema: &'a Value) -> &'a Value {
        while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("external $ref {reference}"));
            schema = self
                .doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {reference}"));
        }
        schema
    }

    /// The shapes a schema allows, `null` left out: the members of
    /// `oneOf`/`anyOf`, the schema of an `allOf` (whose other members only
    /// annotate, as `{"nullable": true}`), or the schema itself.
    pub fn alternatives<'a>(&'a self, schema: &'a Value) -> Vec<&'a Value> {
        let schema = self.resolve(schema);
        if let Some(members) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array)
        {
            return members
                .iter()
                .flat_map(|member| self.alternatives(member))
                .collect();
        }
        if let Some(members) = schema.get("allOf").and_then(Value::as_array) {
            return members
                .iter()
                .filter(|member| !is_annotation(member))
                .flat_map(|member| self.alternatives(member))
                .collect();
        }
        if schema.get("type").and_then(Value::as_str) == Some("null") {
            return Vec::new();
        }
        vec![schema]
    }

    /// The smallest valid value of a schema (of its first alternative):
    /// the first `enum` value, `"x"`, the `minimum` or 1, an object of its
    /// required properties.
    pub fn minimal(&self, schema: &Value, fill: Fill<'_>) -> Value {
        let Some(schema) = self.alternatives(schema).into_iter().next() else {
            return Value::Null;
        };
        if let Some(first) = schema
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|values| values.iter().find(|v| !v.is_null()))
        {
            return first.clone();
        }
        match schema.get("type").and_then(Value::as_str) {
            Some("string") => json!("x"),
            Some("integer") | Some("number") => {
                schema.get("minimum").cloned().unwrap_or_else(|| json!(1))
            }
            Some("boolean") => json!(false),
            Some("array") => {
                let min_items = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0);
                (0..min_items)
                    .map(|_| self.minimal(&schema["items"], fill))
                    .collect()
            }
            _ => Value::Object(self.minimal_object(schema, fill)),
        }
    }

    /// An object of its required properties, and of those `fill` knows.
    pub fn minimal_object(&self, schema: &Value, fill: Fill<'_>) -> Map<String, Value> {
        let required = required(schema);
        let mut object = Map::new();
        for (name, property) in properties(schema) {
            if let Some(value) = fill(name) {
                object.insert(name.clone(), value);
            } else if required.contains(&name.as_str()) {
                object.insert(name.clone(), self.minimal(property, fill));
            }
        }
        object
    }
}

/// A member of `allOf` that only annotates (`{"nullable": true}`).
fn is_annotation(schema: &Value) -> bool {
    schema.as_object().is_some_and(|object| {
        ["$ref", "type", "properties", "oneOf", "anyOf", "enum"]
            .iter()
            .all(|key| !object.contains_key(*key))
    })
}

/// The properties of an object schema, by name.
pub fn properties(schema: &Value) -> Vec<(&String, &Value)> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|properties| properties.iter().collect())
        .unwrap_or_default()
}

/// The names an object schema requires.
pub fn required(schema: &Value) -> Vec<&str> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// A readable name for the `i`th alternative of a schema: its `type` tag,
/// its `enum`, its title, or `i`.
pub fn alternative_name(schema: &Value, i: usize) -> String {
    if let Some(tag) = schema
        .pointer("/properties/type/enum/0")
        .and_then(Value::as_str)
    {
        return tag.to_owned();
    }
    if let Some(values) = schema.get("enum") {
        return values.to_string();
    }
    schema
        .get("title")
        .and_then(Value::as_str)
        .map_or_else(|| i.to_string(), str::to_owned)
}

/// The ids of what a request names.
pub struct Ids {
    pub assistant_id: String,
    pub tool_call_id: Option<String>,
}

impl Ids {
    /// The value of a property that names an object (an `*_id`, the
    /// outputs for the pending call); `None` for others.
    pub fn fill(&self, property: &str) -> Option<Value> {
        let call = self.tool_call_id.as_ref();
        match property {
            "assistant_id" => Some(json!(self.assistant_id)),
            "tool_call_id" => call.map(|id| json!(id)),
            "output" => call.map(|_| json!("ok")),
            "tool_outputs" => call.map(|id| json!([{"tool_call_id": id, "output": "ok"}])),
            // The server does not look files up: any id names one.
            other => other
                .strip_suffix("_id")
                .map(|kind| json!(format!("{kind}-1"))),
        }
    }
}

/// Makes what a path's parameters name, fresh for each request (a run
/// locks its thread): the concrete path and the ids a body names.
pub async fn prepare(h: &Harness, template: &str) -> (String, Ids) {
    let assistant_id = h.assistant(&["lookup"]).await;
    let mut path = template.replace("{assistant_id}", &assistant_id);
    let mut tool_call_id = None;
    if template.contains("{thread_id}") {
        let needs_run = template.contains("{run_id}");
        let thread_id = h
            .thread(if needs_run {
                "/tool lookup {}"
            } else {
                "hello"
            })
            .await;
        path = path.replace("{thread_id}", &thread_id);
        if template.contains("{message_id}") {
            let message = h
                .ok(
                    &format!("/threads/{thread_id}/messages"),
                    json!({"role": "user", "content": "more"}),
                )
                .await;
            path = path.replace("{message_id}", message["id"].as_str().unwrap());
        }
        if needs_run {
            let run = h
                .ok(
                    &format!("/threads/{thread_id}/runs"),
                    json!({"assistant_id": assistant_id}),
                )
                .await;
            let run_id = run["id"].as_str().unwrap();
            let waiting = h
                .poll_status(&thread_id, run_id, &["requires_action"])
                .await;
            tool_call_id = waiting
                .pointer("/required_action/submit_tool_outputs/tool_calls/0/id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            path = path.replace("{run_id}", run_id);
        }
    }
    assert!(!path.contains('{'), "a path parameter is not made: {path}");
    (
        path,
        Ids {
            assistant_id,
            tool_call_id,
        },
    )
}
