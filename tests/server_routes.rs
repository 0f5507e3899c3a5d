//! Every route of the embedded server, and its error statuses, over raw HTTP.

#![cfg(feature = "server")]

use crate::server_support as helpers;

use assistant_stream::server::Server;
use helpers::{Harness, error_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn assistants_crud() {
    let h = Harness::start().await;
    let created = h
        .ok(
            "/assistants",
            json!({"model": "gpt-4o", "name": "Helper", "instructions": "Be brief.", "metadata": {"team": "a"},
                   "tools": [{"type": "function", "function": {"name": "get_weather"}}, {"type": "code_interpreter"}]}),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("asst_"), "{id}");
    assert_eq!(created["object"], "assistant");
    assert!(created["created_at"].as_i64().unwrap() > 1_600_000_000);
    assert_eq!(created["model"], "gpt-4o");
    assert_eq!(created["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(created["tools"][1]["type"], "code_interpreter");
    assert_eq!(created["metadata"]["team"], "a");

    assert_eq!(h.fetch(&format!("/assistants/{id}")).await, created);
    let modified = h
        .ok(
            &format!("/assistants/{id}"),
            json!({"name": "Renamed", "metadata": {"team": "b"}}),
        )
        .await;
    assert_eq!(modified["name"], "Renamed");
    assert_eq!(modified["instructions"], "Be brief.");
    assert_eq!(modified["metadata"], json!({"team": "b"}));

    let (status, deleted) = h.delete(&format!("/assistants/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        deleted,
        json!({"id": id, "object": "assistant.deleted", "deleted": true})
    );
    let (status, body) = h.get(&format!("/assistants/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_of(&body)["type"], "invalid_request_error");
    assert_eq!(
        error_of(&body)["message"],
        format!("No assistant found with id '{id}'.")
    );
    let (status, _) = h.delete(&format!("/assistants/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn threads_and_messages_crud() {
    let h = Harness::start().await;
    let thread = h
        .ok(
            "/threads",
            json!({"messages": [{"role": "user", "content": "one"},
                                {"role": "assistant", "content": [{"type": "text", "text": "two"}]}],
                   "metadata": {"k": "v"}}),
        )
        .await;
    let tid = thread["id"].as_str().unwrap();
    assert!(tid.starts_with("thread_"));
    assert_eq!(thread["object"], "thread");
    assert_eq!(thread["metadata"]["k"], "v");
    assert_eq!(h.fetch(&format!("/threads/{tid}")).await, thread);

    // An empty body makes an empty thread.
    let response = h
        .http
        .post(format!("{}/threads", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let modified = h
        .ok(&format!("/threads/{tid}"), json!({"metadata": {"k": "w"}}))
        .await;
    assert_eq!(modified["metadata"]["k"], "w");

    let messages = h.messages(tid).await;
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["content"][0]["text"]["value"], "one");
    assert_eq!(messages[1]["role"], "assistant");

    let message = h
        .ok(
            &format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": "three", "metadata": {"a": "1"}}),
        )
        .await;
    let mid = message["id"].as_str().unwrap();
    assert!(mid.starts_with("msg_"));
    assert_eq!(message["object"], "thread.message");
    assert_eq!(message["thread_id"], tid);
    assert_eq!(
        message["content"],
        json!([{"type": "text", "text": {"value": "three", "annotations": []}}])
    );
    assert_eq!(
        h.fetch(&format!("/threads/{tid}/messages/{mid}")).await,
        message
    );
    let modified = h
        .ok(
            &format!("/threads/{tid}/messages/{mid}"),
            json!({"metadata": {"a": "2"}}),
        )
        .await;
    assert_eq!(modified["metadata"]["a"], "2");
    let (status, deleted) = h.delete(&format!("/threads/{tid}/messages/{mid}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        deleted,
        json!({"id": mid, "object": "thread.message.deleted", "deleted": true})
    );
    let (status, _) = h.get(&format!("/threads/{tid}/messages/{mid}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, deleted) = h.delete(&format!("/threads/{tid}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["object"], "thread.deleted");
    for path in [
        format!("/threads/{tid}"),
        format!("/threads/{tid}/messages"),
        format!("/threads/{tid}/runs"),
    ] {
        let (status, body) = h.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            error_of(&body)["message"],
            format!("No thread found with id '{tid}'.")
        );
    }
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let h = Harness::start().await;
    let asst = h.assistant(&[]).await;
    let tid = h.thread("hi").await;
    let run = h
        .ok(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    let rid = run["id"].as_str().unwrap();
    h.poll_status(&tid, rid, &["completed"]).await;
    for path in [
        "/assistants/asst_nope".to_owned(),
        "/threads/thread_nope".to_owned(),
        format!("/threads/{tid}/messages/msg_nope"),
        format!("/threads/{tid}/runs/run_nope"),
        format!("/threads/{tid}/runs/run_nope/steps"),
        format!("/threads/{tid}/runs/{rid}/steps/step_nope"),
    ] {
        let (status, body) = h.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        error_of(&body);
    }
    for (path, body) in [
        (
            "/threads/thread_nope/runs".to_owned(),
            json!({"assistant_id": asst}),
        ),
        (
            format!("/threads/{tid}/runs"),
            json!({"assistant_id": "asst_nope"}),
        ),
        (
            "/threads/runs".to_owned(),
            json!({"assistant_id": "asst_nope"}),
        ),
        (format!("/threads/{tid}/runs/run_nope/cancel"), json!({})),
        (
            format!("/threads/{tid}/runs/run_nope/submit_tool_outputs"),
            json!({"tool_outputs": []}),
        ),
        (
            "/threads/thread_nope/messages".to_owned(),
            json!({"role": "user", "content": "x"}),
        ),
    ] {
        let (status, answer) = h.post(&path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
        error_of(&answer);
    }
    let (status, body) = h.get("/nothing/here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        error_of(&body)["message"],
        "Invalid URL (GET /v1/nothing/here)"
    );
    let (status, body) = h.delete("/threads").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    error_of(&body);
}

#[tokio::test]
async fn bad_input_is_400_or_413() {
    let h = Harness::with(Server::builder().max_body_bytes(64 * 1024)).await;
    // Broken JSON: 400.
    let response = h
        .http
        .post(format!("{}/assistants", h.base))
        .header("content-type", "application/json")
        .body("{\"model\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        error_of(&response.json::<Value>().await.unwrap())["type"],
        "invalid_request_error"
    );
    // Wrong shape: 400 naming the field, as the API answers (not 422).
    let (status, body) = h.post("/assistants", json!({"model": 42})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(error_of(&body)["param"], "model");
    // Missing model: 400 naming the parameter.
    let (status, body) = h.post("/assistants", json!({"model": ""})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&body)["param"], "model");
    // Bad function name.
    let (status, body) = h
        .post("/assistants", json!({"model": "m", "tools": [{"type": "function", "function": {"name": "no spaces"}}]}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Too large: 413 with the envelope.
    let big = "x".repeat(100 * 1024);
    let (status, body) = h
        .post("/assistants", json!({"model": "m", "instructions": big}))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_of(&body)["type"], "invalid_request_error");
    // Bad messages.
    let tid = h.thread("hi").await;
    for body in [
        json!({"role": "system", "content": "x"}),
        json!({"role": "user", "content": ""}),
        json!({"role": "user", "content": []}),
    ] {
        let (status, answer) = h
            .post(&format!("/threads/{tid}/messages"), body.clone())
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        error_of(&answer);
    }
    // A run without an assistant.
    let (status, body) = h
        .post(&format!("/threads/{tid}/runs"), json!({"assistant_id": ""}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&body)["param"], "assistant_id");
}

#[tokio::test]
async fn metadata_limits_are_400() {
    let h = Harness::start().await;
    let tid = h.thread("hi").await;
    let seventeen: serde_json::Map<String, Value> =
        (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
    let sixteen: serde_json::Map<String, Value> =
        (0..16).map(|i| (format!("k{i}"), json!("v"))).collect();
    let long_key = json!({ "k".repeat(65): "v" });
    let long_value = json!({ "k": "v".repeat(513) });
    let edge = json!({ "k".repeat(64): "v".repeat(512) });
    let targets = [
        ("/assistants".to_owned(), json!({"model": "m"})),
        ("/threads".to_owned(), json!({})),
        (format!("/threads/{tid}"), json!({})),
        (
            format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": "x"}),
        ),
    ];
    for (path, base) in &targets {
        for bad in [
            Value::Object(seventeen.clone()),
            long_key.clone(),
            long_value.clone(),
        ] {
            let mut body = base.clone();
            body["metadata"] = bad;
            let (status, answer) = h.post(path, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
            assert_eq!(error_of(&answer)["param"], "metadata");
        }
        for good in [Value::Object(sixteen.clone()), edge.clone()] {
            let mut body = base.clone();
            body["metadata"] = good;
            h.ok(path, body).await;
        }
    }
}

#[tokio::test]
async fn auth_requires_the_key() {
    let h = Harness::with(Server::builder().api_key("sk-right")).await;
    let (status, body) = h.get("/assistants").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(&body)["type"], "invalid_request_error");
    let h = h.key("sk-wrong");
    let (status, body) = h.get("/assistants").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_of(&body)["code"], "invalid_api_key");
    assert!(
        !body.to_string().contains("sk-wrong"),
        "the key is not echoed: {body}"
    );
    let h = h.key("sk-right");
    let (status, _) = h.get("/assistants").await;
    assert_eq!(status, StatusCode::OK);
    // Without a key configured, anything goes.
    let open = Harness::start().await.key("whatever");
    let (status, _) = open.get("/assistants").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let h = Harness::start().await;
    let response = h
        .http
        .get(format!("{}/assistants", h.base))
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
}

/// Walks every page with `after` (or `before`) and returns the ids seen.
async fn walk(
    h: &Harness,
    path: &str,
    order: &str,
    limit: usize,
    backwards_from: Option<&str>,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = backwards_from.map(str::to_owned);
    let mut first = true;
    loop {
        let mut url = format!("{path}?order={order}&limit={limit}");
        match (&cursor, backwards_from.is_some()) {
            (Some(c), true) => url.push_str(&format!("&before={c}")),
            (Some(c), false) => url.push_str(&format!("&after={c}")),
            (None, _) => {}
        }
        let page = h.fetch(&url).await;
        assert_eq!(page["object"], "list");
        let data: Vec<String> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_owned())
            .collect();
        assert!(data.len() <= limit);
        if !data.is_empty() {
            assert_eq!(page["first_id"], data[0].as_str());
            assert_eq!(page["last_id"], data[data.len() - 1].as_str());
        } else {
            assert!(page["first_id"].is_null() && page["last_id"].is_null());
        }
        let has_more = page["has_more"].as_bool().unwrap();
        if backwards_from.is_some() {
            cursor = page["first_id"].as_str().map(str::to_owned);
            let mut chunk = data;
            chunk.extend(ids);
            ids = chunk;
        } else {
            cursor = page["last_id"].as_str().map(str::to_owned);
            ids.extend(data);
        }
        if !has_more || (first && cursor.is_none()) {
            break;
        }
        first = false;
    }
    ids
}

#[tokio::test]
async fn pagination_both_orders_after_and_before() {
    let h = Harness::start().await;
    let mut made = Vec::new();
    for i in 0..23 {
        let a = h
            .ok(
                "/assistants",
                json!({"model": "m", "name": format!("a{i}")}),
            )
            .await;
        made.push(a["id"].as_str().unwrap().to_owned());
    }
    let mut newest_first = made.clone();
    newest_first.reverse();

    let default = h.fetch("/assistants").await;
    assert_eq!(
        default["data"].as_array().unwrap().len(),
        20,
        "default limit 20"
    );
    assert_eq!(
        default["data"][0]["id"],
        made[22].as_str(),
        "default order desc"
    );
    assert_eq!(default["has_more"], true);

    for limit in [1, 5, 7, 100] {
        assert_eq!(
            walk(&h, "/assistants", "asc", limit, None).await,
            made,
            "asc limit {limit}"
        );
        assert_eq!(
            walk(&h, "/assistants", "desc", limit, None).await,
            newest_first,
            "desc limit {limit}"
        );
    }
    // Backwards from the end of each order, with `before`.
    assert_eq!(
        walk(&h, "/assistants", "asc", 5, Some(&made[22])).await,
        made[..22].to_vec()
    );
    assert_eq!(
        walk(&h, "/assistants", "desc", 5, Some(&made[0])).await,
        newest_first[..22].to_vec()
    );
    // One page before a cursor: the nearest items, in list order.
    let page = h
        .fetch(&format!(
            "/assistants?order=asc&limit=3&before={}",
            made[10]
        ))
        .await;
    let ids: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [&made[7], &made[8], &made[9]]);
    assert_eq!(page["has_more"], true);
    // Between two cursors.
    let page = h
        .fetch(&format!(
            "/assistants?order=asc&after={}&before={}",
            made[2], made[6]
        ))
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 3);

    for bad in [
        "limit=0",
        "limit=101",
        "limit=x",
        "order=sideways",
        "after=asst_unknown",
    ] {
        let (status, body) = h.get(&format!("/assistants?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        error_of(&body);
    }
    let page = h.fetch("/assistants?limit=100").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 23);
    assert_eq!(page["has_more"], false);
}

#[tokio::test]
async fn messages_paginate_and_filter_by_run() {
    let h = Harness::start().await;
    let asst = h.assistant(&[]).await;
    let tid = h.thread("first").await;
    for i in 0..6 {
        h.ok(
            &format!("/threads/{tid}/messages"),
            json!({"role": "user", "content": format!("m{i}")}),
        )
        .await;
    }
    let run = h
        .ok(
            &format!("/threads/{tid}/runs"),
            json!({"assistant_id": asst}),
        )
        .await;
    let rid = run["id"].as_str().unwrap();
    h.poll_status(&tid, rid, &["completed"]).await;
    let all = h.messages(&tid).await;
    assert_eq!(all.len(), 8);
    let ids: Vec<String> = all
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        walk(&h, &format!("/threads/{tid}/messages"), "asc", 3, None).await,
        ids
    );
    let by_run = h
        .fetch(&format!("/threads/{tid}/messages?run_id={rid}"))
        .await;
    let data = by_run["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["run_id"], rid);
    assert_eq!(data[0]["role"], "assistant");
    assert_eq!(data[0]["content"][0]["text"]["value"], "You said: m5");
}
