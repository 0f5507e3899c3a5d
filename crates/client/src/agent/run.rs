//! Running an assistant on a thread: [`Thread::run`] and its variants, and
//! [`Assistant::say`], which runs on the assistant's default thread. Apart
//! from both types' own modules, so that each of those knows nothing of the
//! other's running (an assistant holds its default thread; a thread is run
//! by an assistant).

use super::assistant::Assistant;
use super::dispatch::ToolDispatcher;
use super::options::RunOptions;
use super::thread::{RunResult, Thread, active_run_error};
use crate::error::{Error, Kind};
use crate::handler::{EventHandler, NoopHandler};
use crate::types::RunStatus;

impl Thread {
    /// Runs `assistant` on the thread, answering function calls with its
    /// Rust tools, and waits for the run to end.
    pub async fn run(&self, assistant: &Assistant) -> Result<RunResult, Error> {
        self.run_with(assistant, NoopHandler, RunOptions::default())
            .await
    }

    /// Like [`run`](Self::run), with `handler` watching every event (pass
    /// `&mut handler` to keep it).
    pub async fn stream<H: EventHandler>(
        &self,
        assistant: &Assistant,
        handler: H,
    ) -> Result<RunResult, Error> {
        self.run_with(assistant, handler, RunOptions::default())
            .await
    }

    /// Runs `assistant` with per-run `options`, `handler` watching.
    ///
    /// The run is streamed. Calls of the Rust tools (the options' tools if
    /// set, else the assistant's) are answered concurrently and submitted
    /// mid-stream; a tool error is reported to the model as `Error calling
    /// tool NAME: ...`. A tool returning [`ToolResult::EndRun`](super::ToolResult::EndRun)
    /// ends the run: it is cancelled and the value kept in
    /// [`RunResult::ended_early`].
    pub async fn run_with<H: EventHandler>(
        &self,
        assistant: &Assistant,
        handler: H,
        options: RunOptions,
    ) -> Result<RunResult, Error> {
        let thread_id = self.create().await?;
        let client = self.client();
        assistant
            .with_id(|assistant_id| async move {
                let tools = options
                    .tools
                    .clone()
                    .unwrap_or_else(|| assistant.tools().to_vec());
                let request = options.request(assistant_id);
                let mut stream = client
                    .runs()
                    .create_and_stream(&thread_id, request)
                    .await
                    .map_err(|err| active_run_error(err, &thread_id, "start a run on"))?;
                let mut dispatcher = ToolDispatcher::new(handler, tools);
                let driven = stream.drive(&mut dispatcher).await;
                let ended_early = dispatcher.take_end_run();
                let mut run = stream.final_run().cloned();
                if ended_early.is_some()
                    && let Some(stopped) = run
                        .as_ref()
                        .filter(|run| run.status == RunStatus::RequiresAction)
                {
                    client.runs().cancel(&thread_id, &stopped.id).await?;
                    run = Some(client.runs().poll(&thread_id, &stopped.id).await?);
                }
                driven?;
                let run = run.ok_or_else(|| {
                    Error::new(
                        Kind::Incomplete,
                        format!("the run on thread {thread_id} streamed no run object"),
                    )
                })?;
                Ok(RunResult {
                    run,
                    messages: stream.final_messages().into_iter().cloned().collect(),
                    steps: stream.final_run_steps().into_iter().cloned().collect(),
                    ended_early,
                })
            })
            .await
    }
}

impl Assistant {
    /// Posts `text` to the default thread (created on first use), runs the
    /// assistant on it, answers its function calls with the Rust tools
    /// (parallel calls concurrently) and returns the run, its new messages
    /// and steps.
    ///
    /// A run that fails on the server is not an error here: see
    /// [`RunResult::run`]'s status.
    pub async fn say(&self, text: impl Into<String>) -> Result<RunResult, Error> {
        self.say_with(text, NoopHandler).await
    }

    /// Like [`say`](Self::say), with `handler` watching every event (pass
    /// `&mut handler` to keep it). Function calls of the Rust tools are
    /// still answered by them; calls of other functions go to the handler's
    /// [`on_tool_call`](EventHandler::on_tool_call).
    ///
    /// ```no_run
    /// # async fn example(assistant: assistant_stream::agent::Assistant) -> Result<(), assistant_stream::Error> {
    /// use assistant_stream::render::LiveRenderer;
    ///
    /// let mut renderer = LiveRenderer::stdout();
    /// assistant.say_with("Tell me a story", &mut renderer).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn say_with<H: EventHandler>(
        &self,
        text: impl Into<String>,
        handler: H,
    ) -> Result<RunResult, Error> {
        self.default_thread().add(text.into()).await?;
        self.default_thread()
            .run_with(self, handler, RunOptions::default())
            .await
    }
}
