//! `openhands-lsp run`: one conversation in the terminal, with live progress, the final message and the files
//! that changed. The same manager and sandboxes as the language server, with a terminal for an observer.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::mpsc;

use crate::backends::Backends;
use crate::config::Settings;
use crate::conversation::{Decision, GoOn, Manager, Observer, SendMode, StartRequest, State, Store, Update};
use crate::editor::Editor;

pub struct RunOptions {
    pub task: String,
    pub workspace: PathBuf,
    pub settings: Settings,
    /// An earlier conversation to go on with; `task` is its next message.
    pub continue_id: Option<String>,
    /// Ring the terminal's bell when the agent waits for an answer (the user may be in another window or tab).
    pub bell: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Setup(String),
    #[error("the conversation ended {state}: {message}")]
    Failed { state: &'static str, message: String },
}

struct ChannelObserver(mpsc::UnboundedSender<Update>);

impl Observer for ChannelObserver {
    fn update(&self, update: Update) {
        let _ = self.0.send(update);
    }
}

/// Runs the task to the end. Output goes to `out` (the terminal), never logs.
pub async fn run(opts: RunOptions, out: &mut (dyn Write + Send)) -> Result<(), RunError> {
    let workspace = opts
        .workspace
        .canonicalize()
        .map_err(|e| RunError::Setup(format!("workspace {}: {e}", opts.workspace.display())))?;
    let state_dir = crate::state_dir::resolve().map_err(|e| RunError::Setup(e.to_string()))?;
    crate::state_dir::ensure_writable(&state_dir).map_err(|e| RunError::Setup(e.to_string()))?;
    let secrets = crate::credentials::secret_store();
    crate::logging::mask_secrets(secrets.redactor());
    // One conversation: a warm pool would only boot a second container beside it.
    let mut backend_settings = opts.settings.clone();
    backend_settings.docker.warm_pool = 0;
    let provider = Arc::new(Backends::new(&backend_settings, secrets.clone(), Some(&state_dir)));
    provider.configure(&backend_settings);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let manager = Manager::new(Store::new(&state_dir), provider, secrets, Arc::new(ChannelObserver(tx)));
    // Going on: in the folder the conversation started from.
    let workspace = match &opts.continue_id {
        Some(id) => manager.get(id).map_err(|e| RunError::Setup(e.to_string()))?.meta.workspace,
        None => workspace,
    };
    let before = snapshot(&workspace);
    let id = match &opts.continue_id {
        Some(id) => {
            let go_on = GoOn { settings: &opts.settings, editor: Editor::Terminal, mcp_servers: Default::default() };
            let sent = manager.message(id, (opts.task.clone(), Vec::new(), SendMode::Steer), go_on).await;
            sent.map_err(|e| RunError::Setup(e.to_string()))?;
            id.clone()
        }
        None => start(&manager, &opts, &workspace)?,
    };

    let _ = writeln!(out, "conversation {id} in {}", workspace.display());
    let (state, message) = follow(&manager, (&id, opts.bell), &mut rx, out).await;
    manager.shutdown().await;
    let _ = writeln!(out, "\n{}: {message}", state.as_str());
    if let Some(usage) = manager.get(&id).ok().and_then(|s| s.meta.usage) {
        let _ = writeln!(out, "LLM use: {}", usage.describe());
    }
    report_changes(&manager, &id, &workspace, &before, out).await;
    match state {
        State::Finished => Ok(()),
        other => Err(RunError::Failed { state: other.as_str(), message }),
    }
}

/// Starts the task in `workspace`: the conversation's id.
fn start(manager: &Manager, opts: &RunOptions, workspace: &Path) -> Result<String, RunError> {
    let title = opts.task.lines().next().unwrap_or_default().chars().take(60).collect();
    let request = StartRequest {
        instruction: opts.task.clone(),
        title,
        workspace: workspace.to_owned(),
        issue: None,
        attach: None,
        ..Default::default()
    };
    let summary =
        manager.start(request, &opts.settings, Editor::Terminal).map_err(|e| RunError::Setup(e.to_string()))?;
    Ok(summary.meta.id)
}

/// Shows the conversation's steps as they come and asks on the terminal when the agent waits; Ctrl-C stops it. The
/// state and message it settled with.
async fn follow(
    manager: &Manager,
    (id, bell): (&str, bool),
    rx: &mut mpsc::UnboundedReceiver<Update>,
    out: &mut (dyn Write + Send),
) -> (State, String) {
    let interactive = std::io::stderr().is_terminal();
    let spinner = if interactive { ProgressBar::new_spinner() } else { ProgressBar::hidden() };
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {elapsed} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner.set_message("starting the agent…");

    let mut outcome = (State::Error, String::from("the conversation ended unexpectedly"));
    loop {
        let update = tokio::select! {
            u = rx.recv() => match u { Some(u) => u, None => break },
            _ = tokio::signal::ctrl_c() => {
                spinner.set_message("stopping…");
                let _ = manager.stop(id).await;
                continue;
            }
        };
        match update {
            Update::Event(event, _) if is_step(&event.kind) => {
                spinner.suspend(|| {
                    let _ = writeln!(out, "  {}", event.summary);
                });
                spinner.set_message(event.summary.clone());
            }
            // A build's steps are lines of their own: how far it got stays on the screen.
            Update::Progress { message, .. }
                if message.starts_with("building the image") || message.starts_with("built the image") =>
            {
                spinner.suspend(|| {
                    let _ = writeln!(out, "  {message}");
                });
                spinner.set_message(message);
            }
            Update::Progress { message, .. } => spinner.set_message(message),
            Update::Notice { message, .. } => spinner.suspend(|| {
                let _ = writeln!(out, "note: {message}");
            }),
            Update::Checkpoint { checkpoint: c, .. } => spinner.suspend(|| {
                let files = c.files.join(", ");
                let _ = writeln!(out, "  checkpoint {} (step {}): {files}", c.number, c.step);
            }),
            Update::ConfirmationNeeded { actions, .. } => {
                ring(bell);
                let decision = spinner.suspend(|| ask(&actions.iter().map(|a| a.summary.clone()).collect::<Vec<_>>()));
                if let Err(e) = manager.confirm(id, decision).await {
                    tracing::warn!("answering the confirmation failed: {e}");
                }
            }
            Update::BudgetReached { spent, raise, .. } => {
                ring(bell);
                let go_on = spinner.suspend(|| ask_budget(&spent, &raise));
                let answered = if go_on { manager.raise_budget(id).await } else { manager.stop(id).await };
                if let Err(e) = answered {
                    tracing::warn!("answering the budget question failed: {e}");
                }
            }
            Update::Settled { state, message, .. } => {
                outcome = (state, message);
                break;
            }
            _ => {}
        }
    }
    spinner.finish_and_clear();
    outcome
}

/// The files the conversation changed: in its own copy when it had one (the user's folder is untouched), else in
/// the folder itself.
async fn report_changes(
    manager: &Manager,
    id: &str,
    workspace: &Path,
    before: &Snapshot,
    out: &mut (dyn Write + Send),
) {
    let changes: Vec<(String, &'static str)> = match manager.review(id).await {
        Ok(review) => {
            if let Some(root) = manager.get(id).ok().and_then(|s| s.meta.isolation).map(|i| i.root) {
                let _ = writeln!(out, "the changes are in {} (your folder is untouched)", root.display());
            }
            review.files.iter().map(|f| (f.path.display().to_string(), status_label(f.status))).collect()
        }
        Err(_) => diff(before, &snapshot(workspace)),
    };
    if changes.is_empty() {
        let _ = writeln!(out, "no files changed");
    } else {
        let _ = writeln!(out, "changed files:");
        for (path, change) in &changes {
            let _ = writeln!(out, "  {change:<8} {path}");
        }
    }
}

fn status_label(status: crate::git::ChangeStatus) -> &'static str {
    match status {
        crate::git::ChangeStatus::Added => "added",
        crate::git::ChangeStatus::Modified => "modified",
        crate::git::ChangeStatus::Deleted => "deleted",
        crate::git::ChangeStatus::Renamed => "renamed",
    }
}

fn is_step(kind: &str) -> bool {
    matches!(kind, "ActionEvent" | "AgentErrorEvent" | "ConversationErrorEvent" | "UserRejectObservation")
}

/// The terminal's bell, when a question waits for the user at a terminal: terminals and tmux mark the window, and
/// desktops the tab, so a user elsewhere sees that the agent needs them.
fn ring(bell: bool) {
    if bell && std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
        let mut err = std::io::stderr();
        let _ = err.write_all(b"\x07");
        let _ = err.flush();
    }
}

/// Asks on the terminal whether to go on past the budget; without one, it stops.
fn ask_budget(spent: &str, raise: &str) -> bool {
    let mut err = std::io::stderr();
    let _ = writeln!(err, "The agent {spent}; it is paused.");
    if !std::io::stdin().is_terminal() {
        let _ = writeln!(err, "No terminal to ask on: stopped.");
        return false;
    }
    let _ = write!(err, "{raise}? [y]es / [N]o, stop: ");
    let _ = err.flush();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Asks on the terminal; without one there is nobody to ask, so the action is rejected.
fn ask(actions: &[String]) -> Decision {
    let mut err = std::io::stderr();
    let _ = writeln!(err, "The agent wants to:");
    for a in actions {
        let _ = writeln!(err, "  {a}");
    }
    if !std::io::stdin().is_terminal() {
        let _ = writeln!(err, "No terminal to confirm on: rejected.");
        return Decision::Reject { reason: Some("Nobody could confirm this action (non-interactive run).".into()) };
    }
    let _ = write!(err, "Allow? [y]es / [a]ll for this conversation / [N]o: ");
    let _ = err.flush();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Decision::Allow,
        "a" | "all" => Decision::AllowAll,
        _ => Decision::Reject { reason: Some("The user rejected the action.".into()) },
    }
}

type Snapshot = BTreeMap<String, (u64, Option<SystemTime>)>;

/// Size and mtime of every file below `root` (skipping `.git`), bounded so a huge tree cannot stall the run.
fn snapshot(root: &Path) -> Snapshot {
    const MAX_FILES: usize = 50_000;
    let mut out = Snapshot::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                if entry.file_name() != ".git" {
                    stack.push(path);
                }
            } else if out.len() < MAX_FILES {
                let rel = path.strip_prefix(root).unwrap_or(&path).display().to_string();
                out.insert(rel, (meta.len(), meta.modified().ok()));
            }
        }
    }
    out
}

fn diff(before: &Snapshot, after: &Snapshot) -> Vec<(String, &'static str)> {
    let mut changes = Vec::new();
    for (path, now) in after {
        match before.get(path) {
            None => changes.push((path.clone(), "added")),
            Some(was) if was != now => changes.push((path.clone(), "modified")),
            _ => {}
        }
    }
    changes.extend(before.keys().filter(|p| !after.contains_key(*p)).map(|p| (p.clone(), "deleted")));
    changes.sort();
    changes
}
