//! The scripted model: deterministic answers driven by the last user message
//! and the run's options. Its whole grammar is documented in one place, on
//! [`Scripted`].

use super::{FinishReason, Model, ModelEvent, ModelStream, Turn, argument_chunks, built_in_tool};
use crate::types::{
    FunctionToolCall, LastError, LastErrorCode, ResponseFormat, ToolCall, ToolChoice, Usage,
};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

/// The default model: deterministic, for tests, examples and demos. It answers
/// whatever `model` name a request gives, from the last user message it sees,
/// and honours the run's options, so that an app's branches (tool choice,
/// sequential calls, cut-off replies, JSON output, truncated history) can be
/// exercised offline.
///
/// # Messages
///
/// A message that is one of these commands as a whole (surrounding whitespace
/// aside):
///
/// | message | answer |
/// |---|---|
/// | `/fail` | the run fails with `last_error.code` `server_error` |
/// | `/long N` | a reply of `N` tokens (`lorem ipsum dolor …`; at most 100 000) |
/// | `/history` | what the model sees: `I see N messages:`, then one line per message, oldest first, `ROLE: TEXT` (the `/history` message itself is the last) |
///
/// Any other message is read line by line:
///
/// - A line `/tool NAME {json args}` asks for a call of the function tool
///   `NAME` with those arguments (`{}` when none are given). Several lines ask
///   for several calls, in order.
/// - The other lines are text. The text is answered `You said: TEXT` (the
///   whole message when it has no `/tool` line; else its other lines, joined
///   and trimmed; an empty message is answered `You said nothing.`).
///
/// The text's answer comes first, in a `message_creation` step, and the calls
/// after it, in a `tool_calls` step (the order the real API uses for a message
/// written before calling tools); the run then waits for the outputs
/// (`requires_action`). If a `/tool` line names a function the run does not
/// have, the whole answer is a reply saying so (`I can't call NAME: …`).
///
/// After the outputs are submitted, the calls still to make are made (see
/// `parallel_tool_calls`); once all are made, the reply quotes every call of
/// the run with its output, one line each, in call order:
/// `NAME returned: OUTPUT`.
///
/// Replies stream token by token, a token being a word with the whitespace
/// that follows it (`You said: hi` is three tokens).
///
/// # Run options
///
/// | option | what the scripted model does |
/// |---|---|
/// | `tool_choice` `auto` (the default) | as above |
/// | `tool_choice` `none` | calls no tool: the whole message, `/tool` lines included, is answered as text (`You said: …`) |
/// | `tool_choice` `required` | the answer to the message calls a tool: its `/tool` lines, or without one, the run's first function tool with `{}` (a reply says so if the run has no function tool). After the outputs it answers in text as usual rather than calling again, so that a client that answers every call cannot loop forever |
/// | `tool_choice` `{"type": "function", "function": {"name": "NAME"}}` | calls `NAME`: the message's `/tool NAME` lines (its other `/tool` lines are dropped), or without one, `NAME` with `{}` |
/// | any other `tool_choice` | as `auto` |
/// | `parallel_tool_calls` `false` | one call per step: the first call, then after its output the next, and so on; two `/tool` lines take two `requires_action` rounds (with `true`, the default, all calls go in one step) |
/// | `response_format` `json_object` | every text reply is the JSON object `{"reply": TEXT}` |
/// | `response_format` `json_schema` | every text reply is a minimal instance of the schema, its strings carrying `TEXT` (see below; `{"reply": TEXT}` when the format has no schema) |
/// | `response_format` `auto` or `text` | plain text |
/// | `truncation_strategy` `{"type": "last_messages", "last_messages": N}` | the model sees only the thread's last `N` messages (the server cuts them, for any model): it answers the last user message among them, and `/history` lists them |
/// | `max_completion_tokens` | the scripted model cuts its reply at what the run has left ([`Turn::completion_tokens_left`]), and the server enforces it for any model the same way: it counts the run's completion tokens over all its turns (one per text token, one per streamed chunk of function arguments, about 8 bytes). A reply that would pass the limit stops there: the message ends `incomplete` (`incomplete_details.reason` `max_tokens`), its step completes, and the run ends `incomplete` with `incomplete_details.reason` `max_completion_tokens` (events `thread.message.incomplete`, `thread.run.step.completed`, `thread.run.incomplete`, as the real API sends them). A function call is never cut: it is made whole and its chunks count |
///
/// A run whose tools include `code_interpreter` or `file_search`, or whose
/// `tool_choice` names one, fails at once with `last_error.code`
/// `invalid_prompt` and a message naming the tool: this server does not run
/// them yet, and a run that seemed to use them would hide it (the Chat
/// Completions model fails them the same way).
///
/// `model`, `instructions`, `temperature`, `top_p`, `max_prompt_tokens` and
/// `reasoning_effort` are stored and echoed, and do not change the answer.
///
/// Usage is the scripted model's own count, reported with each turn: the
/// words of the instructions, messages and tool outputs are its prompt
/// tokens, and its text tokens and argument pieces its completion tokens.
///
/// # JSON Schema instances
///
/// For `json_schema`, the reply is the smallest instance the scripted model
/// can build from the schema:
///
/// | schema | instance |
/// |---|---|
/// | `const`, `enum` | the value, the first value |
/// | `$ref` to `#` or a JSON pointer into the schema (`#/$defs/X`, `#/definitions/X`) | the instance of the referenced schema |
/// | `anyOf`, `oneOf` | the instance of the first branch that is not `{"type": "null"}` |
/// | `allOf` | the branches' instances merged (objects) |
/// | `object` (or `properties`/`required` without a type) | the `required` properties, each an instance of its schema |
/// | `array` | `minItems` items (none by default), from `prefixItems` (or an `items` array), then `items` |
/// | `string` | `TEXT`, cut to `maxLength` and padded with `.` to `minLength`; a fixed valid value for `format` `date-time`, `date`, `time`, `duration`, `email`, `hostname`, `ipv4`, `ipv6`, `uri`, `uuid` |
/// | `integer`, `number` | `0`, moved into `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum` and onto `multipleOf` |
/// | `boolean`, `null` | `false`, `null` |
/// | a list of types | the first type that is not `null` |
/// | `{}` or `true` | `TEXT` |
///
/// Not supported: `pattern` (the string is `TEXT` regardless), `not`,
/// `if`/`then`/`else`, `uniqueItems` with `minItems` over 1, `minProperties`,
/// `dependentRequired`, references outside the schema, and schemas nested
/// deeper than 32 levels (`null` there).
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
        if let Some(kind) = built_in_tool_asked(turn) {
            return vec![ModelEvent::Fail(built_in_tool(kind))];
        }
        let message = turn.last_user_text().unwrap_or_default();
        let script = Script::parse(&message);
        let made = calls_made(turn);
        let parallel = turn.run.parallel_tool_calls != Some(false);
        if turn.index > 0 || !turn.tool_outputs.is_empty() {
            // A turn after tool outputs: the calls still to make, or the outputs.
            let plan = plan(turn, &script).unwrap_or_default();
            let remaining = plan.get(made.len()..).unwrap_or_default();
            if !remaining.is_empty() {
                return call_events(remaining, parallel);
            }
            return say(turn, &quote_outputs(&made));
        }
        match script.command {
            Some(Command::Fail) => {
                return vec![ModelEvent::Fail(LastError::new(
                    LastErrorCode::ServerError,
                    "The scripted model was asked to fail (/fail).",
                ))];
            }
            Some(Command::Long(count)) => return say(turn, &long_text(count)),
            Some(Command::History) => return say(turn, &history(turn)),
            None => {}
        }
        if calls_ruled_out(turn) {
            return say(turn, &echo(&message));
        }
        let plan = match plan(turn, &script) {
            Ok(plan) => plan,
            Err(refusal) => return say(turn, &refusal),
        };
        let mut events = Vec::new();
        if plan.is_empty() || !script.text.trim().is_empty() {
            events = say(turn, &echo(&script.text));
        }
        events.extend(call_events(&plan, parallel));
        events
    }
}

impl Model for Scripted {
    /// The answer is made when the stream is first read, not when it is
    /// asked for: a Chat Completion with `n` choices holds one choice's
    /// answer at a time.
    fn respond(&self, turn: Turn) -> ModelStream {
        let scripted = self.clone();
        Box::pin(
            futures_util::stream::once(async move {
                futures_util::stream::iter(metered(scripted.answer(&turn), &turn))
            })
            .flatten(),
        )
    }
}

/// The answer as the server gets it: cut at the completion tokens the run
/// has left (a cut reply ends with [`FinishReason::Length`]; a call is
/// never cut), with the turn's usage in the scripted model's own count: a
/// word is a prompt token, and a completion token is a text token or a
/// piece of a call's arguments as the server streams them.
fn metered(events: Vec<ModelEvent>, turn: &Turn) -> Vec<ModelEvent> {
    let mut left = turn.completion_tokens_left;
    let mut completion = 0u64;
    let mut cut = false;
    let mut out = Vec::with_capacity(events.len() + 2);
    for event in events {
        let tokens = match &event {
            ModelEvent::Text(_) if left == Some(0) => {
                cut = true;
                break;
            }
            ModelEvent::Text(_) => 1,
            ModelEvent::ToolCall { arguments, .. } => argument_chunks(arguments).len() as u64,
            ModelEvent::Fail(_) => {
                out.push(event);
                return out;
            }
            _ => 0,
        };
        completion += tokens;
        left = left.map(|left| left.saturating_sub(tokens));
        out.push(event);
    }
    out.push(ModelEvent::Usage(Usage::new(
        prompt_tokens(turn),
        completion,
    )));
    if cut {
        out.push(ModelEvent::Finish(FinishReason::Length));
    }
    out
}

/// The prompt's words: instructions, messages and tool outputs.
fn prompt_tokens(turn: &Turn) -> u64 {
    let words = |s: &str| s.split_whitespace().count() as u64;
    turn.run.instructions.as_deref().map_or(0, words)
        + turn.messages.iter().map(|m| words(&m.text())).sum::<u64>()
        + turn
            .tool_outputs
            .iter()
            .map(|c| c.function.output.as_deref().map_or(0, words))
            .sum::<u64>()
}

/// A message that is a command as a whole.
enum Command {
    Fail,
    Long(usize),
    History,
}

/// A function call the message asks for.
#[derive(Clone, Debug, PartialEq)]
struct Call {
    name: String,
    arguments: String,
}

/// What the last user message asks for.
struct Script {
    command: Option<Command>,
    /// The `/tool` lines, in order.
    calls: Vec<Call>,
    /// The text to answer: the message without its `/tool` lines.
    text: String,
}

impl Script {
    fn parse(message: &str) -> Script {
        let trimmed = message.trim();
        let command = match trimmed {
            "/fail" => Some(Command::Fail),
            "/history" => Some(Command::History),
            _ => trimmed
                .strip_prefix("/long ")
                .and_then(|count| count.trim().parse::<usize>().ok())
                .map(|count| Command::Long(count.min(MAX_LONG))),
        };
        let mut calls = Vec::new();
        let mut text_lines = Vec::new();
        for line in trimmed.lines() {
            match tool_line(line) {
                Some(call) => calls.push(call),
                None => text_lines.push(line),
            }
        }
        let text = if calls.is_empty() {
            message.to_owned()
        } else {
            text_lines.join("\n").trim().to_owned()
        };
        Script {
            command,
            calls,
            text,
        }
    }
}

/// A `/tool NAME {json args}` line.
fn tool_line(line: &str) -> Option<Call> {
    let rest = line.trim().strip_prefix("/tool ")?.trim();
    let (name, arguments) = match rest.split_once(char::is_whitespace) {
        Some((name, arguments)) => (name, arguments.trim()),
        None => (rest, ""),
    };
    if name.is_empty() {
        return None;
    }
    Some(Call {
        name: name.to_owned(),
        arguments: if arguments.is_empty() {
            "{}".to_owned()
        } else {
            arguments.to_owned()
        },
    })
}

/// A built-in tool the run has or names in `tool_choice`, which the
/// scripted model cannot run.
fn built_in_tool_asked(turn: &Turn) -> Option<&str> {
    if let Some(tool) = turn
        .run
        .tools
        .iter()
        .find(|tool| tool.as_function().is_none())
    {
        return Some(tool.type_name());
    }
    match &turn.run.tool_choice {
        Some(ToolChoice::Tool(kind)) => Some(kind),
        _ => None,
    }
}

/// Whether the run's `tool_choice` rules out calling a function.
fn calls_ruled_out(turn: &Turn) -> bool {
    matches!(
        turn.run.tool_choice,
        Some(ToolChoice::None | ToolChoice::Tool(_))
    )
}

/// The calls that answer the message under the run's `tool_choice` (all of
/// them, also those made in earlier turns), or the reply that refuses them.
fn plan(turn: &Turn, script: &Script) -> Result<Vec<Call>, String> {
    if calls_ruled_out(turn) {
        return Ok(Vec::new());
    }
    let unknown: Vec<&str> = script
        .calls
        .iter()
        .map(|call| call.name.as_str())
        .filter(|name| !turn.has_function(name))
        .collect();
    let forced = match &turn.run.tool_choice {
        Some(ToolChoice::Function(name)) => Some(name.as_str()),
        _ => None,
    };
    if let Some(name) = forced {
        if !turn.has_function(name) {
            return Err(cannot_call(&[name]));
        }
        let calls: Vec<Call> = script
            .calls
            .iter()
            .filter(|call| call.name == name)
            .cloned()
            .collect();
        if calls.is_empty() {
            return Ok(vec![Call {
                name: name.to_owned(),
                arguments: "{}".to_owned(),
            }]);
        }
        return Ok(calls);
    }
    if !unknown.is_empty() {
        return Err(cannot_call(&unknown));
    }
    if script.calls.is_empty() && turn.run.tool_choice == Some(ToolChoice::Required) {
        let first = turn
            .run
            .tools
            .iter()
            .find_map(|tool| tool.as_function())
            .ok_or_else(|| {
                "I can't call a tool: this run has no function tools (tool_choice is required)."
                    .to_owned()
            })?;
        return Ok(vec![Call {
            name: first.name.clone(),
            arguments: "{}".to_owned(),
        }]);
    }
    Ok(script.calls.clone())
}

fn cannot_call(names: &[&str]) -> String {
    format!(
        "I can't call {}: no such function tool is available to this run.",
        names.join(", ")
    )
}

/// The calls of a step: all of them, or with `parallel_tool_calls: false`
/// only the first.
fn call_events(calls: &[Call], parallel: bool) -> Vec<ModelEvent> {
    let count = if parallel { calls.len() } else { 1 };
    calls
        .iter()
        .take(count)
        .map(|call| ModelEvent::ToolCall {
            name: call.name.clone(),
            arguments: call.arguments.clone(),
        })
        .collect()
}

/// The function calls the run has made so far, in order, with their outputs:
/// those of its steps, and any submitted output the steps do not hold.
fn calls_made(turn: &Turn) -> Vec<FunctionToolCall> {
    let mut calls: Vec<FunctionToolCall> = turn
        .steps
        .iter()
        .flat_map(|step| step.tool_calls())
        .filter_map(|call| match call {
            ToolCall::Function(call) => Some(call.clone()),
            _ => None,
        })
        .collect();
    for output in &turn.tool_outputs {
        match calls.iter_mut().find(|call| call.id == output.id) {
            Some(call) if call.function.output.is_none() => {
                call.function.output.clone_from(&output.function.output);
            }
            Some(_) => {}
            None => calls.push(output.clone()),
        }
    }
    calls
}

fn quote_outputs(calls: &[FunctionToolCall]) -> String {
    calls
        .iter()
        .map(|call| {
            format!(
                "{} returned: {}",
                call.function.name,
                call.function.output.as_deref().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn echo(text: &str) -> String {
    if text.trim().is_empty() {
        "You said nothing.".to_owned()
    } else {
        format!("You said: {text}")
    }
}

fn history(turn: &Turn) -> String {
    let count = turn.messages.len();
    let mut out = format!(
        "I see {count} message{}:",
        if count == 1 { "" } else { "s" }
    );
    for message in &turn.messages {
        out.push_str(&format!("\n{}: {}", message.role, message.text()));
    }
    out
}

/// The longest `/long` reply, in tokens: long enough for any limit, short
/// enough that a typo cannot exhaust the server's memory.
const MAX_LONG: usize = 100_000;

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

fn long_text(count: usize) -> String {
    (0..count)
        .map(|i| WORDS[i % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

/// A text reply in the run's `response_format`, as tokens.
fn say(turn: &Turn, text: &str) -> Vec<ModelEvent> {
    let body = match &turn.run.response_format {
        Some(ResponseFormat::JsonObject) => json!({ "reply": text }).to_string(),
        Some(ResponseFormat::JsonSchema(format)) => match &format.schema {
            Some(schema) => instance(schema, schema, text, 0).to_string(),
            None => json!({ "reply": text }).to_string(),
        },
        _ => text.to_owned(),
    };
    tokens(&body)
        .into_iter()
        .map(|token| ModelEvent::Text(token.to_owned()))
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

// ---- JSON Schema instances ----

/// How deep an instance goes into nested (or recursive) schemas.
const MAX_DEPTH: usize = 32;
/// The most items or characters an instance pads to, whatever the schema's
/// `minItems` or `minLength` say (an answer, not a memory bomb).
const MAX_PAD: usize = 10_000;

/// A minimal instance of `schema` (part of `root`), its strings carrying
/// `text`. See the table on [`Scripted`].
fn instance(schema: &Value, root: &Value, text: &str, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    let Some(obj) = schema.as_object() else {
        // `true` (or anything that is not a schema object) accepts any value.
        return Value::String(text.to_owned());
    };
    if let Some(target) = obj
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|reference| resolve(root, reference))
    {
        return instance(target, root, text, depth + 1);
    }
    if let Some(value) = obj.get("const") {
        return value.clone();
    }
    if let Some(first) = obj
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|values| values.first())
    {
        return first.clone();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = obj.get(key).and_then(Value::as_array)
            && let Some(branch) = branches
                .iter()
                .find(|branch| !is_null_schema(branch))
                .or(branches.first())
        {
            return instance(branch, root, text, depth + 1);
        }
    }
    if let Some(branches) = obj.get("allOf").and_then(Value::as_array) {
        let mut own = obj.clone();
        own.remove("allOf");
        let mut parts: Vec<Value> = Vec::new();
        if ["type", "properties", "required"]
            .iter()
            .any(|key| own.contains_key(*key))
        {
            parts.push(instance(&Value::Object(own), root, text, depth + 1));
        }
        parts.extend(
            branches
                .iter()
                .map(|branch| instance(branch, root, text, depth + 1)),
        );
        if parts.iter().all(Value::is_object) {
            let mut merged = Map::new();
            for part in parts {
                if let Value::Object(part) = part {
                    merged.extend(part);
                }
            }
            return Value::Object(merged);
        }
        return parts.into_iter().next().unwrap_or(Value::Null);
    }
    match schema_type(obj) {
        "object" => object_instance(obj, root, text, depth),
        "array" => array_instance(obj, root, text, depth),
        "string" => string_instance(obj, text),
        "integer" => number_instance(obj, true),
        "number" => number_instance(obj, false),
        "boolean" => Value::Bool(false),
        "null" => Value::Null,
        _ => Value::String(text.to_owned()),
    }
}

/// A `$ref` to `#` or a JSON pointer into the root schema.
fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    match reference {
        "#" => Some(root),
        _ => root.pointer(reference.strip_prefix('#')?),
    }
}

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

/// The schema's type: given (the first that is not `null` of a list), or
/// read from the keywords it uses.
fn schema_type(obj: &Map<String, Value>) -> &str {
    match obj.get("type") {
        Some(Value::String(kind)) => kind,
        Some(Value::Array(kinds)) => {
            let mut names = kinds.iter().filter_map(Value::as_str);
            let first = names.clone().next().unwrap_or("");
            names.find(|kind| *kind != "null").unwrap_or(first)
        }
        _ => {
            let has = |keys: &[&str]| keys.iter().any(|key| obj.contains_key(*key));
            if has(&["properties", "required", "additionalProperties"]) {
                "object"
            } else if has(&["items", "prefixItems", "minItems", "maxItems"]) {
                "array"
            } else if has(&["minLength", "maxLength", "pattern", "format"]) {
                "string"
            } else if has(&["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]) {
                "number"
            } else {
                ""
            }
        }
    }
}

fn object_instance(obj: &Map<String, Value>, root: &Value, text: &str, depth: usize) -> Value {
    let properties = obj.get("properties").and_then(Value::as_object);
    let any = Value::Bool(true);
    let mut out = Map::new();
    for name in obj
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let schema = properties.and_then(|p| p.get(name)).unwrap_or(&any);
        out.insert(name.to_owned(), instance(schema, root, text, depth + 1));
    }
    Value::Object(out)
}

fn array_instance(obj: &Map<String, Value>, root: &Value, text: &str, depth: usize) -> Value {
    let count = obj
        .get("minItems")
        .and_then(Value::as_u64)
        .map_or(0, |n| n.min(MAX_PAD as u64) as usize);
    // `prefixItems` (2020-12), or `items` as an array (draft 7) with
    // `additionalItems` for the rest.
    let (prefix, rest) = match (obj.get("prefixItems"), obj.get("items")) {
        (Some(Value::Array(prefix)), rest) => (prefix.as_slice(), rest),
        (_, Some(Value::Array(prefix))) => (prefix.as_slice(), obj.get("additionalItems")),
        (_, rest) => (&[][..], rest),
    };
    let any = Value::Bool(true);
    let rest = rest.unwrap_or(&any);
    Value::Array(
        (0..count)
            .map(|i| instance(prefix.get(i).unwrap_or(rest), root, text, depth + 1))
            .collect(),
    )
}

fn string_instance(obj: &Map<String, Value>, text: &str) -> Value {
    let fixed = match obj.get("format").and_then(Value::as_str) {
        Some("date-time") => Some("1970-01-01T00:00:00Z"),
        Some("date") => Some("1970-01-01"),
        Some("time") => Some("00:00:00Z"),
        Some("duration") => Some("P1D"),
        Some("email" | "idn-email") => Some("user@example.com"),
        Some("hostname" | "idn-hostname") => Some("example.com"),
        Some("ipv4") => Some("127.0.0.1"),
        Some("ipv6") => Some("::1"),
        Some("uri" | "iri" | "uri-reference" | "iri-reference") => Some("https://example.com/"),
        Some("uuid") => Some("00000000-0000-0000-0000-000000000000"),
        _ => None,
    };
    let mut value = fixed.unwrap_or(text).to_owned();
    let length = |key: &str| {
        obj.get(key)
            .and_then(Value::as_u64)
            .map(|n| n.min(MAX_PAD as u64) as usize)
    };
    if let Some(max) = length("maxLength") {
        value = value.chars().take(max).collect();
    }
    if let Some(min) = length("minLength") {
        let missing = min.saturating_sub(value.chars().count());
        value.extend(std::iter::repeat_n('.', missing));
    }
    Value::String(value)
}

/// `0`, or the first value within the schema's bounds (and on its
/// `multipleOf`): the lower bound, the upper bound, or their middle.
fn number_instance(obj: &Map<String, Value>, integer: bool) -> Value {
    let number = |key: &str| obj.get(key).and_then(Value::as_f64);
    // Draft 4 spells exclusive bounds as booleans beside minimum/maximum.
    let flag = |key: &str| obj.get(key).and_then(Value::as_bool).unwrap_or(false);
    let lower = match (number("minimum"), number("exclusiveMinimum")) {
        (Some(min), Some(xmin)) if xmin >= min => Some((xmin, true)),
        (Some(min), _) => Some((min, flag("exclusiveMinimum"))),
        (None, Some(xmin)) => Some((xmin, true)),
        (None, None) => None,
    };
    let upper = match (number("maximum"), number("exclusiveMaximum")) {
        (Some(max), Some(xmax)) if xmax <= max => Some((xmax, true)),
        (Some(max), _) => Some((max, flag("exclusiveMaximum"))),
        (None, Some(xmax)) => Some((xmax, true)),
        (None, None) => None,
    };
    let step = number("multipleOf").filter(|m| *m > 0.0);
    let fits = |v: f64| {
        lower.is_none_or(|(b, exclusive)| if exclusive { v > b } else { v >= b })
            && upper.is_none_or(|(b, exclusive)| if exclusive { v < b } else { v <= b })
            && (!integer || v.fract() == 0.0)
            && step.is_none_or(|m| (v / m - (v / m).round()).abs() < 1e-9)
    };
    let nudge = if integer { 1.0 } else { step.unwrap_or(1.0) };
    let mut candidates = vec![0.0];
    if let Some((b, _)) = lower {
        let mut v = if integer { b.ceil() } else { b };
        if let Some(m) = step {
            v = (v / m).ceil() * m;
        }
        // The bound itself, or (if it is exclusive) the next value after it.
        candidates.push(v);
        candidates.push(v + nudge);
    }
    if let Some((b, _)) = upper {
        let mut v = if integer { b.floor() } else { b };
        if let Some(m) = step {
            v = (v / m).floor() * m;
        }
        candidates.push(v);
        candidates.push(v - nudge);
    }
    if let (Some((lo, _)), Some((hi, _))) = (lower, upper) {
        let middle = (lo + hi) / 2.0;
        candidates.push(if integer { middle.floor() } else { middle });
    }
    let value = candidates
        .into_iter()
        .find(|v| fits(*v))
        .or(lower.map(|(b, _)| b))
        .unwrap_or(0.0);
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        Value::from(value as i64)
    } else {
        Value::from(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{
        FunctionDefinition, JsonSchemaFormat, Message, MessageContent, Role, Run, RunStep, Tool,
    };

    fn message(role: Role, text: &str) -> Message {
        make!(Message {
            id: "msg_1".into(),
            object: "thread.message".into(),
            created_at: 0,
            thread_id: "thread_1".into(),
            status: None,
            incomplete_details: None,
            completed_at: None,
            incomplete_at: None,
            role,
            content: vec![MessageContent::text(text)],
            assistant_id: None,
            run_id: None,
            attachments: vec![],
            metadata: Default::default(),
        })
    }

    fn turn(text: &str, tools: &[&str]) -> Turn {
        let run = make!(Run {
            tools: tools
                .iter()
                .map(|n| Tool::function(FunctionDefinition::new(*n)))
                .collect(),
            ..Default::default()
        });
        Turn {
            run,
            messages: vec![message(Role::User, text)],
            steps: vec![],
            tool_outputs: vec![],
            index: 0,
            completion_tokens_left: None,
        }
    }

    /// A completed tool step with these calls and outputs.
    fn tool_step(calls: &[(&str, &str, &str)]) -> RunStep {
        let calls: Vec<Value> = calls
            .iter()
            .map(|(id, name, output)| {
                json!({"id": id, "type": "function",
                       "function": {"name": name, "arguments": "{}", "output": output}})
            })
            .collect();
        serde_json::from_value(json!({
            "id": "step_1", "object": "thread.run.step", "created_at": 0,
            "assistant_id": "asst_1", "thread_id": "thread_1", "run_id": "run_1",
            "type": "tool_calls", "status": "completed",
            "step_details": {"type": "tool_calls", "tool_calls": calls}
        }))
        .unwrap()
    }

    /// The turn after the outputs of `steps` (the last one's calls submitted).
    fn after(mut turn: Turn, steps: Vec<RunStep>) -> Turn {
        turn.tool_outputs = steps
            .last()
            .map(|step| {
                step.tool_calls()
                    .iter()
                    .filter_map(|c| match c {
                        ToolCall::Function(c) => Some(c.clone()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        turn.index = steps.len();
        turn.steps = steps;
        turn
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

    fn call(name: &str, arguments: &str) -> ModelEvent {
        ModelEvent::ToolCall {
            name: name.into(),
            arguments: arguments.into(),
        }
    }

    /// The text before the calls, and the calls.
    fn split(events: Vec<ModelEvent>) -> (String, Vec<ModelEvent>) {
        let (texts, calls): (Vec<_>, Vec<_>) = events
            .into_iter()
            .partition(|e| matches!(e, ModelEvent::Text(_)));
        (text(&texts), calls)
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
        assert_eq!(text(&s.answer(&turn("  ", &[]))), "You said nothing.");
        let long = s.answer(&turn("/long 5", &[]));
        assert_eq!(long.len(), 5);
        assert_eq!(text(&long), "lorem ipsum dolor sit amet");
        assert_eq!(s.answer(&turn("/long 99999999999", &[])).len(), MAX_LONG);
        assert!(matches!(
            s.answer(&turn("/fail", &[]))[..],
            [ModelEvent::Fail(_)]
        ));
    }

    #[test]
    fn tool_lines_call_known_functions_only() {
        let s = Scripted::new();
        let events = s.answer(&turn("/tool add {\"a\":1}\n/tool now", &["add", "now"]));
        assert_eq!(events, [call("add", "{\"a\":1}"), call("now", "{}")]);
        let unknown = text(&s.answer(&turn("/tool nope {}", &["add"])));
        assert_eq!(
            unknown,
            "I can't call nope: no such function tool is available to this run."
        );
    }

    #[test]
    fn text_around_tool_lines_is_answered_before_the_calls() {
        let s = Scripted::new();
        let (said, calls) = split(s.answer(&turn(
            "Let me check.\n/tool f {\"x\":1}\nand then more\n/tool g",
            &["f", "g"],
        )));
        assert_eq!(said, "You said: Let me check.\nand then more");
        assert_eq!(calls, [call("f", "{\"x\":1}"), call("g", "{}")]);
        // The text comes first.
        let events = s.answer(&turn("/tool f\nafter", &["f"]));
        assert!(matches!(events.first(), Some(ModelEvent::Text(_))));
        assert_eq!(events.last(), Some(&call("f", "{}")));
    }

    #[test]
    fn outputs_are_quoted_after_all_calls() {
        let s = Scripted::new();
        let first = turn("/tool a\n/tool b", &["a", "b"]);
        let next = after(
            first,
            vec![tool_step(&[("call_1", "a", "one"), ("call_2", "b", "two")])],
        );
        assert_eq!(text(&s.answer(&next)), "a returned: one\nb returned: two");
    }

    #[test]
    fn tool_choice_none_answers_in_text() {
        let s = Scripted::new();
        let mut t = turn("/tool f {}", &["f"]);
        t.run.tool_choice = Some(ToolChoice::None);
        assert_eq!(text(&s.answer(&t)), "You said: /tool f {}");
    }

    #[test]
    fn built_in_tools_fail_the_turn_with_invalid_prompt() {
        let s = Scripted::new();
        let mut t = turn("/tool f {}", &["f"]);
        t.run.tool_choice = Some(ToolChoice::Tool("file_search".into()));
        let events = s.answer(&t);
        let [ModelEvent::Fail(error)] = events.as_slice() else {
            panic!("{events:?}");
        };
        assert_eq!(error.code.as_str(), "invalid_prompt");
        assert!(error.message.contains("file_search"), "{}", error.message);
        let mut t = turn("hi", &["f"]);
        t.run.tools.push(Tool::code_interpreter());
        let events = s.answer(&t);
        assert!(
            matches!(events.as_slice(), [ModelEvent::Fail(error)] if error.message.contains("code_interpreter")),
            "{events:?}"
        );
    }

    #[test]
    fn tool_choice_required_always_calls() {
        let s = Scripted::new();
        let mut t = turn("hello", &["first", "second"]);
        t.run.tool_choice = Some(ToolChoice::Required);
        let (said, calls) = split(s.answer(&t));
        assert_eq!(said, "You said: hello");
        assert_eq!(calls, [call("first", "{}")]);
        // Its own lines, when it has them.
        let mut t = turn("/tool second {\"n\":2}", &["first", "second"]);
        t.run.tool_choice = Some(ToolChoice::Required);
        assert_eq!(s.answer(&t), [call("second", "{\"n\":2}")]);
        // After the outputs, text (no endless calls).
        let next = after(t, vec![tool_step(&[("call_1", "second", "ok")])]);
        assert_eq!(text(&s.answer(&next)), "second returned: ok");
        // No function tool to call.
        let mut t = turn("hello", &[]);
        t.run.tool_choice = Some(ToolChoice::Required);
        assert!(text(&s.answer(&t)).contains("no function tools"));
    }

    #[test]
    fn tool_choice_function_calls_that_one() {
        let s = Scripted::new();
        let mut t = turn("/tool a {\"x\":1}\n/tool b {\"y\":2}", &["a", "b"]);
        t.run.tool_choice = Some(ToolChoice::Function("b".into()));
        assert_eq!(s.answer(&t), [call("b", "{\"y\":2}")]);
        let mut t = turn("just talk", &["a", "b"]);
        t.run.tool_choice = Some(ToolChoice::Function("a".into()));
        let (said, calls) = split(s.answer(&t));
        assert_eq!(said, "You said: just talk");
        assert_eq!(calls, [call("a", "{}")]);
        t.run.tool_choice = Some(ToolChoice::Function("missing".into()));
        assert!(text(&s.answer(&t)).contains("I can't call missing"));
    }

    #[test]
    fn sequential_calls_one_per_turn() {
        let s = Scripted::new();
        let mut first = turn("Go.\n/tool a {\"n\":1}\n/tool b {\"n\":2}", &["a", "b"]);
        first.run.parallel_tool_calls = Some(false);
        let (said, calls) = split(s.answer(&first));
        assert_eq!(said, "You said: Go.");
        assert_eq!(calls, [call("a", "{\"n\":1}")]);
        let step_a = tool_step(&[("call_1", "a", "A")]);
        let second = after(first.clone(), vec![step_a.clone()]);
        assert_eq!(s.answer(&second), [call("b", "{\"n\":2}")]);
        let step_b = tool_step(&[("call_2", "b", "B")]);
        let third = after(first, vec![step_a, step_b]);
        assert_eq!(text(&s.answer(&third)), "a returned: A\nb returned: B");
    }

    #[test]
    fn json_object_replies_are_json() {
        let s = Scripted::new();
        let mut t = turn("hi", &[]);
        t.run.response_format = Some(ResponseFormat::JsonObject);
        let reply: Value = serde_json::from_str(&text(&s.answer(&t))).unwrap();
        assert_eq!(reply, json!({"reply": "You said: hi"}));
        let mut t = turn("/long 4", &[]);
        t.run.response_format = Some(ResponseFormat::JsonObject);
        let long = s.answer(&t);
        assert_eq!(long.len(), 4, "as many tokens as the plain reply");
        let reply: Value = serde_json::from_str(&text(&long)).unwrap();
        assert_eq!(reply, json!({"reply": "lorem ipsum dolor sit"}));
    }

    fn schema_reply(schema: Value) -> Value {
        let mut t = turn("hi", &[]);
        let format: JsonSchemaFormat =
            serde_json::from_value(json!({"name": "answer", "schema": schema})).unwrap();
        t.run.response_format = Some(ResponseFormat::JsonSchema(format));
        serde_json::from_str(&text(&Scripted::new().answer(&t))).unwrap()
    }

    #[test]
    fn json_schema_replies_are_minimal_instances() {
        let schema = json!({
            "type": "object",
            "properties": {
                "answer": {"type": "string"},
                "short": {"type": "string", "maxLength": 3},
                "padded": {"type": "string", "minLength": 12},
                "when": {"type": "string", "format": "date-time"},
                "count": {"type": "integer", "minimum": 3},
                "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                "even": {"type": "integer", "minimum": 5, "multipleOf": 2},
                "ok": {"type": "boolean"},
                "mood": {"enum": ["happy", "sad"]},
                "kind": {"const": "reply"},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                "none": {"type": "array", "items": {"type": "string"}},
                "maybe": {"type": ["null", "integer"]},
                "either": {"anyOf": [{"type": "null"}, {"type": "boolean"}]},
                "nested": {"type": "object", "properties": {"deep": {"$ref": "#/$defs/deep"}},
                           "required": ["deep"]},
                "both": {"allOf": [
                    {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                    {"type": "object", "properties": {"b": {"type": "boolean"}}, "required": ["b"]}
                ]},
                "optional": {"type": "string"}
            },
            "required": ["answer", "short", "padded", "when", "count", "ratio", "even", "ok",
                         "mood", "kind", "tags", "none", "maybe", "either", "nested", "both"],
            "additionalProperties": false,
            "$defs": {"deep": {"type": "object", "properties": {"n": {"type": "number", "maximum": -2}},
                               "required": ["n"]}}
        });
        assert_eq!(
            schema_reply(schema),
            json!({
                "answer": "You said: hi",
                "short": "You",
                "padded": "You said: hi",
                "when": "1970-01-01T00:00:00Z",
                "count": 3,
                "ratio": 0.5,
                "even": 6,
                "ok": false,
                "mood": "happy",
                "kind": "reply",
                "tags": ["You said: hi", "You said: hi"],
                "none": [],
                "maybe": 0,
                "either": false,
                "nested": {"deep": {"n": -2}},
                "both": {"a": 0, "b": false}
            })
        );
        assert_eq!(
            schema_reply(json!({"type": "string", "minLength": 15})),
            json!("You said: hi...")
        );
        assert_eq!(schema_reply(json!({})), json!("You said: hi"));
        // A recursive schema ends, and a required self-reference ends in null.
        let recursive = json!({"type": "object", "properties": {"next": {"$ref": "#"}},
                               "required": ["next"]});
        let mut value = &schema_reply(recursive);
        let mut depth = 0;
        while let Some(next) = value.get("next") {
            value = next;
            depth += 1;
        }
        assert!(value.is_null() && depth <= MAX_DEPTH, "{depth}");
    }

    #[test]
    fn history_lists_what_the_model_sees() {
        let s = Scripted::new();
        let mut t = turn("/history", &[]);
        t.messages
            .insert(0, message(Role::Assistant, "You said: one"));
        t.messages.insert(0, message(Role::User, "one"));
        assert_eq!(
            text(&s.answer(&t)),
            "I see 3 messages:\nuser: one\nassistant: You said: one\nuser: /history"
        );
        assert_eq!(
            text(&s.answer(&turn("/history", &[]))),
            "I see 1 message:\nuser: /history"
        );
    }
}
