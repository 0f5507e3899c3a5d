//! [`Tool`]: what an assistant can call, and [`FunctionTool`]: a Rust
//! function as a tool.

use crate::types::{self, FunctionDefinition};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// Something an assistant can use: a function of yours, or a built-in tool
/// of the server ([`CodeInterpreter`], [`FileSearch`]).
///
/// Most tools are made with [`FunctionTool`]; implement the trait yourself
/// for a tool whose schema you write by hand.
///
/// ```
/// use assistant_stream::agent::{Tool, ToolResult};
/// use futures_util::future::BoxFuture;
/// use serde_json::{Value, json};
///
/// struct Clock;
///
/// impl Tool for Clock {
///     fn name(&self) -> &str {
///         "clock"
///     }
///     fn description(&self) -> Option<&str> {
///         Some("The current Unix time.")
///     }
///     fn parameters(&self) -> Option<Value> {
///         Some(json!({"type": "object", "properties": {}}))
///     }
///     fn call<'a>(&'a self, _arguments: &'a str) -> BoxFuture<'a, ToolResult> {
///         Box::pin(async { ToolResult::output("1700000000") })
///     }
/// }
///
/// assert_eq!(Clock.spec().as_function().unwrap().name, "clock");
/// ```
pub trait Tool: Send + Sync + 'static {
    /// The name the model calls the tool by.
    fn name(&self) -> &str;

    /// What the tool does, for the model.
    fn description(&self) -> Option<&str> {
        None
    }

    /// The JSON schema of the arguments.
    fn parameters(&self) -> Option<Value> {
        None
    }

    /// The tool as the API declares it: a `function` tool by default.
    fn spec(&self) -> types::Tool {
        let mut function = FunctionDefinition::new(self.name());
        function.description = self.description().map(str::to_owned);
        function.parameters = self.parameters();
        types::Tool::function(function)
    }

    /// Whether a call of this tool is answered by [`call`](Tool::call)
    /// (false for built-in tools, which the server runs).
    fn is_callable(&self) -> bool {
        true
    }

    /// Runs the tool on the arguments the model gave (a JSON text).
    fn call<'a>(&'a self, arguments: &'a str) -> BoxFuture<'a, ToolResult>;
}

impl fmt::Debug for dyn Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tool")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

/// What a tool call produced: an output for the model, an error (which the
/// model is told about), or the end of the run.
///
/// ```
/// use assistant_stream::agent::ToolResult;
/// use serde_json::json;
///
/// assert_eq!(ToolResult::output("42").as_output(), Some("42"));
/// assert_eq!(ToolResult::json(&json!([3, 5])).as_output(), Some("[3,5]"));
/// assert!(ToolResult::error("no such city").is_error());
/// assert_eq!(ToolResult::end_run(json!({"done": true})).as_end_run(), Some(&json!({"done": true})));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ToolResult {
    /// The output to submit, as is.
    Output(String),
    /// The tool failed; the model gets `Error calling tool NAME: MESSAGE`.
    Error(String),
    /// The tool ends the run: the run is cancelled and the value kept on
    /// the [`RunResult`](super::RunResult).
    EndRun(Value),
}

impl ToolResult {
    /// An output, submitted as is.
    pub fn output(output: impl Into<String>) -> Self {
        ToolResult::Output(output.into())
    }

    /// A value as output: a JSON string is submitted without its quotes,
    /// anything else as JSON text.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        match serde_json::to_value(value) {
            Ok(Value::String(text)) => ToolResult::Output(text),
            Ok(other) => ToolResult::Output(other.to_string()),
            Err(err) => ToolResult::Error(format!("the output could not be serialized: {err}")),
        }
    }

    /// A failure, reported to the model.
    pub fn error(message: impl fmt::Display) -> Self {
        ToolResult::Error(message.to_string())
    }

    /// Ends the run early, keeping `value` (serialized to JSON).
    pub fn end_run<T: Serialize>(value: T) -> Self {
        match serde_json::to_value(value) {
            Ok(value) => ToolResult::EndRun(value),
            Err(err) => {
                ToolResult::Error(format!("the end-run value could not be serialized: {err}"))
            }
        }
    }

    /// The output, if this is one.
    pub fn as_output(&self) -> Option<&str> {
        match self {
            ToolResult::Output(output) => Some(output),
            _ => None,
        }
    }

    /// Whether the tool failed.
    pub fn is_error(&self) -> bool {
        matches!(self, ToolResult::Error(_))
    }

    /// The end-run value, if the tool ends the run.
    pub fn as_end_run(&self) -> Option<&Value> {
        match self {
            ToolResult::EndRun(value) => Some(value),
            _ => None,
        }
    }
}

/// What a tool function may return; see [`FunctionTool`].
///
/// Implemented for [`ToolResult`], `Result<T, E>` (`T: Serialize`, `E:
/// Display`; an `Err` is reported to the model), `String`, `&str`,
/// [`serde_json::Value`], numbers, `bool`, `()`, and `Vec`, `Option` and
/// maps of serializable values. For a struct of your own, return
/// `Ok::<_, std::convert::Infallible>(value)` or [`ToolResult::json`].
pub trait IntoToolResult {
    /// The result.
    fn into_tool_result(self) -> ToolResult;
}

impl IntoToolResult for ToolResult {
    fn into_tool_result(self) -> ToolResult {
        self
    }
}

impl<T: Serialize, E: fmt::Display> IntoToolResult for Result<T, E> {
    fn into_tool_result(self) -> ToolResult {
        match self {
            Ok(value) => ToolResult::json(&value),
            Err(err) => ToolResult::error(err),
        }
    }
}

impl IntoToolResult for String {
    fn into_tool_result(self) -> ToolResult {
        ToolResult::Output(self)
    }
}

impl IntoToolResult for &str {
    fn into_tool_result(self) -> ToolResult {
        ToolResult::Output(self.to_owned())
    }
}

impl IntoToolResult for Cow<'_, str> {
    fn into_tool_result(self) -> ToolResult {
        ToolResult::Output(self.into_owned())
    }
}

macro_rules! json_results {
    ($($ty:ty),* $(,)?) => {$(
        impl IntoToolResult for $ty {
            fn into_tool_result(self) -> ToolResult {
                ToolResult::json(&self)
            }
        }
    )*};
}

json_results!(
    Value,
    bool,
    (),
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    f32,
    f64
);

impl<T: Serialize> IntoToolResult for Vec<T> {
    fn into_tool_result(self) -> ToolResult {
        ToolResult::json(&self)
    }
}

impl<T: Serialize> IntoToolResult for Option<T> {
    fn into_tool_result(self) -> ToolResult {
        ToolResult::json(&self)
    }
}

impl<K: Serialize + Ord, V: Serialize> IntoToolResult for std::collections::BTreeMap<K, V> {
    fn into_tool_result(self) -> ToolResult {
        ToolResult::json(&self)
    }
}

impl<K: Serialize + Eq + std::hash::Hash, V: Serialize, S> IntoToolResult
    for std::collections::HashMap<K, V, S>
{
    fn into_tool_result(self) -> ToolResult {
        ToolResult::json(&self)
    }
}

type CallFn = dyn Fn(&str) -> BoxFuture<'static, ToolResult> + Send + Sync;

/// A Rust function as a tool: an async function or closure taking one
/// argument of a `Deserialize + JsonSchema` type.
///
/// The parameters' JSON schema comes from the argument type; so do the name
/// (the type's name in `snake_case`) and the description (the type's doc
/// comment), unless given. Arguments are parsed before the call: invalid
/// JSON, a missing or mistyped field is reported to the model as `Error
/// calling tool NAME: ...`, as is an `Err` the function returns or a panic.
///
/// ```
/// use assistant_stream::agent::{FunctionTool, Tool};
/// use schemars::JsonSchema;
/// use serde::Deserialize;
///
/// /// Roll dice and return their values.
/// #[derive(Deserialize, JsonSchema)]
/// struct RollDice {
///     /// How many dice to roll.
///     n_dice: u32,
/// }
///
/// let roll_dice = FunctionTool::from_fn(|args: RollDice| async move {
///     (0..args.n_dice).map(|i| 1 + i % 6).collect::<Vec<u32>>()
/// });
/// assert_eq!(roll_dice.name(), "roll_dice");
/// assert_eq!(roll_dice.description(), Some("Roll dice and return their values."));
/// assert_eq!(roll_dice.parameters().unwrap()["required"][0], "n_dice");
///
/// // Or with a name and description of your own:
/// let roll = FunctionTool::new("roll", "Roll some dice", |args: RollDice| async move {
///     Ok::<_, String>(vec![6; args.n_dice as usize])
/// });
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert_eq!(roll.call(r#"{"n_dice": 2}"#).await.as_output(), Some("[6,6]"));
/// assert!(roll.call(r#"{"dice": 2}"#).await.is_error());
/// # });
/// ```
#[derive(Clone)]
pub struct FunctionTool {
    name: String,
    description: Option<String>,
    parameters: Value,
    strict: Option<bool>,
    call: Arc<CallFn>,
}

impl FunctionTool {
    /// A tool named `name`, described as `description`, that calls `function`.
    pub fn new<A, F, Fut, R>(
        name: impl Into<String>,
        description: impl Into<String>,
        function: F,
    ) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoToolResult,
    {
        Self::from_fn(function)
            .with_name(name)
            .with_description(description)
    }

    /// A tool calling `function`, named and described after its argument type.
    pub fn from_fn<A, F, Fut, R>(function: F) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoToolResult,
    {
        let (parameters, title, description) = parameters_schema::<A>();
        let function = Arc::new(function);
        let call = move |arguments: &str| -> BoxFuture<'static, ToolResult> {
            let arguments = if arguments.trim().is_empty() {
                "{}"
            } else {
                arguments
            };
            match serde_json::from_str::<A>(arguments) {
                Ok(args) => {
                    let future = function(args);
                    Box::pin(async move { future.await.into_tool_result() })
                }
                Err(err) => {
                    let result = ToolResult::Error(format!("invalid arguments: {err}"));
                    Box::pin(async move { result })
                }
            }
        };
        FunctionTool {
            name: snake_case(&title),
            description,
            parameters,
            strict: None,
            call: Arc::new(call),
        }
    }

    /// Sets the name (by default the argument type's, in `snake_case`).
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the description (by default the argument type's doc comment).
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Asks the model to follow the schema exactly (`strict`).
    #[must_use]
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = Some(strict);
        self
    }
}

impl fmt::Debug for FunctionTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionTool")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("parameters", &self.parameters)
            .finish_non_exhaustive()
    }
}

impl Tool for FunctionTool {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    fn parameters(&self) -> Option<Value> {
        Some(self.parameters.clone())
    }

    fn spec(&self) -> types::Tool {
        let mut function = FunctionDefinition::new(&self.name).parameters(self.parameters.clone());
        function.description = self.description.clone();
        function.strict = self.strict;
        types::Tool::function(function)
    }

    fn call<'a>(&'a self, arguments: &'a str) -> BoxFuture<'a, ToolResult> {
        (self.call)(arguments)
    }
}

/// The schema of `A` for `parameters`, with the type's title and description.
fn parameters_schema<A: JsonSchema>() -> (Value, String, Option<String>) {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|settings| {
            settings.inline_subschemas = true;
            settings.meta_schema = None;
        })
        .into_generator();
    let mut schema = generator.into_root_schema_for::<A>().to_value();
    let mut title = A::schema_name().into_owned();
    let mut description = None;
    if let Value::Object(map) = &mut schema {
        if let Some(Value::String(t)) = map.remove("title") {
            title = t;
        }
        if let Some(Value::String(d)) = map.remove("description") {
            description = Some(d);
        }
        // The API wants an object schema even for a tool without arguments.
        if !map.contains_key("type") && !map.contains_key("anyOf") && !map.contains_key("oneOf") {
            map.insert("type".to_owned(), Value::String("object".to_owned()));
        }
    }
    (schema, title, description)
}

/// `RollDice` → `roll_dice`; `HTTPRequest` → `http_request`.
fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1);
            let boundary = prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit())
                || (prev.is_some_and(char::is_uppercase) && next.is_some_and(|n| n.is_lowercase()));
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else if c.is_alphanumeric() || c == '_' || c == '-' {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_owned()
}

/// The server's code interpreter: declared, run by the server.
///
/// ```
/// use assistant_stream::agent::{CodeInterpreter, Tool};
/// assert_eq!(CodeInterpreter.spec(), assistant_stream::types::Tool::code_interpreter());
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct CodeInterpreter;

impl Tool for CodeInterpreter {
    fn name(&self) -> &str {
        "code_interpreter"
    }

    fn spec(&self) -> types::Tool {
        types::Tool::code_interpreter()
    }

    fn is_callable(&self) -> bool {
        false
    }

    fn call<'a>(&'a self, _arguments: &'a str) -> BoxFuture<'a, ToolResult> {
        Box::pin(async { ToolResult::error("code_interpreter runs on the server, not in Rust") })
    }
}

/// The server's file search: declared, run by the server.
///
/// ```
/// use assistant_stream::agent::{FileSearch, Tool};
/// assert_eq!(FileSearch::new().spec(), assistant_stream::types::Tool::file_search());
/// ```
#[derive(Clone, Debug, Default)]
pub struct FileSearch {
    spec: types::FileSearchTool,
}

impl FileSearch {
    /// File search with the default settings.
    pub fn new() -> Self {
        FileSearch::default()
    }

    /// File search with settings of your own.
    pub fn with_settings(settings: types::FileSearchSettings) -> Self {
        let mut spec = types::FileSearchTool::default();
        spec.file_search = Some(settings);
        FileSearch { spec }
    }
}

impl Tool for FileSearch {
    fn name(&self) -> &str {
        "file_search"
    }

    fn spec(&self) -> types::Tool {
        types::Tool::FileSearch(self.spec.clone())
    }

    fn is_callable(&self) -> bool {
        false
    }

    fn call<'a>(&'a self, _arguments: &'a str) -> BoxFuture<'a, ToolResult> {
        Box::pin(async { ToolResult::error("file_search runs on the server, not in Rust") })
    }
}

/// Calls `tool`, turning a panic into an error result.
pub(crate) async fn call_guarded(tool: &dyn Tool, arguments: &str) -> ToolResult {
    match AssertUnwindSafe(tool.call(arguments)).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            ToolResult::Error(format!("the tool panicked: {message}"))
        }
    }
}

/// The output text the model gets for a failed call.
pub(crate) fn error_output(name: &str, message: &str) -> String {
    format!("Error calling tool {name}: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_names() {
        assert_eq!(snake_case("RollDice"), "roll_dice");
        assert_eq!(snake_case("HTTPRequest"), "http_request");
        assert_eq!(snake_case("get_weather"), "get_weather");
        assert_eq!(snake_case("Args2D"), "args2_d");
        assert_eq!(snake_case("Vec<u32>"), "vec_u32");
    }
}
