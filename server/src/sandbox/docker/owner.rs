//! Which openhands-lsp instance owns a container (its labels), and the removal of what dead instances left.

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};

use super::{Inner, POOL_NAME_PREFIX, connect, is_not_found, label, short};
use crate::instance::Instance;

/// The labels that name the openhands-lsp instance owning a container.
pub(super) fn owner_labels(owner: &Instance) -> HashMap<String, String> {
    HashMap::from([
        (label::OWNER.to_owned(), owner.id.clone()),
        (label::OWNER_PID.to_owned(), owner.pid.to_string()),
        (label::OWNER_START.to_owned(), owner.start.clone()),
        (label::OWNER_BOOT.to_owned(), owner.boot.clone()),
        (label::OWNER_HOST.to_owned(), owner.host.clone()),
    ])
}

/// The instance a container's labels name (missing labels are empty: such an owner is not alive, or unknown).
pub(super) fn labelled_owner(labels: &HashMap<String, String>) -> Instance {
    let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
    Instance {
        id: get(label::OWNER),
        pid: get(label::OWNER_PID).parse().unwrap_or(0),
        start: get(label::OWNER_START),
        boot: get(label::OWNER_BOOT),
        host: get(label::OWNER_HOST),
    }
}

/// Removes (or, with `keep`, stops) every container of the openhands-lsp instance `owner`: what its watcher does
/// once that instance is gone (see `reaper`).
pub async fn remove_instance(owner: &str, keep: bool, ssh_config: Option<std::path::PathBuf>) {
    // The engine as the server saw it, with its SSH configuration file as given (no round trip through a setting).
    let mut engine = super::Engine::current(&Default::default());
    engine.ssh_config = ssh_config;
    let Ok(docker) = connect(&engine).await else { return };
    let filters = HashMap::from([("label".to_owned(), vec![format!("{}={owner}", label::OWNER)])]);
    let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    for id in docker.list_containers(Some(options)).await.unwrap_or_default().into_iter().filter_map(|c| c.id) {
        // Its owner is gone: nobody waits for a graceful stop.
        remove_container(&docker, &id, keep, 1).await;
    }
}

/// Removes a container (with its anonymous volumes), or with `keep` stops it, giving it `grace` seconds; a container
/// already gone is no error.
pub(super) async fn remove_container(docker: &Docker, id: &str, keep: bool, grace: i32) {
    let result = if keep {
        docker.stop_container(id, Some(StopContainerOptionsBuilder::default().t(grace).build())).await
    } else {
        docker.remove_container(id, Some(RemoveContainerOptionsBuilder::default().force(true).v(true).build())).await
    };
    match result {
        Ok(()) => tracing::debug!(container = short(id), keep, "container removed"),
        Err(e) if is_not_found(&e) => {}
        Err(e) => tracing::warn!(container = short(id), "removing the container failed: {e}"),
    }
}

impl Inner {
    /// Removes this instance's pooled containers that no list holds: one whose creation was under way when the
    /// instance began to close (the request dropped with the pool's task) still comes into being on the daemon.
    pub(super) async fn remove_own_pooled(&self, docker: &Docker) {
        let mine = vec![format!("{}={}", label::OWNER, self.owner.id), format!("{}=pool", label::ROLE)];
        let filters = HashMap::from([("label".to_owned(), mine)]);
        let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        for id in docker.list_containers(Some(options)).await.unwrap_or_default().into_iter().filter_map(|c| c.id) {
            remove_container(docker, &id, false, 1).await;
        }
    }

    /// Removes the containers of openhands-lsp instances that are gone (and their pool slots).
    pub(super) async fn remove_orphans(&self, docker: &Docker) {
        let filters = HashMap::from([("label".to_owned(), vec![label::OWNER.to_owned()])]);
        let list =
            docker.list_containers(Some(ListContainersOptionsBuilder::default().all(true).filters(&filters).build()));
        let containers = match list.await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("listing containers for orphans failed: {e}");
                return;
            }
        };
        let keep = self.config().keep_containers;
        for c in containers {
            let labels = c.labels.unwrap_or_default();
            let Some(id) = c.id else { continue };
            if labels.get(label::OWNER) == Some(&self.owner.id) || labelled_owner(&labels).is_alive() != Some(false) {
                continue;
            }
            // Unclaimed pool containers hold nothing of the user's. (Labels cannot change, so a claimed one, which
            // holds a conversation, is told by the name it got when claimed.)
            let names = c.names.unwrap_or_default();
            let pooled = names.iter().any(|n| n.trim_start_matches('/').starts_with(POOL_NAME_PREFIX));
            let kept = keep || labels.get(label::KEEP).is_some_and(|k| k == "true");
            if kept && !pooled {
                continue;
            }
            tracing::info!(container = short(&id), pooled, "removing a container left by a dead openhands-lsp");
            self.remove(docker, &id, false).await;
            if let (true, Some(slot), Some(root)) = (pooled, labels.get(label::SLOT), &self.pool_root) {
                let slot = PathBuf::from(slot);
                if slot.starts_with(root) {
                    super::pool::remove_slot(&slot);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_pid_is_not() {
        let me = owner_labels(Instance::current());
        if Instance::current().start.is_empty() {
            assert_eq!(labelled_owner(&me).is_alive(), None, "a system that cannot tell never takes it for dead");
            return;
        }
        assert_eq!(labelled_owner(&me).is_alive(), Some(true));
        let mut dead = me.clone();
        dead.insert(label::OWNER_START.into(), "1".into());
        assert_eq!(labelled_owner(&dead).is_alive(), Some(false), "a reused pid must not count as the owner");
        let mut elsewhere = me.clone();
        elsewhere.insert(label::OWNER_HOST.into(), "another-host".into());
        assert_eq!(labelled_owner(&elsewhere).is_alive(), None);
    }
}
