//! Threads and their messages: making a thread with its first messages,
//! deleting one (which stops its runs), and changing a message a run is
//! still writing.

use super::live::Control;
use super::{ServiceResult, Services};
use crate::ids::{new_id, now};
use crate::store::{Page, PageQuery};
use crate::types::{Message, Metadata, Thread, ToolResources};

/// A thread to make, as the api checked it: its messages are made for no
/// thread yet (their `thread_id` is set here).
#[derive(Debug, Default)]
pub(crate) struct NewThread {
    pub(crate) metadata: Option<Metadata>,
    pub(crate) tool_resources: Option<ToolResources>,
    pub(crate) messages: Vec<Message>,
}

/// Makes a thread with its messages.
pub(crate) async fn create(app: &Services, new: NewThread) -> ServiceResult<Thread> {
    let thread = make!(Thread {
        id: new_id("thread"),
        object: "thread".to_owned(),
        created_at: now(),
        tool_resources: new.tool_resources,
        metadata: new.metadata.unwrap_or_default(),
    });
    let mut messages = new.messages;
    for message in &mut messages {
        message.thread_id.clone_from(&thread.id);
    }
    app.store.insert_thread(&thread, &messages).await?;
    Ok(thread)
}

/// Deletes a thread with its messages and runs: the runs live here stop,
/// and their followers are told.
pub(crate) async fn delete(app: &Services, thread_id: &str) -> ServiceResult<()> {
    app.store.delete_thread(thread_id).await?;
    for live in app.runtime.of_thread(thread_id) {
        live.control.send_replace(Control::Gone);
        live.stop_expiry();
        app.runtime.remove(&live.run_id);
        if !live.state.lock().await.driven {
            live.feed.close();
        }
    }
    Ok(())
}

/// Replaces a message's metadata. A message its run is still writing is
/// changed through the run's state, so that the run's next write keeps the
/// change.
pub(crate) async fn modify_message(
    app: &Services,
    thread_id: &str,
    message_id: &str,
    metadata: Option<Metadata>,
) -> ServiceResult<Message> {
    let mut message = app.store.message(thread_id, message_id).await?;
    let Some(metadata) = metadata else {
        return Ok(message);
    };
    let live = message
        .run_id
        .as_deref()
        .and_then(|run_id| app.runtime.get(run_id));
    if let Some(live) = live {
        let mut state = live.state.lock().await;
        if let Some(open) = state
            .open_message
            .as_mut()
            .filter(|open| open.message.id == message_id)
        {
            open.message.metadata = metadata;
            let changed = open.message.clone();
            state.stage_open();
            state.commit(&*app.store, &live.feed).await?;
            return Ok(changed);
        }
    }
    message.metadata = metadata;
    app.store.update_message(&message).await?;
    Ok(message)
}

/// A thread.
pub(crate) async fn get(app: &Services, id: &str) -> ServiceResult<Thread> {
    Ok(app.store.thread(id).await?.thread)
}

/// Replaces a thread's metadata and tool resources, where given.
pub(crate) async fn modify(
    app: &Services,
    id: &str,
    metadata: Option<Metadata>,
    tool_resources: Option<ToolResources>,
) -> ServiceResult<Thread> {
    let mut thread = app.store.thread(id).await?.thread;
    if let Some(metadata) = metadata {
        thread.metadata = metadata;
    }
    if tool_resources.is_some() {
        thread.tool_resources = tool_resources;
    }
    app.store.update_thread(&thread).await?;
    Ok(thread)
}

/// Adds a message (checked by the api) to a thread with no active run.
pub(crate) async fn add_message(app: &Services, message: &Message) -> ServiceResult<()> {
    Ok(app.store.insert_message(message).await?)
}

/// A message of a thread.
pub(crate) async fn message(
    app: &Services,
    thread_id: &str,
    message_id: &str,
) -> ServiceResult<Message> {
    Ok(app.store.message(thread_id, message_id).await?)
}

/// A page of a thread's messages, those of one run if `run_id` is given.
pub(crate) async fn list_messages(
    app: &Services,
    thread_id: &str,
    page: &PageQuery,
    run_id: Option<&str>,
) -> ServiceResult<Page<Message>> {
    Ok(app.store.list_messages(thread_id, page, run_id).await?)
}

/// Deletes a message.
pub(crate) async fn delete_message(
    app: &Services,
    thread_id: &str,
    message_id: &str,
) -> ServiceResult<()> {
    Ok(app.store.delete_message(thread_id, message_id).await?)
}
