//! Threads: lazy creation, messages in order with limit/before/after,
//! attachments and image parts, deletion.
#![cfg(all(feature = "agent", feature = "server"))]

use crate::agent_support;

use agent_support::{start, thread_exists};
use assistant_stream::agent::{Assistant, MessageQuery, Thread};
use assistant_stream::types::{
    Attachment, CreateMessageRequest, CreateThreadRequest, MessageContent, MessageInputPart, Tool,
};

fn texts(messages: &[assistant_stream::types::Message]) -> Vec<String> {
    messages.iter().map(|m| m.text()).collect()
}

#[tokio::test]
async fn a_thread_is_created_when_first_needed() {
    let (_server, client) = start().await;
    let thread = Thread::new(&client);
    assert_eq!(thread.id(), None);
    assert!(
        thread
            .messages(MessageQuery::new())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(thread.id(), None, "listing does not create");
    thread.add("hello").await.unwrap();
    let id = thread.id().unwrap();
    assert!(thread_exists(&client, &id).await);
    assert_eq!(thread.create().await.unwrap(), id);
    thread.delete().await.unwrap();
    assert!(!thread_exists(&client, &id).await);
    assert_eq!(thread.id(), None);
    thread.delete().await.unwrap();
}

#[tokio::test]
async fn messages_come_oldest_first_with_limit_before_and_after() {
    let (_server, client) = start().await;
    let thread = Thread::new(&client);
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(thread.add(format!("m{i}")).await.unwrap().id);
    }
    let all = thread.messages(MessageQuery::new()).await.unwrap();
    assert_eq!(texts(&all), ["m0", "m1", "m2", "m3", "m4", "m5"]);
    let newest = thread.messages(MessageQuery::new().limit(2)).await.unwrap();
    assert_eq!(texts(&newest), ["m4", "m5"]);
    let before = thread
        .messages(MessageQuery::new().before(&ids[3]).limit(2))
        .await
        .unwrap();
    assert_eq!(texts(&before), ["m1", "m2"]);
    let after = thread
        .messages(MessageQuery::new().after(&ids[3]))
        .await
        .unwrap();
    assert_eq!(texts(&after), ["m4", "m5"]);
    let first_after = thread
        .messages(MessageQuery::new().after(&ids[0]).limit(2))
        .await
        .unwrap();
    assert_eq!(texts(&first_after), ["m1", "m2"]);
    let between = thread
        .messages(MessageQuery::new().after(&ids[0]).before(&ids[4]))
        .await
        .unwrap();
    assert_eq!(texts(&between), ["m1", "m2", "m3"]);
    thread.delete().await.unwrap();
}

#[tokio::test]
async fn from_an_existing_id_and_with_a_request() {
    let (_server, client) = start().await;
    let made = Thread::with_request(
        &client,
        CreateThreadRequest::new().message(CreateMessageRequest::user("first")),
    );
    let id = made.create().await.unwrap();
    let thread = Thread::from_id(&client, &id);
    thread.add("second").await.unwrap();
    let assistant = Assistant::new(&client);
    let result = thread.run(&assistant).await.unwrap();
    assert_eq!(result.text(), "You said: second");
    assert_eq!(result.messages.len(), 1);
    assert!(!result.steps.is_empty());
    assert_eq!(
        texts(&made.messages(MessageQuery::new()).await.unwrap()),
        ["first", "second", "You said: second"]
    );
    thread.delete().await.unwrap();
    assert!(!thread_exists(&client, &id).await);
}

#[tokio::test]
async fn attachments_and_image_parts() {
    let (_server, client) = start().await;
    let thread = Thread::new(&client);
    let message = thread
        .add_message(
            CreateMessageRequest::user(vec![
                MessageInputPart::text("What is this?"),
                MessageInputPart::image_url("https://example.com/cat.png"),
                MessageInputPart::image_file("file-img"),
            ])
            .attachment(Attachment::new("file-doc", vec![Tool::file_search()])),
        )
        .await
        .unwrap();
    assert_eq!(message.attachments[0].file_id, "file-doc");
    let stored = thread.messages(MessageQuery::new()).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(
        matches!(&stored[0].content[1], MessageContent::ImageUrl(url) if url.image_url.url == "https://example.com/cat.png")
    );
    assert!(
        matches!(&stored[0].content[2], MessageContent::ImageFile(file) if file.image_file.file_id == "file-img")
    );
    thread.delete().await.unwrap();
}
