//! One conversation's task: provision, create, follow events, obey control messages.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::control::drain_refusing;
use super::store::{EventLog, Store, now_ms};
use super::tracker::{HARMLESS_TOOLS, Tracker, policy_asks, until};
use super::{
    AgentSettings, Control, ConversationError, Decision, Meta, Observer, PendingAction, State, Summary, Update,
};
use crate::agent_server::events::{AgentEvent, NormalizedEvent, View};
use crate::agent_server::stream::{self, Resume, StreamItem};
use crate::agent_server::{AgentServerClient, LlmConfig};
use crate::config::ConfirmationMode;
use crate::sandbox::{Sandbox, SandboxSpec, SharedProvider, StartProgress};
use crate::secrets::{Redactor, Secret};

pub(super) struct Runner {
    pub id: String,
    /// The conversation's folder in the state directory.
    pub dir: std::path::PathBuf,
    pub meta: Arc<Mutex<Meta>>,
    pub store: Store,
    pub log: EventLog,
    pub provider: SharedProvider,
    pub observer: Arc<dyn Observer>,
    pub redactor: Redactor,
    pub llm: LlmConfig,
    pub secrets: BTreeMap<String, Secret>,
    pub settings: AgentSettings,
    /// The task as the user gave it, until it is sent as the first message (or handed to a backend that starts the
    /// conversation itself).
    pub instruction: Option<String>,
    /// Images with the first message.
    pub images: Vec<String>,
    /// The cloud conversation to follow instead of starting one.
    pub attach: Option<String>,
    /// Set when the backend created the conversation on its agent-server (the cloud).
    pub remote: Option<crate::sandbox::RemoteConversation>,
    /// Set when the sandbox works on copies of the folders on another machine (a remote Docker engine).
    pub files_back: Option<crate::sandbox::FilesBack>,
    /// KiB of events on their way to the editor (see `KIB_IN_FLIGHT`).
    pub credit: Arc<tokio::sync::Semaphore>,
    /// The conversation on the agent-server when a restore forked it.
    pub fork: Option<String>,
    /// What the user asked while the sandbox started.
    pub held: super::model::Held,
    /// The conversation goes on from an earlier sandbox's (see `resume`): its copy and the agent's record exist.
    pub going_on: bool,
    /// A restore's fork whose model and keys are given with its next message (see `rearm`).
    pub rearm_due: bool,
    /// The images of messages queued for when the running turn ends (`meta.queued` has the messages; images stay
    /// in memory, out of `meta.json`), by message id.
    pub queued_images: std::collections::HashMap<String, Vec<String>>,
}

/// How long `stop` waits for the agent to pause before the sandbox is removed anyway.
const STOP_GRACE: Duration = Duration::from_secs(3);
/// The agent-server reports `execution_status: error` first and the event with the error's detail just after:
/// wait this long for the detail before settling with a generic message.
const ERROR_DETAIL_GRACE: Duration = Duration::from_secs(3);

impl Runner {
    pub async fn run(mut self, mut control: mpsc::Receiver<Control>) {
        let began = std::time::Instant::now();
        let (workspace, subfolder, folders) = match self.copies().await {
            Ok(w) => w,
            Err(e) => {
                self.settle(State::Error, None, Some(e));
                drain_refusing(control, &self.id, "error").await;
                return;
            }
        };
        let observer = self.observer.clone();
        let id = self.id.clone();
        let (source, title) = {
            let meta = self.meta();
            (meta.workspace.clone(), meta.title.clone())
        };
        let script = Self::has_setup_script(&workspace.join(&subfolder));
        // Only a backend that starts the conversation itself needs the first message (the cloud's API takes it).
        let first_message =
            if self.provider.starts_conversations() && !self.going_on { self.instruction.take() } else { None };
        let spec = SandboxSpec {
            conversation_id: self.id.clone(),
            workspace,
            subfolder,
            folders,
            scratch: self.dir.join("sandbox"),
            workspace_is_ours: self.settings.isolation != crate::config::Isolation::None,
            progress: Some(StartProgress::new(move |message| {
                observer.update(Update::Progress { conversation_id: id.clone(), message })
            })),
            source,
            title,
            first_message,
            attach: self.attach.clone(),
            secrets: self.secrets.clone(),
            agent_record: self.agent_record(),
        };
        tracing::debug!(conversation = %self.id, "workspace ready after {:?}", began.elapsed());
        let Some(sandbox) = self.start_sandbox(spec, &mut control).await else { return };
        let sandbox = match sandbox {
            Ok(s) => s,
            Err(e) => {
                self.settle(State::Error, None, Some(e.to_string()));
                drain_refusing(control, &self.id, "error").await;
                return;
            }
        };
        tracing::debug!(conversation = %self.id, "sandbox ready after {:?}", began.elapsed());
        self.remote = sandbox.remote.clone();
        self.files_back = sandbox.files_back.clone();
        let link = sandbox.remote.as_ref().map(|r| r.link.clone());
        self.update_meta(|m| {
            m.sandbox_url = Some(sandbox.endpoint.base_url.clone());
            m.image = Self::image_of(&sandbox.environment);
            if let Some(link) = link {
                m.cloud = Some(link);
            }
        });
        let result = self.drive(&sandbox, script, &mut control).await;
        if let Err(e) = result {
            self.settle(State::Error, None, Some(e.to_string()));
        }
        // The last of what the agent did on another machine comes back before its sandbox goes.
        self.files_back().await;
        self.close_record().await;
        sandbox.handle.stop().await;
        let state = self.meta().state.as_str();
        drain_refusing(control, &self.id, state).await;
    }

    async fn drive(
        &mut self,
        sandbox: &Sandbox,
        setup_script: bool,
        control: &mut mpsc::Receiver<Control>,
    ) -> Result<(), ConversationError> {
        let client = AgentServerClient::new(sandbox.endpoint.clone());
        let mut tracker =
            Tracker { roots: super::shown_roots(&self.meta(), &sandbox.working_dir), ..Tracker::default() };
        self.check_mcp_commands(sandbox).await?;
        self.set_up(sandbox, setup_script, &mut tracker, &client).await;
        let mut sub = self.open(sandbox, &client, &mut tracker).await?;
        let died = sandbox.handle.died();
        tokio::pin!(died);
        let mut tick = tokio::time::interval(SILENCE_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    self.report_silence(&tracker);
                    self.notice_pause_outside(sandbox, &mut tracker).await;
                }
                item = sub.items.recv() => match item {
                    Some(StreamItem::Event(event)) => {
                        self.on_event(event, &mut tracker, &client).await;
                        self.keep_budget(sandbox, &client, &sub).await;
                        self.send_queued(sandbox, &client, &sub, &mut tracker).await;
                    }
                    Some(StreamItem::Snapshot(event)) => {
                        if let Some(status) = event.execution_status() {
                            self.on_status(status, &mut tracker, &client).await;
                            self.send_queued(sandbox, &client, &sub, &mut tracker).await;
                        }
                    }
                    Some(StreamItem::Reconnecting { attempt, reason }) => {
                        tracing::info!(conversation = %self.id, attempt, "event stream reconnecting: {reason}");
                    }
                    Some(StreamItem::Closed(err)) => {
                        if self.meta().state.is_settled() {
                            return Ok(()); // the sandbox went away after the work was done (or stopped)
                        }
                        return Err(err.into());
                    }
                    None => return Err(ConversationError::RunnerGone),
                },
                msg = control.recv() => {
                    let Some(msg) = msg else { return Ok(()) };
                    if self.on_control(msg, sandbox, &client, &mut sub, &mut tracker).await {
                        return Ok(());
                    }
                }
                _ = until(tracker.error_deadline) => {
                    tracker.error_deadline = None;
                    let message = tracker.last_error.clone().unwrap_or_else(|| "the agent stopped with an error (the agent-server gave no detail)".into());
                    self.settle(State::Error, None, Some(message));
                }
                death = &mut died => {
                    self.sandbox_died(death);
                    return Ok(());
                }
            }
        }
    }

    /// Returns true when the conversation is over (stopped).
    async fn on_control(
        &mut self,
        msg: Control,
        sandbox: &Sandbox,
        client: &AgentServerClient,
        sub: &mut stream::Subscription,
        tracker: &mut Tracker,
    ) -> bool {
        match msg {
            Control::Send { text, images, run, mode, reply } => {
                self.on_send((text, images, run, mode), reply, sandbox, client, sub, tracker).await;
            }
            Control::Unqueue { message, reply } => drop(reply.send(self.unqueue(&message))),
            Control::Pause { reply } => {
                let result = self.pause(sandbox, client, sub).await;
                let _ = reply.send(result);
            }
            Control::Resume { reply } => {
                let _ = reply.send(self.resume_within_budget(sandbox, client, sub, tracker).await);
            }
            Control::Stop { reply } => {
                let _ = tokio::time::timeout(STOP_GRACE, client.pause(self.agent_id())).await;
                // A cloud sandbox is paused next (a remote engine's removed): what the agent did so far comes back first.
                let back = async {
                    self.files_back().await;
                    self.bring_back(client).await;
                };
                let _ = tokio::time::timeout(Duration::from_secs(15), back).await;
                self.drop_queue();
                self.settle(State::Stopped, self.stop_message(), None);
                let _ = reply.send(Ok(()));
                return true;
            }
            Control::Confirm { decision, reply } => {
                let cancel = decision == Decision::Cancel;
                let mut result = self.confirm(decision, client, tracker).await;
                if cancel && result.is_ok() {
                    result = self.pause(sandbox, client, sub).await;
                }
                let _ = reply.send(result);
                // A call while it waited may have spent the budget: its next call is not made.
                self.keep_budget(sandbox, client, sub).await;
            }
            Control::ReconnectStream => sub.reconnect(),
            Control::Configure { model, confirmation, reply } => {
                let _ = reply.send(self.configure(model, confirmation, client).await);
            }
            Control::RaiseBudget { reply } => {
                let _ = reply.send(self.raise_budget(sandbox, client, sub, tracker).await);
            }
            Control::Restore { checkpoint, reply } => {
                let result = self.restore(checkpoint, sandbox, client, sub, tracker).await;
                let _ = reply.send(result);
            }
        }
        false
    }

    /// Creates the conversation on the agent-server and sends the first message (or, where the backend created it,
    /// follows it from its first event); the event stream of it.
    async fn open(
        &mut self,
        sandbox: &Sandbox,
        client: &AgentServerClient,
        tracker: &mut Tracker,
    ) -> Result<stream::Subscription, ConversationError> {
        if self.going_on {
            return self.reopen(sandbox, client, tracker).await;
        }
        Ok(if self.remote.is_some() {
            // The cloud created the conversation and sent the first message: follow it from its first event (the
            // snapshot on connect tells its state).
            stream::subscribe(sandbox.endpoint.clone(), self.agent_id().to_owned(), Resume::default())
        } else {
            let request = self.new_conversation(sandbox);
            client
                .create_conversation(&request)
                .await
                .map_err(|e| ConversationError::creating(e, self.provider.repair_hint()))?;
            tracing::debug!(conversation = %self.id, "conversation created");
            let sub = stream::subscribe(sandbox.endpoint.clone(), self.id.clone(), Resume::default());
            let instruction = self.instruction.take().unwrap_or_default();
            // Paused during the start: the task waits for the user's next word, nothing of it runs. Messages sent
            // meanwhile go with it; the agent runs once, on the last.
            let run = !self.held.paused;
            let mut messages = vec![(instruction, std::mem::take(&mut self.images))];
            messages.append(&mut self.held.messages);
            let last = messages.len() - 1;
            for (i, (text, images)) in messages.into_iter().enumerate() {
                client.send_message_with_images(&self.id, &text, &images, run && i == last).await?;
            }
            tracing::debug!(conversation = %self.id, "first message sent");
            if run {
                self.set_state(State::Running);
                tracker.awaiting_run = true;
            } else {
                sandbox.handle.freeze().await?;
                sub.set_patient(true);
                self.set_state(State::Paused);
            }
            sub
        })
    }

    /// A message from the user. The agent-server runs unanswered actions on the next `run` ("implicit
    /// confirmation"): while one waits for the user, the message is added to the conversation without starting a
    /// turn, and the user is asked again. The agent reads it once the user has answered.
    pub(super) async fn send(
        &mut self,
        text: String,
        images: Vec<String>,
        run: bool,
        client: &AgentServerClient,
        tracker: &mut Tracker,
    ) -> Result<(), ConversationError> {
        let waiting = if run { self.unapproved(tracker) } else { Vec::new() };
        let run = run && waiting.is_empty();
        self.deliver(client, (&text, &images), run).await?;
        if run {
            tracker.awaiting_run = true;
            self.set_state(State::Running);
        }
        if !waiting.is_empty() {
            self.ask(waiting, tracker);
        }
        Ok(())
    }

    pub(super) async fn pause(
        &mut self,
        sandbox: &Sandbox,
        client: &AgentServerClient,
        sub: &stream::Subscription,
    ) -> Result<(), ConversationError> {
        // `interrupt` stops the agent now (it cancels an LLM call in flight and waits for the run loop); `pause`
        // would only take effect after the current step.
        client.interrupt(self.agent_id()).await?;
        sandbox.handle.freeze().await?;
        sub.set_patient(true);
        self.set_state(State::Paused);
        Ok(())
    }

    pub(super) async fn resume(
        &mut self,
        sandbox: &Sandbox,
        client: &AgentServerClient,
        sub: &stream::Subscription,
        tracker: &mut Tracker,
    ) -> Result<(), ConversationError> {
        let waiting = self.unapproved(tracker);
        sandbox.handle.thaw().await?;
        // A paused sandbox may have dropped the stream's connection (a cloud sandbox does): start afresh; the stream
        // resumes after the last event it delivered, so nothing repeats.
        sub.set_patient(false);
        sub.reconnect();
        // `run` would execute the actions still waiting for an answer: ask for them again instead. A sandbox frozen
        // from outside was mid-run: thawed, it goes on by itself.
        if waiting.is_empty() && !std::mem::take(&mut tracker.paused_outside) {
            self.arm_before_run(client).await?;
            run_when_idle(client, self.agent_id()).await?;
        }
        if waiting.is_empty() {
            self.set_state(State::Running);
        } else {
            self.ask(waiting, tracker);
        }
        Ok(())
    }

    async fn confirm(
        &mut self,
        decision: Decision,
        client: &AgentServerClient,
        tracker: &mut Tracker,
    ) -> Result<(), ConversationError> {
        let state = self.meta().state;
        if state != State::WaitingForConfirmation {
            return Err(ConversationError::WrongState {
                id: self.id.clone(),
                state: state.as_str(),
                action: "confirming",
            });
        }
        match decision {
            Decision::Allow => {
                client.respond_to_confirmation(self.agent_id(), true, "").await?;
                tracker.allow_pending();
            }
            Decision::AllowAll => {
                client.set_confirmation_policy(self.agent_id(), ConfirmationMode::Never).await?;
                client.respond_to_confirmation(self.agent_id(), true, "").await?;
                self.settings.confirmation = ConfirmationMode::Never;
                tracker.allow_pending();
            }
            Decision::Reject { reason } => {
                let reason =
                    reason.filter(|r| !r.trim().is_empty()).unwrap_or_else(|| "The user rejected the action.".into());
                client.respond_to_confirmation(self.agent_id(), false, &reason).await?;
                // The agent-server goes idle after a rejection; the agent should carry on knowing why.
                run_when_idle(client, self.agent_id()).await?;
            }
            Decision::Cancel => {
                let reason = "The user cancelled this action and stopped the turn: wait for their next message.";
                client.respond_to_confirmation(self.agent_id(), false, reason).await?;
            }
        }
        tracker.awaiting_answer = false;
        self.set_state(State::Running);
        Ok(())
    }

    /// Actions that the next `run` would execute and that the user has not allowed: those the agent-server asked
    /// about, and those its policy would ask about (the agent may have been paused before it asked).
    pub(super) fn unapproved(&self, tracker: &mut Tracker) -> Vec<PendingAction> {
        let mode = self.settings.confirmation;
        if mode == ConfirmationMode::Never {
            return Vec::new();
        }
        tracker
            .pending()
            .into_iter()
            .filter(|a| !tracker.allowed.contains(&a.id) && !HARMLESS_TOOLS.contains(&a.tool.as_str()))
            .filter(|a| tracker.asked.contains(&a.id) || policy_asks(mode, tracker.risk.get(&a.id).map(String::as_str)))
            .collect()
    }

    /// Waits for the user's answer about `actions`, and asks for it.
    pub(super) fn ask(&self, actions: Vec<PendingAction>, tracker: &mut Tracker) {
        tracker.first_time_asked(&actions);
        tracker.awaiting_answer = true;
        self.set_state(State::WaitingForConfirmation);
        self.observer.update(Update::ConfirmationNeeded { conversation_id: self.id.clone(), actions });
    }

    pub(super) async fn on_event(&mut self, event: AgentEvent, tracker: &mut Tracker, client: &AgentServerClient) {
        let (event, line) = super::redacted_event(event, &self.redactor);
        if let Err(e) = self.log.append(&line) {
            tracing::error!(conversation = %self.id, "{e}");
        }
        let seq = {
            let mut meta = self.meta();
            meta.event_count += 1;
            meta.event_count - 1
        };
        tracker.observe(&event);
        // The first snapshot of a conversation that goes on tells its state as recorded, not the new turn's.
        let stale = event.is_snapshot() && std::mem::take(&mut tracker.stale_snapshot);
        let error = match event.view() {
            View::Error { message } if tracker.error_deadline.is_some() => Some(message),
            _ => None,
        };
        let status = event.execution_status().filter(|_| !stale).map(str::to_owned);
        let usage = event.stats();
        // A step that may have changed files (not the agent finishing or thinking) is followed by a checkpoint.
        let step_done = match event.view() {
            View::Observation { tool, .. } if !HARMLESS_TOOLS.contains(&tool) => Some(event.id.clone()),
            _ => None,
        };
        let kib = u32::try_from(line.len() / 1024).unwrap_or(u32::MAX).clamp(1, super::KIB_IN_FLIGHT);
        let credit = super::Credit::new(self.credit.clone().acquire_many_owned(kib).await.ok());
        let mut normalized = NormalizedEvent::new(&self.id, seq, event, &tracker.roots);
        let place = (self.llm.model.as_str(), self.llm.base_url.as_deref());
        super::model_error::explain_event(&mut normalized, Some(place), self.settings.editor);
        self.observer.update(Update::Event(Arc::new(normalized), credit));
        if let Some(event_id) = step_done {
            self.checkpoint(event_id).await;
        }
        if let Some(stats) = usage {
            self.record_usage(stats);
        }
        if let Some(message) = error {
            tracker.error_deadline = None;
            self.settle(State::Error, None, Some(message));
        }
        if let Some(status) = status {
            self.on_status(&status, tracker, client).await;
        }
    }

    async fn on_status(&mut self, status: &str, tracker: &mut Tracker, client: &AgentServerClient) {
        // Until the agent-server reports the new turn running, `finished` is the previous turn's, still on its way;
        // settling on it would end the new turn's progress early. (Errors are never ignored: one can come first.)
        if tracker.awaiting_run && status == "finished" {
            tracing::debug!(conversation = %self.id, "ignoring a stale {status} status from the previous turn");
            return;
        }
        // The agent rests: what it did on a remote engine comes back before the editor is told (and looks).
        if tracker.files_due(status) {
            self.files_back().await;
        }
        match status {
            "running" => {
                tracker.awaiting_run = false;
                self.set_state(State::Running);
            }
            // A question the user has not answered outlasts a pause of the agent: it is still what they must do.
            "paused" if !tracker.awaiting_answer => self.set_state(State::Paused),
            "waiting_for_confirmation" => {
                let actions = tracker.pending();
                // The agent-server republishes the status after an answer: ask once per set of pending actions.
                if !tracker.first_time_asked(&actions) {
                    return;
                }
                // Asking the user to confirm that the agent may finish or think protects nothing.
                if !actions.is_empty() && actions.iter().all(|a| HARMLESS_TOOLS.contains(&a.tool.as_str())) {
                    if let Err(e) = client.respond_to_confirmation(self.agent_id(), true, "").await {
                        tracing::warn!(conversation = %self.id, "auto-confirming {:?}: {e}", actions[0].summary);
                    }
                    return;
                }
                self.ask(actions, tracker);
            }
            "finished" => {
                self.bring_back(client).await;
                self.final_usage(client).await;
                let message = match tracker.finish_message.take() {
                    Some(m) => m,
                    None => client.final_response(self.agent_id()).await.unwrap_or_default(),
                };
                self.settle(State::Finished, Some(message), None);
            }
            "error" => match tracker.last_error.clone() {
                Some(message) => self.settle(State::Error, None, Some(message)),
                None => tracker.error_deadline = Some(tokio::time::Instant::now() + ERROR_DETAIL_GRACE),
            },
            "stuck" => {
                self.settle(State::Stuck, None, Some("the agent is stuck (it repeated itself without progress)".into()))
            }
            // An attached cloud conversation that waits for the user: its turn is over.
            "idle" if self.meta().state == State::Starting => self.set_state(State::Finished),
            // idle: before the first run, or after a finished turn; neither changes what editors show.
            _ => {}
        }
    }

    /// The conversation's id on its agent-server: ours, unless the backend created it or a restore forked it.
    pub(super) fn agent_id(&self) -> &str {
        self.remote.as_ref().map(|r| r.id.as_str()).or(self.fork.as_deref()).unwrap_or(&self.id)
    }

    pub(super) fn meta(&self) -> std::sync::MutexGuard<'_, Meta> {
        self.meta.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn update_meta(&self, change: impl FnOnce(&mut Meta)) {
        let snapshot = {
            let mut meta = self.meta();
            change(&mut meta);
            meta.updated_at = now_ms();
            meta.clone()
        };
        if let Err(e) = self.store.save(&snapshot) {
            tracing::error!(conversation = %self.id, "{e}");
        }
        self.keep_record(snapshot.state);
        self.observer.update(Update::Changed(Box::new(Summary {
            meta: snapshot,
            live: true,
            running_elsewhere: false,
            cannot_continue: None,
        })));
    }

    pub(super) fn set_state(&self, state: State) {
        if self.meta().state != state {
            self.update_meta(|m| m.state = state);
        }
    }

    /// While the agent waits on the model, the editor is told how long it has been silent (a dead or hung model
    /// would otherwise show "running" and the last command until the retries run out).
    fn report_silence(&self, tracker: &Tracker) {
        let Some(since) = tracker.model_since else { return };
        let silent = since.elapsed();
        if silent < SILENCE_REPORTED || self.meta().state != State::Running {
            return;
        }
        let url = self.llm.base_url.as_deref().map(|u| format!(" at {u}")).unwrap_or_default();
        self.observer.update(Update::Progress {
            conversation_id: self.id.clone(),
            message: format!("waiting for the model{url}, {} s…", silent.as_secs()),
        });
    }

    /// A sandbox frozen from outside (`docker pause` by hand) shows as paused within seconds, instead of a silent
    /// "running". Looked at only when the agent has been silent a while: one question to Docker per tick then.
    async fn notice_pause_outside(&self, sandbox: &Sandbox, tracker: &mut Tracker) {
        let silent = tracker.last_event.is_some_and(|t| t.elapsed() >= SILENCE_REPORTED);
        if !silent || self.meta().state != State::Running || !sandbox.handle.paused_outside().await {
            return;
        }
        tracing::info!(conversation = %self.id, "the sandbox was paused outside openhands-lsp");
        tracker.paused_outside = true;
        self.set_state(State::Paused);
        self.observer.update(Update::Progress {
            conversation_id: self.id.clone(),
            message: format!(
                "{} was paused outside openhands-lsp: resume the conversation to go on",
                sandbox.handle.describe()
            ),
        });
    }

    /// An agent error in plain words when it is the model's.
    fn explain(&self, error: String) -> String {
        let (model, base) = (&self.llm.model, self.llm.base_url.as_deref());
        super::model_error::explain(&error, model, base, self.settings.editor).unwrap_or(error)
    }

    /// Records an outcome: state, final message or error, then tells the observer the agent stopped working.
    pub(super) fn settle(&self, state: State, message: Option<String>, error: Option<String>) {
        let error = error.map(|e| self.explain(e));
        // The agent-server can report the same outcome twice (its status event, then a state snapshot): a turn
        // settles once, so editors are told (and asked what next) once.
        if self.meta().state == state {
            tracing::debug!(conversation = %self.id, "already {}", state.as_str());
            return;
        }
        let text = error.clone().or_else(|| message.clone()).unwrap_or_default();
        // Info, not a warning: the front tells the person (a popup, the panel, the terminal's last line); a
        // warning would say it again on a terminal's stderr.
        if let Some(e) = &error {
            tracing::info!(conversation = %self.id, "{}: {e}", state.as_str());
        }
        self.update_meta(|m| {
            m.state = state;
            if message.is_some() {
                m.final_message = message;
            }
            m.error = error;
        });
        self.observer.update(Update::Settled { conversation_id: self.id.clone(), state, message: text });
    }
}

/// How often the runner looks at how long the model has been silent, and the least silence worth reporting.
const SILENCE_TICK: Duration = Duration::from_secs(2);
const SILENCE_REPORTED: Duration = Duration::from_secs(4);

/// `run`, retried while the agent-server says its previous run loop is still winding down (409).
pub(super) async fn run_when_idle(
    client: &AgentServerClient,
    id: &str,
) -> Result<(), crate::agent_server::AgentServerError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match client.run(id).await {
            Err(crate::agent_server::AgentServerError::Conflict { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}
