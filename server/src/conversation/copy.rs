//! The conversation's own copy of the user's folder: made before its sandbox starts, recorded as a checkpoint after
//! every agent step that changed files, and put back to one of them (with the agent's memory forked at the same
//! event, so that what it remembers matches the files). Where the agent works on another machine (the cloud, a
//! remote Docker engine) its changes are brought back into the copy.

use std::path::{Path, PathBuf};

use super::runner::Runner;
use super::store::{BranchOf, ConversationId, now_ms};
use super::tracker::Tracker;
use super::{ConversationError, Meta, State, Update};
use crate::agent_server::AgentServerClient;
use crate::agent_server::stream::{self, Resume};
use crate::git::checkpoint::{self, Checkpoint, Mark};
use crate::git::{GitData, Kind};
use crate::sandbox::Sandbox;

/// The index checkpoints are made from, in the conversation's folder (see `git::checkpoint`).
pub(super) const CHECKPOINT_INDEX: &str = "checkpoints.index";

impl Runner {
    /// The folder the sandbox gets (the workspace itself, or the top of the conversation's own copy of it) and the
    /// subfolder in it where the agent works (the one the user opened, in a copy of the whole repository).
    pub(super) async fn isolate(&self) -> Result<(PathBuf, PathBuf), String> {
        let source = self.meta().workspace.clone();
        if self.settings.isolation == crate::config::Isolation::None {
            return Ok((source, PathBuf::new()));
        }
        let dest = self.dir.join("worktree");
        let meta = self.make_copy(&source, &dest, None).await?;
        let subfolder = meta.root.strip_prefix(&dest).map(Path::to_path_buf).unwrap_or_default();
        self.update_meta(|m| m.isolation = Some(meta));
        Ok((dest, subfolder))
    }

    /// A copy of `source`'s repository (or of the folder itself) at `dest`, on a branch of its own (an extra
    /// folder's named after it too: two folders of one repository are two worktrees, on two branches).
    pub(super) async fn make_copy(
        &self,
        source: &Path,
        dest: &Path,
        folder: Option<&str>,
    ) -> Result<super::IsolationMeta, String> {
        let title = self.meta().title.clone();
        let mut branch = format!("openhands/{}-{}", slug(&title), &self.id[..8]);
        if let Some(name) = folder {
            branch = format!("{branch}-{}", slug(name));
        }
        let (src, d, b) = (source.to_owned(), dest.to_owned(), branch.clone());
        // A sandbox that sees only the copy needs the copy's git data inside it, or git in there finds no repository.
        let data = if self.provider.sees_only_the_workspace() { GitData::Own } else { GitData::Shared };
        let iso = tokio::task::spawn_blocking(move || {
            crate::git::isolate(&src, &d, &b, crate::git::DEFAULT_COPY_LIMIT_BYTES, data)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot make the conversation's own copy of {}: {e}", source.display()))?;
        Ok(super::IsolationMeta {
            root: iso.root.clone(),
            dest: dest.to_owned(),
            repo: match &iso.kind {
                Kind::Worktree { repo, .. } | Kind::Clone { repo, .. } => Some(repo.clone()),
                Kind::Copy => None,
            },
            branch: (iso.kind != Kind::Copy).then_some(branch),
            own_git: matches!(iso.kind, Kind::Clone { .. }),
            baseline: iso.baseline.to_string(),
        })
    }

    /// Writes what the agent changed on a remote Docker engine into the conversation's folders (its copy, its
    /// record), for review, apply and going on later.
    pub(super) async fn files_back(&self) {
        let Some(back) = &self.files_back else { return };
        match back().await {
            Ok(changed) => tracing::debug!(conversation = %self.id, "{changed} files came back from the sandbox"),
            Err(e) => {
                tracing::warn!(conversation = %self.id, "bringing the agent's changes back: {e}");
                self.observer.update(Update::Progress {
                    conversation_id: self.id.clone(),
                    message: format!("could not bring the agent's changes back from the remote engine: {e}"),
                });
            }
        }
    }

    /// Writes what the agent changed in the cloud into the conversation's own copy, for review and apply.
    pub(super) async fn bring_back(&self, client: &AgentServerClient) {
        let Some(remote) = &self.remote else { return };
        let Some(root) = self.meta().isolation.as_ref().map(|i| i.root.clone()) else { return };
        match crate::cloud::changes::bring_back(client, &remote.id, remote.repo_name.as_deref(), &root).await {
            Ok(files) => {
                tracing::info!(conversation = %self.id, "brought back {} changed files from the cloud", files.len())
            }
            Err(e) => {
                tracing::warn!(conversation = %self.id, "bringing the cloud's changes back: {e}");
                self.observer.update(Update::Progress {
                    conversation_id: self.id.clone(),
                    message: format!("could not bring the cloud's changes back: {e}"),
                });
            }
        }
        // Pull requests the agent opened in the cloud, for the editor to show.
        if let Some(numbers) = (remote.pull_requests)().await {
            let known = self.meta().cloud.as_ref().map(|c| c.pull_requests.clone()).unwrap_or_default();
            if numbers != known {
                tracing::info!(conversation = %self.id, "the agent opened pull requests {numbers:?}");
                self.update_meta(|m| {
                    if let Some(c) = m.cloud.as_mut() {
                        c.pull_requests = numbers;
                    }
                });
            }
        }
    }

    /// After an agent step: its files as a checkpoint, when they changed (a cloud conversation's come back only at
    /// the end of its turn, and a conversation without its own copy has nothing of its own to record).
    pub(super) async fn checkpoint(&self, event_id: String) {
        if self.remote.is_some() || self.files_back.is_some() {
            return;
        }
        let (meta, parent) = {
            let meta = self.meta();
            (meta.clone(), meta.checkpoint)
        };
        let Ok(iso) = super::isolated(&meta, &self.dir) else {
            super::resume::step_recorded(&self.id, &event_id);
            return;
        };
        let (id, index) = (self.id.clone(), self.dir.join(CHECKPOINT_INDEX));
        let made = tokio::task::spawn_blocking(move || {
            let made = checkpoint::record(&iso, &id, &index, parent, &Mark { event_id: &event_id });
            // Recorded (or failed, or nothing changed): the agent's next step may go on (see `follow_steps`).
            super::resume::step_recorded(&id, &event_id);
            made
        })
        .await;
        match made {
            Ok(Ok(Some(c))) => {
                tracing::debug!(conversation = %self.id, "checkpoint {} after {}", c.number, c.event_id);
                self.update_meta(|m| m.checkpoint = Some(c.number));
                self.observer.update(Update::Checkpoint { conversation_id: self.id.clone(), checkpoint: c });
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(conversation = %self.id, "recording a checkpoint: {e}"),
            Err(e) => tracing::warn!(conversation = %self.id, "recording a checkpoint: {e}"),
        }
    }

    /// Puts the conversation back to checkpoint `number`: the agent stops, its copy's files go back to that state,
    /// its conversation on the agent-server is forked at the checkpoint's event and followed from there, and the
    /// branch it leaves stays in history as a conversation of its own (whose id this returns). The user's own
    /// files are never touched.
    pub(super) async fn restore(
        &mut self,
        number: u32,
        sandbox: &Sandbox,
        client: &AgentServerClient,
        sub: &mut stream::Subscription,
        tracker: &mut Tracker,
    ) -> Result<String, ConversationError> {
        if self.remote.is_some() {
            return Err(ConversationError::Isolation(
                "a cloud conversation has no checkpoints here: its agent works in the cloud".into(),
            ));
        }
        if self.files_back.is_some() {
            return Err(ConversationError::Isolation(
                "this conversation has no checkpoints: its agent works on a remote Docker engine, whose steps are not \
                 seen here as they happen"
                    .into(),
            ));
        }
        let meta = self.meta().clone();
        let iso = super::isolated(&meta, &self.dir)?;
        // Checkpoints hold the workspace's copy only: putting it back alone would leave the other folders ahead.
        if !meta.folders.is_empty() {
            return Err(ConversationError::Unsupported(
                "this conversation works in several folders, and its checkpoints hold only its workspace's files: \
                 restoring one would leave the other folders' changes in place. Review and apply (or discard) what \
                 you want instead"
                    .into(),
            ));
        }
        match meta.state {
            State::Paused => {
                sandbox.handle.thaw().await?;
                sub.set_patient(false);
            }
            s if !s.is_settled() => client.interrupt(self.agent_id()).await?,
            _ => {}
        }
        let (id, index) = (self.id.clone(), self.dir.join(CHECKPOINT_INDEX));
        let restored = tokio::task::spawn_blocking(move || checkpoint::restore(&iso, &id, &index, number))
            .await
            .map_err(|e| ConversationError::Worker(e.to_string()))?
            .map_err(|e| ConversationError::Isolation(e.to_string()))?;
        let fork = client.fork(self.agent_id(), &restored.event_id).await?;
        // Its model and keys (masked in the fork) go with the next message: given now, its calls would not count.
        self.rearm_due = true;
        client.set_confirmation_policy(&fork, self.settings.confirmation).await?;
        let archived = earlier_branch(&meta, self.agent_id(), number);
        let (kept, last) = self.store.branch_off(&self.id, &restored.event_id, &archived)?;
        self.log = self.store.log(&self.id)?;
        // Follow the fork from after the events it copied.
        let resume = Resume { last_timestamp: last, ..Resume::default() };
        *sub = stream::subscribe(sandbox.endpoint.clone(), fork.clone(), resume);
        *tracker = Tracker { roots: std::mem::take(&mut tracker.roots), ..Tracker::default() };
        self.fork = Some(fork.clone());
        let message = format!("restored to checkpoint {number} (step {}): send a message to go on", restored.step);
        self.update_meta(|m| {
            m.checkpoint = Some(number);
            m.restores += 1;
            m.agent_conversation = Some(fork);
            m.event_count = kept;
            // Said also when it was paused already (then it settles on nothing new).
            m.final_message = Some(message.clone());
            m.error = None;
        });
        self.observer.update(Update::Changed(Box::new(super::Summary {
            cannot_continue: super::resume::cannot_continue(&archived, &self.store),
            meta: archived.clone(),
            live: false,
            running_elsewhere: false,
        })));
        self.settle(State::Paused, Some(message), None);
        Ok(archived.id)
    }
}

/// The record of the branch a restore leaves: the conversation as it was, under a new id, in history (its files are
/// the restored copy's now: no copy of its own).
fn earlier_branch(meta: &Meta, agent_id: &str, number: u32) -> Meta {
    let now = now_ms();
    Meta {
        id: ConversationId::new_random().into(),
        title: format!("{} (before restoring checkpoint {number})", meta.title),
        state: if meta.state.is_settled() { meta.state } else { State::Stopped },
        created_at: meta.created_at,
        updated_at: now,
        sandbox_url: None,
        image: None,
        isolation: None,
        owner: None,
        checkpoint: meta.checkpoint,
        agent_conversation: Some(agent_id.to_owned()),
        branch_of: Some(BranchOf { conversation: meta.id.clone(), checkpoint: number }),
        ..meta.clone()
    }
}

/// The checkpoints of a conversation's copy, by number.
pub(super) fn checkpoints(meta: &Meta, dir: &Path) -> Result<Vec<Checkpoint>, ConversationError> {
    let iso = super::isolated(meta, dir)?;
    checkpoint::list(&iso, &meta.id).map_err(|e| ConversationError::Isolation(e.to_string()))
}

/// A branch-name-safe short form of a title.
pub(super) fn slug(title: &str) -> String {
    let s: String = title
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    let s: String = s.chars().take(40).collect();
    if s.is_empty() { "task".into() } else { s.trim_end_matches('-').to_owned() }
}
