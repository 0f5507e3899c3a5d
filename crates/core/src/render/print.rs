//! Printing finished messages, run steps and runs for people to read.

use super::Style;
use crate::types::{
    Annotation, CodeInterpreterOutput, Message, MessageContent, MessageStatus, Run, RunStatus,
    RunStep, StepDetails, Text, ToolCall,
};
use std::io::{self, Write};

/// Prints messages to standard output, in colour when it is a terminal and
/// `NO_COLOR` is unset; see [`write_messages`].
pub fn print_messages(messages: &[Message]) -> io::Result<()> {
    write_messages(&mut io::stdout().lock(), Style::for_stdout(), messages)
}

/// Prints a run to standard output; see [`write_run`].
pub fn print_run(run: &Run, steps: &[RunStep], messages: &[Message]) -> io::Result<()> {
    write_run(
        &mut io::stdout().lock(),
        Style::for_stdout(),
        run,
        steps,
        messages,
    )
}

/// Writes messages in order: each with its role and time (UTC), its text
/// with annotations as numbered footnotes, images, refusals and
/// attachments.
///
/// ```
/// use assistant_stream::render::{Style, write_messages};
/// use assistant_stream::types::Message;
///
/// let message: Message = serde_json::from_value(serde_json::json!({
///     "id": "msg_1", "role": "assistant", "created_at": 1700000000, "status": "completed",
///     "content": [{"type": "text", "text": {"value": "See the report【4:0†source】.", "annotations": [
///         {"type": "file_citation", "text": "【4:0†source】", "start_index": 14, "end_index": 26,
///          "file_citation": {"file_id": "file-abc"}}
///     ]}}]
/// }))?;
/// let mut out = Vec::new();
/// write_messages(&mut out, Style::plain(), &[message])?;
/// assert_eq!(
///     String::from_utf8(out)?,
///     "assistant (2023-11-14 22:13:20 UTC):\n  See the report[1].\n  [1] file_citation file-abc\n"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_messages<W: Write + ?Sized>(
    out: &mut W,
    style: Style,
    messages: &[Message],
) -> io::Result<()> {
    for message in messages {
        write_message(out, style, message)?;
    }
    Ok(())
}

/// Writes one message; see [`write_messages`].
pub fn write_message<W: Write + ?Sized>(
    out: &mut W,
    style: Style,
    message: &Message,
) -> io::Result<()> {
    let label = style.bold(message.role.as_str());
    writeln!(out, "{label}{}:", when(style, message.created_at))?;
    for part in &message.content {
        match part {
            MessageContent::Text(text) => write_text(out, style, &text.text)?,
            MessageContent::ImageFile(image) => {
                let text = style.cyan(&format!("[image file {}]", image.image_file.file_id));
                writeln!(out, "  {text}")?;
            }
            MessageContent::ImageUrl(image) => {
                let text = style.cyan(&format!("[image url {}]", image.image_url.url));
                writeln!(out, "  {text}")?;
            }
            MessageContent::Refusal(refusal) => {
                let label = style.red("[refusal]");
                writeln!(out, "  {label} {}", refusal.refusal)?;
            }
            other => {
                let text = style.dim(&format!("[{} content]", other.type_name()));
                writeln!(out, "  {text}")?;
            }
        }
    }
    for attachment in &message.attachments {
        let tools: Vec<&str> = attachment
            .tools
            .iter()
            .map(|tool| tool.type_name())
            .collect();
        let text = style.dim(&format!(
            "attachment {} ({})",
            attachment.file_id,
            tools.join(", ")
        ));
        writeln!(out, "  {text}")?;
    }
    if message.status == Some(MessageStatus::Incomplete) {
        let reason = message
            .incomplete_details
            .as_ref()
            .map_or("no reason given", |details| details.reason.as_str());
        let text = style.yellow(&format!("(incomplete: {reason})"));
        writeln!(out, "  {text}")?;
    }
    Ok(())
}

/// Text with each annotation's marker replaced by a footnote number, and
/// the footnotes after it.
fn write_text<W: Write + ?Sized>(out: &mut W, style: Style, text: &Text) -> io::Result<()> {
    let mut value = text.value.clone();
    let mut notes = Vec::new();
    for (n, annotation) in text.annotations.iter().enumerate() {
        let n = n + 1;
        let (marker, note) = match annotation {
            Annotation::FileCitation(citation) => {
                let quote = citation
                    .file_citation
                    .quote
                    .as_deref()
                    .filter(|quote| !quote.is_empty())
                    .map(|quote| format!(" \"{quote}\""))
                    .unwrap_or_default();
                (
                    citation.text.as_str(),
                    format!("file_citation {}{quote}", citation.file_citation.file_id),
                )
            }
            Annotation::FilePath(path) => (
                path.text.as_str(),
                format!("file_path {}", path.file_path.file_id),
            ),
            other => ("", other.type_name().to_owned()),
        };
        let reference = format!("[{n}]");
        if !marker.is_empty() && value.contains(marker) {
            value = value.replacen(marker, &reference, 1);
        } else {
            value.push_str(&reference);
        }
        notes.push(format!("{reference} {note}"));
    }
    for line in value.lines() {
        writeln!(out, "  {line}")?;
    }
    if value.is_empty() {
        writeln!(out, "  ")?;
    }
    for note in notes {
        let text = style.dim(&note);
        writeln!(out, "  {text}")?;
    }
    Ok(())
}

/// Writes a run: its status, then its steps in order, each message-creation
/// step followed by the message it created (when among `messages`), then
/// the messages no step mentions.
///
/// ```
/// use assistant_stream::render::{Style, write_run};
/// use assistant_stream::types::{Run, RunStep};
/// use serde_json::json;
///
/// let run: Run = serde_json::from_value(json!({"id": "run_1", "status": "completed", "model": "gpt-4o"}))?;
/// let step: RunStep = serde_json::from_value(json!({
///     "id": "step_1", "type": "tool_calls", "status": "completed",
///     "step_details": {"type": "tool_calls", "tool_calls": [
///         {"id": "call_1", "type": "function",
///          "function": {"name": "roll_dice", "arguments": "{\"n_dice\":2}", "output": "[3,5]"}}
///     ]}
/// }))?;
/// let mut out = Vec::new();
/// write_run(&mut out, Style::plain(), &run, &[step], &[])?;
/// assert_eq!(
///     String::from_utf8(out)?,
///     "run run_1: completed (model gpt-4o)\nstep step_1: tool_calls, completed\n  function roll_dice({\"n_dice\":2})\n    → [3,5]\n"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_run<W: Write + ?Sized>(
    out: &mut W,
    style: Style,
    run: &Run,
    steps: &[RunStep],
    messages: &[Message],
) -> io::Result<()> {
    let status = match run.status {
        RunStatus::Completed => style.green(run.status.as_str()),
        RunStatus::Failed | RunStatus::Expired => style.red(run.status.as_str()),
        RunStatus::Cancelled | RunStatus::Incomplete | RunStatus::RequiresAction => {
            style.yellow(run.status.as_str())
        }
        _ => run.status.as_str().to_owned(),
    };
    let mut details = Vec::new();
    if !run.model.is_empty() {
        details.push(format!("model {}", run.model));
    }
    if let Some(usage) = &run.usage {
        details.push(format!(
            "{} tokens: {} prompt, {} completion",
            usage.total_tokens, usage.prompt_tokens, usage.completion_tokens
        ));
    }
    let details = if details.is_empty() {
        String::new()
    } else {
        format!(" ({})", details.join(", "))
    };
    let label = style.bold(&format!("run {}", run.id));
    writeln!(out, "{label}: {status}{details}")?;
    if let Some(error) = &run.last_error {
        let text = style.red(&format!("error {}: {}", error.code, error.message));
        writeln!(out, "  {text}")?;
    }
    if let Some(details) = &run.incomplete_details {
        let text = style.yellow(&format!("incomplete: {}", details.reason));
        writeln!(out, "  {text}")?;
    }
    let mut shown = Vec::new();
    for step in steps {
        write_step(out, style, step)?;
        if let Some(id) = step.message_id()
            && let Some(message) = messages.iter().find(|message| message.id == id)
        {
            write_message(out, style, message)?;
            shown.push(id);
        }
    }
    for message in messages {
        if !shown.contains(&message.id.as_str()) {
            write_message(out, style, message)?;
        }
    }
    Ok(())
}

/// Writes one run step: its kind and status, and for tool calls each call:
/// code interpreter input, logs and images; file search results; function
/// arguments and output.
pub fn write_step<W: Write + ?Sized>(out: &mut W, style: Style, step: &RunStep) -> io::Result<()> {
    let label = style.bold(&format!("step {}", step.id));
    writeln!(out, "{label}: {}, {}", step.kind, step.status)?;
    match &step.step_details {
        StepDetails::MessageCreation(_) | StepDetails::ToolCalls(_) => {}
        other => {
            let text = style.dim(&format!("[{} details]", other.type_name()));
            writeln!(out, "  {text}")?;
        }
    }
    for call in step.tool_calls() {
        write_tool_call(out, style, call)?;
    }
    if let Some(error) = &step.last_error {
        let text = style.red(&format!("error {}: {}", error.code, error.message));
        writeln!(out, "  {text}")?;
    }
    Ok(())
}

fn write_tool_call<W: Write + ?Sized>(
    out: &mut W,
    style: Style,
    call: &ToolCall,
) -> io::Result<()> {
    match call {
        ToolCall::CodeInterpreter(call) => {
            writeln!(out, "  {}", style.yellow("code_interpreter"))?;
            for line in call.code_interpreter.input.lines() {
                let text = style.dim(line);
                writeln!(out, "    > {text}")?;
            }
            for output in &call.code_interpreter.outputs {
                match output {
                    CodeInterpreterOutput::Logs(logs) => {
                        writeln!(out, "    logs:")?;
                        for line in logs.logs.lines() {
                            writeln!(out, "    | {line}")?;
                        }
                    }
                    CodeInterpreterOutput::Image(image) => {
                        let text = style.cyan(&format!("[image file {}]", image.image.file_id));
                        writeln!(out, "    {text}")?;
                    }
                    other => {
                        let text = style.dim(&format!("[{} output]", other.type_name()));
                        writeln!(out, "    {text}")?;
                    }
                }
            }
        }
        ToolCall::FileSearch(call) => {
            let results = &call.file_search.results;
            let plural = if results.len() == 1 { "" } else { "s" };
            writeln!(
                out,
                "  {}: {} result{plural}",
                style.yellow("file_search"),
                results.len()
            )?;
            for result in results {
                writeln!(
                    out,
                    "    - {} ({}) score {:.2}",
                    result.file_name, result.file_id, result.score
                )?;
            }
        }
        ToolCall::Function(call) => {
            let header = style.yellow(&format!("function {}", call.function.name));
            writeln!(out, "  {header}({})", call.function.arguments)?;
            match &call.function.output {
                Some(output) => writeln!(out, "    {}", style.green(&format!("→ {output}")))?,
                None => writeln!(out, "    {}", style.dim("(no output yet)"))?,
            }
        }
        other => {
            let text = style.dim(&format!("[{} call]", other.type_name()));
            writeln!(out, "  {text}")?;
        }
    }
    Ok(())
}

/// ` (YYYY-MM-DD HH:MM:SS UTC)`, or nothing for an unknown time.
fn when(style: Style, unix: i64) -> String {
    if unix <= 0 {
        return String::new();
    }
    format!(" {}", style.dim(&format!("({})", format_utc(unix))))
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn format_utc(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The proleptic Gregorian date of a count of days since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(format_utc(4_102_444_799), "2099-12-31 23:59:59 UTC");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59 UTC");
    }
}
