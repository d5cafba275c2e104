//! The conversation commands: argument types, the editor context of a task, and error mapping.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};
use tower_lsp_server::UriExt;
use tower_lsp_server::jsonrpc::{Error, ErrorCode};
use tower_lsp_server::lsp_types::{Diagnostic, NumberOrString, Range, Uri};

use super::commands::{self, invalid_params};
use super::server::Backend;
use crate::config::Settings;
use crate::conversation::{ConversationError, Decision, StartRequest};
use crate::secrets::SecretName;

/// `openhands.fixDiagnostic`: what the code action carries.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixDiagnosticArgs {
    pub uri: Uri,
    pub diagnostic: Diagnostic,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartTaskArgs {
    pub instruction: String,
    /// The document the task is about.
    #[serde(default)]
    pub uri: Option<Uri>,
    #[serde(default)]
    pub range: Option<Range>,
    /// The selected text (clients send it; else it is read from the open document and `range`).
    #[serde(default)]
    pub selected_text: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConversationArgs {
    pub conversation_id: crate::conversation::ConversationId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendMessageArgs {
    pub conversation_id: crate::conversation::ConversationId,
    pub text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetEventsArgs {
    pub conversation_id: crate::conversation::ConversationId,
    /// Return events from this position on (0-based; `next` of the previous page).
    #[serde(default)]
    pub after: u64,
    #[serde(default = "default_limit")]
    pub limit: usize,
}

fn default_limit() -> usize {
    500
}

/// `deny_unknown_fields` does not work with `#[serde(flatten)]` (every field of the flattened part counts as
/// unknown), so the decision's fields are spelled out here.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfirmationArgs {
    pub conversation_id: crate::conversation::ConversationId,
    pub decision: DecisionKind,
    /// With `reject`: told to the agent.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
pub enum DecisionKind {
    Allow,
    AllowAll,
    Reject,
}

impl ConfirmationArgs {
    fn decision(self) -> Decision {
        match self.decision {
            DecisionKind::Allow => Decision::Allow,
            DecisionKind::AllowAll => Decision::AllowAll,
            DecisionKind::Reject => Decision::Reject { reason: self.reason },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetSecretArgs {
    pub name: SecretName,
    /// An empty string clears the secret.
    pub value: String,
}

/// Maps domain errors to JSON-RPC on purpose: the caller's mistakes are InvalidParams, everything else is a request
/// that was well-formed but failed (RequestFailed, -32803), with the domain's message.
pub fn to_rpc(err: ConversationError) -> Error {
    let code = match err {
        ConversationError::Unknown(_)
        | ConversationError::BadId(_)
        | ConversationError::BadWorkspace(_)
        | ConversationError::NotIsolated(_) => ErrorCode::InvalidParams,
        _ => ErrorCode::ServerError(-32803),
    };
    Error { code, message: err.to_string().into(), data: None }
}

fn no_manager(reason: &str) -> Error {
    commands::request_failed(format!("conversations are unavailable: {reason}"))
}

impl Backend {
    pub(super) fn manager(&self) -> Result<crate::conversation::Manager, Error> {
        self.shared.manager.clone().map_err(|reason| no_manager(&reason))
    }

    /// Every command but `openhands.status`; an unknown one is MethodNotFound naming it.
    pub(super) async fn execute_conversation_command(
        &self,
        command: &str,
        arguments: Vec<Value>,
    ) -> Result<Value, Error> {
        match command {
            commands::START_TASK => self.start_task(commands::parse_args(command, arguments)?).await,
            commands::FIX_DIAGNOSTIC => self.fix_diagnostic(commands::parse_args(command, arguments)?).await,
            commands::SEND_MESSAGE => {
                let args: SendMessageArgs = commands::parse_args(command, arguments)?;
                self.manager()?
                    .send_message(&args.conversation_id, args.text)
                    .await
                    .map_err(to_rpc)
                    .map(|()| Value::Null)
            }
            commands::PAUSE | commands::RESUME | commands::STOP => {
                let args: ConversationArgs = commands::parse_args(command, arguments)?;
                let manager = self.manager()?;
                let id = &args.conversation_id;
                let outcome = match command {
                    commands::PAUSE => manager.pause(id).await,
                    commands::RESUME => manager.resume(id).await,
                    _ => manager.stop(id).await,
                };
                outcome.map_err(to_rpc).map(|()| Value::Null)
            }
            commands::LIST_CONVERSATIONS => {
                let args: super::cloud::ListArgs = commands::parse_args(command, arguments)?;
                let local = self.manager()?.list().await.map_err(to_rpc)?;
                let mut result = self.cloud_conversations(args.cloud, &local).await;
                result["conversations"] = json!(local);
                Ok(result)
            }
            commands::GET_EVENTS => {
                let args: GetEventsArgs = commands::parse_args(command, arguments)?;
                let manager = self.manager()?;
                let (events, next, total) = manager
                    .events(&args.conversation_id, args.after, args.limit.clamp(1, 5000))
                    .await
                    .map_err(to_rpc)?;
                Ok(json!({"events": events, "next": next, "total": total}))
            }
            commands::RESPOND_TO_CONFIRMATION => {
                let args: ConfirmationArgs = commands::parse_args(command, arguments)?;
                let id = args.conversation_id.clone();
                self.manager()?.confirm(&id, args.decision()).await.map_err(to_rpc).map(|()| Value::Null)
            }
            commands::SET_SECRET => {
                let args: SetSecretArgs = commands::parse_args(command, arguments)?;
                self.shared.secrets.set(args.name, &args.value);
                tracing::info!(
                    "secret {} {}",
                    args.name.as_str(),
                    if args.value.is_empty() { "cleared" } else { "set" }
                );
                Ok(json!({"name": args.name.as_str(), "set": !args.value.is_empty()}))
            }
            commands::REVIEW_CHANGES => self.review_changes(commands::parse_args(command, arguments)?).await,
            commands::APPLY_CHANGES => self.apply_changes(commands::parse_args(command, arguments)?).await,
            commands::DISCARD_CHANGES => self.discard_changes(commands::parse_args(command, arguments)?).await,
            commands::PUSH_CHANGES => self.push_changes(commands::parse_args(command, arguments)?).await,
            commands::FIX_ISSUE => self.fix_issue(commands::parse_args(command, arguments)?).await,
            commands::CREATE_PULL_REQUEST => self.create_pull_request(commands::parse_args(command, arguments)?).await,
            commands::SUGGESTED_TASKS => self.suggested_tasks(commands::parse_args(command, arguments)?).await,
            commands::ATTACH_CONVERSATION => self.attach_conversation(commands::parse_args(command, arguments)?).await,
            commands::STORE_PROVIDER_TOKENS_IN_CLOUD => {
                let _: super::server::NoArgs = commands::parse_args(command, arguments)?;
                self.store_provider_tokens().await
            }
            other => Err(commands::unknown_command(other)),
        }
    }

    async fn start_task(&self, args: StartTaskArgs) -> Result<Value, Error> {
        if args.instruction.trim().is_empty() {
            return Err(invalid_params(format!(
                "{}: arguments[0].instruction: must not be empty",
                commands::START_TASK
            )));
        }
        let (settings, folders, selection) = {
            let session = self.shared.session();
            let selection = args.selected_text.clone().or_else(|| {
                let (uri, range) = (args.uri.as_ref()?, args.range?);
                let doc = session.documents.get(uri)?;
                Some(super::documents::slice(&doc.text, range, session.client.utf8_positions))
            });
            (session.settings.clone(), session.workspace_folders.clone(), selection)
        };
        let file = args.uri.as_ref().and_then(|u| u.to_file_path()).map(|p| p.into_owned());
        let roots: Vec<PathBuf> = folders.iter().filter_map(|f| f.uri.to_file_path().map(|p| p.into_owned())).collect();
        let workspace = workspace_for(file.as_deref(), &roots).ok_or_else(|| {
            invalid_params(format!(
                "{}: no workspace folder to work in: open a folder, or pass a `uri` inside one",
                commands::START_TASK
            ))
        })?;
        let instruction =
            compose_instruction(&args.instruction, file.as_deref(), &workspace, args.range, selection.as_deref());
        let title = args.title.filter(|t| !t.trim().is_empty()).unwrap_or_else(|| title_from(&args.instruction));
        self.start_conversation(StartRequest { instruction, title, workspace, issue: None, attach: None }, &settings)
            .await
    }

    /// Starts a conversation with the session's settings; the result every starting command returns.
    pub(super) async fn start_conversation(&self, req: StartRequest, settings: &Settings) -> Result<Value, Error> {
        if settings.backend == crate::config::Backend::Cloud && req.attach.is_none() {
            self.before_cloud_start(&req.workspace, settings).await?;
        }
        let summary = self.manager()?.start(req, self.shared.agent_settings(settings)).map_err(to_rpc)?;
        Ok(json!({"conversationId": summary.meta.id, "conversation": summary}))
    }
}

impl Backend {
    async fn fix_diagnostic(&self, args: FixDiagnosticArgs) -> Result<Value, Error> {
        let Some(file) = args.uri.to_file_path().map(|p| p.into_owned()) else {
            return Err(invalid_params(format!("{}: arguments[0].uri: not a file URI", commands::FIX_DIAGNOSTIC)));
        };
        // Whole lines are quoted, so the position encoding does not matter here.
        let (settings, folders, open_text) = {
            let session = self.shared.session();
            let text = session.documents.get(&args.uri).map(|d| d.text.clone());
            (session.settings.clone(), session.workspace_folders.clone(), text)
        };
        // The editor's text when the document is open (unsaved edits included), else the file on disk.
        let text = match open_text {
            Some(t) => Some(t),
            None => tokio::fs::read_to_string(&file).await.ok(),
        };
        let roots: Vec<PathBuf> = folders.iter().filter_map(|f| f.uri.to_file_path().map(|p| p.into_owned())).collect();
        let workspace = workspace_for(Some(&file), &roots).ok_or_else(|| {
            invalid_params(format!("{}: no workspace folder holds {}", commands::FIX_DIAGNOSTIC, file.display()))
        })?;
        let shown = file.strip_prefix(&workspace).unwrap_or(&file).display().to_string();
        let instruction = diagnostic_instruction(&args.diagnostic, &shown, text.as_deref());
        let first = args.diagnostic.message.lines().next().unwrap_or_default();
        let title = title_from(&format!("Fix: {first}"));
        self.start_conversation(StartRequest { instruction, title, workspace, issue: None, attach: None }, &settings)
            .await
    }
}

/// Lines shown around a diagnostic, before and after it.
const DIAGNOSTIC_CONTEXT_LINES: u32 = 5;

/// What the agent is told about a diagnostic: where, what (source, code, message), and the code around it.
pub(super) fn diagnostic_instruction(d: &Diagnostic, shown_path: &str, text: Option<&str>) -> String {
    let (line, col) = (d.range.start.line + 1, d.range.start.character + 1);
    let origin = match (&d.source, &d.code) {
        (Some(s), Some(c)) => format!(" ({s} {})", code_text(c)),
        (Some(s), None) => format!(" ({s})"),
        (None, Some(c)) => format!(" ({})", code_text(c)),
        (None, None) => String::new(),
    };
    let mut out = format!("Fix this problem reported in {shown_path} at line {line}, column {col}{origin}:\n");
    out.push_str(d.message.trim_end());
    out.push('\n');
    if let Some(text) = text {
        let lines: Vec<&str> = text.lines().collect();
        let first = d.range.start.line.saturating_sub(DIAGNOSTIC_CONTEXT_LINES) as usize;
        let last = ((d.range.end.line + DIAGNOSTIC_CONTEXT_LINES) as usize).min(lines.len().saturating_sub(1));
        if first < lines.len() {
            let (from, to) = (d.range.start.line as usize, d.range.end.line as usize);
            out.push_str(&format!(
                "\nThe code around it ({shown_path}, lines {}-{}; the reported lines are marked with >>):\n```\n",
                first + 1,
                last + 1
            ));
            for (i, l) in lines.iter().enumerate().take(last + 1).skip(first) {
                let mark = if (from..=to).contains(&i) { ">>" } else { "  " };
                out.push_str(&format!("{mark} {:>4} | {l}\n", i + 1));
            }
            out.push_str("```\n");
        }
    }
    out.push_str(
        "\nFix the cause, not only the message. Then run the project's tests, if it has any, and make sure they pass.",
    );
    out
}

fn code_text(code: &NumberOrString) -> String {
    match code {
        NumberOrString::Number(n) => n.to_string(),
        NumberOrString::String(s) => s.clone(),
    }
}

/// The folder a task runs in: the workspace folder holding `file` (innermost), else the first folder.
pub(super) fn workspace_for(file: Option<&Path>, roots: &[PathBuf]) -> Option<PathBuf> {
    if let Some(file) = file {
        let best = roots.iter().filter(|r| file.starts_with(r)).max_by_key(|r| r.components().count());
        if let Some(root) = best {
            return Some(root.clone());
        }
        if roots.is_empty() {
            return file.parent().map(Path::to_path_buf);
        }
    }
    roots.first().cloned()
}

/// The instruction with the editor's context appended, so the agent knows which file and lines are meant.
fn compose_instruction(
    instruction: &str,
    file: Option<&Path>,
    workspace: &Path,
    range: Option<Range>,
    selection: Option<&str>,
) -> String {
    let mut text = instruction.trim().to_owned();
    let Some(file) = file else { return text };
    let shown = file.strip_prefix(workspace).unwrap_or(file).display().to_string();
    text.push_str("\n\nContext from the editor:\n");
    match range {
        Some(r) => text.push_str(&format!("- File: {shown}, lines {}-{}\n", r.start.line + 1, r.end.line + 1)),
        None => text.push_str(&format!("- File: {shown}\n")),
    }
    if let Some(sel) = selection.filter(|s| !s.trim().is_empty()) {
        text.push_str("- Selected text:\n```\n");
        text.push_str(sel);
        if !sel.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("```\n");
    }
    text
}

pub(super) fn title_from(instruction: &str) -> String {
    let line = instruction.trim().lines().next().unwrap_or_default();
    match line.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_lsp_server::lsp_types::Position;

    #[test]
    fn a_diagnostic_becomes_an_instruction_with_its_origin_and_the_code_around_it() {
        let d = Diagnostic {
            range: Range::new(Position::new(6, 4), Position::new(6, 9)),
            source: Some("rustc".into()),
            code: Some(NumberOrString::String("E0308".into())),
            message: "mismatched types\nexpected `u32`, found `&str`".into(),
            ..Default::default()
        };
        let text: String = (1..=12).map(|i| format!("line {i}\n")).collect();
        let got = diagnostic_instruction(&d, "src/lib.rs", Some(&text));
        expect_test::expect![[r#"
            Fix this problem reported in src/lib.rs at line 7, column 5 (rustc E0308):
            mismatched types
            expected `u32`, found `&str`

            The code around it (src/lib.rs, lines 2-12; the reported lines are marked with >>):
            ```
                  2 | line 2
                  3 | line 3
                  4 | line 4
                  5 | line 5
                  6 | line 6
            >>    7 | line 7
                  8 | line 8
                  9 | line 9
                 10 | line 10
                 11 | line 11
                 12 | line 12
            ```

            Fix the cause, not only the message. Then run the project's tests, if it has any, and make sure they pass."#]]
        .assert_eq(&got);
    }

    #[test]
    fn innermost_folder_wins() {
        let roots = vec![PathBuf::from("/w"), PathBuf::from("/w/sub")];
        assert_eq!(workspace_for(Some(Path::new("/w/sub/a.rs")), &roots), Some(PathBuf::from("/w/sub")));
        assert_eq!(workspace_for(Some(Path::new("/elsewhere/a.rs")), &roots), Some(PathBuf::from("/w")));
        assert_eq!(workspace_for(Some(Path::new("/lone/a.rs")), &[]), Some(PathBuf::from("/lone")));
        assert_eq!(workspace_for(None, &[]), None);
    }

    #[test]
    fn context_names_file_lines_and_selection() {
        let range = Range::new(Position::new(2, 0), Position::new(4, 1));
        let text = compose_instruction(
            "Fix it",
            Some(Path::new("/w/src/a.rs")),
            Path::new("/w"),
            Some(range),
            Some("let x = 1;"),
        );
        assert_eq!(
            text,
            "Fix it\n\nContext from the editor:\n- File: src/a.rs, lines 3-5\n- Selected text:\n```\nlet x = 1;\n```\n"
        );
    }

    #[test]
    fn titles_are_one_short_line() {
        assert_eq!(title_from("  Add tests\nand more"), "Add tests");
        assert_eq!(title_from(&"x".repeat(100)).chars().count(), 61);
    }
}
