//! Which openhands-lsp process this is, and whether another one is still alive. Two editors on one machine share a
//! state directory (and a Docker daemon): each must tell the other's live work from what a dead instance left.

use serde::{Deserialize, Serialize};

/// One openhands-lsp process, as recorded on what it owns (a conversation's `meta.json`, a container's labels).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// Random per process.
    pub id: String,
    pub pid: u32,
    /// The process's start time in clock ticks since boot: a reused pid is not the owner.
    pub start: String,
    /// The kernel's boot id: after a reboot no earlier instance is alive.
    pub boot: String,
    pub host: String,
}

static CURRENT: std::sync::OnceLock<Instance> = std::sync::OnceLock::new();

impl Instance {
    /// This process.
    pub fn current() -> &'static Instance {
        CURRENT.get_or_init(|| {
            let pid = std::process::id();
            Instance {
                id: uuid::Uuid::new_v4().simple().to_string(),
                pid,
                start: process_start_time(pid).unwrap_or_default(),
                boot: boot_id(),
                host: hostname(),
            }
        })
    }

    pub fn is_current(&self) -> bool {
        self.id == Instance::current().id
    }

    /// Whether that instance still runs; `None` when this machine cannot tell (another host shares the folder or
    /// the daemon).
    pub fn is_alive(&self) -> Option<bool> {
        if self.host != hostname() {
            return None;
        }
        if self.boot != boot_id() {
            return Some(false); // the machine rebooted since
        }
        if Instance::current().start.is_empty() {
            return None; // this system cannot tell a process from a later one with its pid
        }
        Some(process_start_time(self.pid).is_some_and(|start| start == self.start))
    }

    /// Another instance that is (or, on another host, may be) alive.
    pub fn is_other_and_alive(&self) -> bool {
        !self.is_current() && self.is_alive() != Some(false)
    }
}

use crate::platform::{boot_id, hostname, process_start_time};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_a_reused_pid_is_not_and_another_host_is_unknown() {
        let me = Instance::current().clone();
        if me.start.is_empty() {
            // A system that cannot tell (`platform::process_start_time`): never taken for dead.
            assert_eq!(me.is_alive(), None);
            assert!(!me.is_other_and_alive() && Instance { id: "x".into(), ..me.clone() }.is_other_and_alive());
            return;
        }
        assert_eq!(me.is_alive(), Some(true));
        assert!(me.is_current() && !me.is_other_and_alive());
        let reused = Instance { id: "x".into(), start: "1".into(), ..me.clone() };
        assert_eq!(reused.is_alive(), Some(false));
        assert!(!reused.is_other_and_alive());
        let elsewhere = Instance { id: "y".into(), host: "another-host".into(), ..me.clone() };
        assert_eq!(elsewhere.is_alive(), None);
        assert!(elsewhere.is_other_and_alive(), "unknown counts as alive: never take over what may be in use");
    }
}
