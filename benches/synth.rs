//! A synthetic multi-megabyte Assistants stream: text deltas, function-call
//! argument deltas and code interpreter deltas, in the shapes real servers send.

use std::fmt::Write;

const WORDS: &[&str] = &[
    "The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ",", " and",
    " then", " it", " naps", " in", " the", " warm", " sun", ".", " Über", " café", " — ", "naïve",
    " 数据", " ✓",
];

fn run(status: &str) -> String {
    format!(
        r#"{{"id":"run_synth","object":"thread.run","created_at":1761861531,"assistant_id":"asst_synth","thread_id":"thread_synth","status":"{status}","started_at":1761861532,"expires_at":1761862131,"cancelled_at":null,"failed_at":null,"completed_at":null,"required_action":null,"last_error":null,"model":"gpt-4o","instructions":null,"tools":[{{"type":"code_interpreter"}},{{"type":"function","function":{{"name":"lookup","description":"Look a thing up","parameters":{{"type":"object","properties":{{"q":{{"type":"string"}}}}}},"strict":false}}}}],"metadata":{{}},"temperature":1.0,"top_p":1.0,"max_completion_tokens":null,"max_prompt_tokens":null,"truncation_strategy":{{"type":"auto","last_messages":null}},"incomplete_details":null,"usage":null,"response_format":"auto","tool_choice":"auto","parallel_tool_calls":true}}"#
    )
}

fn step(id: &str, details: &str, status: &str) -> String {
    format!(
        r#"{{"id":"{id}","object":"thread.run.step","created_at":1761861532,"run_id":"run_synth","assistant_id":"asst_synth","thread_id":"thread_synth","type":"{}","status":"{status}","cancelled_at":null,"completed_at":null,"expires_at":1761862131,"failed_at":null,"last_error":null,"step_details":{details},"usage":null}}"#,
        if details.contains("tool_calls") {
            "tool_calls"
        } else {
            "message_creation"
        }
    )
}

fn json_escape(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// About `target` bytes of a well-formed stream that ends with a completed run.
pub fn generate(target: usize) -> Vec<u8> {
    let mut out = String::with_capacity(target + 4096);
    let frame = |out: &mut String, event: &str, data: &str| {
        let _ = write!(out, "event: {event}\ndata: {data}\n\n");
    };
    frame(&mut out, "thread.run.created", &run("queued"));
    frame(&mut out, "thread.run.queued", &run("queued"));
    frame(&mut out, "thread.run.in_progress", &run("in_progress"));
    let mut round = 0usize;
    let mut word = 0usize;
    while out.len() < target {
        // A message streamed word by word.
        let msg = format!("msg_synth{round}");
        let step_id = format!("step_msg{round}");
        let details =
            format!(r#"{{"type":"message_creation","message_creation":{{"message_id":"{msg}"}}}}"#);
        frame(
            &mut out,
            "thread.run.step.created",
            &step(&step_id, &details, "in_progress"),
        );
        let created = format!(
            r#"{{"id":"{msg}","object":"thread.message","created_at":1761861532,"assistant_id":"asst_synth","thread_id":"thread_synth","run_id":"run_synth","status":"in_progress","incomplete_details":null,"incomplete_at":null,"completed_at":null,"role":"assistant","content":[],"attachments":[],"metadata":{{}}}}"#
        );
        frame(&mut out, "thread.message.created", &created);
        let mut text = String::new();
        for _ in 0..600 {
            let w = WORDS[word % WORDS.len()];
            word += 1;
            text.push_str(w);
            let delta = format!(
                r#"{{"id":"{msg}","object":"thread.message.delta","delta":{{"content":[{{"index":0,"type":"text","text":{{"value":{}}}}}]}}}}"#,
                json_escape(w)
            );
            frame(&mut out, "thread.message.delta", &delta);
        }
        let completed = created
            .replace(r#""status":"in_progress""#, r#""status":"completed""#)
            .replace(
                r#""content":[]"#,
                &format!(
                    r#""content":[{{"type":"text","text":{{"value":{},"annotations":[]}}}}]"#,
                    json_escape(&text)
                ),
            );
        frame(&mut out, "thread.message.completed", &completed);
        frame(
            &mut out,
            "thread.run.step.completed",
            &step(&step_id, &details, "completed"),
        );

        // A step with a code interpreter call and a function call.
        let tools = format!("step_tools{round}");
        frame(
            &mut out,
            "thread.run.step.created",
            &step(
                &tools,
                r#"{"type":"tool_calls","tool_calls":[]}"#,
                "in_progress",
            ),
        );
        let ci = |index: usize, body: &str| {
            format!(
                r#"{{"id":"{tools}","object":"thread.run.step.delta","delta":{{"step_details":{{"type":"tool_calls","tool_calls":[{{"index":{index},"type":"code_interpreter",{body}}}]}}}}}}"#
            )
        };
        frame(
            &mut out,
            "thread.run.step.delta",
            &ci(
                0,
                &format!(r#""id":"call_ci{round}","code_interpreter":{{"input":"","outputs":[]}}"#),
            ),
        );
        for i in 0..150 {
            let piece = json_escape(&format!("x{i} = {i} ** 2\n"));
            frame(
                &mut out,
                "thread.run.step.delta",
                &ci(0, &format!(r#""code_interpreter":{{"input":{piece}}}"#)),
            );
        }
        frame(
            &mut out,
            "thread.run.step.delta",
            &ci(
                0,
                r#""code_interpreter":{"outputs":[{"index":0,"type":"logs","logs":"22201\n"}]}"#,
            ),
        );
        let func = |body: &str| {
            format!(
                r#"{{"id":"{tools}","object":"thread.run.step.delta","delta":{{"step_details":{{"type":"tool_calls","tool_calls":[{{"index":1,"type":"function",{body}}}]}}}}}}"#
            )
        };
        frame(
            &mut out,
            "thread.run.step.delta",
            &func(&format!(
                r#""id":"call_fn{round}","function":{{"name":"lookup","arguments":"","output":null}}"#
            )),
        );
        for i in 0..150 {
            let piece = json_escape(&format!("{{\"q{i}\":\"v{i}\"}},"));
            frame(
                &mut out,
                "thread.run.step.delta",
                &func(&format!(r#""function":{{"arguments":{piece}}}"#)),
            );
        }
        frame(
            &mut out,
            "thread.run.step.completed",
            &step(
                &tools,
                r#"{"type":"tool_calls","tool_calls":[]}"#,
                "completed",
            ),
        );
        round += 1;
    }
    frame(&mut out, "thread.run.completed", &run("completed"));
    out.push_str("event: done\ndata: [DONE]\n\n");
    out.into_bytes()
}
