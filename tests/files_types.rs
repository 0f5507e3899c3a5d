//! The crate's file and vector store types read every example answer of
//! the files and vector stores paths in `../shared/openapi/openai-openapi.json`
//! (read in place), and write back what they read.

use assistant_stream::types::{
    Deleted, FileObject, ListResponse, VectorStore, VectorStoreFile, VectorStoreFileBatch,
    VectorStoreSearchResults,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn document() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/openapi/openai-openapi.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The document's examples as JSON: written by hand, some have trailing
/// commas and unquoted keys (`{ id: "vs_abc123", }`).
fn loose_json(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            out.push(c);
            if c == '\\' && i + 1 < chars.len() {
                out.push(chars[i + 1]);
                i += 1;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if c == ',' {
            // A comma before a closing bracket is dropped.
            let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
            if !matches!(next, Some('}' | ']')) {
                out.push(c);
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            if next == Some(&':') {
                out.push_str(&format!("\"{word}\""));
            } else {
                out.push_str(&word);
            }
            continue;
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

/// Reads `example` as `T` and checks that every field it has is written
/// back alike (but `search_query`, a string the type keeps as a list).
fn round_trip<T: DeserializeOwned + Serialize>(label: &str, example: &Value) {
    let typed: T = serde_json::from_value(example.clone())
        .unwrap_or_else(|err| panic!("{label}: {err}\n{example:#}"));
    let written = serde_json::to_value(&typed).unwrap();
    assert_holds(label, "", &written, example);
}

/// Every field of `example` (not `null`) that the type knows is written
/// alike, at any depth; `written` may have more (fields the example left
/// out).
fn assert_holds(label: &str, at: &str, written: &Value, example: &Value) {
    match (written, example) {
        (Value::Object(written), Value::Object(example)) => {
            for (key, value) in example {
                if key == "search_query" || value.is_null() {
                    continue;
                }
                let place = format!("{at}.{key}");
                // A field the type does not know is ignored, as everywhere
                // (the examples have some older ones: a store's `bytes`).
                if let Some(found) = written.get(key) {
                    assert_holds(label, &place, found, value);
                }
            }
        }
        (Value::Array(written), Value::Array(example)) => {
            assert_eq!(written.len(), example.len(), "{label}: {at}");
            for (i, (written, example)) in written.iter().zip(example).enumerate() {
                assert_holds(label, &format!("{at}[{i}]"), written, example);
            }
        }
        _ => assert_eq!(written, example, "{label}: {at}"),
    }
}

#[test]
fn every_example_answer_reads_and_writes_back() {
    let document = document();
    let mut read = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        if !(path.starts_with("/files") || path.starts_with("/vector_stores")) {
            continue;
        }
        for (method, operation) in item.as_object().unwrap() {
            let Some(text) = operation
                .pointer("/x-oaiMeta/examples/response")
                .and_then(Value::as_str)
            else {
                continue;
            };
            let label = format!("{} {path}", method.to_uppercase());
            if text.contains("...") {
                // An elided example (`/files/{file_id}/content`, and the
                // content of a vector store file).
                continue;
            }
            let example: Value = serde_json::from_str(&loose_json(text))
                .unwrap_or_else(|err| panic!("{label}: not JSON ({err}): {text}"));
            let object = example["object"].as_str().unwrap_or_default();
            if example.get("deleted").is_some() {
                // `DELETE /files/{file_id}` says `"object": "file"`.
                round_trip::<Deleted>(&label, &example);
                read += 1;
                continue;
            }
            match object {
                "file" => round_trip::<FileObject>(&label, &example),
                "vector_store" => round_trip::<VectorStore>(&label, &example),
                "vector_store.file" => round_trip::<VectorStoreFile>(&label, &example),
                // The examples spell it `vector_store.file_batch`.
                "vector_store.files_batch" | "vector_store.file_batch" => {
                    round_trip::<VectorStoreFileBatch>(&label, &example)
                }
                "vector_store.search_results.page" => {
                    round_trip::<VectorStoreSearchResults>(&label, &example)
                }
                "file.deleted" | "vector_store.deleted" | "vector_store.file.deleted" => {
                    round_trip::<Deleted>(&label, &example)
                }
                "list" => match example["data"][0]["object"].as_str() {
                    Some("file") => round_trip::<ListResponse<FileObject>>(&label, &example),
                    Some("vector_store") => {
                        round_trip::<ListResponse<VectorStore>>(&label, &example)
                    }
                    Some("vector_store.file") => {
                        round_trip::<ListResponse<VectorStoreFile>>(&label, &example)
                    }
                    other => panic!("{label}: a list of {other:?}"),
                },
                other => panic!("{label}: an answer of object {other:?}"),
            }
            read += 1;
        }
    }
    assert!(read >= 18, "only {read} examples read");
}
