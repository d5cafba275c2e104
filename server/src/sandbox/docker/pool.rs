//! The warm pool: containers booted ahead of need, each mounting an empty slot folder; claiming one moves the
//! conversation's workspace into its slot and renames the slot to the workspace's path.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;

use super::{AGENT_PORT, Container, DockerConfig, ImageChoice, Inner, Role, fingerprint, short, user_for};
use crate::sandbox::{SandboxError, random_key};

/// How many projects' images the pool keeps containers of, beside the agent-server image's.
const MAX_SERVED: usize = 2;

#[derive(Default)]
pub(super) struct Pool {
    pub ready: Vec<Container>,
    /// The projects' images conversations ran on, most recent first: the pool keeps containers of these too.
    pub served: Vec<ImageChoice>,
    /// Containers being started for the pool.
    pub filling: usize,
    pub last_error: Option<String>,
}

impl Inner {
    /// Keeps `warmPool` healthy containers ready until the provider shuts down.
    pub(super) async fn keep_pool(self: Arc<Self>) {
        let mut backoff = Duration::from_secs(2);
        loop {
            let config = self.config();
            let target = self.pool_target(&config) as usize;
            // The images to keep containers of: the projects' served most recently, and the agent-server image.
            let wanted: Vec<ImageChoice> =
                self.pool().served.iter().cloned().chain([ImageChoice::agent_image(&config)]).collect();
            let prints: Vec<String> = wanted.iter().map(|c| fingerprint(&config, c)).collect();
            // Drop containers that died or no longer match the settings, and those beyond `target` of an image.
            let stale: Vec<Container> = {
                let mut pool = self.pool();
                let (keep, mut stale): (Vec<Container>, Vec<Container>) = std::mem::take(&mut pool.ready)
                    .into_iter()
                    .partition(|c| prints.contains(&c.fingerprint) && c.exit.borrow().is_none());
                let mut counts: HashMap<String, usize> = HashMap::new();
                let (keep, excess): (Vec<Container>, Vec<Container>) = keep.into_iter().partition(|c| {
                    let n = counts.entry(c.fingerprint.clone()).or_default();
                    *n += 1;
                    *n <= target
                });
                pool.ready = keep;
                stale.extend(excess);
                stale
            };
            if !stale.is_empty()
                && let Ok(docker) = self.client().await
            {
                for c in stale {
                    self.discard(&docker, c).await;
                }
            }
            // The first image short of containers.
            let next = {
                let pool = self.pool();
                let short_of = |print: &String| pool.ready.iter().filter(|c| &c.fingerprint == print).count() < target;
                (pool.filling == 0).then(|| wanted.iter().zip(&prints).find(|(_, p)| short_of(p))).flatten()
            };
            let mut failed = false;
            if let Some((choice, _)) = next
                && self.pool_root.is_some()
            {
                match self.fill_one(&config, choice).await {
                    Ok(()) => backoff = Duration::from_secs(2),
                    Err(SandboxError::ImageAbsent(_)) if choice.bundle.is_some() => {
                        // A project's image that is gone (rebuilt under a new key, cleaned): served no longer.
                        self.pool().served.retain(|c| c.image != choice.image);
                        continue;
                    }
                    Err(e @ SandboxError::ImageAbsent(_)) => {
                        // Nothing to retry until a conversation pulls the image (which wakes the pool).
                        self.pool().last_error = Some(e.to_string());
                        tokio::select! {
                            _ = self.closing.cancelled() => return,
                            _ = self.pool_wake.notified() => {}
                        }
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!("warm pool: {e}");
                        self.pool().last_error = Some(e.to_string());
                        failed = true;
                    }
                }
                if !failed {
                    continue; // maybe more to fill
                }
            }
            let wait = if failed { backoff } else { Duration::from_secs(20) };
            if failed {
                backoff = (backoff * 2).min(Duration::from_secs(60));
            }
            tokio::select! {
                _ = self.closing.cancelled() => return,
                _ = self.pool_wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    pub(super) async fn fill_one(&self, config: &DockerConfig, choice: &ImageChoice) -> Result<(), SandboxError> {
        let Some(root) = &self.pool_root else { return Ok(()) };
        let docker = self.client().await?;
        // The pool never pulls: a download of a gigabyte is for when the user starts a conversation, with progress.
        let Some(image) = self.image_facts(&docker, &choice.image).await? else {
            return Err(SandboxError::ImageAbsent(choice.image.clone()));
        };
        let slot = root.join(format!("slot-{}", &random_key()[..16]));
        for dir in [&slot, &record_slot(&slot)] {
            let made = crate::platform::create_private_dir(dir);
            made.map_err(|e| SandboxError::Io(format!("{}: {e}", dir.display())))?;
        }
        let user = user_for(&image, true, choice.bundle.is_some());
        self.pool().filling += 1;
        // Booted, then warmed (see `agent_server::warm`): a container counts as filling until both are done.
        let self_url = format!("http://127.0.0.1:{AGENT_PORT}");
        let launched = tokio::select! {
            r = async {
                let mounts = (slot.as_path(), Some(record_slot(&slot)));
                let mounts = (mounts.0, mounts.1.as_deref(), None);
                let container = self.launch(&docker, config, mounts, Role::Pool, (choice, &image), user).await?;
                crate::agent_server::warm::warm_up(&container.endpoint, &self_url).await;
                Ok(container)
            } => Some(r),
            _ = self.closing.cancelled() => None,
        };
        self.pool().filling -= 1;
        match launched {
            Some(Ok(container)) => {
                if self.closing.is_cancelled() {
                    self.discard(&docker, container).await;
                } else {
                    tracing::info!(container = short(&container.id), "warm pool: a container is ready");
                    let mut pool = self.pool();
                    pool.ready.push(container);
                    pool.last_error = None;
                }
                Ok(())
            }
            Some(Err(e)) => {
                remove_slot(&slot);
                Err(e)
            }
            None => {
                remove_slot(&slot);
                Ok(())
            }
        }
    }

    /// Removes an unclaimed pooled container and its slot.
    pub(super) async fn discard(&self, docker: &Docker, c: Container) {
        self.remove(docker, &c.id, false).await;
        if let Some(slot) = c.slot {
            remove_slot(&slot);
        }
    }

    /// A project's image a conversation runs on: the pool keeps containers of it from now on (of the
    /// [`MAX_SERVED`] most recent).
    pub(super) fn serve(&self, choice: &ImageChoice) {
        if choice.bundle.is_none() {
            return;
        }
        {
            let mut pool = self.pool();
            if pool.served.first() == Some(choice) {
                return;
            }
            pool.served.retain(|c| c.image != choice.image);
            pool.served.insert(0, choice.clone());
            pool.served.truncate(MAX_SERVED);
        }
        self.pool_wake.notify_one();
    }

    /// A ready pooled container matching the settings, if any.
    pub(super) fn take_warm(&self, fingerprint: &str) -> Option<Container> {
        let mut pool = self.pool();
        let i = pool.ready.iter().position(|c| c.fingerprint == fingerprint && c.exit.borrow().is_none())?;
        Some(pool.ready.remove(i))
    }
}

/// The second slot of a pooled container: where its agent-server keeps its record of conversations, in memory like
/// a conversation's own (which a claim moves into it: one filesystem).
pub(super) fn record_slot(slot: &Path) -> std::path::PathBuf {
    let name = slot.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    crate::sandbox::process::memory_root().join("pool").join(format!("{name}.record"))
}

/// Removes a pooled container's slots.
pub(super) fn remove_slot(slot: &Path) {
    let _ = std::fs::remove_dir_all(slot);
    let _ = std::fs::remove_dir_all(record_slot(slot));
}

/// Moves everything in `workspace` into the empty `slot`, then renames `slot` to `workspace`. On failure, what was
/// moved goes back.
pub(super) fn move_into_slot(workspace: &Path, slot: &Path) -> std::io::Result<()> {
    let entries: Vec<_> = std::fs::read_dir(workspace)?.collect::<Result<_, _>>()?;
    let mut moved = Vec::new();
    for entry in entries {
        let to = slot.join(entry.file_name());
        if let Err(e) = std::fs::rename(entry.path(), &to) {
            for (from, to) in moved.into_iter().rev() {
                let _ = std::fs::rename(to, from);
            }
            return Err(e);
        }
        moved.push((entry.path(), to));
    }
    // Renaming a directory onto an empty one replaces it.
    if let Err(e) = std::fs::rename(slot, workspace) {
        for (from, to) in moved.into_iter().rev() {
            let _ = std::fs::rename(to, from);
        }
        return Err(e);
    }
    Ok(())
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_into_a_slot_keeps_the_path_and_the_directory_identity() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let ws = tmp.path().join("worktree");
        let slot = tmp.path().join("slot");
        std::fs::create_dir_all(ws.join("src")).expect("mkdir");
        std::fs::write(ws.join("src/a.txt"), "a").expect("write");
        std::fs::write(ws.join(".hidden"), "h").expect("write");
        std::fs::create_dir(&slot).expect("mkdir");
        let slot_inode = std::fs::metadata(&slot).expect("stat").ino();
        move_into_slot(&ws, &slot).expect("move");
        assert_eq!(std::fs::metadata(&ws).expect("stat").ino(), slot_inode, "the mounted directory must be the slot");
        assert_eq!(std::fs::read_to_string(ws.join("src/a.txt")).expect("read"), "a");
        assert_eq!(std::fs::read_to_string(ws.join(".hidden")).expect("read"), "h");
        assert!(!slot.exists());
    }
}
