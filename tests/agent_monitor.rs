//! The thread monitor reports each complete message exactly once, across
//! pages and polls, until stopped.
#![cfg(all(feature = "agent", feature = "server"))]

use crate::agent_support;

use agent_support::start;
use assistant_stream::agent::{Assistant, CancellationToken, Thread, ThreadMonitor};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn every_message_once_across_pages() {
    let (_server, client) = start().await;
    let thread = Thread::new(&client);
    for i in 0..25 {
        thread.add(format!("m{i}")).await.unwrap();
    }
    let stop = CancellationToken::new();
    let mut monitor = ThreadMonitor::new(&client, thread.id().unwrap())
        .page_size(10)
        .interval(Duration::from_millis(10));
    let mut seen = Vec::new();
    monitor
        .run(stop.clone(), |message| {
            seen.push(message.text());
            if seen.len() == 25 {
                stop.cancel();
            }
        })
        .await
        .unwrap();
    let expected: Vec<String> = (0..25).map(|i| format!("m{i}")).collect();
    assert_eq!(seen, expected);

    // Nothing new: nothing reported; then only what came after.
    assert!(monitor.poll_once().await.unwrap().is_empty());
    thread.add("late").await.unwrap();
    let late = monitor.poll_once().await.unwrap();
    assert_eq!(late.iter().map(|m| m.text()).collect::<Vec<_>>(), ["late"]);
    assert!(monitor.poll_once().await.unwrap().is_empty());
    thread.delete().await.unwrap();
}

#[tokio::test]
async fn messages_arriving_while_watching_and_an_async_callback() {
    let (_server, client) = start().await;
    let thread = Thread::new(&client);
    let thread_id = thread.create().await.unwrap();
    let assistant = Assistant::new(&client);
    let stop = CancellationToken::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let watcher = tokio::spawn({
        let (stop, seen, client) = (stop.clone(), seen.clone(), client.clone());
        async move {
            let mut monitor =
                ThreadMonitor::new(&client, thread_id).interval(Duration::from_millis(10));
            monitor
                .run_async(stop.clone(), |message| {
                    let (stop, seen) = (stop.clone(), seen.clone());
                    async move {
                        tokio::task::yield_now().await;
                        let mut seen = seen.lock().unwrap();
                        seen.push(format!("{}: {}", message.role, message.text()));
                        if seen.len() == 6 {
                            stop.cancel();
                        }
                    }
                })
                .await
        }
    });
    for text in ["one", "two", "three"] {
        thread.add(text).await.unwrap();
        thread.run(&assistant).await.unwrap();
    }
    watcher.await.unwrap().unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "user: one",
            "assistant: You said: one",
            "user: two",
            "assistant: You said: two",
            "user: three",
            "assistant: You said: three"
        ]
    );
    thread.delete().await.unwrap();
}

#[tokio::test]
async fn a_stopped_monitor_resumes_where_it_stopped() {
    let (_server, client) = start().await;
    let thread = Thread::new(&client);
    for i in 0..5 {
        thread.add(format!("m{i}")).await.unwrap();
    }
    let mut monitor = ThreadMonitor::new(&client, thread.id().unwrap()).page_size(2);
    let stop = CancellationToken::new();
    let mut first = Vec::new();
    monitor
        .run(stop.clone(), |message| {
            first.push(message.text());
            if first.len() == 2 {
                stop.cancel();
            }
        })
        .await
        .unwrap();
    assert_eq!(first, ["m0", "m1"]);
    let rest = monitor.poll_once().await.unwrap();
    assert_eq!(
        rest.iter().map(|m| m.text()).collect::<Vec<_>>(),
        ["m2", "m3", "m4"]
    );

    // A cancelled token stops before any poll.
    let stopped = CancellationToken::new();
    stopped.cancel();
    let mut calls = 0;
    ThreadMonitor::new(&client, thread.id().unwrap())
        .run(stopped, |_| calls += 1)
        .await
        .unwrap();
    assert_eq!(calls, 0);
    thread.delete().await.unwrap();
}
