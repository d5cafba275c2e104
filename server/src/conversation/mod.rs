//! Conversations: their state, their event log, and their lifecycle on a sandbox.
//!
//! The [`Manager`] owns every live conversation. Each runs in its own task (the runner), which provisions a
//! sandbox, creates the conversation on its agent-server, follows the event stream, persists each event, and obeys
//! control messages (send, pause, resume, stop, confirm). Everything editors see goes out through an [`Observer`],
//! so this module knows nothing of LSP.

mod budget;
mod control;
mod copy;
mod error;
mod folders;
mod mcp_commands;
mod metering;
mod model;
mod model_error;
mod queue;
mod rearm;
mod resume;
mod runner;
mod setup;
mod start;
pub mod store;
mod tracker;
mod usage;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::agent_server::events::{AgentEvent, NormalizedEvent};
use crate::sandbox::SharedProvider;
use crate::secrets::SecretStore;
use control::Control;
pub use error::ConversationError;
pub use folders::folder_roots;
pub(crate) use model::KIB_IN_FLIGHT;
pub use model::{
    AgentSettings, Credit, Decision, Delivery, Observer, PendingAction, Review, SendMode, StartOptions, StartRequest,
    Summary, Update,
};
pub use resume::GoOn;
pub use store::{
    BadId, ConversationId, EventPage, IsolationMeta, IssueLink, Meta, QueuedMessage, State, Store, StoreError, now_ms,
};
pub use usage::{BUDGET_STOPPED, Budget, Usage};

/// Runs blocking work (git, reading a long event log) on tokio's blocking pool. The runtime has a single thread
/// (see `main`), so work done on it directly would hold up every conversation's stream and every LSP request.
async fn off_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ConversationError> + Send + 'static,
) -> Result<T, ConversationError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| ConversationError::Worker(e.to_string()))?
}

/// The task's title, then its instruction, then the co-author trailer OpenHands uses.
fn commit_message(meta: &Meta) -> String {
    let body: String = meta.instruction.lines().take(20).collect::<Vec<_>>().join("\n");
    format!("{}\n\n{}\n\nCo-authored-by: openhands <openhands@all-hands.dev>\n", meta.title, body.trim())
}

/// The conversation's isolated copy as its `meta.json` describes it, used only when what it names is the server's
/// own: the copy inside the conversation's folder (`dir`), on a branch of the `openhands/` namespace. A `meta.json`
/// is data on disk; a doctored one must not lead review to read, or discard to delete, anything else.
fn isolated(meta: &Meta, dir: &std::path::Path) -> Result<crate::git::Isolated, ConversationError> {
    isolated_in(meta, dir, None)
}

/// The copy of one of the conversation's folders: its workspace's (`None`), or an extra folder's by name, in
/// `folders/<name>` of the conversation's folder.
fn isolated_in(
    meta: &Meta,
    dir: &std::path::Path,
    folder: Option<&str>,
) -> Result<crate::git::Isolated, ConversationError> {
    let (iso, source, expected) = match folder.filter(|f| std::path::Path::new(f) != meta.workspace) {
        None => (meta.isolation.as_ref(), &meta.workspace, dir.join("worktree")),
        Some(name) => {
            let extra = folder_named(meta, name)?;
            (extra.isolation.as_ref(), &extra.workspace, dir.join("folders").join(&extra.name))
        }
    };
    let iso = iso.ok_or_else(|| ConversationError::NotIsolated(meta.id.clone()))?;
    let foreign = |what: &str, path: &std::path::Path| {
        ConversationError::Isolation(format!(
            "its {what} {} is not inside the conversation's folder {}; refusing to use it (was meta.json edited?)",
            path.display(),
            dir.display()
        ))
    };
    let plain = |p: &std::path::Path| {
        p.components().all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::RootDir))
    };
    if iso.dest != expected {
        return Err(foreign("copy", &iso.dest));
    }
    if !iso.root.starts_with(&expected) || !plain(&iso.root) {
        return Err(foreign("working folder", &iso.root));
    }
    crate::git::ready();
    let baseline = git2::Oid::from_str(&iso.baseline).map_err(|e| ConversationError::Isolation(e.to_string()))?;
    let kind = match (&iso.repo, &iso.branch) {
        (Some(repo), Some(branch)) => {
            if !branch.starts_with("openhands/") {
                return Err(ConversationError::Isolation(format!(
                    "its branch {branch:?} is not one openhands-lsp made (openhands/…); refusing to use it"
                )));
            }
            let (repo, branch) = (repo.clone(), branch.clone());
            if iso.own_git {
                crate::git::Kind::Clone { repo, branch }
            } else {
                crate::git::Kind::Worktree { repo, branch }
            }
        }
        _ => crate::git::Kind::Copy,
    };
    Ok(crate::git::Isolated { root: iso.root.clone(), source: source.clone(), kind, baseline })
}

/// An extra folder of the conversation, by its name (or its path, as an editor knows it).
fn folder_named<'m>(meta: &'m Meta, name: &str) -> Result<&'m store::ExtraFolder, ConversationError> {
    meta.folders
        .iter()
        .find(|f| folders::is_plain_name(&f.name) && (f.name == name || f.workspace == std::path::Path::new(name)))
        .ok_or_else(|| ConversationError::UnknownFolder {
            id: meta.id.clone(),
            folder: name.to_owned(),
            known: std::iter::once(format!("{} (its workspace)", meta.workspace.display()))
                .chain(meta.folders.iter().map(|f| f.name.clone()))
                .collect::<Vec<_>>()
                .join(", "),
        })
}

struct Live {
    control: mpsc::Sender<Control>,
    meta: Arc<Mutex<Meta>>,
}

struct Inner {
    store: Store,
    provider: SharedProvider,
    secrets: SecretStore,
    observer: Arc<dyn Observer>,
    live: Mutex<HashMap<String, Live>>,
    /// The records of every conversation this manager started, live or ended: what this session's LLM use is the
    /// sum of, without reading the history.
    started: Mutex<Vec<Arc<Mutex<Meta>>>>,
}

/// Where a conversation's agent works, as the agent sees it (`agent_dir`) and as the user does (its copy, the
/// workspace): a path under one of them is shown relative to it. The user's subfolder of a copy is a root under
/// `agent_dir` too: a container sees the copy's top there and the agent works in the subfolder.
pub(crate) fn shown_roots(meta: &Meta, agent_dir: &str) -> Vec<String> {
    let mut roots = vec![agent_dir.to_owned(), meta.workspace.to_string_lossy().into_owned()];
    // An extra folder's files are shown by their own path (in a container, `/folders/<name>/…`): only the
    // workspace's are shortened.
    if let Some(iso) = &meta.isolation {
        roots.push(iso.root.to_string_lossy().into_owned());
        if let Ok(sub) = iso.root.strip_prefix(&iso.dest)
            && !sub.as_os_str().is_empty()
        {
            roots.push(format!("{}/{}", agent_dir.trim_end_matches('/'), sub.display()));
        }
    }
    roots
}

#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

impl Manager {
    pub fn new(store: Store, provider: SharedProvider, secrets: SecretStore, observer: Arc<dyn Observer>) -> Self {
        let (live, started) = (Mutex::new(HashMap::new()), Mutex::default());
        Manager { inner: Arc::new(Inner { store, provider, secrets, observer, live, started }) }
    }

    pub fn backend(&self) -> &'static str {
        self.inner.provider.name()
    }

    pub async fn send_message(&self, id: &str, text: String) -> Result<Delivery, ConversationError> {
        self.send_message_with_images(id, text, Vec::new(), SendMode::Steer).await
    }

    /// A message with images (URLs, `data:` URLs included), steered into a running turn or queued after it.
    pub async fn send_message_with_images(
        &self,
        id: &str,
        text: String,
        images: Vec<String>,
        mode: SendMode,
    ) -> Result<Delivery, ConversationError> {
        self.control(id, |reply| Control::Send { text, images, run: true, mode, reply }).await
    }

    /// Takes a queued message back before it is sent: the message, for the editor to put back where the user types.
    pub async fn unqueue(&self, id: &str, message_id: &str) -> Result<QueuedMessage, ConversationError> {
        let message = message_id.to_owned();
        self.control(id, |reply| Control::Unqueue { message, reply }).await
    }

    /// Tells the agent something for its next turn without starting one (e.g. which changes were not applied).
    pub async fn add_note(&self, id: &str, text: String) -> Result<(), ConversationError> {
        let text = format!("{}\n{text}", crate::agent_server::events::NOTE_MARK);
        let mode = SendMode::Steer;
        self.control(id, |reply| Control::Send { text, images: Vec::new(), run: false, mode, reply }).await.map(drop)
    }

    /// What the agent changed in its isolated copy of the workspace, against where it started.
    pub async fn review(&self, id: &str) -> Result<Review, ConversationError> {
        let meta = self.get(id)?.meta;
        self.review_folder(&meta, None).await
    }

    /// The agent's work in its copy as one patch against where it started (`git diff` format, new files included).
    pub async fn patch(&self, id: &str) -> Result<String, ConversationError> {
        let iso = self.isolated(&self.get(id)?.meta)?;
        off_runtime(move || crate::git::patch(&iso).map_err(|e| ConversationError::Isolation(e.to_string()))).await
    }

    /// What the agent changed in each of its folders' copies: the workspace's first, then each extra folder's
    /// (a folder worked on without a copy has nothing to review).
    pub async fn reviews(&self, id: &str) -> Result<Vec<Review>, ConversationError> {
        let meta = self.get(id)?.meta;
        let mut reviews = vec![self.review_folder(&meta, None).await?];
        for folder in meta.folders.iter().filter(|f| f.isolation.is_some()) {
            reviews.push(self.review_folder(&meta, Some(&folder.name)).await?);
        }
        Ok(reviews)
    }

    async fn review_folder(&self, meta: &Meta, folder: Option<&str>) -> Result<Review, ConversationError> {
        let iso = self.isolated_in(meta, folder)?;
        let source = iso.source.clone();
        // What the user's files hold already (applied before) is no change to review.
        let files = off_runtime(move || {
            let files = crate::git::changes(&iso).map_err(|e| ConversationError::Isolation(e.to_string()))?;
            Ok(files.into_iter().filter(|f| !f.already_in(&iso.source)).collect())
        })
        .await?;
        Ok(Review { title: meta.title.clone(), source, files, folder: folder.map(str::to_owned) })
    }

    /// Records `files` as applied to the user's files (of `folder`, by name; `None`: the workspace): the base the
    /// conversation's next review starts from.
    pub async fn record_applied(
        &self,
        id: &str,
        folder: Option<&str>,
        files: Vec<crate::git::applied::AppliedFile>,
    ) -> Result<(), ConversationError> {
        let iso = self.isolated_in(&self.get(id)?.meta, folder)?;
        off_runtime(move || {
            crate::git::applied::record(&iso, &files).map_err(|e| ConversationError::Isolation(e.to_string()))
        })
        .await
    }

    /// Writes `text` to `rel` in the conversation's own copy of `folder` (never through a link out of it):
    /// declined hunks taken out of the agent's work.
    pub async fn write_in_copy(
        &self,
        id: &str,
        folder: Option<&str>,
        rel: PathBuf,
        text: String,
    ) -> Result<(), ConversationError> {
        let iso = self.isolated_in(&self.get(id)?.meta, folder)?;
        off_runtime(move || {
            crate::git::entry::place_inside(&iso.root, &rel)
                .and_then(|path| std::fs::write(&path, text))
                .map_err(|e| ConversationError::Isolation(format!("{}: {e}", rel.display())))
        })
        .await
    }

    /// The user's folder `folder` of the conversation stands for (`None`: its workspace).
    pub fn folder_source(&self, id: &str, folder: Option<&str>) -> Result<PathBuf, ConversationError> {
        let meta = self.get(id)?.meta;
        match folder.filter(|f| std::path::Path::new(f) != meta.workspace) {
            None => Ok(meta.workspace),
            Some(name) => folder_named(&meta, name).map(|f| f.workspace.clone()),
        }
    }

    /// The URL of the repository of the conversation's `folder` (`None`: its workspace): its `remote` (empty when it
    /// has none).
    pub fn remote_url(&self, id: &str, folder: Option<&str>, remote: &str) -> Result<String, ConversationError> {
        let meta = self.get(id)?.meta;
        let iso = self.isolated_in(&meta, folder)?;
        let repo = match iso.kind {
            crate::git::Kind::Worktree { repo, .. } | crate::git::Kind::Clone { repo, .. } => repo,
            crate::git::Kind::Copy => return Err(ConversationError::NotIsolated(id.to_owned())),
        };
        Ok(crate::git::remote_url(&repo, remote).unwrap_or_default())
    }

    /// Commits the conversation's changes in its copy of `folder` (`None`: the workspace) and pushes them to
    /// `remote` as a new branch: `wanted_branch` (default `openhands/<slug of the title>`), or with `-tryK` when the
    /// remote has it.
    pub async fn publish(
        &self,
        id: &str,
        folder: Option<&str>,
        remote: &str,
        wanted_branch: Option<String>,
        auth: crate::git::push::HttpsAuth,
    ) -> Result<crate::git::push::Published, ConversationError> {
        let meta = self.get(id)?.meta;
        let iso = self.isolated_in(&meta, folder)?;
        let branch = wanted_branch.unwrap_or_else(|| format!("openhands/{}", copy::slug(&meta.title)));
        let message = commit_message(&meta);
        let remote = remote.to_owned();
        off_runtime(move || {
            crate::git::push::commit_and_push(&iso, &remote, &branch, &message, &auth)
                .map_err(|e| ConversationError::Isolation(e.to_string()))
        })
        .await
    }

    /// Stops the conversation if it runs and removes its isolated copy (worktree and branch).
    pub async fn discard(&self, id: &str) -> Result<(), ConversationError> {
        let summary = self.get(id)?;
        // Another editor's agent works in that copy right now.
        if summary.running_elsewhere {
            return Err(elsewhere(&summary.meta));
        }
        let meta = summary.meta;
        let iso = self.isolated(&meta)?;
        if self.live().contains_key(id) {
            self.stop(id).await?;
        }
        let dest = meta.isolation.as_ref().map(|i| i.dest.clone()).unwrap_or_default();
        // The extra folders' copies go with it.
        let mut extras = Vec::new();
        for f in meta.folders.iter().filter(|f| f.isolation.is_some()) {
            let dest = f.isolation.as_ref().map(|i| i.dest.clone()).unwrap_or_default();
            extras.push((self.isolated_in(&meta, Some(&f.name))?, dest));
        }
        let conversation = id.to_owned();
        // The agent-server's record goes with the copy: what it remembers are changes no longer anywhere.
        let folder = self.inner.store.dir(&ConversationId::parse(id)?);
        off_runtime(move || {
            crate::git::checkpoint::remove_all(&iso, &conversation)
                .and_then(|()| crate::git::remove(&iso, &dest))
                .map_err(|e| ConversationError::Isolation(e.to_string()))?;
            for (iso, dest) in extras {
                crate::git::remove(&iso, &dest).map_err(|e| ConversationError::Isolation(e.to_string()))?;
            }
            resume::forget_record(&folder)
                .map_err(|e| ConversationError::Isolation(format!("the agent-server's record: {e}")))
        })
        .await?;
        let mut meta = self.inner.store.load(id)?;
        meta.isolation = None;
        meta.folders.iter_mut().for_each(|f| f.isolation = None);
        meta.discarded = true;
        meta.updated_at = store::now_ms();
        // A stopped runner leaves the live list a moment after it answered: its record must not say the copy is
        // still there meanwhile.
        if let Some(live) = self.live().get(id) {
            let mut live = lock(&live.meta);
            live.isolation = None;
            live.folders.iter_mut().for_each(|f| f.isolation = None);
            live.discarded = true;
        }
        self.inner.store.save(&meta)?;
        let cannot_continue = resume::cannot_continue(&meta, &self.inner.store);
        self.inner.observer.update(Update::Changed(Box::new(Summary {
            meta,
            live: false,
            running_elsewhere: false,
            cannot_continue,
        })));
        Ok(())
    }

    /// The conversation's checkpoints (every branch) and the one its files are at.
    pub async fn checkpoints(
        &self,
        id: &str,
    ) -> Result<(Vec<crate::git::checkpoint::Checkpoint>, Option<u32>), ConversationError> {
        let meta = self.get(id)?.meta;
        let dir = self.inner.store.dir(&ConversationId::parse(id)?);
        let current = meta.checkpoint;
        off_runtime(move || copy::checkpoints(&meta, &dir)).await.map(|all| (all, current))
    }

    /// Puts a live conversation back to checkpoint `number` (its copy's files and the agent's memory); the id of
    /// the branch it leaves, kept in history.
    pub async fn restore(&self, id: &str, number: u32) -> Result<String, ConversationError> {
        self.control(id, |reply| Control::Restore { checkpoint: number, reply }).await
    }

    pub async fn pause(&self, id: &str) -> Result<(), ConversationError> {
        self.control(id, |reply| Control::Pause { reply }).await
    }

    pub async fn resume(&self, id: &str) -> Result<(), ConversationError> {
        self.control(id, |reply| Control::Resume { reply }).await
    }

    pub async fn stop(&self, id: &str) -> Result<(), ConversationError> {
        self.control(id, |reply| Control::Stop { reply }).await
    }

    /// Another model or confirmation mode for a live conversation, from the agent's next step on.
    pub async fn configure(
        &self,
        id: &str,
        model: Option<String>,
        confirmation: Option<crate::config::ConfirmationMode>,
    ) -> Result<(), ConversationError> {
        self.control(id, |reply| Control::Configure { model, confirmation, reply }).await
    }

    /// The LLM use of the conversations this manager started (unknown cost if any one's is), and how many used any.
    pub fn session_usage(&self) -> (Usage, usize) {
        let started = self.inner.started.lock().unwrap_or_else(|p| p.into_inner());
        let used: Vec<Usage> = started.iter().filter_map(|m| lock(m).usage).collect();
        (Usage::total(used.iter()), used.len())
    }

    /// The answer to [`Update::BudgetReached`] that goes on: the budget grows by its own amount, the agent resumes.
    pub async fn raise_budget(&self, id: &str) -> Result<(), ConversationError> {
        self.control(id, |reply| Control::RaiseBudget { reply }).await
    }

    pub async fn confirm(&self, id: &str, decision: Decision) -> Result<(), ConversationError> {
        self.control(id, |reply| Control::Confirm { decision, reply }).await
    }

    /// Drops the conversation's event stream so it reconnects (tests use it to prove nothing is lost).
    pub fn reconnect_stream(&self, id: &str) -> Result<(), ConversationError> {
        let sender = self.live().get(id).map(|l| l.control.clone()).ok_or_else(|| self.not_live(id))?;
        sender.try_send(Control::ReconnectStream).map_err(|_| ConversationError::RunnerGone)
    }

    /// Live conversations and the history on disk, newest first. Reading every conversation's `meta.json` is done
    /// off the runtime thread: a long history must not hold up the events of running conversations.
    pub async fn list(&self) -> Result<Vec<Summary>, ConversationError> {
        let store = self.inner.store.clone();
        let stored = off_runtime(move || Ok(store.list())).await?;
        // Live states after the disk was read: they are the newer.
        let live: HashMap<String, Meta> =
            self.live().iter().map(|(id, l)| (id.clone(), lock(&l.meta).clone())).collect();
        let (ours, others): (Vec<Meta>, Vec<Meta>) = stored.into_iter().partition(|m| live.contains_key(&m.id));
        let manager = self.clone();
        let mut all: Vec<Summary> =
            off_runtime(move || Ok(others.into_iter().map(|m| manager.at_rest(m)).collect())).await?;
        all.extend(ours.into_iter().filter_map(|m| {
            let current = live.get(&m.id)?;
            Some(Summary { meta: current.clone(), live: true, running_elsewhere: false, cannot_continue: None })
        }));
        all.sort_by_key(|s| std::cmp::Reverse(s.meta.created_at));
        Ok(all)
    }

    pub fn get(&self, id: &str) -> Result<Summary, ConversationError> {
        if let Some(l) = self.live().get(id) {
            return Ok(Summary {
                meta: lock(&l.meta).clone(),
                live: true,
                running_elsewhere: false,
                cannot_continue: None,
            });
        }
        let meta = self.inner.store.load(id)?;
        let elsewhere = running_elsewhere(&meta);
        // Another server's: what it cannot do is said by that (`Elsewhere`), not by the record here.
        let cannot_continue = if elsewhere { None } else { resume::cannot_continue(&meta, &self.inner.store) };
        Ok(Summary { meta, live: false, running_elsewhere: elsewhere, cannot_continue })
    }

    /// Events from the log, normalised, starting at position `after`: the events (each with its position as its
    /// `seq`), where the next page starts, and how many the log holds.
    pub async fn events(
        &self,
        id: &str,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<NormalizedEvent>, u64, u64), ConversationError> {
        let store = self.inner.store.clone();
        let id = id.to_owned();
        off_runtime(move || {
            // The folder the agent worked in is not kept: where it can have been (a container's is the copy's top).
            let roots = store
                .load(&id)
                .map(|meta| shown_roots(&meta, crate::sandbox::docker::CONTAINER_WORKSPACE))
                .unwrap_or_default();
            let page = store.read_events(&id, after, limit)?;
            let events = page
                .events
                .into_iter()
                .filter_map(|(seq, v)| AgentEvent::from_json(v).ok().map(|e| NormalizedEvent::new(&id, seq, e, &roots)))
                .map(|mut e| {
                    // Which model and editor it ran with is not kept: the plain words without them.
                    model_error::explain_event(&mut e, None, crate::editor::Editor::Other);
                    e
                })
                .collect();
            Ok((events, page.next, page.total))
        })
        .await
    }

    /// Marks conversations left live by an earlier, dead session (their sandboxes died with it) and clears what
    /// such a session may have left running.
    pub fn recover(&self) {
        for meta in self.inner.store.list() {
            if self.live().contains_key(&meta.id) || running_elsewhere(&meta) {
                continue;
            }
            self.take_over(meta);
        }
    }

    /// A conversation of no live openhands-lsp (its owner died, or an earlier session): what it left running is
    /// cleared, its event count checked against its log, and an active one recorded as stopped.
    fn take_over(&self, mut meta: Meta) -> Meta {
        self.inner.provider.sweep(&meta.id);
        let recounted = self.inner.store.recount(&mut meta);
        if meta.state.is_settled() {
            if recounted && let Err(e) = self.inner.store.save(&meta) {
                tracing::warn!("cannot record the event count of {}: {e}", meta.id);
            }
            return meta;
        }
        meta.error = Some(if meta.cloud.is_some() {
            "openhands-lsp stopped while following this conversation; it may still run in OpenHands Cloud: \
             attach to it again (openhands.attachConversation)"
                .into()
        } else {
            "openhands-lsp stopped while this conversation was active; its sandbox is gone".into()
        });
        meta.state = State::Stopped;
        meta.updated_at = store::now_ms();
        if let Err(e) = self.inner.store.save(&meta) {
            tracing::warn!("cannot mark {} as stopped: {e}", meta.id);
        }
        meta
    }

    /// A conversation this server does not run, as it stands now: running in another live openhands-lsp, or taken
    /// over once its owner is gone. Blocking (it may sweep and write).
    fn at_rest(&self, meta: Meta) -> Summary {
        if running_elsewhere(&meta) {
            return Summary { meta, live: false, running_elsewhere: true, cannot_continue: None };
        }
        let cannot_continue = resume::cannot_continue(&meta, &self.inner.store);
        let meta = if meta.state.is_settled() { meta } else { self.take_over(meta) };
        Summary { meta, live: false, running_elsewhere: false, cannot_continue }
    }

    /// At server exit: records live conversations as stopped and stops every sandbox. Quick on purpose: the
    /// editor is waiting for the process to end.
    pub async fn shutdown(&self) {
        let metas: Vec<Arc<Mutex<Meta>>> = self.live().values().map(|l| l.meta.clone()).collect();
        // The agent-server's records, before the sandboxes go: what they did so far can go on later.
        let kept: Vec<(String, PathBuf)> = metas
            .iter()
            .filter_map(|m| ConversationId::parse(&lock(m).id).ok())
            .map(|id| (id.as_str().to_owned(), self.inner.store.dir(&id)))
            .collect();
        let redactor = self.inner.secrets.redactor();
        let _ = off_runtime(move || {
            kept.iter().for_each(|(id, dir)| resume::save_record(id, dir, &redactor));
            Ok(())
        })
        .await;
        for meta in metas {
            let snapshot = {
                let mut m = lock(&meta);
                if !m.state.is_settled() {
                    m.state = State::Stopped;
                    m.error = Some("openhands-lsp exited while this conversation was active".into());
                }
                m.updated_at = store::now_ms();
                m.clone()
            };
            if let Err(e) = self.inner.store.save(&snapshot) {
                tracing::warn!("{e}");
            }
        }
        self.inner.provider.shutdown().await;
    }

    async fn control<T>(
        &self,
        id: &str,
        make: impl FnOnce(oneshot::Sender<Result<T, ConversationError>>) -> Control,
    ) -> Result<T, ConversationError> {
        let sender = self.live().get(id).map(|l| l.control.clone()).ok_or_else(|| self.not_live(id))?;
        let (reply, rx) = oneshot::channel();
        sender.send(make(reply)).await.map_err(|_| ConversationError::RunnerGone)?;
        rx.await.map_err(|_| ConversationError::RunnerGone)?
    }

    /// The live local conversation that follows cloud conversation `cloud_id`.
    fn following(&self, cloud_id: &str) -> Option<String> {
        self.live()
            .iter()
            .find(|(_, l)| lock(&l.meta).cloud.as_ref().is_some_and(|c| c.conversation_id == cloud_id))
            .map(|(id, _)| id.clone())
    }

    fn isolated(&self, meta: &Meta) -> Result<crate::git::Isolated, ConversationError> {
        self.isolated_in(meta, None)
    }

    fn isolated_in(&self, meta: &Meta, folder: Option<&str>) -> Result<crate::git::Isolated, ConversationError> {
        let id = ConversationId::parse(&meta.id)?;
        isolated_in(meta, &self.inner.store.dir(&id), folder)
    }

    fn not_live(&self, id: &str) -> ConversationError {
        match self.inner.store.load(id) {
            Ok(meta) if running_elsewhere(&meta) => elsewhere(&meta),
            Ok(meta) => match resume::cannot_continue(&meta, &self.inner.store) {
                Some(why) => ConversationError::CannotContinue { id: id.to_owned(), why },
                None => ConversationError::NotLive(id.to_owned()),
            },
            Err(_) => ConversationError::Unknown(id.to_owned()),
        }
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        self.inner.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Active, and owned by another openhands-lsp that is alive (or may be: another host): not this server's to touch.
fn running_elsewhere(meta: &Meta) -> bool {
    !meta.state.is_settled() && meta.owner.as_ref().is_some_and(crate::instance::Instance::is_other_and_alive)
}

fn elsewhere(meta: &Meta) -> ConversationError {
    ConversationError::Elsewhere { id: meta.id.clone(), pid: meta.owner.as_ref().map_or(0, |o| o.pid) }
}

fn lock(meta: &Mutex<Meta>) -> std::sync::MutexGuard<'_, Meta> {
    meta.lock().unwrap_or_else(|p| p.into_inner())
}

/// The event with secrets masked, and its log line: serialized once, and parsed again only when a secret was in it.
fn redacted_event(event: AgentEvent, redactor: &crate::secrets::Redactor) -> (AgentEvent, String) {
    let text = serde_json::to_string(&event.raw).unwrap_or_default();
    match redactor.redact(&text) {
        std::borrow::Cow::Borrowed(_) => (event, text),
        std::borrow::Cow::Owned(clean) => {
            let masked = serde_json::from_str(&clean).ok().and_then(|raw| AgentEvent::from_json(raw).ok());
            // Fail closed: should masking ever break the JSON, send the masked text, never the original.
            let masked = masked.unwrap_or_else(|| AgentEvent {
                raw: serde_json::json!({"id": event.id, "kind": event.kind, "source": event.source,
                    "timestamp": event.timestamp, "masked": clean}),
                ..event
            });
            (masked, clean)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::{SecretName, SecretStore};

    #[test]
    fn events_are_masked_once_for_the_editor_and_the_log() {
        let secrets = SecretStore::default();
        secrets.set(SecretName::GithubToken, "ghp_canary_123456");
        let raw = serde_json::json!({"id": "e1", "kind": "ObservationEvent", "text": "token=ghp_canary_123456"});
        let (event, line) = redacted_event(AgentEvent::from_json(raw).unwrap(), &secrets.redactor());
        assert_eq!(event.raw["text"], "token=***");
        assert!(line.contains("token=***") && !line.contains("ghp_canary"));
        let clean = serde_json::json!({"id": "e2", "kind": "MessageEvent"});
        let (event, line) = redacted_event(AgentEvent::from_json(clean.clone()).unwrap(), &secrets.redactor());
        assert_eq!(event.raw, clean);
        assert_eq!(line, clean.to_string());
    }
}
