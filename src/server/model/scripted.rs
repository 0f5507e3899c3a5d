//! The scripted model: deterministic answers driven by the last user message.

use super::{Model, ModelEvent, ModelStream, Turn};

/// The default model: deterministic, for tests, examples and demos. It answers
/// whatever `model` name a request gives.
///
/// The last user message decides:
///
/// | message | answer |
/// |---|---|
/// | lines `/tool NAME {json args}` | calls the function tool `NAME` with those arguments (several lines: parallel calls in one step) if the run has a function tool of that name; otherwise says that the tool is unknown |
/// | `/fail` | the run fails with `last_error.code` `server_error` |
/// | `/long N` | a reply of `N` tokens |
/// | anything else | `You said: <text>` |
///
/// After tool outputs are submitted, the reply quotes each output:
/// `NAME returned: OUTPUT`, one line per call.
///
/// Replies are streamed token by token, a token being a word with the
/// whitespace that follows it.
///
/// ```
/// use assistant_stream::server::{Scripted, Server};
///
/// let builder = Server::builder().model(Scripted::new());
/// # let _ = builder;
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Scripted {}

impl Scripted {
    /// The scripted model.
    pub fn new() -> Self {
        Scripted {}
    }

    /// The events of the answer to a turn, all at once.
    pub fn answer(&self, turn: &Turn) -> Vec<ModelEvent> {
        if !turn.tool_outputs.is_empty() {
            let reply = turn
                .tool_outputs
                .iter()
                .map(|call| {
                    format!(
                        "{} returned: {}",
                        call.function.name,
                        call.function.output.as_deref().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            return text_events(&reply);
        }
        let text = turn.last_user_text().unwrap_or_default();
        let trimmed = text.trim();
        if trimmed == "/fail" {
            return vec![ModelEvent::Fail(
                "The scripted model was asked to fail (/fail).".to_owned(),
            )];
        }
        if let Some(count) = trimmed.strip_prefix("/long ") {
            if let Ok(count) = count.trim().parse::<usize>() {
                return long_reply(count);
            }
        }
        let calls: Vec<(&str, &str)> = trimmed
            .lines()
            .filter_map(|line| line.trim().strip_prefix("/tool "))
            .map(|rest| {
                let rest = rest.trim();
                match rest.split_once(char::is_whitespace) {
                    Some((name, args)) => (name, args.trim()),
                    None => (rest, ""),
                }
            })
            .filter(|(name, _)| !name.is_empty())
            .collect();
        if !calls.is_empty() {
            let unknown: Vec<&str> = calls
                .iter()
                .map(|(name, _)| *name)
                .filter(|name| !turn.has_function(name))
                .collect();
            if !unknown.is_empty() {
                return text_events(&format!(
                    "I can't call {}: no such function tool is available to this run.",
                    unknown.join(", ")
                ));
            }
            return calls
                .into_iter()
                .map(|(name, args)| ModelEvent::ToolCall {
                    name: name.to_owned(),
                    arguments: if args.is_empty() {
                        "{}".to_owned()
                    } else {
                        args.to_owned()
                    },
                })
                .collect();
        }
        if trimmed.is_empty() {
            return text_events("You said nothing.");
        }
        text_events(&format!("You said: {text}"))
    }
}

impl Model for Scripted {
    fn respond(&self, turn: Turn) -> ModelStream {
        Box::pin(futures_util::stream::iter(self.answer(&turn)))
    }
}

const WORDS: [&str; 8] = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
];

fn long_reply(count: usize) -> Vec<ModelEvent> {
    (0..count)
        .map(|i| {
            let word = WORDS[i % WORDS.len()];
            ModelEvent::Text(if i + 1 == count {
                word.to_owned()
            } else {
                format!("{word} ")
            })
        })
        .collect()
}

/// Splits text into tokens: each word with the whitespace that follows it.
pub(crate) fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else if in_space {
            out.push(&text[start..i]);
            start = i;
            in_space = false;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

fn text_events(text: &str) -> Vec<ModelEvent> {
    tokens(text)
        .into_iter()
        .map(|t| ModelEvent::Text(t.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{FunctionDefinition, Message, MessageContent, Role, Run, Tool};

    fn turn(text: &str, tools: &[&str]) -> Turn {
        let message = Message {
            id: "msg_1".into(),
            object: "thread.message".into(),
            created_at: 0,
            thread_id: "thread_1".into(),
            status: None,
            incomplete_details: None,
            completed_at: None,
            incomplete_at: None,
            role: Role::User,
            content: vec![MessageContent::text(text)],
            assistant_id: None,
            run_id: None,
            attachments: vec![],
            metadata: Default::default(),
        };
        let run = Run {
            tools: tools
                .iter()
                .map(|n| Tool::function(FunctionDefinition::new(*n)))
                .collect(),
            ..Default::default()
        };
        Turn {
            run,
            messages: vec![message],
            tool_outputs: vec![],
            index: 0,
        }
    }

    fn text(events: &[ModelEvent]) -> String {
        events
            .iter()
            .map(|e| match e {
                ModelEvent::Text(t) => t.as_str(),
                _ => panic!("not text: {e:?}"),
            })
            .collect()
    }

    #[test]
    fn tokens_keep_following_whitespace() {
        assert_eq!(
            tokens("You said:  hi\nthere"),
            ["You ", "said:  ", "hi\n", "there"]
        );
        assert_eq!(tokens(""), Vec::<&str>::new());
    }

    #[test]
    fn echoes_long_and_fail() {
        let s = Scripted::new();
        assert_eq!(
            text(&s.answer(&turn("hello world", &[]))),
            "You said: hello world"
        );
        assert_eq!(s.answer(&turn("/long 5", &[])).len(), 5);
        assert!(matches!(
            s.answer(&turn("/fail", &[]))[..],
            [ModelEvent::Fail(_)]
        ));
    }

    #[test]
    fn tool_lines_call_known_functions_only() {
        let s = Scripted::new();
        let events = s.answer(&turn("/tool add {\"a\":1}\n/tool now", &["add", "now"]));
        assert_eq!(
            events,
            [
                ModelEvent::ToolCall {
                    name: "add".into(),
                    arguments: "{\"a\":1}".into()
                },
                ModelEvent::ToolCall {
                    name: "now".into(),
                    arguments: "{}".into()
                },
            ]
        );
        let unknown = text(&s.answer(&turn("/tool nope {}", &["add"])));
        assert!(unknown.contains("nope"), "{unknown}");
    }
}
