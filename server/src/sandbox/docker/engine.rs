//! Which Docker engine the docker backend talks to (`DOCKER_HOST`), and whether it runs on another machine.
//!
//! A remote engine cannot bind-mount this machine's folders, and what it publishes is on its own host: the
//! conversation's files go into the container as an archive and come back the same way (`files.rs`), the agent-server
//! is reached at the engine's host (or, over SSH, through a port forwarded by `ssh.rs`), and there is no warm pool
//! (its containers would hold no workspace).

use std::path::PathBuf;

use crate::config::{DockerSettings, EngineLocation};
use crate::sandbox::SandboxError;

/// The engine as `DOCKER_HOST` (and `openhands.docker.engine`) name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    /// `DOCKER_HOST`, or the platform's default socket.
    pub host: String,
    /// On another machine: no bind mounts, ports published there.
    pub remote: bool,
    /// Spoken to over TLS (`https://`, or `tcp://` with `DOCKER_TLS_VERIFY`).
    pub tls: bool,
    /// Reached over SSH (`ssh://`): its API through `docker system dial-stdio` there, its ports forwarded here.
    pub ssh: bool,
    /// The SSH configuration file to read instead of `~/.ssh/config` (`openhands.docker.sshConfig`).
    pub ssh_config: Option<PathBuf>,
}

impl Engine {
    /// The engine this process would use now with `settings`.
    pub fn current(settings: &DockerSettings) -> Engine {
        let host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
        let tls_verify = std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty());
        let mut engine = Engine::of(host.as_deref(), tls_verify, settings.engine);
        engine.ssh_config = Some(settings.ssh_config.trim()).filter(|p| !p.is_empty()).map(crate::config::expand_home);
        engine
    }

    fn of(host: Option<&str>, tls_verify: bool, location: EngineLocation) -> Engine {
        let host = host.unwrap_or(crate::platform::DEFAULT_DOCKER_HOST).to_owned();
        let network = ["tcp://", "http://", "https://", "ssh://"].iter().any(|s| host.starts_with(s));
        let remote = match location {
            EngineLocation::Local => false,
            EngineLocation::Remote => true,
            // A forwarded port on this machine is taken for a local engine: `engine: "remote"` says otherwise.
            EngineLocation::Auto => network && !is_loopback(&host_name(&host)),
        };
        let tls = host.starts_with("https://") || (host.starts_with("tcp://") && tls_verify);
        let ssh = host.starts_with("ssh://");
        Engine { host, remote: remote || ssh, tls, ssh, ssh_config: None }
    }

    /// Where this machine reaches a port the engine publishes: the engine's host name for a TCP engine, else
    /// loopback (a local engine; one over SSH, whose ports are forwarded here; one behind a socket forwarded here
    /// needs its ports forwarded too).
    pub fn published_address(&self) -> String {
        let name = host_name(&self.host);
        if self.remote && !self.ssh && !name.is_empty() { name } else { "127.0.0.1".into() }
    }

    /// Which of the engine host's addresses a container's port is published on: loopback, unless this machine
    /// reaches it over the network (a TCP engine of another host: all its interfaces).
    pub fn publish_on(&self) -> &'static str {
        if self.remote && !self.ssh { "" } else { "127.0.0.1" }
    }

    /// Refuses what this engine cannot do with the settings: a remote one shares no network with this machine, and
    /// writes the agent's changes back into a copy of the conversation's own only (never into the user's folder).
    pub(super) fn fits(&self, network: &str, workspace_is_ours: bool) -> Result<(), SandboxError> {
        if !self.remote {
            return Ok(());
        }
        if network == "host" {
            return Err(SandboxError::Docker(format!(
                "openhands.docker.network is \"host\", which a remote engine's containers cannot share with this \
                 machine ({}). Use \"bridge\" (the default) or a user-defined network",
                self.host
            )));
        }
        if !workspace_is_ours {
            return Err(SandboxError::Docker(
                "a remote Docker engine works on the conversation's own copy of the folder, and openhands.isolation \
                 is \"none\": set it to \"worktree\" (the default), or use a local engine"
                    .into(),
            ));
        }
        Ok(())
    }

    /// For `doctor` and `openhands.status`: where the engine is, and what that means for the workspace.
    pub fn describe(&self) -> String {
        if self.ssh {
            return format!(
                "remote engine at {} (over SSH): the workspace is uploaded to each container and the changes brought \
                 back, the agent-server's port forwarded through SSH; no warm pool",
                self.host
            );
        }
        match (self.remote, self.tls) {
            (false, _) => format!("local engine at {}", self.host),
            (true, true) => format!(
                "remote engine at {} (TLS): the workspace is uploaded to each container and the changes brought \
                 back; no warm pool",
                self.host
            ),
            (true, false) => format!(
                "remote engine at {} (not encrypted: set DOCKER_TLS_VERIFY and DOCKER_CERT_PATH to use TLS): the \
                 workspace is uploaded to each container and the changes brought back; no warm pool",
                self.host
            ),
        }
    }
}

/// The host part of a `scheme://host:port/path` address (`[v6]` kept in brackets, as a URL needs it).
fn host_name(address: &str) -> String {
    let rest = address.split_once("://").map_or(address, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if authority.starts_with('[') {
        return authority.split_once(']').map(|(h, _)| format!("{h}]")).unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default().to_owned()
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_on_another_host_is_remote_and_its_ports_are_reached_there() {
        let tls = Engine::of(Some("tcp://10.203.0.2:2376"), true, EngineLocation::Auto);
        assert!(tls.remote && tls.tls);
        assert_eq!(tls.published_address(), "10.203.0.2");
        assert!(tls.describe().contains("remote engine at tcp://10.203.0.2:2376 (TLS)"), "{}", tls.describe());
        let plain = Engine::of(Some("tcp://build-box:2375"), false, EngineLocation::Auto);
        assert!(plain.remote && !plain.tls && plain.describe().contains("not encrypted"));
        assert_eq!(plain.published_address(), "build-box");
        let v6 = Engine::of(Some("https://[fd00::2]:2376"), false, EngineLocation::Auto);
        assert!(v6.remote && v6.tls);
        assert_eq!(v6.published_address(), "[fd00::2]");
        let ssh = Engine::of(Some("ssh://me@build-box"), false, EngineLocation::Auto);
        assert!(ssh.remote && ssh.ssh && !ssh.tls);
        assert_eq!(ssh.published_address(), "127.0.0.1", "its ports are forwarded here");
        assert_eq!(ssh.publish_on(), "127.0.0.1", "and published on the engine host's loopback only");
        assert!(ssh.describe().contains("remote engine at ssh://me@build-box (over SSH)"), "{}", ssh.describe());
        assert_eq!(tls.publish_on(), "", "a TCP engine's ports are reached over the network");
    }

    #[test]
    fn a_remote_engine_refuses_the_host_network_and_the_users_own_folder_in_words() {
        let remote = Engine::of(Some("tcp://10.203.0.2:2376"), true, EngineLocation::Auto);
        assert!(remote.fits("bridge", true).is_ok());
        let host = remote.fits("host", true).unwrap_err().to_string();
        assert!(host.contains("network is \"host\"") && host.contains("bridge"), "{host}");
        let own = remote.fits("bridge", false).unwrap_err().to_string();
        assert!(own.contains("openhands.isolation") && own.contains("worktree"), "{own}");
        let local = Engine::of(None, false, EngineLocation::Auto);
        assert!(local.fits("host", false).is_ok());
        assert_eq!(local.publish_on(), "127.0.0.1");
    }

    #[test]
    fn sockets_and_loopback_are_local_unless_the_setting_says_remote() {
        for host in [
            None,
            Some("unix:///run/user/1000/docker.sock"),
            Some("tcp://127.0.0.1:2375"),
            Some("tcp://localhost:2375"),
        ] {
            let engine = Engine::of(host, false, EngineLocation::Auto);
            assert!(!engine.remote, "{host:?}");
            assert_eq!(engine.published_address(), "127.0.0.1");
        }
        // A socket forwarded from another machine (ssh -L): the ports it publishes are forwarded to loopback too.
        let forwarded = Engine::of(Some("unix:///tmp/remote.sock"), false, EngineLocation::Remote);
        assert!(forwarded.remote);
        assert_eq!(forwarded.published_address(), "127.0.0.1");
        assert!(!Engine::of(Some("tcp://10.0.0.9:2376"), true, EngineLocation::Local).remote);
    }
}
