//! The OpenAPI documents of `../shared/openapi/` (the Assistants API's
//! `assistants-v2.json`; the whole public API's `openai-openapi.json`),
//! read in place by the tests that derive their cases from them: schemas
//! with their `$ref`s resolved and their `allOf`s merged, the smallest valid
//! value of a schema, and whether a value has a schema's shape; and the
//! objects on the embedded server that a request's path and body name.
#![allow(dead_code)]

use crate::server_support::Harness;
use serde_json::{Map, Value, json};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/openapi/");

/// Values a request takes from the server's state, by property name (the id
/// of an assistant, of a tool call): `None` for any other property.
pub type Fill<'a> = &'a dyn Fn(&str) -> Option<Value>;

pub struct Spec {
    doc: Value,
}

impl Spec {
    /// The Assistants API's document, `assistants-v2.json`.
    pub fn load() -> Spec {
        Spec::load_file("assistants-v2.json")
    }

    /// A document of `../shared/openapi/` by file name (`openai-openapi.json`
    /// for the whole public API), its `allOf`s merged (see [`merge_all_of`]).
    pub fn load_file(name: &str) -> Spec {
        let path = format!("{DIR}{name}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"));
        let mut doc = serde_json::from_str(&text)
            .unwrap_or_else(|err| panic!("{path}: the OpenAPI document is not JSON: {err}"));
        merge_all_of(&mut doc);
        Spec { doc }
    }

    /// `#/components/schemas/NAME`.
    pub fn schema(&self, name: &str) -> &Value {
        self.doc
            .pointer(&format!("/components/schemas/{name}"))
            .unwrap_or_else(|| panic!("no schema {name} in the document"))
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

    /// An object of its required properties (those `required` names, and
    /// those whose description says they are, see [`Spec::prose_required`]),
    /// and of those `fill` knows.
    pub fn minimal_object(&self, schema: &Value, fill: Fill<'_>) -> Map<String, Value> {
        let required = required(schema);
        let mut object = Map::new();
        for (name, property) in properties(schema) {
            if let Some(value) = fill(name) {
                object.insert(name.clone(), value);
            } else if required.contains(&name.as_str()) || self.prose_required(property) {
                object.insert(name.clone(), self.minimal(property, fill));
            }
        }
        object
    }

    /// Whether a property the schema does not list in `required` is
    /// required by its description: `Required unless …` (an assistant
    /// message's `content`, "Required unless `tool_calls` or
    /// `function_call` is specified"), which a minimal value, having neither,
    /// must give.
    pub fn prose_required(&self, property: &Value) -> bool {
        let property = self.resolve(property);
        let says = |schema: &Value| {
            schema
                .get("description")
                .and_then(Value::as_str)
                .is_some_and(|text| text.contains("Required unless"))
        };
        says(property)
            || property
                .get("oneOf")
                .or_else(|| property.get("anyOf"))
                .and_then(Value::as_array)
                .is_some_and(|members| members.iter().any(|m| says(self.resolve(m))))
    }

    /// Whether a schema allows `null`: `nullable` (beside a `$ref` too),
    /// `type` `null` (or a list of types with it), a `oneOf`/`anyOf` member
    /// that allows it, an `allOf` annotation `{"nullable": true}`.
    pub fn allows_null(&self, schema: &Value) -> bool {
        if schema.get("nullable").and_then(Value::as_bool) == Some(true) {
            return true;
        }
        match schema.get("type") {
            Some(Value::String(kind)) if kind == "null" => return true,
            Some(Value::Array(kinds)) if kinds.iter().any(|k| k == "null") => return true,
            _ => {}
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array)
            && values.iter().any(Value::is_null)
        {
            return true;
        }
        if let Some(members) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array)
            && members.iter().any(|member| self.allows_null(member))
        {
            return true;
        }
        if let Some(members) = schema.get("allOf").and_then(Value::as_array)
            && members
                .iter()
                .any(|member| is_annotation(member) && self.allows_null(member))
        {
            return true;
        }
        match schema.get("$ref") {
            Some(_) => {
                let target = self.resolve(schema);
                !std::ptr::eq(target, schema) && self.allows_null(target)
            }
            None => false,
        }
    }

    /// Where `value` does not have the shape of `schema`: a `required`
    /// property absent, a JSON type other than the schema's `type` (`null`
    /// where the schema does not allow it), a value outside its `enum`,
    /// no `oneOf`/`anyOf` member matched (the closest member's mismatches
    /// are given); walking nested objects (`properties`, and
    /// `additionalProperties` when a schema) and array `items`. Properties
    /// the schema does not name are not checked.
    pub fn check(&self, schema: &Value, value: &Value) -> Vec<Mismatch> {
        let mut found = Vec::new();
        self.check_at(schema, value, "", &mut found);
        found
    }

    fn check_at(&self, schema: &Value, value: &Value, path: &str, found: &mut Vec<Mismatch>) {
        let mismatch = |expected: String| Mismatch {
            path: path.to_owned(),
            expected,
            actual: describe_value(value),
        };
        if value.is_null() {
            if !self.allows_null(schema) {
                found.push(mismatch(format!(
                    "{} (not nullable)",
                    self.describe(schema)
                )));
            }
            return;
        }
        let schema = self.resolve(schema);
        if let Some(members) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array)
        {
            let mut closest: Option<Vec<Mismatch>> = None;
            for member in members {
                let mut mismatches = Vec::new();
                self.check_at(member, value, path, &mut mismatches);
                if mismatches.is_empty() {
                    return;
                }
                if closest.as_ref().is_none_or(|c| mismatches.len() < c.len()) {
                    closest = Some(mismatches);
                }
            }
            found.extend(closest.unwrap_or_default());
            return;
        }
        if let Some(members) = schema.get("allOf").and_then(Value::as_array) {
            for member in members.iter().filter(|member| !is_annotation(member)) {
                self.check_at(member, value, path, found);
            }
            return;
        }
        let kinds: Vec<&str> = match schema.get("type") {
            Some(Value::String(kind)) => vec![kind.as_str()],
            Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !kinds.is_empty() && !kinds.iter().any(|kind| is_of_type(value, kind)) {
            found.push(mismatch(format!("type {}", kinds.join(" | "))));
            return;
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array)
            && !values.contains(value)
        {
            found.push(mismatch(format!("one of {}", Value::Array(values.clone()))));
        }
        match value {
            Value::Object(object) => {
                for name in required(schema) {
                    if !object.contains_key(name) {
                        found.push(Mismatch {
                            path: join(path, name),
                            expected: format!(
                                "required: {}",
                                self.describe(&schema["properties"][name])
                            ),
                            actual: "absent".to_owned(),
                        });
                    }
                }
                let named = schema.get("properties").and_then(Value::as_object);
                for (name, item) in object {
                    match named.and_then(|named| named.get(name)) {
                        Some(property) => self.check_at(property, item, &join(path, name), found),
                        None => {
                            if let Some(other) = schema
                                .get("additionalProperties")
                                .filter(|other| other.is_object())
                            {
                                self.check_at(other, item, &join(path, name), found);
                            }
                        }
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check_at(item_schema, item, &format!("{path}[{i}]"), found);
                    }
                }
            }
            _ => {}
        }
    }

    /// A short account of what a schema allows: its type(s), its
    /// alternatives' types, `nullable` noted.
    pub fn describe(&self, schema: &Value) -> String {
        let nullable = self.allows_null(schema);
        let schema = self.resolve(schema);
        let mut kinds: Vec<String> = Vec::new();
        if let Some(members) = schema
            .get("oneOf")
            .or_else(|| schema.get("anyOf"))
            .and_then(Value::as_array)
        {
            for member in members {
                let kind = self.describe(member);
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
        } else {
            match schema.get("type") {
                Some(Value::String(kind)) => kinds.push(kind.clone()),
                Some(Value::Array(list)) => {
                    kinds.extend(list.iter().filter_map(Value::as_str).map(str::to_owned))
                }
                _ if schema.get("properties").is_some() => kinds.push("object".to_owned()),
                _ => kinds.push("any".to_owned()),
            }
        }
        if nullable && !kinds.iter().any(|kind| kind == "null") {
            kinds.push("null".to_owned());
        }
        kinds.join(" | ")
    }
}

/// Where a value does not have its schema's shape (see [`Spec::check`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Where, as `choices[0].message.content` (`""` for the value itself).
    pub path: String,
    /// What the schema says.
    pub expected: String,
    /// What the value is.
    pub actual: String,
}

impl Mismatch {
    /// The path with its array indices left out (`choices[].delta`): the
    /// same place in every chunk and every choice.
    pub fn place(&self) -> String {
        let mut place = String::with_capacity(self.path.len());
        let mut in_index = false;
        for c in self.path.chars() {
            match c {
                '[' => in_index = true,
                ']' => in_index = false,
                _ if in_index => continue,
                _ => {}
            }
            place.push(c);
        }
        place
    }
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = if self.path.is_empty() {
            "(the value)"
        } else {
            &self.path
        };
        write!(f, "{path}: expected {}, got {}", self.expected, self.actual)
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// Whether a JSON value is of an OpenAPI `type`.
fn is_of_type(value: &Value, kind: &str) -> bool {
    match kind {
        "string" => value.is_string(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|n| n.fract() == 0.0)
        }
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        _ => true,
    }
}

/// A value's JSON type, and the value when short.
fn describe_value(value: &Value) -> String {
    let kind = match value {
        Value::Null => return "null".to_owned(),
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let text = value.to_string();
    if text.len() <= 60 {
        format!("{kind} {text}")
    } else {
        kind.to_owned()
    }
}

/// Merges each `allOf` whose members are objects (after their `$ref`s,
/// and their own `allOf`s, merged) into one object schema: their
/// `properties` (a later member's property over an earlier one's of the same
/// name), their `required` names, and the keys of the `allOf`'s own schema
/// and annotations (`{"nullable": true}`). An `allOf` with a member of
/// another kind, or with one member only, stays as it is. The Assistants
/// document composes nothing (its `allOf`s only annotate a `$ref`); the
/// whole API's does (`CreateChatCompletionRequest` is
/// `CreateModelResponseProperties` and its own properties).
pub fn merge_all_of(doc: &mut Value) {
    let original = doc.clone();
    merge_at(&original, doc, 0);
}

fn merge_at(original: &Value, node: &mut Value, depth: usize) {
    match node {
        Value::Object(object) => {
            if object.contains_key("allOf")
                && let Some(merged) = merged(original, &Value::Object(object.clone()), depth)
            {
                *node = merged;
            }
            if let Value::Object(object) = node {
                for child in object.values_mut() {
                    merge_at(original, child, depth);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                merge_at(original, item, depth);
            }
        }
        _ => {}
    }
}

/// The object schema an `allOf` composes, if it composes objects.
fn merged(doc: &Value, schema: &Value, depth: usize) -> Option<Value> {
    const MAX_DEPTH: usize = 16;
    let members = schema.get("allOf")?.as_array()?;
    let (parts, notes): (Vec<&Value>, Vec<&Value>) =
        members.iter().partition(|member| !is_annotation(member));
    if parts.len() < 2 || depth > MAX_DEPTH {
        return None;
    }
    let mut out = schema.as_object()?.clone();
    out.remove("allOf");
    for note in notes {
        for (key, value) in note.as_object()? {
            out.insert(key.clone(), value.clone());
        }
    }
    let mut properties = Map::new();
    let mut names: Vec<Value> = Vec::new();
    for part in parts {
        let mut part = resolve_in(doc, part)?.clone();
        if part.get("allOf").is_some() {
            part = merged(doc, &part, depth + 1)?;
        }
        let is_object = part.get("type").and_then(Value::as_str) == Some("object")
            || (part.get("type").is_none() && part.get("properties").is_some());
        if !is_object {
            return None;
        }
        if let Some(more) = part.get("properties").and_then(Value::as_object) {
            for (name, property) in more {
                properties.insert(name.clone(), property.clone());
            }
        }
        for name in part
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    out.insert("type".to_owned(), json!("object"));
    out.insert("properties".to_owned(), Value::Object(properties));
    if !names.is_empty() {
        out.insert("required".to_owned(), Value::Array(names));
    }
    Some(Value::Object(out))
}

/// Follows `$ref`s within `doc`.
fn resolve_in<'a>(doc: &'a Value, mut schema: &'a Value) -> Option<&'a Value> {
    while let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        schema = doc.pointer(reference.strip_prefix('#')?)?;
    }
    Some(schema)
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
