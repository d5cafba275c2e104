//! The check before a conversation starts in OpenHands Cloud, before any protocol. The cloud clones the remote
//! branch, so local commits that are not pushed and uncommitted files would be missing: this says so, in words a
//! front puts to the user, and pushes first when the user asks.

use std::path::{Path, PathBuf};

use crate::git::push::Published;
use crate::providers::{ProvidersSettings, remote};
use crate::secrets::SecretStore;

/// What the cloud would not see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsynced {
    /// What to tell the user.
    pub message: String,
    /// A push would help (the branch is missing from the remote, or commits are not on it); uncommitted files need
    /// a commit first, which is the user's to make.
    pub can_push: bool,
    workspace: PathBuf,
    remote: String,
}

/// `None` when the cloud sees the workspace as it is (or it is no git repository).
pub async fn check(workspace: &Path) -> Option<Unsynced> {
    let folder = workspace.to_owned();
    let state = tokio::task::spawn_blocking(move || crate::git::sync_state(&folder)).await.ok().flatten()?;
    if state.in_sync() {
        return None;
    }
    let mut parts = Vec::new();
    if !state.on_remote {
        parts.push(format!("branch {} is not on {}", state.branch, state.remote));
    } else if state.ahead > 0 {
        parts.push(format!("{} local commit{} not pushed", state.ahead, plural(state.ahead, " is", "s are")));
    }
    if state.dirty > 0 {
        parts.push(format!("{} file{} uncommitted changes", state.dirty, plural(state.dirty, " has", "s have")));
    }
    let message = format!(
        "OpenHands Cloud works from {}/{} as it is on the remote: {}. The agent will not see {}.",
        state.remote,
        state.branch,
        parts.join(", and "),
        if parts.len() > 1 { "them" } else { "it" }
    );
    Some(Unsynced {
        message,
        can_push: !state.on_remote || state.ahead > 0,
        workspace: workspace.to_owned(),
        remote: state.remote,
    })
}

impl Unsynced {
    /// Pushes the current branch to its remote with the user's provider token.
    pub async fn push(&self, secrets: &SecretStore, providers: &ProvidersSettings) -> Result<Published, String> {
        let url = crate::git::remote_url(&self.workspace, &self.remote).unwrap_or_default();
        let auth = remote::push_auth(&url, secrets, providers);
        let (folder, remote) = (self.workspace.clone(), self.remote.clone());
        let pushed = tokio::task::spawn_blocking(move || crate::git::push::push_current(&folder, &remote, &auth))
            .await
            .map_err(|e| format!("pushing before the cloud start: {e}"))?;
        let published = pushed.map_err(|e| format!("not started: pushing before the cloud start: {e}"))?;
        tracing::info!(branch = %published.branch, "pushed before the cloud start");
        Ok(published)
    }
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}
