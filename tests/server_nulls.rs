//! `null` means absent: every optional property of every request body the
//! server reads, found in the OpenAPI document (not listed by hand), is sent
//! as `null` to the in-process server, which must accept it.
//!
//! SDKs and frameworks (Marvin, for one) send `"messages": null` for what the
//! caller left out. The cases come from `../shared/openapi/assistants-v2.json`:
//! each POST under `/assistants` and `/threads` with a JSON body, walking
//! into nested objects, array items and each `oneOf`/`anyOf` alternative, so
//! `thread.messages`, `tool_resources.code_interpreter` and
//! `tools[0]<function>.function.description` are cases too.

#![cfg(feature = "server")]

use crate::openapi::{Fill, Ids, Spec, alternative_name, prepare, properties, required};
use crate::server_support as helpers;

use helpers::{Harness, error_of};
use serde_json::{Value, json};

/// Deeper than any request schema of the Assistants routes; stops a
/// self-referencing schema from recursing forever.
const MAX_DEPTH: usize = 10;

/// A request body with one optional property set to `null`, and the same
/// body with that property left out.
struct Case {
    label: String,
    with_null: Value,
    absent: Value,
}

/// Every case of a schema: each optional property set to `null`, in a
/// minimal value of the schema, at any depth.
fn cases(spec: &Spec, schema: &Value, path: &str, fill: Fill<'_>, depth: usize) -> Vec<Case> {
    if depth > MAX_DEPTH {
        return Vec::new();
    }
    let alternatives = spec.alternatives(schema);
    let several = alternatives.len() > 1;
    let mut found = Vec::new();
    for (i, alternative) in alternatives.into_iter().enumerate() {
        let path = if several {
            format!("{path}<{}>", alternative_name(alternative, i))
        } else {
            path.to_owned()
        };
        if alternative.get("type").and_then(Value::as_str) == Some("array") {
            let items = cases(
                spec,
                &alternative["items"],
                &format!("{path}[0]"),
                fill,
                depth + 1,
            );
            found.extend(items.into_iter().map(|case| Case {
                label: case.label,
                with_null: json!([case.with_null]),
                absent: json!([case.absent]),
            }));
            continue;
        }
        let base = spec.minimal_object(alternative, fill);
        let required = required(alternative);
        for (name, property) in properties(alternative) {
            let at = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            let with = |value: Option<Value>| {
                let mut object = base.clone();
                match value {
                    Some(value) => object.insert(name.clone(), value),
                    None => object.remove(name),
                };
                Value::Object(object)
            };
            if !required.contains(&name.as_str()) {
                found.push(Case {
                    label: at.clone(),
                    with_null: with(Some(Value::Null)),
                    absent: with(None),
                });
            }
            for case in cases(spec, property, &at, fill, depth + 1) {
                found.push(Case {
                    label: case.label,
                    with_null: with(Some(case.with_null)),
                    absent: with(Some(case.absent)),
                });
            }
        }
    }
    found
}

#[tokio::test]
async fn every_optional_request_property_may_be_null() {
    let spec = Spec::load();
    let h = Harness::start().await;
    let bodies = spec.request_bodies();
    assert!(
        bodies.len() >= 10,
        "the Assistants request bodies are found: {:?}",
        bodies.iter().map(|(path, _)| path).collect::<Vec<_>>()
    );
    let mut labels = Vec::new();
    let mut failures = Vec::new();
    let mut refused_alike = Vec::new();
    for (template, schema) in &bodies {
        // Each request gets fresh objects; its case is derived again with
        // their ids (the walk's order does not depend on them).
        let case =
            |ids: &Ids, i: usize| cases(&spec, schema, "", &|p| ids.fill(p), 0).swap_remove(i);
        let (_, ids) = prepare(&h, template).await;
        let count = cases(&spec, schema, "", &|p| ids.fill(p), 0).len();
        assert!(count > 0, "POST {template}: no optional property");
        for i in 0..count {
            let (path, ids) = prepare(&h, template).await;
            let Case {
                label, with_null, ..
            } = case(&ids, i);
            labels.push(format!("POST {template} {label}"));
            let (status, answer) = h.post(&path, with_null.clone()).await;
            if status.is_success() {
                continue;
            }
            // `null` means absent: where leaving the property out is refused
            // too (a property this shape needs, such as the id of the call
            // an output answers), the refusal must be the same.
            let (path, ids) = prepare(&h, template).await;
            let (absent_status, absent_answer) = h.post(&path, case(&ids, i).absent).await;
            if absent_status == status
                && error_of(&absent_answer)["param"] == error_of(&answer)["param"]
            {
                refused_alike.push(format!("POST {template} {label}"));
            } else {
                failures.push(format!(
                    "POST {template} {label}: {status} {answer}\n  body: {with_null}"
                ));
            }
        }
    }
    eprintln!(
        "{} null cases; refused alike when absent: {refused_alike:#?}",
        labels.len()
    );
    // The walk reaches what Marvin and the SDKs send.
    for expected in [
        "POST /threads messages",
        "POST /assistants tools",
        "POST /threads/runs thread.messages",
        "POST /threads/runs tool_resources.code_interpreter",
    ] {
        assert!(
            labels.iter().any(|label| label == expected),
            "no case {expected} among {labels:#?}"
        );
    }
    // Only an id may be refused alike: without it the request names nothing.
    for label in &refused_alike {
        assert!(label.ends_with("_id"), "{label}: refused, null or absent");
    }
    assert!(
        failures.is_empty(),
        "{} of {} null cases failed:\n{}",
        failures.len(),
        labels.len(),
        failures.join("\n")
    );
}
