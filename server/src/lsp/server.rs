//! The `LanguageServer` implementation. Handlers are thin: each request takes a snapshot of the session and goes
//! to its module; commands go through the one table in `commands`.

use std::sync::Arc;

use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::lsp_types::*;
use tower_lsp_server::{Client, LanguageServer};

use super::state::{ClientFacts, Ctx, EditSupport, Shared};
use super::{commands, issues, names, status};
use crate::config;

pub struct Backend {
    pub client: Client,
    pub shared: Arc<Shared>,
}

impl Backend {
    pub fn ctx(&self) -> Ctx {
        Ctx::new(&self.client, &self.shared)
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

    /// `window/workDoneProgress/cancel` is a notification tower-lsp-server does not route to a trait method.
    pub async fn work_done_progress_cancel(&self, params: WorkDoneProgressCancelParams) {
        self.shared.progress.cancel(&params.token);
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
        edit_support: EditSupport::from_capabilities(caps),
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
            session.client = Arc::new(facts);
            session.set_workspace_folders(initial_folders(&params));
        }
        let options = params.initialization_options.unwrap_or(Value::Null);
        // Settings problems are shown from `initialized`: before the initialize response the client may not be
        // ready to show anything.
        let parsed = config::parse(&options);
        self.shared.set_settings(parsed.settings, parsed.problems.iter().map(ToString::to_string).collect());
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
            status::show_settings_problems(&self.client, &problems).await;
        }
        status::publish(&self.client, &self.shared, true, None).await;
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
        status::apply_settings(&self.client, &self.shared, &value, "workspace/didChangeConfiguration").await;
    }

    async fn did_change_workspace_folders(&self, params: DidChangeWorkspaceFoldersParams) {
        let mut session = self.shared.session();
        let mut folders = session.workspace_folders().to_vec();
        folders.retain(|f| !params.event.removed.iter().any(|r| r.uri == f.uri));
        for added in params.event.added {
            if !folders.iter().any(|f| f.uri == added.uri) {
                folders.push(added);
            }
        }
        session.set_workspace_folders(folders);
    }

    /// "Fix this diagnostic" for each diagnostic the client sends for the range (and one task for them all when
    /// there are several), and "fix issue" for the issue references on its lines.
    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let uri = params.text_document.uri;
        let only = params.context.only.as_deref();
        let issue_actions = issues::code_actions(&self.ctx(), &uri, params.range, only).await;
        let all = all_problems_action(&uri, params.range, &params.context.diagnostics);
        let mut actions: Vec<CodeActionOrCommand> = all
            .into_iter()
            .chain(params.context.diagnostics.into_iter().map(|d| {
                let first = d.message.lines().next().unwrap_or_default();
                let short: String = first.chars().take(60).collect();
                let ellipsis = if first.chars().count() > 60 { "…" } else { "" };
                let title = format!("OpenHands: fix \"{short}{ellipsis}\"");
                let command = Command {
                    title: title.clone(),
                    command: names::FIX_DIAGNOSTIC.into(),
                    arguments: Some(vec![json!({"uri": uri, "diagnostic": d})]),
                };
                CodeActionOrCommand::CodeAction(CodeAction {
                    title,
                    kind: Some(CodeActionKind::QUICKFIX),
                    diagnostics: Some(vec![d]),
                    command: Some(command),
                    ..Default::default()
                })
            }))
            .collect();
        actions.extend(issue_actions);
        Ok(Some(actions))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<Value>> {
        let ExecuteCommandParams { command, arguments, .. } = params;
        commands::execute(&self.ctx(), &command, arguments).await.map(Some)
    }
}

/// With several problems in the range, one task for them all: a Start Task whose instruction lists them.
fn all_problems_action(uri: &Uri, range: Range, diagnostics: &[Diagnostic]) -> Option<CodeActionOrCommand> {
    if diagnostics.len() < 2 {
        return None;
    }
    let title = format!("OpenHands: fix the {} problems here", diagnostics.len());
    let args = json!({
        "instruction": "Fix the problems the editor reports here. Fix their causes, not only the messages; then run the \
                        project's tests, if it has any.",
        "title": format!("Fix {} problems", diagnostics.len()),
        "uri": uri, "range": range, "diagnostics": diagnostics,
    });
    let command = Command { title: title.clone(), command: names::START_TASK.into(), arguments: Some(vec![args]) };
    Some(CodeActionOrCommand::CodeAction(CodeAction {
        title,
        kind: Some(CodeActionKind::QUICKFIX),
        diagnostics: Some(diagnostics.to_vec()),
        command: Some(command),
        ..Default::default()
    }))
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
