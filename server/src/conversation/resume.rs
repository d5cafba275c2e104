//! A conversation going on after its sandbox is gone (the editor or the machine restarted, the container was
//! removed): a message to it starts a sandbox on its own copy and on the agent-server's record of it, and the
//! agent-server resumes it with everything the agent did before.
//!
//! While a sandbox runs, its agent-server keeps the record in memory (the agent's actions as written, which may quote
//! a secret); the conversation's folder keeps a copy (`agent/`) with every secret masked, taken when a turn ends,
//! when the agent waits for the user, when the sandbox goes and at exit. The record's own secrets are encrypted under
//! the sandbox's `OH_SECRET_KEY`, a key never written down: a new sandbox cannot read them, and is given the LLM key
//! and the tokens again, as a fork is.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::model::{Delivery, SendMode};
use super::runner::Runner;
use super::store::{self, ConversationId, Meta, State, Store};
use super::tracker::Tracker;
use super::{AgentSettings, ConversationError, KIB_IN_FLIGHT, Live, Manager, Summary, Update};
use crate::agent_server::events::AgentEvent;
use crate::agent_server::stream::{self, Resume};
use crate::agent_server::{AgentServerClient, NewConversation};
use crate::config::Settings;
use crate::editor::Editor;
use crate::mcp::McpServers;
use crate::sandbox::Sandbox;

/// The folder in a conversation's own where the agent-server keeps its record of it.
const AGENT_RECORD: &str = "agent";

/// What a conversation that goes on runs with: the settings as they are now (model, key, confirmation mode), the
/// editor the user is in, and the MCP servers of the front (an ACP session's) besides the settings'.
pub struct GoOn<'a> {
    pub settings: &'a Settings,
    pub editor: Editor,
    pub mcp_servers: McpServers,
}

impl Manager {
    /// A message from the user: to the agent when it runs here; when its sandbox is gone, the conversation goes on
    /// in a new one, from where it was, with the message.
    pub async fn message(
        &self,
        id: &str,
        (text, images, mode): (String, Vec<String>, SendMode),
        go_on: GoOn<'_>,
    ) -> Result<Delivery, ConversationError> {
        if self.live().contains_key(id) {
            return self.send_message_with_images(id, text, images, mode).await;
        }
        let manager = self.clone();
        let summary = self.get(id)?;
        let meta = super::off_runtime(move || Ok(manager.taken_over(summary))).await??;
        self.go_on(meta, text, images, go_on).map(|()| Delivery::Sent)
    }

    /// The conversation as it can go on: not another live server's, able to, and (when an earlier session left it
    /// active) taken over first. Blocking.
    fn taken_over(&self, summary: Summary) -> Result<Meta, ConversationError> {
        if summary.running_elsewhere {
            return Err(super::elsewhere(&summary.meta));
        }
        // Read from its folder by `get`, a moment ago.
        if let Some(why) = summary.cannot_continue {
            return Err(ConversationError::CannotContinue { id: summary.meta.id, why });
        }
        let meta = summary.meta;
        Ok(if meta.state.is_settled() { meta } else { self.take_over(meta) })
    }

    /// Starts the runner that takes the conversation up again, with `text` as its next message.
    fn go_on(
        &self,
        mut meta: Meta,
        text: String,
        images: Vec<String>,
        go_on: GoOn<'_>,
    ) -> Result<(), ConversationError> {
        let mut settings = AgentSettings::from_settings(go_on.settings, go_on.editor);
        let backend = crate::config::Backend::parse(&meta.backend).unwrap_or(go_on.settings.backend);
        let provider = self.inner.provider.select(backend).unwrap_or_else(|| self.inner.provider.clone());
        settings.isolation =
            if meta.isolation.is_some() { crate::config::Isolation::Worktree } else { crate::config::Isolation::None };
        if meta.cloud.is_none() {
            self.check_llm_key(&settings)?;
        }
        self.arm_mcp(&mut settings, &go_on.settings.mcp_servers.with(&go_on.mcp_servers), provider.name())?;
        let id = meta.id.clone();
        let (tx, rx) = mpsc::channel(32);
        meta.state = State::Starting;
        meta.error = None;
        meta.owner = Some(crate::instance::Instance::current().clone());
        meta.updated_at = store::now_ms();
        let shared = Arc::new(Mutex::new(meta.clone()));
        {
            // Checked and taken at once: two quick messages start one sandbox, and the second waits for it.
            let mut live = self.live();
            if live.contains_key(&id) {
                return Err(ConversationError::WrongState { id, state: "starting", action: "going on" });
            }
            live.insert(id.clone(), Live { control: tx, meta: shared.clone() });
        }
        let log = match self.inner.store.save(&meta).and_then(|()| self.inner.store.log(&id)) {
            Ok(log) => log,
            Err(e) => {
                self.live().remove(&id);
                return Err(e.into());
            }
        };
        self.inner.started.lock().unwrap_or_else(|p| p.into_inner()).push(shared.clone());
        let summary = Summary { meta, live: true, running_elsewhere: false, cannot_continue: None };
        self.inner.observer.update(Update::Changed(Box::new(summary.clone())));
        let runner = Runner {
            id: id.clone(),
            dir: self.inner.store.dir(&ConversationId::parse(&id)?),
            store: self.inner.store.clone(),
            log,
            observer: self.inner.observer.clone(),
            redactor: self.inner.secrets.redactor(),
            llm: self.llm_config(&settings),
            secrets: self.provider_tokens(),
            instruction: Some(text),
            images,
            attach: summary.meta.cloud.as_ref().map(|c| c.conversation_id.clone()),
            remote: None,
            files_back: None,
            credit: Arc::new(tokio::sync::Semaphore::new(KIB_IN_FLIGHT as usize)),
            fork: summary.meta.agent_conversation.clone(),
            held: super::model::Held::default(),
            going_on: true,
            rearm_due: false,
            queued_images: Default::default(),
            meta: shared,
            provider,
            settings,
        };
        let manager = self.clone();
        tokio::spawn(async move {
            runner.run(rx).await;
            manager.live().remove(&id);
        });
        Ok(())
    }
}

/// Why a message cannot make this conversation go on (`None`: it can). Blocking: it looks at its folder.
pub(super) fn cannot_continue(meta: &Meta, store: &Store) -> Option<String> {
    if meta.branch_of.is_some() {
        return Some(
            "it is the earlier branch of a conversation that was restored to a checkpoint, kept to be read: go \
             on in that conversation"
                .into(),
        );
    }
    if meta.state == State::Damaged {
        return Some("its record (meta.json) is damaged: start a new task (its changes can still be reviewed)".into());
    }
    if meta.discarded {
        return Some("its changes were discarded, and its copy with them: start a new task".into());
    }
    if meta.cloud.is_some() {
        return None;
    }
    let Ok(id) = ConversationId::parse(&meta.id) else { return Some("its id is not valid".into()) };
    let record = store.dir(&id).join(AGENT_RECORD);
    if !record.is_dir() {
        return Some(
            "it was made before openhands-lsp kept the agent's memory with each conversation, so its agent cannot \
             be had back: start a new task (its changes can still be reviewed and applied)"
                .into(),
        );
    }
    let agent = meta.agent_conversation.as_deref().unwrap_or(&meta.id).replace('-', "");
    if !record.join(agent).join("base_state.json").is_file() {
        return Some(format!(
            "the agent-server's record of it is missing ({} holds none; its agent may never have started): start \
             a new task (its changes can still be reviewed and applied)",
            record.display()
        ));
    }
    None
}

impl Runner {
    /// The copy the conversation worked in before (or the user's folder, when it worked in none): the workspace
    /// and the agent's subfolder in it.
    pub(super) fn earlier_copy(&self) -> Result<(PathBuf, PathBuf), String> {
        let meta = self.meta().clone();
        let Some(info) = meta.isolation.clone() else { return Ok((meta.workspace, PathBuf::new())) };
        // Checked as review checks it: a doctored meta.json names nothing outside the conversation's folder.
        let iso = super::isolated(&meta, &self.dir).map_err(|e| e.to_string())?;
        if !iso.root.is_dir() {
            return Err(format!("its copy {} is gone: start a new task", iso.root.display()));
        }
        let subfolder = info.root.strip_prefix(&info.dest).map(Path::to_path_buf).unwrap_or_default();
        Ok((info.dest, subfolder))
    }

    /// Where the agent-server keeps its record of the conversation while it runs (in memory), when the backend can
    /// keep one; going on, filled from the copy kept with the conversation.
    pub(super) fn agent_record(&self) -> Option<PathBuf> {
        if !self.provider.keeps_agent_record() {
            return None;
        }
        let filled = crate::sandbox::process::live_record(&self.id).and_then(|live| {
            if self.going_on {
                // Whatever an earlier sandbox left in memory is older than the copy.
                std::fs::remove_dir_all(&live)?;
                let live = crate::sandbox::process::live_record(&self.id)?;
                copy_tree(&self.dir.join(AGENT_RECORD), &live, None)?;
                forget_leases(&live);
                return Ok(live);
            }
            Ok(live)
        });
        match filled {
            Ok(live) => {
                // Without a copy of its own there are no checkpoints: nothing to wait for.
                if self.settings.isolation != crate::config::Isolation::None {
                    follow_steps(&live);
                }
                Some(live)
            }
            Err(e) => {
                tracing::warn!(conversation = %self.id, "the agent-server's record: {e}; the agent's memory is not kept");
                None
            }
        }
    }

    /// Keeps the agent-server's record with the conversation, its secrets masked: at each turn's end, and whenever
    /// the agent waits for the user. Off the runtime; one at a time.
    pub(super) fn keep_record(&self, state: State) {
        let resting = matches!(
            state,
            State::Finished
                | State::Error
                | State::Stopped
                | State::Stuck
                | State::Paused
                | State::WaitingForConfirmation
        );
        if !resting || !self.provider.keeps_agent_record() || self.remote.is_some() {
            return;
        }
        let (id, dir, redactor) = (self.id.clone(), self.dir.clone(), self.redactor.clone());
        tokio::task::spawn_blocking(move || save_record(&id, &dir, &redactor));
    }

    /// The last copy of the record before the sandbox goes (its in-memory record with it).
    pub(super) async fn close_record(&self) {
        if !self.provider.keeps_agent_record() || self.remote.is_some() {
            return;
        }
        let (id, dir, redactor) = (self.id.clone(), self.dir.clone(), self.redactor.clone());
        let _ = tokio::task::spawn_blocking(move || {
            save_record(&id, &dir, &redactor);
            let _ = std::fs::remove_dir_all(crate::sandbox::process::live_record_path(&id));
        })
        .await;
    }

    /// What the agent-server is asked to create: the conversation with its LLM, secrets, policy and MCP servers.
    pub(super) fn new_conversation(&self, sandbox: &Sandbox) -> NewConversation {
        NewConversation {
            conversation_id: self.agent_id().to_owned(),
            working_dir: sandbox.working_dir.clone(),
            llm: self.llm.clone(),
            secrets: self.secrets.clone(),
            confirmation: self.settings.confirmation,
            max_iterations: self.settings.max_iterations,
            mcp_config: self.settings.mcp_config.clone(),
            system_message_suffix: self.folders_prompt(&sandbox.working_dir),
        }
    }

    /// The agent-server takes the conversation up from its record (given its keys again), the runner from the event
    /// log (what waits for the user's answer is asked again, never run on its own), and the message starts a turn.
    pub(super) async fn reopen(
        &mut self,
        sandbox: &Sandbox,
        client: &AgentServerClient,
        tracker: &mut Tracker,
    ) -> Result<stream::Subscription, ConversationError> {
        if self.remote.is_none() {
            // Known to it already (read at its start), or read from the record now: the same conversation, its
            // agent as recorded.
            client
                .create_conversation(&self.new_conversation(sandbox))
                .await
                .map_err(|e| ConversationError::NotResumed(e.to_string()))?;
            client.set_confirmation_policy(self.agent_id(), self.settings.confirmation).await?;
            tracing::debug!(conversation = %self.id, "the agent-server took the conversation up again");
        }
        let store = self.store.clone();
        let id = self.id.clone();
        let (past, resume) = super::off_runtime(move || {
            let page = store.read_events(&id, 0, usize::MAX)?;
            let mut resume = Resume::default();
            let past: Vec<AgentEvent> =
                page.events.into_iter().filter_map(|(_, v)| AgentEvent::from_json(v).ok()).collect();
            for event in &past {
                resume.seen_ids.insert(&event.id);
                if event.kind != "StreamingDeltaEvent" && !event.timestamp.is_empty() {
                    resume.last_timestamp = Some(event.timestamp.clone());
                }
            }
            Ok((past, resume))
        })
        .await?;
        tracker.replay(&past);
        let sub = stream::subscribe(sandbox.endpoint.clone(), self.agent_id().to_owned(), resume);
        let mut messages = vec![(self.instruction.take().unwrap_or_default(), std::mem::take(&mut self.images))];
        messages.append(&mut self.held.messages);
        for (text, images) in messages {
            client.send_message_with_images(self.agent_id(), &text, &images, false).await?;
        }
        if self.remote.is_none() {
            // Given after the first message: the agent-server sets its agent up then, and only a model given to an
            // agent set up keeps the count of the earlier calls going (one given before would count afresh).
            client.rearm(self.agent_id(), &self.llm, &self.secrets).await?;
        }
        if self.held.paused {
            sandbox.handle.freeze().await?;
            sub.set_patient(true);
            self.set_state(State::Paused);
        } else {
            self.start_turn(sandbox, client, &sub, tracker).await?;
        }
        Ok(sub)
    }

    /// The turn the message asked for: not while an action waits for the user's answer (they are asked again) or
    /// past the budget (they are asked whether to raise it).
    async fn start_turn(
        &mut self,
        sandbox: &Sandbox,
        client: &AgentServerClient,
        sub: &stream::Subscription,
        tracker: &mut Tracker,
    ) -> Result<(), ConversationError> {
        let waiting = self.unapproved(tracker);
        if !waiting.is_empty() {
            self.ask(waiting, tracker);
        } else if let Some(usage) = self.over_budget() {
            self.hold_for_budget(usage, sandbox, client, sub).await;
        } else {
            client.run(self.agent_id()).await?;
            tracker.awaiting_run = true;
            self.set_state(State::Running);
        }
        Ok(())
    }
}

/// Saves of records, one at a time (a discard waits for one under way).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
/// In a conversation's folder: its record was discarded, and no save of a runner still stopping brings it back.
const NO_RECORD: &str = "agent.discarded";

/// Removes the record kept with the conversation, for good (its changes were discarded).
pub(super) fn forget_record(dir: &Path) -> std::io::Result<()> {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    std::fs::write(dir.join(NO_RECORD), "")?;
    for name in [AGENT_RECORD, "agent.next", "agent.old"] {
        match std::fs::remove_dir_all(dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Copies the conversation's live record (in memory) into its folder (`agent/`), every secret masked: written beside
/// and renamed into place, so a copy is whole. Nothing is written when there is no record (the agent never started,
/// or the sandbox is gone already).
pub(super) fn save_record(id: &str, dir: &Path, redactor: &crate::secrets::Redactor) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    if dir.join(NO_RECORD).exists() {
        return;
    }
    let live = crate::sandbox::process::live_record_path(id);
    let has_record =
        std::fs::read_dir(&live).into_iter().flatten().flatten().any(|e| e.path().join("base_state.json").is_file());
    if !has_record {
        return;
    }
    let (kept, next, old) = (dir.join(AGENT_RECORD), dir.join("agent.next"), dir.join("agent.old"));
    let _ = std::fs::remove_dir_all(&next);
    let saved = copy_tree(&live, &next, Some(redactor)).and_then(|()| {
        let _ = std::fs::remove_dir_all(&old);
        if kept.exists() {
            std::fs::rename(&kept, &old)?;
        }
        std::fs::rename(&next, &kept)
    });
    let _ = std::fs::remove_dir_all(&old);
    if let Err(e) = saved {
        tracing::warn!(conversation = %id, "keeping the agent-server's record: {e}");
    }
}

/// Tells the sandbox's hook that this server follows the conversation whose agent-server keeps its records in
/// `records` (`sandbox::STEP_ACKS`): from now on each file-changing step waits for its checkpoint. The folder goes
/// with the record when the conversation ends.
pub(super) fn follow_steps(records: &Path) {
    let acks = records.join(crate::sandbox::STEP_ACKS);
    // Open to the sandbox's user, whoever that is (a container's own user may take acks away): the folder is inside
    // this user's private memory folder, which no other user of the machine can enter.
    let made = std::fs::create_dir_all(&acks)
        .and_then(|()| crate::platform::set_mode(&acks, 0o777))
        .and_then(|()| std::fs::write(acks.join("following"), b""));
    if let Err(e) = made {
        tracing::warn!("{}: {e}; checkpoints may hold the next step's files", acks.display());
    }
}

/// Says the step whose observation is `event_id` has its checkpoint; the hook takes the file away.
pub(super) fn step_recorded(conversation_id: &str, event_id: &str) {
    let acks = crate::sandbox::process::live_record_path(conversation_id).join(crate::sandbox::STEP_ACKS);
    // Without the folder (a backend that keeps no record) the write fails, and nothing waits for it.
    if !event_id.contains(['/', '\\']) {
        let _ = std::fs::write(acks.join(event_id), b"");
    }
}

/// Copies the files under `from` into `to` (made, for this user only), their text masked by `redactor` when given.
fn copy_tree(from: &Path, to: &Path, redactor: Option<&crate::secrets::Redactor>) -> std::io::Result<()> {
    crate::platform::create_private_dir(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type()?;
        if entry.file_name() == crate::sandbox::STEP_ACKS {
            continue; // openhands-lsp's word to the sandbox's hook, no part of the agent's record
        }
        if kind.is_dir() {
            copy_tree(&source, &target, redactor)?;
        } else if kind.is_file() {
            let bytes = std::fs::read(&source)?;
            let masked = match (redactor, std::str::from_utf8(&bytes)) {
                (Some(r), Ok(text)) => r.redact(text).into_owned().into_bytes(),
                _ => bytes,
            };
            std::fs::write(&target, masked)?;
        }
    }
    Ok(())
}

/// The agent-server fences a conversation's record with a lease its owner renews (`owner_lease.json`, 45 s). An
/// owner that was killed with its container (or its machine) leaves one that a new agent-server would honour until
/// it expires, refusing the conversation meanwhile. The earlier sandbox is gone (the conversation is this server's
/// and not live), so its leases are released here.
fn forget_leases(record: &Path) {
    for entry in std::fs::read_dir(record).into_iter().flatten().flatten() {
        let lease = entry.path().join("owner_lease.json");
        match std::fs::remove_file(&lease) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!("{}: {e}", lease.display());
            }
            _ => {}
        }
    }
}

impl Tracker {
    /// The conversation so far, from its log: which actions wait for an answer, and their risk. What was in flight
    /// then (the model's silence, an error, a finish) is not now; the agent-server's first snapshot tells its state as
    /// recorded, not what the new turn does.
    pub(super) fn replay(&mut self, past: &[AgentEvent]) {
        for event in past {
            self.observe(event);
        }
        self.model_since = None;
        self.last_event = None;
        self.last_error = None;
        self.finish_message = None;
        self.stale_snapshot = true;
    }
}
