//! The `LanguageServer` implementation. Handlers are thin: parse, call into the domain, convert.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Deserialize;
use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::lsp_types::*;
use tower_lsp_server::{Client, LanguageServer};

use super::commands;
use super::documents::Documents;
use super::ext::{Status, StatusKind, StatusParams};
use super::progress::Progress;
use super::relay::Relay;
use crate::backends::Backends;
use crate::config::{self, Settings};
use crate::conversation::{AgentSettings, Manager, Store};
use crate::doctor;
use crate::secrets::SecretStore;

/// What the client can do, read once from `initialize`.
#[derive(Debug, Clone, Default)]
pub struct ClientFacts {
    pub work_done_progress: bool,
    pub configuration_pull: bool,
    pub utf8_positions: bool,
    pub name: Option<String>,
    pub edit_support: super::review::EditSupport,
    /// `window/showDocument` (opening a pull request's page in the browser).
    pub show_document: bool,
}

#[derive(Debug, Default)]
pub(super) struct Session {
    pub settings: Settings,
    /// Problems with the current settings, shown once per distinct set.
    settings_problems: Vec<String>,
    last_shown_problems: Option<Vec<String>>,
    /// The last blocking problem shown with `window/showMessage` (e.g. Docker unreachable): each is shown once.
    last_shown_status_error: Option<String>,
    pub client: ClientFacts,
    pub workspace_folders: Vec<WorkspaceFolder>,
    pub documents: Documents,
}

/// Long-lived state shared by the handlers and by `serve` (which needs it after the service is gone).
pub struct Shared {
    session: Mutex<Session>,
    pub progress: Progress,
    state_dir: std::result::Result<PathBuf, String>,
    pub secrets: SecretStore,
    /// Conversations, or why they are unavailable (an unusable state directory).
    pub manager: std::result::Result<Manager, String>,
    pub backends: Arc<Backends>,
    /// The log lines for the editor, until `initialized` starts sending them.
    log: Mutex<Option<tokio::sync::mpsc::Receiver<crate::logging::LogLine>>>,
    /// The task sending them from then on.
    log_sender: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Shared {
    pub fn new(client: &Client, log: tokio::sync::mpsc::Receiver<crate::logging::LogLine>) -> Arc<Self> {
        let progress = Progress::new(client.clone());
        let secrets = SecretStore::from_env();
        crate::logging::mask_secrets(secrets.redactor());
        let state_dir = crate::state_dir::resolve().map_err(|e| e.to_string());
        let backends = Arc::new(Backends::new(
            &Settings::default(),
            secrets.clone(),
            state_dir.as_ref().ok().map(PathBuf::as_path),
        ));
        let (relay, observer) = Relay::start(client.clone(), progress.clone());
        let manager = state_dir.clone().and_then(|dir| {
            crate::state_dir::ensure_writable(&dir).map_err(|e| e.to_string())?;
            let manager = Manager::new(Store::new(&dir), backends.clone(), secrets.clone(), observer);
            manager.recover();
            Ok(manager)
        });
        if let Ok(m) = &manager {
            relay.set_manager(m.clone());
        }
        let shared = Arc::new(Shared {
            session: Mutex::new(Session::default()),
            progress,
            state_dir,
            secrets,
            manager,
            backends,
            log: Mutex::new(Some(log)),
            log_sender: Mutex::new(None),
        });
        // A conversation on an issue that finishes offers what comes next (apply, pull request, discard).
        let (hook_client, weak) = (client.clone(), Arc::downgrade(&shared));
        relay.set_finished_hook(Box::new(move |id| {
            if let Some(shared) = weak.upgrade() {
                let backend = Backend { client: hook_client.clone(), shared };
                tokio::spawn(async move { backend.offer_issue_outcome(id).await });
            }
        }));
        // Idle again: the status is the server's health and settings, looked at anew (shown without a popup: a
        // conversation that failed for that reason already said so).
        let (hook_client, weak) = (client.clone(), Arc::downgrade(&shared));
        relay.set_idle_hook(Box::new(move |still_idle| {
            if let Some(shared) = weak.upgrade() {
                let backend = Backend { client: hook_client.clone(), shared };
                tokio::spawn(async move { backend.publish_status_as(false, Some(still_idle)).await });
            }
        }));
        shared
    }

    /// Settings as a conversation starts with them.
    pub fn agent_settings(&self, settings: &Settings) -> AgentSettings {
        AgentSettings::from_settings(settings, self.editor())
    }

    /// The editor the user is in, from the client's name.
    pub fn editor(&self) -> crate::editor::Editor {
        crate::editor::Editor::from_client_name(self.session().client.name.as_deref())
    }

    /// Settings that live outside the session (the sandbox provider's) follow the session's.
    fn settings_changed(&self, settings: &Settings) {
        self.backends.configure(settings);
    }

    /// Ends sending the log to the editor (later lines go to stderr): what is on its way is sent, and what never
    /// could be (no `initialized` came) is written to stderr.
    pub async fn finish_log(&self) {
        crate::logging::forward_to(None);
        let sender = self.log_sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(sender) = sender {
            let _ = tokio::time::timeout(std::time::Duration::from_millis(500), sender).await;
        }
        let Some(mut log) = self.log.lock().unwrap_or_else(|p| p.into_inner()).take() else { return };
        let mut stderr = std::io::stderr().lock();
        while let Ok((level, text)) = log.try_recv() {
            let _ = writeln!(stderr, "{level:>5} {text}");
        }
    }

    /// Stops every conversation and sandbox; called once the client has gone.
    pub async fn shutdown(&self) {
        if let Ok(manager) = &self.manager {
            manager.shutdown().await;
        }
    }

    /// Never held across an `.await`.
    pub(super) fn session(&self) -> MutexGuard<'_, Session> {
        // A handler that panicked while holding the lock left consistent data (all updates are single
        // assignments), so a poisoned lock is still usable.
        self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn doctor_inputs(&self) -> doctor::Inputs {
        let editor = self.editor();
        let session = self.session();
        doctor::Inputs {
            editor,
            settings: session.settings.clone(),
            settings_problems: session.settings_problems.clone(),
            state_dir: self.state_dir.clone(),
            secrets: self.secrets.clone(),
        }
    }
}

pub struct Backend {
    pub(super) client: Client,
    pub(super) shared: Arc<Shared>,
}

impl Backend {
    /// Applies new settings, shows their problems once, and logs unknown keys.
    async fn apply_settings(&self, value: &Value, origin: &str) {
        let parsed = config::parse(value);
        for key in &parsed.unknown_keys {
            tracing::warn!("{origin}: unknown setting {key} (ignored)");
        }
        let problems: Vec<String> = parsed.problems.iter().map(ToString::to_string).collect();
        self.shared.settings_changed(&parsed.settings);
        let to_show = {
            let mut session = self.shared.session();
            session.settings = parsed.settings;
            session.settings_problems = problems.clone();
            if problems.is_empty() || session.last_shown_problems.as_ref() == Some(&problems) {
                None
            } else {
                session.last_shown_problems = Some(problems.clone());
                Some(problems)
            }
        };
        if let Some(problems) = to_show {
            self.show_settings_problems(&problems).await;
        }
        self.publish_status().await;
    }

    /// One warning naming each setting that was not understood (each problem says the default is used instead).
    async fn show_settings_problems(&self, problems: &[String]) {
        let message = format!("OpenHands: settings not understood: {}", problems.join("; "));
        tracing::warn!("{message}");
        self.client.show_message(MessageType::WARNING, message).await;
    }

    /// Sends `openhands/status` from the current facts.
    async fn publish_status(&self) {
        self.publish_status_as(true, None).await;
    }

    /// The server's status from its checks. `announce`: a new problem is also shown in a popup (else only in the
    /// status). `still_idle`: published only if it still holds once the checks are done.
    async fn publish_status_as(&self, announce: bool, still_idle: Option<super::relay::StillIdle>) {
        let report = doctor::run(&self.shared.doctor_inputs()).await;
        let problems = self.shared.session().settings_problems.clone();
        let params = if !report.ok {
            let failing: Vec<String> = report
                .checks
                .iter()
                .filter(|c| c.status == doctor::CheckStatus::Error)
                .map(|c| c.detail.clone())
                .collect();
            let message = failing.join("; ");
            let first_time = {
                let mut session = self.shared.session();
                let new = session.last_shown_status_error.as_ref() != Some(&message);
                if announce {
                    session.last_shown_status_error = Some(message.clone());
                }
                new && announce
            };
            if first_time {
                self.client.show_message(MessageType::ERROR, format!("OpenHands: {message}")).await;
            }
            StatusParams { busy: false, message, kind: StatusKind::Error }
        } else if !problems.is_empty() {
            StatusParams {
                busy: false,
                message: format!("Invalid settings: {}", problems.join("; ")),
                kind: StatusKind::Warning,
            }
        } else {
            StatusParams { busy: false, message: "Ready".into(), kind: StatusKind::Normal }
        };
        if still_idle.is_none_or(|idle| idle()) {
            self.client.send_notification::<Status>(params).await;
        }
    }

    async fn status_json(&self) -> Value {
        let report = doctor::run(&self.shared.doctor_inputs()).await;
        let session = self.shared.session();
        let mut value = serde_json::to_value(&report).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.insert(
                "workspaceFolders".into(),
                session.workspace_folders.iter().map(|f| json!({"uri": f.uri.as_str(), "name": f.name})).collect(),
            );
            map.insert("settingsProblems".into(), json!(session.settings_problems));
            map.insert("openDocuments".into(), json!(session.documents.len()));
            map.insert("warmPool".into(), json!(self.shared.backends.docker.pool_status()));
            map.insert(
                "positionEncoding".into(),
                json!(if session.client.utf8_positions { "utf-8" } else { "utf-16" }),
            );
        }
        value
    }

    async fn pull_configuration(&self) -> Option<Value> {
        let items = vec![ConfigurationItem { scope_uri: None, section: Some(config::SECTION.into()) }];
        match self.client.configuration(items).await {
            Ok(mut values) if !values.is_empty() => Some(values.swap_remove(0)),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!("workspace/configuration failed: {e}");
                None
            }
        }
    }
}

fn client_facts(params: &InitializeParams) -> ClientFacts {
    let caps = &params.capabilities;
    let workspace = caps.workspace.as_ref();
    ClientFacts {
        show_document: caps.window.as_ref().and_then(|w| w.show_document.as_ref()).is_some_and(|d| d.support),
        work_done_progress: caps.window.as_ref().and_then(|w| w.work_done_progress).unwrap_or(false),
        configuration_pull: workspace.and_then(|w| w.configuration).unwrap_or(false),
        utf8_positions: caps
            .general
            .as_ref()
            .and_then(|g| g.position_encodings.as_ref())
            .is_some_and(|encodings| encodings.contains(&PositionEncodingKind::UTF8)),
        name: params.client_info.as_ref().map(|c| c.name.clone()),
        edit_support: super::review::EditSupport::from_capabilities(caps),
    }
}

/// The folders from `initialize`: `workspaceFolders`, else the deprecated `rootUri`.
#[allow(deprecated)] // root_uri is deprecated in the spec but older clients still send only it
fn initial_folders(params: &InitializeParams) -> Vec<WorkspaceFolder> {
    if let Some(folders) = &params.workspace_folders {
        return folders.clone();
    }
    params
        .root_uri
        .iter()
        .map(|uri| WorkspaceFolder {
            uri: uri.clone(),
            name: uri
                .path()
                .segments()
                .next_back()
                .map(|s| s.decode().into_string_lossy().into_owned())
                .unwrap_or_default(),
        })
        .collect()
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let facts = client_facts(&params);
        tracing::info!(client = ?facts.name, "initialize");
        self.shared.progress.set_supported(facts.work_done_progress);
        let utf8 = facts.utf8_positions;
        {
            let mut session = self.shared.session();
            session.client = facts;
            session.workspace_folders = initial_folders(&params);
        }
        let options = params.initialization_options.unwrap_or(Value::Null);
        // Settings problems are shown from `initialized`: before the initialize response the client may not be
        // ready to show anything.
        let parsed = config::parse(&options);
        self.shared.settings_changed(&parsed.settings);
        {
            let mut session = self.shared.session();
            session.settings = parsed.settings;
            session.settings_problems = parsed.problems.iter().map(ToString::to_string).collect();
        }
        for key in parsed.unknown_keys {
            tracing::warn!("initializationOptions: unknown setting {key} (ignored)");
        }
        Ok(InitializeResult {
            server_info: Some(ServerInfo { name: "openhands-lsp".into(), version: Some(crate::VERSION.into()) }),
            capabilities: super::capabilities::server_capabilities(utf8),
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        if let Some(log) = self.shared.log.lock().unwrap_or_else(|p| p.into_inner()).take() {
            *self.shared.log_sender.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(send_log(self.client.clone(), log));
        }
        let problems = self.shared.session().settings_problems.clone();
        if !problems.is_empty() {
            self.shared.session().last_shown_problems = Some(problems.clone());
            self.show_settings_problems(&problems).await;
        }
        self.publish_status().await;
    }

    async fn shutdown(&self) -> Result<()> {
        tracing::info!("shutdown requested");
        // The client takes no notification once it has the answer: what is on its way goes now, the rest to stderr.
        self.shared.finish_log().await;
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        self.shared.session().documents.open(doc.uri, doc.version, doc.text);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        // Full sync: the last change carries the whole text.
        if let Some(change) = params.content_changes.into_iter().last() {
            let doc = params.text_document;
            self.shared.session().documents.replace(&doc.uri, doc.version, change.text);
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.shared.session().documents.close(&params.text_document.uri);
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let pull = self.shared.session().client.configuration_pull;
        let value = if pull { self.pull_configuration().await } else { None };
        let value = value.unwrap_or_else(|| match params.settings {
            Value::Object(mut map) if map.contains_key(config::SECTION) => {
                map.remove(config::SECTION).unwrap_or(Value::Null)
            }
            other => other,
        });
        self.apply_settings(&value, "workspace/didChangeConfiguration").await;
    }

    async fn did_change_workspace_folders(&self, params: DidChangeWorkspaceFoldersParams) {
        let mut session = self.shared.session();
        let folders = &mut session.workspace_folders;
        folders.retain(|f| !params.event.removed.iter().any(|r| r.uri == f.uri));
        for added in params.event.added {
            if !folders.iter().any(|f| f.uri == added.uri) {
                folders.push(added);
            }
        }
    }

    /// "Fix this diagnostic" for each diagnostic the client sends for the range, and "fix issue" for the issue
    /// references on its lines.
    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let uri = params.text_document.uri;
        let issue_actions = self.issue_code_actions(&uri, params.range);
        let mut actions: Vec<CodeActionOrCommand> = params
            .context
            .diagnostics
            .into_iter()
            .map(|d| {
                let first = d.message.lines().next().unwrap_or_default();
                let short: String = first.chars().take(60).collect();
                let ellipsis = if first.chars().count() > 60 { "…" } else { "" };
                let title = format!("OpenHands: fix \"{short}{ellipsis}\"");
                let command = Command {
                    title: title.clone(),
                    command: commands::FIX_DIAGNOSTIC.into(),
                    arguments: Some(vec![json!({"uri": uri, "diagnostic": d})]),
                };
                CodeActionOrCommand::CodeAction(CodeAction {
                    title,
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![d]),
                    command: Some(command),
                    ..Default::default()
                })
            })
            .collect();
        actions.extend(issue_actions);
        Ok(Some(actions))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<Value>> {
        let ExecuteCommandParams { command, arguments, .. } = params;
        match command.as_str() {
            commands::STATUS => {
                let _: NoArgs = commands::parse_args(&command, arguments)?;
                Ok(Some(self.status_json().await))
            }
            other => self.execute_conversation_command(other, arguments).await.map(Some),
        }
    }
}

/// For commands without arguments: `{}` or nothing, and no stray fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NoArgs {}

/// Asks the user with `window/showMessageRequest`; the chosen action's title, `None` when dismissed.
pub(super) async fn ask(
    client: &Client,
    typ: MessageType,
    message: String,
    actions: &[&str],
) -> Result<Option<String>> {
    let params = ShowMessageRequestParams {
        typ,
        message,
        actions: Some(
            actions.iter().map(|t| MessageActionItem { title: (*t).into(), properties: Default::default() }).collect(),
        ),
    };
    let answer = client.send_request::<request::ShowMessageRequest>(params).await?;
    Ok(answer.map(|item| item.title))
}

impl Backend {
    pub(super) async fn ask(&self, typ: MessageType, message: String, actions: &[&str]) -> Result<Option<String>> {
        ask(&self.client, typ, message, actions).await
    }

    /// `window/workDoneProgress/cancel` is a notification tower-lsp-server does not route to a trait method.
    pub async fn work_done_progress_cancel(&self, params: WorkDoneProgressCancelParams) {
        self.shared.progress.cancel(&params.token);
    }
}

/// Sends the server's log lines to the editor as `window/logMessage`, each at its level (a line on stderr would be
/// an error to every editor: Neovim's lsp.log, VS Code's output channel).
fn send_log(
    client: Client,
    mut rx: tokio::sync::mpsc::Receiver<crate::logging::LogLine>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some((level, text)) = rx.recv().await {
            let typ = match level {
                tracing::Level::ERROR => MessageType::ERROR,
                tracing::Level::WARN => MessageType::WARNING,
                tracing::Level::INFO => MessageType::INFO,
                _ => MessageType::LOG,
            };
            client.log_message(typ, text).await;
        }
    })
}
