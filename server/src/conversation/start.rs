//! Starting a conversation: the checks that can fail at once (a workspace, an LLM key, a cloud conversation not
//! already followed), its record in the state directory, and its runner, which gets the instruction as given.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::control::{Control, refuse};
use super::model::{Delivery, SendMode};
use super::store::{self, ConversationId, Meta, State};
use super::{
    AgentSettings, ConversationError, KIB_IN_FLIGHT, Live, Manager, StartRequest, Summary, Update, lock, runner,
};
use crate::agent_server::LlmConfig;
use crate::config::Settings;
use crate::editor::Editor;
use crate::secrets::{Secret, SecretName};

impl Manager {
    /// Starts a conversation with `settings` for a user in `editor`, and returns at once; the work goes on in the
    /// background.
    pub fn start(&self, req: StartRequest, config: &Settings, editor: Editor) -> Result<Summary, ConversationError> {
        let mut settings = AgentSettings::from_settings(config, editor);
        // A front's choice of backend for this conversation, else the selected one.
        let provider = req
            .options
            .backend
            .and_then(|b| self.inner.provider.select(b))
            .unwrap_or_else(|| self.inner.provider.clone());
        let backend = self.check_start(&req, &settings, provider.name())?;
        let folders = super::folders::plan(&req.workspace, &req.folders)?;
        if backend == "cloud" && !folders.is_empty() {
            return Err(ConversationError::Unsupported(
                "a cloud conversation works in one repository: start the task from one folder, or choose the docker \
                 or process backend for a task across folders"
                    .into(),
            ));
        }
        // The cloud's changes come back into the conversation's own copy: never straight into the user's files.
        if backend == "cloud" {
            settings.isolation = crate::config::Isolation::Worktree;
        }
        let StartRequest { instruction, title, workspace, issue, attach, options, images, folders: _ } = req;
        self.arm_mcp(&mut settings, &config.mcp_servers.with(&options.mcp_servers), backend)?;
        let conversation_id = options.id.unwrap_or_else(ConversationId::new_random);
        let dir = self.inner.store.dir(&conversation_id);
        let id = String::from(conversation_id);
        let mut meta = new_meta(id.clone(), (title, instruction.clone(), workspace), backend, issue);
        meta.folders = folders;
        let log = self.inner.store.create(&meta)?;
        let meta = Arc::new(Mutex::new(meta));
        let (tx, rx) = mpsc::channel(32);
        self.live().insert(id.clone(), Live { control: tx, meta: meta.clone() });
        self.inner.started.lock().unwrap_or_else(|p| p.into_inner()).push(meta.clone());
        let summary =
            Summary { meta: lock(&meta).clone(), live: true, running_elsewhere: false, cannot_continue: None };
        self.inner.observer.update(Update::Changed(Box::new(summary.clone())));
        let runner = runner::Runner {
            id: id.clone(),
            dir,
            meta,
            store: self.inner.store.clone(),
            log,
            provider,
            observer: self.inner.observer.clone(),
            redactor: self.inner.secrets.redactor(),
            llm: self.llm_config(&settings),
            secrets: self.provider_tokens(),
            settings,
            instruction: Some(instruction),
            images,
            attach,
            remote: None,
            files_back: None,
            credit: Arc::new(tokio::sync::Semaphore::new(KIB_IN_FLIGHT as usize)),
            fork: None,
            held: super::model::Held::default(),
            going_on: false,
            rearm_due: false,
            queued_images: Default::default(),
        };
        let manager = self.clone();
        tokio::spawn(async move {
            runner.run(rx).await;
            manager.live().remove(&id);
        });
        Ok(summary)
    }

    /// What must hold before anything is written or started; the backend the conversation runs on.
    fn check_start(
        &self,
        req: &StartRequest,
        settings: &AgentSettings,
        selected: &'static str,
    ) -> Result<&'static str, ConversationError> {
        if !req.workspace.is_dir() {
            return Err(ConversationError::BadWorkspace(req.workspace.clone()));
        }
        if let Some(id) = &req.options.id
            && (self.live().contains_key(id.as_str()) || self.inner.store.load(id.as_str()).is_ok())
        {
            return Err(ConversationError::AlreadyExists(id.as_str().to_owned()));
        }
        let backend = if req.attach.is_some() { "cloud" } else { selected };
        // In the cloud the agent uses the account's own LLM.
        if backend != "cloud" {
            self.check_llm_key(settings)?;
        }
        if let Some(cloud_id) = &req.attach
            && let Some(local) = self.following(cloud_id)
        {
            return Err(ConversationError::AlreadyAttached { cloud: cloud_id.clone(), local });
        }
        Ok(backend)
    }

    /// A hosted model without a key would start a sandbox only to fail with the LLM library's advice about
    /// environment variables: said at once, with how to set it in the user's editor.
    pub(super) fn check_llm_key(&self, settings: &AgentSettings) -> Result<(), ConversationError> {
        if self.llm_key(&settings.llm_model).is_none()
            && crate::editor::model_needs_key(&settings.llm_model, settings.llm_base_url.as_deref())
        {
            let mut how = settings.editor.how_to_set(SecretName::LlmApiKey);
            if settings.llm_model.starts_with(crate::editor::OPENHANDS_MODELS) {
                let cloud = settings.editor.how_to_set(SecretName::CloudApiKey);
                how = format!("{how}; or, for OpenHands' own models, give your OpenHands API key: {cloud}");
            }
            if settings.llm_base_url.as_deref().is_some_and(|u| !u.trim().is_empty()) {
                how.push_str(" (a server that checks no key takes any text)");
            }
            return Err(ConversationError::NoLlmKey { model: settings.llm_model.clone(), how });
        }
        Ok(())
    }

    /// The agent's MCP servers, secrets filled in: a stdio server this backend cannot start, or a secret not set,
    /// fails the start here, naming it.
    pub(super) fn arm_mcp(
        &self,
        settings: &mut AgentSettings,
        servers: &crate::mcp::McpServers,
        backend: &str,
    ) -> Result<(), ConversationError> {
        servers.check_runnable(backend).map_err(|e| ConversationError::Mcp(e.0))?;
        let lookup = |name: &str| self.inner.secrets.named(name).map(|s| s.expose().to_owned());
        settings.mcp_config = servers.agent_config(&lookup).map_err(|e| ConversationError::Mcp(e.0))?;
        if backend == "docker" {
            settings.mcp_commands =
                servers.0.iter().filter_map(|(n, s)| Some((n.clone(), s.command.clone()?))).collect();
        }
        Ok(())
    }

    pub(super) fn llm_config(&self, settings: &AgentSettings) -> LlmConfig {
        LlmConfig {
            model: settings.llm_model.clone(),
            base_url: settings.llm_base_url.clone(),
            api_key: self.llm_key(&settings.llm_model),
            num_retries: settings.llm_num_retries,
            timeout_seconds: settings.llm_timeout_seconds,
            stream: settings.llm_stream,
        }
    }

    /// The key the model is called with: the LLM key; for OpenHands' own models (through its LLM proxy) without
    /// one, the user's OpenHands API key.
    pub fn llm_key(&self, model: &str) -> Option<Secret> {
        let secrets = &self.inner.secrets;
        secrets.get(SecretName::LlmApiKey).or_else(|| {
            if model.starts_with(crate::editor::OPENHANDS_MODELS) { secrets.get(SecretName::CloudApiKey) } else { None }
        })
    }

    /// The user's provider tokens, by the environment variable the agent knows them as.
    pub(super) fn provider_tokens(&self) -> BTreeMap<String, Secret> {
        SecretName::ALL
            .into_iter()
            .filter(|n| n.is_provider_token())
            .filter_map(|n| self.inner.secrets.get(n).map(|s| (n.env_var().to_owned(), s)))
            .collect()
    }
}

/// The record of a conversation that starts now: what was asked (history, commit messages, pull requests; the
/// runner gets its own copy of the instruction), this process as its owner.
fn new_meta(
    id: String,
    (title, instruction, workspace): (String, String, std::path::PathBuf),
    backend: &str,
    issue: Option<super::IssueLink>,
) -> Meta {
    let now = store::now_ms();
    Meta {
        id,
        title,
        instruction,
        workspace,
        backend: backend.to_owned(),
        state: State::Starting,
        created_at: now,
        updated_at: now,
        final_message: None,
        error: None,
        sandbox_url: None,
        image: None,
        event_count: 0,
        isolation: None,
        issue,
        cloud: None,
        owner: Some(crate::instance::Instance::current().clone()),
        checkpoint: None,
        restores: 0,
        agent_conversation: None,
        branch_of: None,
        usage: None,
        budget_reached: None,
        discarded: false,
        queued: Vec::new(),
        folders: Vec::new(),
    }
}

impl runner::Runner {
    /// The sandbox went away: an error unless the work was over.
    pub(super) fn sandbox_died(&self, death: crate::sandbox::Death) {
        if self.meta().state.is_settled() {
            return;
        }
        // The popup gets the reason; the log's lines go to the log (the editor's output channel).
        if !death.log.trim().is_empty() {
            tracing::warn!(conversation = %self.id, "{}; its last log lines:\n{}", death.reason, death.log);
        }
        let reason = format!(
            "the sandbox died: {}{}",
            death.reason,
            if death.log.trim().is_empty() { "" } else { " (its last log lines are in the openhands-lsp log)" }
        );
        self.settle(State::Error, None, Some(reason));
    }

    /// Starts the sandbox; `None` when the user stopped the conversation meanwhile. Stop works while the sandbox
    /// boots, a pause holds the task and messages wait with it (`hold_while_starting`); other requests are refused.
    pub(super) async fn start_sandbox(
        &mut self,
        spec: crate::sandbox::SandboxSpec,
        control: &mut mpsc::Receiver<Control>,
    ) -> Option<Result<crate::sandbox::Sandbox, crate::sandbox::SandboxError>> {
        let started = self.start_or_stop(spec, control).await;
        // No sandbox: the agent-server's record and store made for it (in memory) go now, the record back with the
        // conversation, as a sandbox's do when it stops; else they stayed in memory until the machine restarted.
        if !matches!(started, Some(Ok(_))) {
            self.close_record().await;
            crate::sandbox::process::remove_agent_store(&self.id);
        }
        started
    }

    /// The sandbox, unless a stop came first (`None`) or it failed to start.
    async fn start_or_stop(
        &mut self,
        spec: crate::sandbox::SandboxSpec,
        control: &mut mpsc::Receiver<Control>,
    ) -> Option<Result<crate::sandbox::Sandbox, crate::sandbox::SandboxError>> {
        let provider = self.provider.clone();
        let start = provider.start(spec);
        tokio::pin!(start);
        loop {
            tokio::select! {
                result = &mut start => return Some(result),
                msg = control.recv() => match msg {
                    Some(Control::Stop { reply }) => {
                        self.settle(State::Stopped, None, None);
                        let _ = reply.send(Ok(()));
                        // Let the start finish so its process is stopped rather than leaked.
                        if let Ok(sandbox) = (&mut start).await {
                            sandbox.handle.stop().await;
                        }
                        return None;
                    }
                    Some(other) => {
                        if let Some(refused) = self.hold_while_starting(other) {
                            refuse(refused, &self.id, "starting");
                        }
                    }
                    None => return None,
                },
            }
        }
    }

    /// A control that came while the sandbox starts: taken (answered) here, or given back to be refused.
    pub(super) fn hold_while_starting(&mut self, control: Control) -> Option<Control> {
        match control {
            Control::Pause { reply } => {
                self.held.paused = true;
                self.set_state(State::Paused);
                let _ = reply.send(Ok(()));
            }
            Control::Resume { reply } => {
                self.held.paused = false;
                self.set_state(State::Starting);
                let _ = reply.send(Ok(()));
            }
            Control::Send { text, images, run, mode: SendMode::Queue, reply } if run => {
                let _ = reply.send(Ok(self.enqueue(text, images)));
            }
            Control::Send { text, images, run, reply, .. } => {
                self.held.messages.push((text, images));
                if run && self.held.paused {
                    self.held.paused = false;
                    self.set_state(State::Starting);
                }
                let _ = reply.send(Ok(Delivery::Sent));
            }
            other => return Some(other),
        }
        None
    }
}
