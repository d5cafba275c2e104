//! The Docker daemon: reaching it (within a short time, an unreachable one explained with the fix), and what
//! `doctor` and `openhands.status` ask of it.

use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;

use super::engine::Engine;
use super::ssh::{self, Link};
use crate::sandbox::SandboxError;

/// How long reaching the Docker daemon may take before it counts as unreachable.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The same for an engine on another machine: a TLS handshake and three requests over a network.
const REMOTE_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The same over SSH: a login (ssh's own connect timeout is 10 s) before the requests.
const SSH_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// How long reaching `engine` may take.
pub(super) fn connect_timeout(engine: &Engine) -> Duration {
    match (engine.remote, engine.ssh) {
        (_, true) => SSH_CONNECT_TIMEOUT,
        (true, false) => REMOTE_CONNECT_TIMEOUT,
        (false, false) => CONNECT_TIMEOUT,
    }
}

/// The Docker client, once connected, and the last failed attempt (for whoever was waiting on it).
#[derive(Default)]
pub(super) struct Connection {
    pub docker: Option<Docker>,
    /// Over SSH: the connection the engine's published ports are forwarded through.
    pub tunnel: Option<Arc<Link>>,
    pub failed: Option<(std::time::Instant, String)>,
}

/// A daemon reached: the client, and over SSH the link its ports are forwarded through.
pub(super) struct Reached {
    pub docker: Docker,
    pub tunnel: Option<Arc<Link>>,
}

/// The backend to name when Docker cannot be used: the process backend where it runs, else the cloud.
fn other_backend() -> &'static str {
    match crate::platform::PROCESS_BACKEND {
        Ok(()) => "or set openhands.backend to \"process\" (a locally installed agent-server)",
        Err(_) => "or set openhands.backend to \"cloud\" (OpenHands Cloud)",
    }
}

/// Why Docker cannot be used, in words that say what to do.
fn unreachable_message(err: &bollard::errors::Error, engine: &Engine) -> String {
    let host = &engine.host;
    let io_kind = io_error_kind(err);
    let fix_backend = other_backend();
    if engine.remote {
        return remote_unreachable(err, engine, fix_backend);
    }
    match io_kind {
        Some(std::io::ErrorKind::PermissionDenied) => format!(
            "Docker is not usable: permission denied on {host}. Add your user to the docker group \
             (sudo usermod -aG docker $USER, then log in again) or use rootless Docker, {fix_backend}"
        ),
        Some(std::io::ErrorKind::NotFound) | Some(std::io::ErrorKind::ConnectionRefused) => format!(
            "Docker is not running: nothing answers at {host}. Start it (sudo systemctl start docker, or open Docker \
             Desktop), {fix_backend}"
        ),
        _ if matches!(err, bollard::errors::Error::SocketNotFoundError(_)) => format!(
            "Docker is not running: nothing answers at {host}. Start it (sudo systemctl start docker, or open Docker \
             Desktop), {fix_backend}"
        ),
        _ => format!("Docker is not usable at {host}: {err}. Check that the daemon runs (docker info), {fix_backend}"),
    }
}

/// Why a remote engine cannot be used: its address, its certificates, or the network.
fn remote_unreachable(err: &bollard::errors::Error, engine: &Engine, fix_backend: &str) -> String {
    use bollard::errors::Error as E;
    let host = &engine.host;
    let certs = std::env::var("DOCKER_CERT_PATH").unwrap_or_else(|_| "~/.docker".into());
    match err {
        E::CertPathError { .. }
        | E::CertMultipleKeys { .. }
        | E::CertParseError { .. }
        | E::NoNativeCertsError { .. } => {
            format!(
                "Docker at {host}: cannot read the TLS certificates in {certs} (ca.pem, cert.pem, key.pem: {err}). \
                 Set DOCKER_CERT_PATH to the folder holding them, {fix_backend}"
            )
        }
        _ if engine.tls && format!("{err:?}").contains("ertificate") => format!(
            "Docker at {host} refused the TLS connection ({err}): the engine's certificate must be signed by the CA \
             in {certs}/ca.pem and name the host, and the client certificate must be one the engine trusts. Check \
             with: docker --tlsverify info, {fix_backend}"
        ),
        _ => format!(
            "Docker at {host} cannot be reached: {err}. Check that the engine runs there and listens on that address \
             (docker info with the same DOCKER_HOST), {fix_backend}"
        ),
    }
}

fn io_error_kind(err: &bollard::errors::Error) -> Option<std::io::ErrorKind> {
    // `IOError` is `#[error(transparent)]`: its source() skips the io::Error itself.
    if let bollard::errors::Error::IOError { err } = err {
        return Some(err.kind());
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = e.source();
    }
    None
}

pub(super) fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(err, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

/// What `probe` found.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The daemon's version, or why it cannot be used.
    pub daemon: Result<String, String>,
    /// Which engine, and whether it is on another machine.
    pub engine: Engine,
    /// Whether the image is present (`Err`: it is not, or it cannot be told).
    pub image: Result<String, String>,
}

/// Checks the daemon (within 2 s) and whether `image` is present, for `doctor` and `openhands.status`.
pub async fn probe(image: &str, engine: Engine) -> Probe {
    let docker = match connect(&engine).await {
        Ok(d) => d,
        Err(e) => {
            let image = Err("unknown (Docker is unreachable)".into());
            return Probe { daemon: Err(e.to_string()), engine, image };
        }
    };
    let version = docker.version().await.ok().and_then(|v| v.version).unwrap_or_else(|| "unknown".into());
    let image = match docker.inspect_image(image).await {
        Ok(_) => Ok(format!("{image} (present)")),
        Err(e) if is_not_found(&e) => {
            Err(format!("{image} is not present: it is pulled when the first conversation starts"))
        }
        Err(e) => Err(format!("{image}: {e}")),
    };
    Probe { daemon: Ok(format!("Docker {version}")), engine, image }
}

/// Connects to the daemon (`DOCKER_HOST` or the default socket) and pings it; fails within [`connect_timeout`]
/// with the cause and the fix.
pub(super) async fn connect(engine: &Engine) -> Result<Docker, SandboxError> {
    reach(engine).await.map(|r| r.docker)
}

/// [`connect`], keeping the SSH link of an `ssh://` engine for its forwarded ports.
pub(super) async fn reach(engine: &Engine) -> Result<Reached, SandboxError> {
    let attempt = async {
        if engine.ssh {
            return reach_over_ssh(engine).await;
        }
        let docker = Docker::connect_with_host(&engine.host).map_err(|e| unreachable_message(&e, engine))?;
        // Old daemons reject newer API versions: agree on one first.
        let docker = docker.negotiate_version().await.map_err(|e| unreachable_message(&e, engine))?;
        docker.ping().await.map_err(|e| unreachable_message(&e, engine))?;
        Ok::<_, String>(Reached { docker, tunnel: None })
    };
    let limit = connect_timeout(engine);
    match tokio::time::timeout(limit, attempt).await {
        Ok(Ok(reached)) => Ok(reached),
        Ok(Err(message)) => Err(SandboxError::DockerUnavailable(message)),
        Err(_) => Err(SandboxError::DockerUnavailable(format!(
            "Docker did not answer within {limit:?} at {}. Check the daemon (docker info), {}",
            engine.host,
            other_backend()
        ))),
    }
}

/// Logs in to the engine's host and asks the engine through `docker system dial-stdio` there.
async fn reach_over_ssh(engine: &Engine) -> Result<Reached, String> {
    let fix_backend = other_backend();
    let destination = ssh::Destination::parse(&engine.host)?;
    let link = Link::to(destination, engine.ssh_config.clone()).await.map_err(|e| format!("{e}, {fix_backend}"))?;
    let asked = async {
        let docker = ssh::docker(link.clone())?.negotiate_version().await?;
        docker.ping().await?;
        Ok::<_, bollard::errors::Error>(docker)
    };
    match asked.await {
        Ok(docker) => Ok(Reached { docker, tunnel: Some(link) }),
        Err(e) => Err(format!("{}, {fix_backend}", link.explain(&e).await)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_daemons_are_explained_with_the_fix() {
        let local = Engine::current(&crate::config::DockerSettings::default());
        let denied = bollard::errors::Error::from(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        let text = unreachable_message(&denied, &local);
        assert!(text.contains("permission denied") && text.contains("usermod -aG docker"), "{text}");
        let missing = bollard::errors::Error::from(std::io::Error::from(std::io::ErrorKind::NotFound));
        let text = unreachable_message(&missing, &local);
        assert!(text.contains("Docker is not running") && text.contains("openhands.backend"), "{text}");
    }
}
