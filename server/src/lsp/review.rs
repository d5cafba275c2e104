//! Review before apply: `openhands.reviewChanges`, `openhands.applyChanges`, `openhands.discardChanges`.
//!
//! Applying builds one `WorkspaceEdit` and sends it with `workspace/applyEdit`: one change annotation per file that
//! needs confirmation (clients that support annotations show a preview), file operations only when the client
//! declares them. A file the user changed meanwhile is merged three-way; an overlap is refused for that file, and
//! the user's text is never overwritten.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower_lsp_server::UriExt;
use tower_lsp_server::jsonrpc::Error;
use tower_lsp_server::lsp_types::request::ApplyWorkspaceEdit;
use tower_lsp_server::lsp_types::*;

use super::commands::invalid_params;
use super::conversations::{ConversationArgs, to_rpc};
use super::server::Backend;
use crate::git::{ChangeStatus, FileChange};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushArgs {
    pub conversation_id: crate::conversation::ConversationId,
    /// The remote branch to create (default `openhands/<slug of the title>`; `-tryK` is added when taken).
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default = "origin")]
    pub remote: String,
}

fn origin() -> String {
    "origin".into()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplyArgs {
    pub conversation_id: crate::conversation::ConversationId,
    /// Paths relative to the workspace folder, or file URIs; all changed files when absent.
    #[serde(default)]
    pub files: Option<Vec<String>>,
    /// The user already reviewed the changes and chose these files in the editor's own interface: the edit asks
    /// for no second confirmation (VS Code's refactor preview would open with every change unticked).
    #[serde(default)]
    pub reviewed: bool,
}

/// What the client can do with a `WorkspaceEdit`.
#[derive(Debug, Clone, Default)]
pub struct EditSupport {
    pub document_changes: bool,
    pub create: bool,
    pub rename: bool,
    pub delete: bool,
}

impl EditSupport {
    pub fn from_capabilities(caps: &ClientCapabilities) -> Self {
        let edit = caps.workspace.as_ref().and_then(|w| w.workspace_edit.as_ref());
        let ops = edit.and_then(|e| e.resource_operations.clone()).unwrap_or_default();
        EditSupport {
            document_changes: edit.and_then(|e| e.document_changes).unwrap_or(false),
            create: ops.contains(&ResourceOperationKind::Create),
            rename: ops.contains(&ResourceOperationKind::Rename),
            delete: ops.contains(&ResourceOperationKind::Delete),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FileOutcome {
    pub path: String,
    /// `applied`, `unchanged` (already as proposed), `refused`, or `skipped` (not selected).
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What kind of change it was when more than text (a link, a mode): the review's note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// For a file refused because the user's edits and the agent's overlap: the user's text with conflict markers
    /// around each overlap, so an editor can offer to resolve it by hand.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<String>,
}

/// Why a file is not applied, and for an overlap the text to resolve it from.
struct Refusal {
    reason: String,
    conflict: Option<String>,
}

impl From<String> for Refusal {
    fn from(reason: String) -> Self {
        Refusal { reason, conflict: None }
    }
}

impl From<&str> for Refusal {
    fn from(reason: &str) -> Self {
        reason.to_owned().into()
    }
}

/// What one file adds to the apply: text edits in the `WorkspaceEdit`, and an operation the server does itself.
struct Planned {
    edit: bool,
    op: Option<FsOp>,
}

/// A change to the user's files that a `WorkspaceEdit` cannot carry, done by the server after the editor applied
/// the text: make the path hold a link (or a file, or nothing) in place of what it holds, or set its mode.
enum FsOp {
    Replace { after: Option<crate::git::Entry>, content: Option<String> },
    Mode(bool),
}

impl FsOp {
    fn run(&self, root: &Path, rel: &Path) -> Result<(), String> {
        use crate::git::entry;
        let path = entry::place_inside(root, rel).map_err(|e| format!("not applied: {e}"))?;
        match self {
            FsOp::Replace { after, content } => {
                entry::replace(&path, after.as_ref(), content.as_deref().map(str::as_bytes))
            }
            FsOp::Mode(executable) => entry::set_executable(&path, *executable),
        }
        .map_err(|e| format!("not applied: {e}"))
    }
}

fn uri_of(path: &Path) -> Result<Uri, Error> {
    Uri::from_file_path(path).ok_or_else(|| invalid_params(format!("not an absolute path: {}", path.display())))
}

fn rel(path: &Path) -> String {
    path.display().to_string()
}

impl Backend {
    pub(super) async fn review_changes(&self, args: ConversationArgs) -> Result<Value, Error> {
        let manager = self.manager()?;
        let review = manager.review(&args.conversation_id).await.map_err(to_rpc)?;
        let mut files = Vec::new();
        for f in &review.files {
            let mut entry = json!({
                "path": rel(&f.path),
                "uri": uri_of(&review.source.join(&f.path))?.as_str(),
                "status": f.status,
                "original": f.original,
                "proposed": f.proposed,
                "binary": f.binary,
            });
            if let Some(old) = &f.old_path {
                entry["oldPath"] = json!(rel(old));
                entry["oldUri"] = json!(uri_of(&review.source.join(old))?.as_str());
            }
            if f.involves_link() {
                let target = |e: &Option<crate::git::Entry>| e.as_ref().and_then(|e| e.target().map(str::to_owned));
                entry["symlink"] = json!({"original": target(&f.before), "proposed": target(&f.after)});
            }
            if let Some(executable) = f.mode_change() {
                entry["executable"] = json!({"original": !executable, "proposed": executable});
            }
            if let Some(note) = f.note() {
                entry["note"] = json!(note);
            }
            if let Some(refusal) = f.refusal() {
                entry["refusal"] = json!(refusal);
            }
            files.push(entry);
        }
        Ok(json!({"conversationId": args.conversation_id, "title": review.title, "files": files}))
    }

    pub(super) async fn push_changes(&self, args: PushArgs) -> Result<Value, Error> {
        let manager = self.manager()?;
        let url = manager.remote_url(&args.conversation_id, &args.remote).map_err(to_rpc)?;
        let providers = crate::providers::ProvidersSettings::from_settings(&self.shared.session().settings);
        let auth = https_auth_for(&url, &self.shared.secrets, &providers);
        let published =
            manager.publish(&args.conversation_id, &args.remote, args.branch, auth).await.map_err(to_rpc)?;
        Ok(json!({"branch": published.branch, "commit": published.commit, "remote": published.remote}))
    }

    pub(super) async fn discard_changes(&self, args: ConversationArgs) -> Result<Value, Error> {
        let manager = self.manager()?;
        manager.discard(&args.conversation_id).await.map_err(to_rpc)?;
        Ok(Value::Null)
    }

    pub(super) async fn apply_changes(&self, args: ApplyArgs) -> Result<Value, Error> {
        let manager = self.manager()?;
        let review = manager.review(&args.conversation_id).await.map_err(to_rpc)?;
        let (support, utf8, open) = {
            let session = self.shared.session();
            let open: HashMap<PathBuf, (String, i32)> = review
                .files
                .iter()
                .flat_map(|f| [Some(&f.path), f.old_path.as_ref()])
                .flatten()
                .filter_map(|p| {
                    let abs = review.source.join(p);
                    let doc = session.documents.get(&Uri::from_file_path(&abs)?)?;
                    Some((abs, (doc.text.clone(), doc.version)))
                })
                .collect();
            (session.client.edit_support.clone(), session.client.utf8_positions, open)
        };
        let selected = |f: &FileChange| match &args.files {
            None => true,
            Some(list) => {
                let path = rel(&f.path);
                let uri = Uri::from_file_path(review.source.join(&f.path)).map(|u| u.as_str().to_owned());
                list.iter().any(|x| *x == path || Some(x) == uri.as_ref())
            }
        };

        let label = format!("OpenHands: {}", review.title);
        let mut plan = EditPlan::new(support.clone(), utf8, !args.reviewed);
        let mut outcomes: Vec<FileOutcome> = Vec::new();
        let mut ops: Vec<(usize, PathBuf, FsOp)> = Vec::new();
        for (i, change) in review.files.iter().enumerate() {
            let path = rel(&change.path);
            if !selected(change) {
                outcomes.push(FileOutcome {
                    path,
                    outcome: "skipped",
                    reason: Some("not selected".into()),
                    note: None,
                    conflict: None,
                });
                continue;
            }
            let annotation = format!("openhands-{i}");
            plan.annotate(&annotation, &label, &format!("{} {path}", status_word(change.status)));
            let current = |p: &Path| -> Option<(String, Option<i32>)> {
                let abs = review.source.join(p);
                match open.get(&abs) {
                    Some((text, version)) => Some((text.clone(), Some(*version))),
                    None => std::fs::read_to_string(&abs).ok().map(|t| (t, None)),
                }
            };
            let result = plan.add(change, &review.source, &annotation, current);
            outcomes.push(match result {
                Ok(Planned { edit, op }) => {
                    if let Some(op) = op {
                        ops.push((outcomes.len(), change.path.clone(), op));
                    }
                    let changes = edit || ops.last().is_some_and(|(i, ..)| *i == outcomes.len());
                    let (outcome, reason) = if changes {
                        ("applied", None)
                    } else {
                        ("unchanged", Some("already as the agent proposed (applied before)".to_owned()))
                    };
                    FileOutcome { path, outcome, reason, note: change.note(), conflict: None }
                }
                Err(Refusal { reason, conflict }) => {
                    FileOutcome { path, outcome: "refused", reason: Some(reason), note: change.note(), conflict }
                }
            });
        }

        let (applied, failure) = if !plan.is_empty() {
            let params = ApplyWorkspaceEditParams { label: Some(label), edit: plan.into_edit() };
            match self.client.send_request::<ApplyWorkspaceEdit>(params).await {
                Ok(resp) => (resp.applied, resp.failure_reason),
                Err(e) => (false, Some(format!("the editor could not apply the edit: {}", e.message))),
            }
        } else if !ops.is_empty() {
            // Only links and modes: nothing for the editor to show; the user's applyChanges is the consent.
            (true, None)
        } else if outcomes.iter().any(|o| o.outcome == "unchanged") {
            (false, Some("already applied: the files are as the agent proposed".to_owned()))
        } else {
            (false, Some("nothing to apply".to_owned()))
        };
        if applied {
            // What a WorkspaceEdit cannot carry, done once the editor has applied the text (never before, never
            // when it did not).
            let root = review.source.clone();
            let done = tokio::task::spawn_blocking(move || {
                ops.into_iter().map(|(i, path, op)| (i, op.run(&root, &path))).collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            for (i, result) in done {
                if let Err(e) = result {
                    outcomes[i].outcome = "refused";
                    outcomes[i].reason = Some(e);
                }
            }
        }
        // The user cancelled in the editor (or it could not apply): nothing was applied, nothing was refused on its
        // merits; the agent is told nothing.
        let declined = !applied && outcomes.iter().any(|o| o.outcome == "applied");
        if !applied {
            for o in outcomes.iter_mut().filter(|o| o.outcome == "applied") {
                o.outcome = "refused";
                o.reason = Some(failure.clone().unwrap_or_else(|| "the editor did not apply the edit".into()));
            }
        }
        let refused: Vec<String> = outcomes
            .iter()
            .filter(|o| o.outcome == "refused")
            .map(|o| format!("{} ({})", o.path, o.reason.as_deref().unwrap_or("refused")))
            .collect();
        if !refused.is_empty() {
            let text = format!("OpenHands: {}: not applied: {}", review.title, refused.join("; "));
            self.client.show_message(MessageType::WARNING, text).await;
        }
        if !declined {
            self.tell_agent(&manager, &args.conversation_id, &outcomes).await;
        }
        Ok(json!({"applied": applied, "failureReason": failure, "files": outcomes}))
    }

    /// So a follow-up turn does not assume changes landed that did not. Said once: an apply that changed nothing
    /// and refused nothing (the files were applied before) tells the agent nothing new.
    async fn tell_agent(&self, manager: &crate::conversation::Manager, id: &str, outcomes: &[FileOutcome]) {
        if !outcomes.iter().any(|o| matches!(o.outcome, "applied" | "refused")) {
            return;
        }
        let landed: Vec<&str> =
            outcomes.iter().filter(|o| matches!(o.outcome, "applied" | "unchanged")).map(|o| o.path.as_str()).collect();
        let missed: Vec<String> = outcomes
            .iter()
            .filter(|o| matches!(o.outcome, "refused" | "skipped"))
            .map(|o| format!("{} ({})", o.path, o.reason.as_deref().unwrap_or("not applied")))
            .collect();
        if missed.is_empty() {
            return;
        }
        let text = format!(
            "The user reviewed your changes. Applied to their workspace: {}. Not applied: {}. Do not assume the changes \
             that were not applied are in the user's workspace.",
            if landed.is_empty() { "none".to_owned() } else { landed.join(", ") },
            missed.join("; ")
        );
        if let Err(e) = manager.add_note(id, text).await {
            tracing::info!(conversation = %id, "could not tell the agent what was not applied: {e}");
        }
    }
}

/// The token and user name for the remote's host; custom hosts (GitHub Enterprise, self-managed GitLab) come from
/// the provider settings.
pub(super) fn https_auth_for(
    url: &str,
    secrets: &crate::secrets::SecretStore,
    providers: &crate::providers::ProvidersSettings,
) -> crate::git::push::HttpsAuth {
    use crate::providers::ProviderKind;
    use crate::secrets::SecretName;
    let host = url.split("://").nth(1).unwrap_or(url).split(['/', ':']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or(host);
    let (name, username) = match providers.kind_of_host(host) {
        Some(ProviderKind::GitLab) => (SecretName::GitlabToken, "oauth2"),
        Some(ProviderKind::Bitbucket) => (SecretName::BitbucketToken, "x-token-auth"),
        _ => (SecretName::GithubToken, "x-access-token"),
    };
    let token = secrets.get(name);
    // Bitbucket app passwords come as `user:app_password`.
    if let Some((user, pass)) =
        token.as_ref().and_then(|t| t.expose().split_once(':')).filter(|_| name == SecretName::BitbucketToken)
    {
        return crate::git::push::HttpsAuth {
            username: user.to_owned(),
            token: Some(crate::secrets::Secret::new(pass)),
        };
    }
    crate::git::push::HttpsAuth { username: username.to_owned(), token }
}

fn status_word(status: ChangeStatus) -> &'static str {
    match status {
        ChangeStatus::Added => "create",
        ChangeStatus::Modified => "modify",
        ChangeStatus::Deleted => "delete",
        ChangeStatus::Renamed => "rename",
    }
}

/// Collects the operations of one `WorkspaceEdit`.
struct EditPlan {
    support: EditSupport,
    utf8: bool,
    /// Whether the editor should ask before applying (no: the user chose the files in its review already).
    confirm: bool,
    operations: Vec<DocumentChangeOperation>,
    /// For clients without `documentChanges`.
    plain: HashMap<Uri, Vec<TextEdit>>,
    annotations: HashMap<ChangeAnnotationIdentifier, ChangeAnnotation>,
}

impl EditPlan {
    fn new(support: EditSupport, utf8: bool, confirm: bool) -> Self {
        EditPlan { support, utf8, confirm, operations: Vec::new(), plain: HashMap::new(), annotations: HashMap::new() }
    }

    fn is_empty(&self) -> bool {
        self.operations.is_empty() && self.plain.is_empty()
    }

    fn annotate(&mut self, id: &str, label: &str, description: &str) {
        self.annotations.insert(
            id.to_owned(),
            ChangeAnnotation {
                label: label.to_owned(),
                needs_confirmation: Some(self.confirm),
                description: Some(description.to_owned()),
            },
        );
    }

    /// Adds one file: what goes into the edit and what the server does after it; `Err(reason)` when it must not be
    /// applied.
    fn add(
        &mut self,
        change: &FileChange,
        root: &Path,
        annotation: &str,
        current: impl Fn(&Path) -> Option<(String, Option<i32>)>,
    ) -> Result<Planned, Refusal> {
        if let Some(refusal) = change.refusal() {
            return Err(refusal.into());
        }
        if change.involves_link() {
            return plan_link(change, root, current).map(|op| Planned { edit: false, op }).map_err(Refusal::from);
        }
        let edit = self.add_text(change, root, annotation, &current)?;
        // The mode the user's file does not have yet (a text edit never carries one).
        let op = change.mode_change().filter(|x| user_executable(root, &change.path) != Some(*x)).map(FsOp::Mode);
        Ok(Planned { edit, op })
    }

    /// The text part of one file; `Ok(false)` when it already is as proposed.
    fn add_text(
        &mut self,
        change: &FileChange,
        root: &Path,
        annotation: &str,
        current: impl Fn(&Path) -> Option<(String, Option<i32>)>,
    ) -> Result<bool, Refusal> {
        if change.binary {
            return Err("binary files are not applied through the editor".into());
        }
        let uri = Uri::from_file_path(root.join(&change.path)).ok_or("not a file path")?;
        let original = change.original.as_deref();
        let proposed = change.proposed.as_deref();
        match change.status {
            ChangeStatus::Modified => {
                let (user, version) = current(&change.path).ok_or("you deleted this file meanwhile")?;
                let merged = merge(original.unwrap_or_default(), &user, proposed.unwrap_or_default())?;
                if merged == user {
                    return Ok(false);
                }
                self.replace(uri, version, &user, merged, annotation);
            }
            ChangeStatus::Added => {
                if let Some((existing, _)) = current(&change.path) {
                    return if Some(existing.as_str()) == proposed {
                        Ok(false)
                    } else {
                        Err("a different file of that name exists in your workspace".into())
                    };
                }
                if !self.support.document_changes || !self.support.create {
                    return Err("your editor cannot create files over LSP (no resourceOperations \"create\")".into());
                }
                self.operations.push(DocumentChangeOperation::Op(ResourceOp::Create(CreateFile {
                    uri: uri.clone(),
                    options: Some(CreateFileOptions { overwrite: Some(false), ignore_if_exists: Some(false) }),
                    annotation_id: Some(annotation.to_owned()),
                })));
                self.replace(uri, None, "", proposed.unwrap_or_default().to_owned(), annotation);
            }
            ChangeStatus::Deleted => {
                let Some((user, _)) = current(&change.path) else { return Ok(false) };
                if Some(user.as_str()) != original {
                    return Err("you changed this file, which the agent deleted".into());
                }
                if !self.support.document_changes || !self.support.delete {
                    return Err("your editor cannot delete files over LSP (no resourceOperations \"delete\")".into());
                }
                self.operations.push(DocumentChangeOperation::Op(ResourceOp::Delete(DeleteFile {
                    uri,
                    options: Some(DeleteFileOptions {
                        recursive: Some(false),
                        ignore_if_not_exists: Some(true),
                        annotation_id: Some(annotation.to_owned()),
                    }),
                })));
            }
            ChangeStatus::Renamed => {
                let old = change.old_path.as_deref().ok_or("a rename without its old path")?;
                let (user, _) = current(old).ok_or("you deleted the file the agent renamed")?;
                if Some(user.as_str()) != original {
                    return Err("you changed this file, which the agent renamed".into());
                }
                if current(&change.path).is_some() {
                    return Err("a file of the new name exists in your workspace".into());
                }
                if !self.support.document_changes || !self.support.rename {
                    return Err("your editor cannot rename files over LSP (no resourceOperations \"rename\")".into());
                }
                let old_uri = Uri::from_file_path(root.join(old)).ok_or("not a file path")?;
                self.operations.push(DocumentChangeOperation::Op(ResourceOp::Rename(RenameFile {
                    old_uri,
                    new_uri: uri.clone(),
                    options: Some(RenameFileOptions { overwrite: Some(false), ignore_if_exists: Some(false) }),
                    annotation_id: Some(annotation.to_owned()),
                })));
                if proposed != original {
                    self.replace(uri, None, &user, proposed.unwrap_or_default().to_owned(), annotation);
                }
            }
        }
        Ok(true)
    }

    /// Replaces the whole of `current` with `new`.
    fn replace(&mut self, uri: Uri, version: Option<i32>, current: &str, new: String, annotation: &str) {
        let edits = line_edits(current, &new, self.utf8);
        if self.support.document_changes {
            self.operations.push(DocumentChangeOperation::Edit(TextDocumentEdit {
                text_document: OptionalVersionedTextDocumentIdentifier { uri, version },
                edits: edits
                    .into_iter()
                    .map(|text_edit| {
                        OneOf::Right(AnnotatedTextEdit { text_edit, annotation_id: annotation.to_owned() })
                    })
                    .collect(),
            }));
        } else {
            self.plain.entry(uri).or_default().extend(edits);
        }
    }

    fn into_edit(self) -> WorkspaceEdit {
        if self.support.document_changes {
            WorkspaceEdit {
                changes: None,
                document_changes: Some(DocumentChanges::Operations(self.operations)),
                change_annotations: Some(self.annotations),
            }
        } else {
            WorkspaceEdit { changes: Some(self.plain), document_changes: None, change_annotations: None }
        }
    }
}

/// A change that involves a link: the user's entry must still be what the agent started from (read without
/// following links); then the server replaces it. `None` when it already is as proposed.
fn plan_link(
    change: &FileChange,
    root: &Path,
    current: impl Fn(&Path) -> Option<(String, Option<i32>)>,
) -> Result<Option<FsOp>, String> {
    use crate::git::Entry;
    if change.status == ChangeStatus::Renamed {
        return Err("renamed symbolic links are not applied; recreate the link by hand".into());
    }
    let user = crate::git::entry::read(&root.join(&change.path)).map_err(|e| format!("cannot read your file: {e}"))?;
    let user_entry = user.as_ref().map(|(e, _)| e.clone());
    if user_entry == change.after && !matches!(change.after, Some(Entry::File { .. })) {
        return Ok(None);
    }
    let unchanged = match (&change.before, &user) {
        (None, None) => true,
        (Some(Entry::Symlink { target }), Some((Entry::Symlink { target: t }, _))) => target == t,
        // The editor's text when the file is open (unsaved edits count), else the file on disk.
        (Some(Entry::File { .. }), Some((Entry::File { .. }, _))) => {
            current(&change.path).map(|(text, _)| text).as_deref() == change.original.as_deref()
        }
        _ => false,
    };
    if !unchanged {
        return Err(match user {
            None => "you removed this file meanwhile".into(),
            Some(_) if change.before.is_none() => "a different file of that name exists in your workspace".into(),
            Some(_) => "you changed this file meanwhile; your version is untouched".into(),
        });
    }
    if matches!(change.after, Some(Entry::File { .. })) && change.proposed.is_none() {
        return Err("binary files are not applied through the editor".into());
    }
    Ok(Some(FsOp::Replace { after: change.after.clone(), content: change.proposed.clone() }))
}

/// Whether the user's file at `rel` is executable (`None`: no regular file there).
fn user_executable(root: &Path, rel: &Path) -> Option<bool> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(root.join(rel)).ok().filter(|m| m.is_file())?;
    Some(meta.permissions().mode() & 0o111 != 0)
}

fn merge(original: &str, user: &str, proposed: &str) -> Result<String, Refusal> {
    match crate::git::merge3(original, user, proposed) {
        Ok(crate::git::Merged::Clean(text)) => Ok(text),
        Ok(crate::git::Merged::Overlap(marked)) => Err(Refusal {
            reason: "your edits and the agent's overlap; your text is untouched; resolve it by hand from the review"
                .into(),
            conflict: Some(marked),
        }),
        Err(e) => Err(format!("merging failed: {e}").into()),
    }
}

/// The edits that turn `current` into `new`, one per run of changed lines: a preview shows the hunks, an undo
/// restores them, and the user's cursor and folds elsewhere stay. A text with a lone carriage return (a line break
/// to LSP, not to a line diff) is replaced whole.
fn line_edits(current: &str, new: &str, utf8: bool) -> Vec<TextEdit> {
    if current.replace("\r\n", "").contains('\r') || new.replace("\r\n", "").contains('\r') {
        return vec![TextEdit { range: Range::new(Position::new(0, 0), end_of(current, utf8)), new_text: new.into() }];
    }
    let diff = similar::TextDiff::from_lines(current, new);
    let old_lines = diff.old_slices();
    let new_lines = diff.new_slices();
    // The start of old line `i`, or the end of the text past its last line.
    let start_of = |i: usize| {
        if i < old_lines.len() { Position::new(i as u32, 0) } else { end_of(current, utf8) }
    };
    diff.ops()
        .iter()
        .filter(|op| op.tag() != similar::DiffTag::Equal)
        .map(|op| TextEdit {
            range: Range::new(start_of(op.old_range().start), start_of(op.old_range().end)),
            new_text: new_lines[op.new_range()].concat(),
        })
        .collect()
}

/// The position just after the last character of `text`.
fn end_of(text: &str, utf8: bool) -> Position {
    let line = text.matches('\n').count() as u32;
    let last = text.rsplit('\n').next().unwrap_or_default();
    let character = if utf8 { last.len() } else { last.encode_utf16().count() } as u32;
    Position::new(line, character)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` with `edits` applied (positions in UTF-8 bytes, as `line_edits(.., true)` makes them).
    fn applied(text: &str, edits: &[TextEdit]) -> String {
        let offset = |p: Position| {
            let mut at = 0;
            for _ in 0..p.line {
                at += text[at..].find('\n').map_or(text.len() - at, |i| i + 1);
            }
            at + p.character as usize
        };
        let mut out = text.to_owned();
        for e in edits.iter().rev() {
            out.replace_range(offset(e.range.start)..offset(e.range.end), &e.new_text);
        }
        out
    }

    #[test]
    fn edits_touch_only_the_changed_lines() {
        let user = "one\ntwo\nthree\nfour\nfive\n";
        let merged = "ONE\ntwo\nthree\nfour\nfive\nsix\n";
        let edits = line_edits(user, merged, true);
        assert_eq!(edits.len(), 2, "two hunks: {edits:?}");
        assert_eq!(edits[0].range, Range::new(Position::new(0, 0), Position::new(1, 0)));
        assert_eq!(edits[0].new_text, "ONE\n");
        assert_eq!(edits[1].range, Range::new(Position::new(5, 0), Position::new(5, 0)), "an insertion at the end");
        for (old, new) in [
            (user, merged),
            ("a\nb", "a\nB"),
            ("a\nb", "a\nb\n"),
            ("", "new\n"),
            ("gone\n", ""),
            ("x\r\ny\r\n", "x\r\nY\r\n"),
            ("lone\rcr\n", "lone\rCR\n"),
            ("é\nü\n", "é\nÜ\n"),
        ] {
            assert_eq!(applied(old, &line_edits(old, new, true)), new, "{old:?} -> {new:?}");
        }
    }

    #[test]
    fn tokens_are_chosen_by_host() {
        use crate::secrets::{SecretName, SecretStore};
        let secrets = SecretStore::default();
        secrets.set(SecretName::GithubToken, "gh");
        secrets.set(SecretName::GitlabToken, "gl");
        secrets.set(SecretName::BitbucketToken, "me:app-pass");
        let pick = |url: &str| {
            let a = https_auth_for(url, &secrets, &crate::providers::ProvidersSettings::default());
            (a.username, a.token.map(|t| t.expose().to_owned()))
        };
        assert_eq!(pick("https://github.com/o/r.git"), ("x-access-token".into(), Some("gh".into())));
        assert_eq!(pick("https://gitlab.com/o/r.git"), ("oauth2".into(), Some("gl".into())));
        assert_eq!(pick("https://user@bitbucket.org/o/r.git"), ("me".into(), Some("app-pass".into())));
        assert_eq!(pick("git@github.com:o/r.git").1, Some("gh".into()));
    }

    #[test]
    fn end_positions_in_both_encodings() {
        assert_eq!(end_of("", false), Position::new(0, 0));
        assert_eq!(end_of("a\nbc\n", false), Position::new(2, 0));
        assert_eq!(end_of("a\n😀x", false), Position::new(1, 3));
        assert_eq!(end_of("a\n😀x", true), Position::new(1, 5));
    }
}
