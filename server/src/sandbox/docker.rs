//! The `docker` backend (the default): each conversation's agent-server runs in its own container, started with
//! bollard, seeing only the conversation's workspace.
//!
//! - The agent-server port is published on 127.0.0.1 only, on a random host port; each container gets its own random
//!   `SESSION_API_KEY`. The Docker socket is never mounted.
//! - Containers carry labels naming the owning openhands-lsp instance (id, pid, process start time, boot id, host),
//!   so containers whose owner died (even by SIGKILL) are found and removed by the next instance.
//! - A warm pool keeps containers booted ahead of need. Bind mounts are fixed when a container is created, so each
//!   pooled container mounts an empty slot directory; claiming one moves the conversation's workspace into the slot
//!   (renames on one filesystem) and then renames the slot to the workspace's path. The mount follows the directory,
//!   so the container sees the workspace and every path on the host stays what the rest of openhands-lsp expects.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, RenameContainerOptionsBuilder, StopContainerOptionsBuilder,
    UploadToContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::sync::{Notify, watch};

use super::python_hook;
use super::{Sandbox, SandboxError, SandboxHandle, SandboxProvider, SandboxSpec, StartProgress, random_key};
use crate::agent_server::{AgentServerClient, Endpoint};
use crate::secrets::Secret;

/// The agent-server's port inside the container.
/// The agent-server's port inside its container: one of its own, so editors can tell it from the user's own
/// containers' ports (VS Code's port auto-forwarding ignores it: the extension's `remote.portsAttributes` default).
pub const AGENT_PORT: u16 = 8431;
/// Where the workspace is mounted in the container.
pub const CONTAINER_WORKSPACE: &str = "/workspace";
/// How long reaching the Docker daemon may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Names of pooled containers not yet claimed by a conversation.
const POOL_NAME_PREFIX: &str = "openhands-lsp-pool-";
/// Log lines kept in error messages.
const LOG_TAIL: usize = 40;
/// Where the agent-server keeps its own store in the container: a tmpfs.
const AGENT_STATE_DIR: &str = "/tmp/agent-server-state";

pub mod label {
    pub const OWNER: &str = "dev.openhands.lsp.owner";
    pub const OWNER_PID: &str = "dev.openhands.lsp.owner.pid";
    pub const OWNER_START: &str = "dev.openhands.lsp.owner.start";
    pub const OWNER_BOOT: &str = "dev.openhands.lsp.owner.boot";
    pub const OWNER_HOST: &str = "dev.openhands.lsp.owner.host";
    pub const CONVERSATION: &str = "dev.openhands.lsp.conversation";
    /// `conversation` or `pool`.
    pub const ROLE: &str = "dev.openhands.lsp.role";
    /// A pooled container's slot directory on the host.
    pub const SLOT: &str = "dev.openhands.lsp.slot";
    /// `true` when made under `keepContainers`: the user wants it for inspection, so no other instance's orphan
    /// sweep removes it once claimed by a conversation (another editor's settings may not keep containers).
    pub const KEEP: &str = "dev.openhands.lsp.keep";
}

/// The docker backend's settings, as the user gave them (`openhands.docker.*`).
pub use crate::config::DockerSettings as DockerConfig;

/// What a pooled container must match to serve a conversation started with these settings.
fn fingerprint(config: &DockerConfig) -> String {
    format!("{}|{}|{}|{}|{}", config.image, config.memory_mb, config.cpus, config.network, config.keep_containers)
}

fn startup_timeout(config: &DockerConfig) -> Duration {
    Duration::from_secs(config.startup_timeout_seconds.into())
}

/// The Docker client, once connected, and the last failed attempt (for whoever was waiting on it).
#[derive(Default)]
struct Connection {
    docker: Option<Docker>,
    failed: Option<(std::time::Instant, String)>,
}

/// The labels that name the openhands-lsp instance owning a container.
fn owner_labels(owner: &Instance) -> HashMap<String, String> {
    HashMap::from([
        (label::OWNER.to_owned(), owner.id.clone()),
        (label::OWNER_PID.to_owned(), owner.pid.to_string()),
        (label::OWNER_START.to_owned(), owner.start.clone()),
        (label::OWNER_BOOT.to_owned(), owner.boot.clone()),
        (label::OWNER_HOST.to_owned(), owner.host.clone()),
    ])
}

/// The instance a container's labels name (missing labels are empty: such an owner is not alive, or unknown).
fn labelled_owner(labels: &HashMap<String, String>) -> Instance {
    let get = |k: &str| labels.get(k).cloned().unwrap_or_default();
    Instance {
        id: get(label::OWNER),
        pid: get(label::OWNER_PID).parse().unwrap_or(0),
        start: get(label::OWNER_START),
        boot: get(label::OWNER_BOOT),
        host: get(label::OWNER_HOST),
    }
}

use crate::instance::Instance;

/// Removes (or, with `keep`, stops) every container of the openhands-lsp instance `owner`: what its watcher does
/// once that instance is gone (see `reaper`).
pub async fn remove_instance(owner: &str, keep: bool) {
    let Ok(docker) = connect().await else { return };
    let filters = HashMap::from([("label".to_owned(), vec![format!("{}={owner}", label::OWNER)])]);
    let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    for id in docker.list_containers(Some(options)).await.unwrap_or_default().into_iter().filter_map(|c| c.id) {
        // Its owner is gone: nobody waits for a graceful stop.
        remove_container(&docker, &id, keep, 1).await;
    }
}

/// Removes a container (with its anonymous volumes), or with `keep` stops it, giving it `grace` seconds; a container
/// already gone is no error.
async fn remove_container(docker: &Docker, id: &str, keep: bool, grace: i32) {
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

/// Why Docker cannot be used, in words that say what to do.
fn unreachable_message(err: &bollard::errors::Error) -> String {
    let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let io_kind = io_error_kind(err);
    let fix_backend = "or set openhands.backend to \"process\" (a locally installed agent-server)";
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

fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(err, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}

/// A container that is up and healthy.
struct Container {
    id: String,
    endpoint: Endpoint,
    /// Set for pooled containers: the (empty) directory mounted at /workspace.
    slot: Option<PathBuf>,
    /// The user to hand the workspace to after claiming (when openhands-lsp runs as root and the image has a
    /// non-root user).
    chown_to: Option<String>,
    /// `chown_to` as numbers, asked of the container once it is up (off a warm container's critical path).
    chown_ids: Option<(u32, u32)>,
    fingerprint: String,
    exit: watch::Receiver<Option<String>>,
}

#[derive(Default)]
struct Pool {
    ready: Vec<Container>,
    /// Containers being started for the pool.
    filling: usize,
    last_error: Option<String>,
}

pub struct DockerProvider {
    inner: Arc<Inner>,
}

struct Inner {
    config: RwLock<DockerConfig>,
    owner: Instance,
    /// Where pooled containers' slot directories live: on the state directory's filesystem, so a workspace can be
    /// moved into a slot by renaming. `None`: no pool.
    pool_root: Option<PathBuf>,
    docker: tokio::sync::Mutex<Connection>,
    pool: Mutex<Pool>,
    /// Every container this instance started and has not removed, by id.
    live: Mutex<HashMap<String, bool>>,
    pool_wake: Notify,
    pool_task: std::sync::atomic::AtomicBool,
    /// Docker is the selected backend: the pool is kept filled only then.
    active: std::sync::atomic::AtomicBool,
    closing: tokio_util::sync::CancellationToken,
    used: std::sync::atomic::AtomicBool,
}

impl DockerProvider {
    pub fn new(config: DockerConfig, state_dir: Option<&Path>) -> Self {
        DockerProvider {
            inner: Arc::new(Inner {
                config: RwLock::new(config),
                owner: Instance::current().clone(),
                pool_root: state_dir.map(|d| d.join("docker-pool")),
                docker: tokio::sync::Mutex::new(Connection::default()),
                pool: Mutex::new(Pool::default()),
                live: Mutex::new(HashMap::new()),
                pool_wake: Notify::new(),
                pool_task: Default::default(),
                active: Default::default(),
                closing: tokio_util::sync::CancellationToken::new(),
                used: Default::default(),
            }),
        }
    }

    /// New settings apply to containers started from now on; pooled containers that no longer match are replaced.
    pub fn configure(&self, config: DockerConfig) {
        *self.inner.config.write().unwrap_or_else(|p| p.into_inner()) = config;
        self.inner.pool_wake.notify_one();
    }

    /// Becomes the active backend: removes orphans of dead instances, then keeps the pool filled.
    pub fn activate(&self) {
        self.inner.active.store(true, std::sync::atomic::Ordering::SeqCst);
        if self.inner.pool_task.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.inner.pool_wake.notify_one();
            return;
        }
        let inner = self.inner.clone();
        tokio::spawn(async move {
            if let Ok(docker) = inner.client().await {
                inner.remove_orphans(&docker).await;
            }
            inner.keep_pool().await;
        });
    }

    /// Another backend was selected: the pool drains.
    pub fn deactivate(&self) {
        self.inner.active.store(false, std::sync::atomic::Ordering::SeqCst);
        self.inner.pool_wake.notify_one();
    }

    /// The warm pool's state, for `openhands.status`.
    pub fn pool_status(&self) -> PoolStatus {
        let pool = self.inner.pool();
        PoolStatus {
            target: if self.inner.active.load(std::sync::atomic::Ordering::SeqCst) {
                self.inner.config().warm_pool
            } else {
                0
            },
            ready: pool.ready.len(),
            starting: pool.filling,
            last_error: pool.last_error.clone(),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolStatus {
    pub target: u32,
    pub ready: usize,
    pub starting: usize,
    pub last_error: Option<String>,
}

/// What `probe` found.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The daemon's version, or why it cannot be used.
    pub daemon: Result<String, String>,
    /// Whether the image is present (`Err`: it is not, or it cannot be told).
    pub image: Result<String, String>,
}

/// Checks the daemon (within 2 s) and whether `image` is present, for `doctor` and `openhands.status`.
pub async fn probe(image: &str) -> Probe {
    let docker = match connect().await {
        Ok(d) => d,
        Err(e) => return Probe { daemon: Err(e.to_string()), image: Err("unknown (Docker is unreachable)".into()) },
    };
    let version = docker.version().await.ok().and_then(|v| v.version).unwrap_or_else(|| "unknown".into());
    let image = match docker.inspect_image(image).await {
        Ok(_) => Ok(format!("{image} (present)")),
        Err(e) if is_not_found(&e) => {
            Err(format!("{image} is not present: it is pulled when the first conversation starts"))
        }
        Err(e) => Err(format!("{image}: {e}")),
    };
    Probe { daemon: Ok(format!("Docker {version}")), image }
}

/// Connects to the daemon (`DOCKER_HOST` or the default socket) and pings it; fails within [`CONNECT_TIMEOUT`]
/// with the cause and the fix.
async fn connect() -> Result<Docker, SandboxError> {
    let connect = async {
        let docker = Docker::connect_with_defaults().map_err(|e| unreachable_message(&e))?;
        // Old daemons reject newer API versions: agree on one first.
        let docker = docker.negotiate_version().await.map_err(|e| unreachable_message(&e))?;
        docker.ping().await.map_err(|e| unreachable_message(&e))?;
        Ok::<_, String>(docker)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(message)) => Err(SandboxError::DockerUnavailable(message)),
        Err(_) => {
            let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
            Err(SandboxError::DockerUnavailable(format!(
                "Docker did not answer within {CONNECT_TIMEOUT:?} at {host}. Check the daemon (docker info), or set \
                 openhands.backend to \"process\""
            )))
        }
    }
}

impl Inner {
    fn config(&self) -> DockerConfig {
        self.config.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection to the daemon, checked with a ping; an unreachable daemon fails within [`CONNECT_TIMEOUT`].
    async fn client(&self) -> Result<Docker, SandboxError> {
        let mut cached = self.docker.lock().await;
        if let Some(docker) = cached.docker.as_ref() {
            match tokio::time::timeout(CONNECT_TIMEOUT, docker.ping()).await {
                Ok(Ok(_)) => return Ok(docker.clone()),
                _ => cached.docker = None,
            }
        }
        // Whoever waited for an attempt that just failed (the warm pool's, say) gets its answer instead of making
        // the user wait for a second one: a hung daemon fails a start in CONNECT_TIMEOUT, as documented.
        if let Some((at, message)) = &cached.failed
            && at.elapsed() < CONNECT_TIMEOUT
        {
            return Err(SandboxError::DockerUnavailable(message.clone()));
        }
        match connect().await {
            Ok(docker) => {
                self.used.store(true, std::sync::atomic::Ordering::SeqCst);
                *cached = Connection { docker: Some(docker.clone()), failed: None };
                Ok(docker)
            }
            Err(e) => {
                if let SandboxError::DockerUnavailable(message) = &e {
                    cached.failed = Some((std::time::Instant::now(), message.clone()));
                }
                Err(e)
            }
        }
    }

    /// What a container of the image needs from it, or `None` when the image is absent.
    async fn image_facts(&self, docker: &Docker, image: &str) -> Result<Option<ImageFacts>, SandboxError> {
        match docker.inspect_image(image).await {
            Ok(inspect) => Ok(Some(ImageFacts::of(inspect))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(SandboxError::Docker(format!("cannot inspect the image {image}: {e}"))),
        }
    }

    /// Makes sure the image is present, pulling it with progress when it is not.
    async fn ensure_image(
        &self,
        docker: &Docker,
        image: &str,
        progress: Option<&StartProgress>,
    ) -> Result<ImageFacts, SandboxError> {
        if let Some(facts) = self.image_facts(docker, image).await? {
            return Ok(facts);
        }
        let report = |m: String| {
            if let Some(p) = progress {
                p.report(m);
            }
        };
        report(format!("pulling {image}…"));
        let (from_image, tag) = split_image(image);
        let options = CreateImageOptionsBuilder::default().from_image(&from_image).tag(&tag).build();
        // A pull can take long; the client's per-request timeout would cut it.
        let puller = docker.clone().with_timeout(Duration::from_secs(3600));
        let mut stream = puller.create_image(Some(options), None, registry_credentials(&from_image));
        let mut tally = PullTally::default();
        let mut last_report = tokio::time::Instant::now();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| pull_failed(image, &e.to_string()))?;
            if let Some(detail) = info.error_detail.as_ref().and_then(|d| d.message.clone()) {
                return Err(pull_failed(image, &detail));
            }
            tally.update(&info);
            // The editor's progress coalesces reports; this only spares it the flood of a fast local pull.
            if last_report.elapsed() >= Duration::from_millis(100) {
                last_report = tokio::time::Instant::now();
                report(format!("pulling {image}: {}", tally.summary()));
            }
        }
        let inspect = docker.inspect_image(image).await.map_err(|e| pull_failed(image, &e.to_string()))?;
        report(format!("pulled {image}"));
        Ok(ImageFacts::of(inspect))
    }

    /// Creates, starts and health-checks a container mounting `mount` at /workspace.
    async fn launch(
        &self,
        docker: &Docker,
        config: &DockerConfig,
        mount: &Path,
        role: Role<'_>,
        image: &ImageFacts,
        user: ContainerUser,
    ) -> Result<Container, SandboxError> {
        if config.network == "none" {
            return Err(SandboxError::Docker(
                "openhands.docker.network is \"none\": openhands-lsp could not reach the agent-server in the \
                 container. Use \"bridge\" (the default) or a user-defined network"
                    .into(),
            ));
        }
        let began = std::time::Instant::now();
        let session_key = random_key();
        let host_network = config.network == "host";
        let host_port = if host_network { Some(free_port()?) } else { None };
        let port = host_port.unwrap_or(AGENT_PORT).to_string();
        let listen = if host_network { "127.0.0.1" } else { "0.0.0.0" };
        let mut labels = owner_labels(&self.owner);
        let (name, conversation) = match role {
            Role::Conversation(id) => {
                labels.insert(label::ROLE.into(), "conversation".into());
                (format!("openhands-lsp-{}-{}", short(id), &random_key()[..6]), id.to_owned())
            }
            Role::Pool => {
                labels.insert(label::ROLE.into(), "pool".into());
                labels.insert(label::SLOT.into(), mount.to_string_lossy().into_owned());
                (format!("{POOL_NAME_PREFIX}{}", &random_key()[..10]), String::new())
            }
        };
        labels.insert(label::CONVERSATION.into(), conversation);
        labels.insert(label::KEEP.into(), config.keep_containers.to_string());
        let mut env = vec![
            format!("SESSION_API_KEY={session_key}"),
            format!("OH_SECRET_KEY={}", random_key()),
            // As for the process backend: no cost-map download thread racing litellm's imports at start-up.
            "LITELLM_LOCAL_MODEL_COST_MAP=True".to_owned(),
        ];
        let hook_dir = Path::new(python_hook::CONTAINER_DIR);
        if let Some(path) = python_hook::python_path(hook_dir, image.python_path.as_deref()) {
            env.push(format!("PYTHONPATH={path}"));
        }
        let (user_spec, chown_to) = match user {
            ContainerUser::Host { uid, gid } => {
                // A uid the image may not know: give it a home that exists.
                env.push("HOME=/tmp".into());
                (Some(format!("{uid}:{gid}")), None)
            }
            ContainerUser::Image(chown) => (None, chown),
            ContainerUser::Root => (Some("0:0".to_owned()), None),
        };
        let exposed = format!("{AGENT_PORT}/tcp");
        let host_config = HostConfig {
            binds: Some(vec![format!("{}:{CONTAINER_WORKSPACE}:rw", mount.display())]),
            port_bindings: (!host_network).then(|| {
                HashMap::from([(
                    exposed.clone(),
                    Some(vec![PortBinding { host_ip: Some("127.0.0.1".into()), host_port: Some(String::new()) }]),
                )])
            }),
            extra_hosts: Some(vec!["host.docker.internal:host-gateway".into()]),
            network_mode: Some(config.network.clone()),
            memory: (config.memory_mb > 0).then(|| i64::from(config.memory_mb) * 1024 * 1024),
            nano_cpus: (config.cpus > 0.0).then_some((config.cpus * 1e9) as i64),
            init: Some(true),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            // The agent-server's own record of the conversation (under its working directory, /tmp) holds the
            // agent's actions as written, secrets they quote included: in memory, gone with the container, never
            // in the container's layer on the host's disk.
            tmpfs: Some(HashMap::from([(AGENT_STATE_DIR.to_owned(), "rw,mode=1777".to_owned())])),
            ..Default::default()
        };
        env.push(format!("OH_CONVERSATIONS_PATH={AGENT_STATE_DIR}/conversations"));
        env.push(format!("OH_BASH_EVENTS_DIR={AGENT_STATE_DIR}/bash_events"));
        let body = ContainerCreateBody {
            image: Some(config.image.clone()),
            cmd: Some(vec!["--host".into(), listen.into(), "--port".into(), port.clone()]),
            env: Some(env),
            labels: Some(labels),
            user: user_spec,
            // The agent-server keeps its own state under its working directory: not in the user's workspace.
            working_dir: Some("/tmp".into()),
            exposed_ports: (!host_network).then(|| vec![exposed.clone()]),
            host_config: Some(host_config),
            ..Default::default()
        };
        // Before the container exists: should this process die at any moment from now, its watcher removes it.
        super::reaper::watch_docker(&self.owner.id, config.keep_containers);
        let created = docker
            .create_container(Some(CreateContainerOptionsBuilder::default().name(&name).build()), body)
            .await
            .map_err(|e| SandboxError::Docker(format!("cannot create a container from {}: {e}", config.image)))?;
        let id = created.id;
        tracing::debug!(container = short(&id), "created after {:?}", began.elapsed());
        self.live.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), true);
        let result = async {
            // Before start: Python reads its start-up hook once, as it begins. Only a speed-up: without it (a daemon
            // that refuses the copy), the agent-server boots as the image has it (PYTHONPATH names a missing folder).
            let to_root = UploadToContainerOptionsBuilder::default().path("/").build();
            let copied = match python_hook::archive() {
                Ok(hook) => docker
                    .upload_to_container(&id, Some(to_root), bollard::body_full(hook.into()))
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = copied {
                tracing::warn!(container = short(&id), "the start-up hook was not copied into the container: {e}");
            }
            docker
                .start_container(&id, None)
                .await
                .map_err(|e| SandboxError::Docker(format!("cannot start the container: {e}")))?;
            let exit = watch_exit(docker.clone(), id.clone());
            let port = match host_port {
                Some(p) => p,
                None => match published_port(docker, &id, &exposed).await {
                    Ok(p) => p,
                    // No ports once the container has stopped: say why it stopped.
                    Err(e) => match stopped_status(docker, &id).await {
                        Some(status) => {
                            let log = format!("; last log lines:\n{}", log_tail(docker, &id).await);
                            return Err(SandboxError::ExitedEarly { status, log });
                        }
                        None => return Err(e),
                    },
                },
            };
            tracing::debug!(container = short(&id), "started, port {port}, after {:?}", began.elapsed());
            let endpoint =
                Endpoint { base_url: format!("http://127.0.0.1:{port}"), session_key: Secret::new(session_key) };
            let probe = exit.clone();
            let health =
                super::wait_healthy(&endpoint, startup_timeout(config), || probe.borrow().clone(), String::new);
            // The user's ids are asked of the running container while the agent-server boots, off the critical path.
            let ids = async {
                match &chown_to {
                    Some(user) => user_ids(docker, &id, user).await.map(Some),
                    None => Ok(None),
                }
            };
            let (health, chown_ids) = tokio::join!(health, ids);
            if let Err(e) = health {
                let log = format!("; last log lines:\n{}", log_tail(docker, &id).await);
                return Err(match e {
                    SandboxError::NotHealthy { after, .. } => SandboxError::NotHealthy { after, log },
                    SandboxError::ExitedEarly { status, .. } => SandboxError::ExitedEarly { status, log },
                    other => other,
                });
            }
            tracing::debug!(container = short(&id), "healthy after {:?}", began.elapsed());
            let slot = matches!(role, Role::Pool).then(|| mount.to_owned());
            let chown_ids = chown_ids?;
            Ok(Container {
                id: id.clone(),
                endpoint,
                slot,
                chown_to,
                chown_ids,
                fingerprint: fingerprint(config),
                exit,
            })
        }
        .await;
        if result.is_err() {
            self.remove(docker, &id, false).await;
        }
        result
    }

    /// Removes a container (or only stops it when `keep`).
    async fn remove(&self, docker: &Docker, id: &str, keep: bool) {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        remove_container(docker, id, keep, 5).await;
    }

    /// Removes the containers of openhands-lsp instances that are gone (and their pool slots).
    async fn remove_orphans(&self, docker: &Docker) {
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
                    let _ = std::fs::remove_dir_all(slot);
                }
            }
        }
    }

    /// Keeps `warmPool` healthy containers ready until the provider shuts down.
    async fn keep_pool(self: Arc<Self>) {
        let mut backoff = Duration::from_secs(2);
        loop {
            let config = self.config();
            let want = fingerprint(&config);
            let target = if self.active.load(std::sync::atomic::Ordering::SeqCst) { config.warm_pool } else { 0 };
            // Drop containers that died or no longer match the settings.
            let stale: Vec<Container> = {
                let mut pool = self.pool();
                let (keep, stale) = std::mem::take(&mut pool.ready)
                    .into_iter()
                    .partition(|c| c.fingerprint == want && c.exit.borrow().is_none());
                pool.ready = keep;
                let excess = pool.ready.len().saturating_sub(target as usize);
                let mut stale: Vec<Container> = stale;
                stale.extend(pool.ready.drain(..excess));
                stale
            };
            if !stale.is_empty()
                && let Ok(docker) = self.client().await
            {
                for c in stale {
                    self.discard(&docker, c).await;
                }
            }
            let want = {
                let pool = self.pool();
                (target as usize).saturating_sub(pool.ready.len() + pool.filling)
            };
            let mut failed = false;
            if want > 0 && self.pool_root.is_some() {
                match self.fill_one(&config).await {
                    Ok(()) => backoff = Duration::from_secs(2),
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

    async fn fill_one(&self, config: &DockerConfig) -> Result<(), SandboxError> {
        let Some(root) = &self.pool_root else { return Ok(()) };
        let docker = self.client().await?;
        // The pool never pulls: a download of a gigabyte is for when the user starts a conversation, with progress.
        let Some(image) = self.image_facts(&docker, &config.image).await? else {
            return Err(SandboxError::ImageAbsent(config.image.clone()));
        };
        let slot = root.join(format!("slot-{}", &random_key()[..16]));
        std::fs::create_dir_all(&slot).map_err(|e| SandboxError::Io(format!("{}: {e}", slot.display())))?;
        let user = user_for(&image, true);
        self.pool().filling += 1;
        // Booted, then warmed (see `agent_server::warm`): a container counts as filling until both are done.
        let self_url = format!("http://127.0.0.1:{AGENT_PORT}");
        let launched = tokio::select! {
            r = async {
                let container = self.launch(&docker, config, &slot, Role::Pool, &image, user).await?;
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
                let _ = std::fs::remove_dir_all(&slot);
                Err(e)
            }
            None => {
                let _ = std::fs::remove_dir_all(&slot);
                Ok(())
            }
        }
    }

    /// Removes an unclaimed pooled container and its slot.
    async fn discard(&self, docker: &Docker, c: Container) {
        self.remove(docker, &c.id, false).await;
        if let Some(slot) = c.slot {
            let _ = std::fs::remove_dir_all(slot);
        }
    }

    /// A ready pooled container matching the settings, if any.
    fn take_warm(&self, fingerprint: &str) -> Option<Container> {
        let mut pool = self.pool();
        let i = pool.ready.iter().position(|c| c.fingerprint == fingerprint && c.exit.borrow().is_none())?;
        Some(pool.ready.remove(i))
    }

    async fn start(self: Arc<Self>, spec: SandboxSpec) -> Result<Sandbox, SandboxError> {
        let docker = self.client().await?;
        let config = self.config();
        let progress = spec.progress.as_ref();
        if spec.workspace_is_ours
            && self.pool_root.is_some()
            && let Some(container) = self.take_warm(&fingerprint(&config))
        {
            self.pool_wake.notify_one();
            match self.claim(&docker, container, &spec).await {
                Ok(sandbox) => return Ok(sandbox),
                Err(e) => {
                    tracing::warn!(conversation = %spec.conversation_id, "warm container unusable ({e}); starting a new one")
                }
            }
        }
        let image = self.ensure_image(&docker, &config.image, progress).await?;
        // The image may have just been pulled: the pool can fill now.
        self.pool_wake.notify_one();
        if let Some(p) = progress {
            p.report("starting a container…".into());
        }
        let user = user_for(&image, spec.workspace_is_ours);
        let role = Role::Conversation(&spec.conversation_id);
        let container = self.launch(&docker, &config, &spec.workspace, role, &image, user).await?;
        if let Err(e) = self.chown_workspace(&container, &spec.workspace).await {
            self.remove(&docker, &container.id, false).await;
            return Err(e);
        }
        tracing::info!(conversation = %spec.conversation_id, container = short(&container.id), "container ready");
        Ok(self.sandbox(docker, container, &spec.subfolder))
    }

    /// Hands a warm container the conversation's workspace.
    async fn claim(
        self: &Arc<Self>,
        docker: &Docker,
        container: Container,
        spec: &SandboxSpec,
    ) -> Result<Sandbox, SandboxError> {
        let slot = container.slot.clone().unwrap_or_default();
        let healthy = AgentServerClient::new(container.endpoint.clone()).health(Duration::from_secs(1)).await.is_ok();
        let moved = if healthy {
            let (ws, s) = (spec.workspace.clone(), slot.clone());
            tokio::task::spawn_blocking(move || move_into_slot(&ws, &s))
                .await
                .map_err(|e| SandboxError::Io(e.to_string()))
                .and_then(|r| r.map_err(|e| SandboxError::Io(format!("moving the workspace into the container: {e}"))))
        } else {
            Err(SandboxError::Docker("it no longer answers /health".into()))
        };
        if let Err(e) = moved {
            self.discard(docker, container).await;
            return Err(e);
        }
        let name = format!("openhands-lsp-{}-{}", short(&spec.conversation_id), &random_key()[..6]);
        if let Err(e) =
            docker.rename_container(&container.id, RenameContainerOptionsBuilder::default().name(&name).build()).await
        {
            tracing::debug!("renaming the claimed container: {e}");
        }
        if let Err(e) = self.chown_workspace(&container, &spec.workspace).await {
            self.remove(docker, &container.id, false).await;
            return Err(e);
        }
        tracing::info!(conversation = %spec.conversation_id, container = short(&container.id), "claimed a warm container");
        Ok(self.sandbox(docker.clone(), container, &spec.subfolder))
    }

    /// Gives the workspace to the image's user when the agent runs as it (see [`Inner::user_for`]). Done on the
    /// host, where openhands-lsp is root: in the container, `no-new-privileges` leaves an exec'd root without
    /// capabilities.
    async fn chown_workspace(&self, container: &Container, workspace: &Path) -> Result<(), SandboxError> {
        let (Some(user), Some((uid, gid))) = (&container.chown_to, container.chown_ids) else { return Ok(()) };
        let root = workspace.to_owned();
        tokio::task::spawn_blocking(move || chown_tree(&root, uid, gid))
            .await
            .map_err(|e| SandboxError::Io(e.to_string()))?
            .map_err(|e| SandboxError::Io(format!("handing the workspace to the container's user {user}: {e}")))
    }

    fn sandbox(self: &Arc<Self>, docker: Docker, container: Container, subfolder: &Path) -> Sandbox {
        let keep = self.config().keep_containers;
        Sandbox {
            endpoint: container.endpoint.clone(),
            working_dir: Path::new(CONTAINER_WORKSPACE).join(subfolder).to_string_lossy().into_owned(),
            handle: Box::new(DockerHandle {
                docker,
                id: container.id,
                exit: container.exit,
                keep,
                provider: Arc::downgrade(self),
                stopped: Default::default(),
            }),
            remote: None,
        }
    }
}

/// Bytes and layers of a pull so far, from the daemon's progress messages.
#[derive(Debug, Default)]
struct PullTally {
    /// Per layer: bytes done, bytes in all.
    layers: HashMap<String, (u64, u64)>,
}

impl PullTally {
    fn update(&mut self, info: &bollard::models::CreateImageInfo) {
        let Some(id) = &info.id else { return };
        let status = info.status.as_deref().unwrap_or_default();
        // Lines about the image as a whole (its tag, its digest) carry the tag as id, not a layer.
        if !(status.starts_with("Pulling fs layer")
            || status.starts_with("Waiting")
            || status.starts_with("Downloading")
            || status.starts_with("Verifying")
            || status.starts_with("Download complete")
            || status.starts_with("Extracting")
            || status.starts_with("Pull complete")
            || status.starts_with("Already exists"))
        {
            return;
        }
        let entry = self.layers.entry(id.clone()).or_default();
        if status.starts_with("Downloading")
            && let Some(detail) = &info.progress_detail
            && let (Some(cur), Some(total)) = (detail.current, detail.total)
        {
            *entry = (cur.max(0) as u64, total.max(0) as u64);
        }
        if status.starts_with("Download complete")
            || status.starts_with("Pull complete")
            || status.starts_with("Already exists")
        {
            entry.1 = entry.1.max(1);
            entry.0 = entry.1;
        }
    }

    /// `45% (3/7 layers)`.
    fn summary(&self) -> String {
        let (cur, total) = self.layers.values().fold((0, 0), |(c, t), (lc, lt)| (c + lc, t + lt));
        let done = self.layers.values().filter(|(c, t)| *t > 0 && c >= t).count();
        let percent = (cur * 100).checked_div(total).unwrap_or(0);
        format!("{percent}% ({done}/{} layers)", self.layers.len())
    }
}

#[derive(Clone, Copy)]
enum Role<'a> {
    Conversation(&'a str),
    Pool,
}

#[derive(Debug, Clone)]
enum ContainerUser {
    Host {
        uid: u32,
        gid: u32,
    },
    /// The image's own user; `Some` when it is not root and the workspace must be handed to it.
    Image(Option<String>),
    Root,
}

/// Who the agent runs as. openhands-lsp's own user when it is not root (files stay the user's); as root, the image's
/// non-root user for workspaces that are openhands-lsp's own copies (handed over with chown), and root for the user's
/// own folders (whose owners must not change).
fn user_for(image: &ImageFacts, workspace_is_ours: bool) -> ContainerUser {
    let (uid, gid) = effective_ids();
    if uid != 0 {
        return ContainerUser::Host { uid, gid };
    }
    if !workspace_is_ours {
        return ContainerUser::Root;
    }
    ContainerUser::Image(image.user.clone())
}

/// What a container needs to know of its image, from one inspection.
#[derive(Debug)]
struct ImageFacts {
    /// The image's default user, if it is not root.
    user: Option<String>,
    /// The image's own `PYTHONPATH`, kept behind openhands-lsp's start-up hook.
    python_path: Option<String>,
}

impl ImageFacts {
    fn of(inspect: bollard::models::ImageInspect) -> ImageFacts {
        let config = inspect.config.unwrap_or_default();
        let user = config.user.unwrap_or_default();
        let name = user.split(':').next().unwrap_or_default();
        let python_path =
            config.env.unwrap_or_default().into_iter().find_map(|e| e.strip_prefix("PYTHONPATH=").map(str::to_owned));
        ImageFacts { user: (!matches!(name, "" | "root" | "0")).then_some(user), python_path }
    }
}

#[allow(unsafe_code)]
fn effective_ids() -> (u32, u32) {
    // SAFETY: geteuid/getegid cannot fail and touch no memory.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

/// Moves everything in `workspace` into the empty `slot`, then renames `slot` to `workspace`. On failure, what was
/// moved goes back.
fn move_into_slot(workspace: &Path, slot: &Path) -> std::io::Result<()> {
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

/// The numeric uid and gid of the container's user.
async fn user_ids(docker: &Docker, id: &str, user: &str) -> Result<(u32, u32), SandboxError> {
    let ask = |flag: &'static str| exec_output(docker, id, vec!["id".into(), flag.into()]);
    let (uid, gid) = tokio::join!(ask("-u"), ask("-g"));
    match (uid?.trim().parse::<u32>(), gid?.trim().parse::<u32>()) {
        (Ok(u), Ok(g)) => Ok((u, g)),
        _ => Err(SandboxError::Docker(format!("cannot tell the uid of the container's user {user}"))),
    }
}

/// Runs a command as the container's user and returns its standard output; fails on a non-zero exit.
async fn exec_output(docker: &Docker, id: &str, cmd: Vec<String>) -> Result<String, SandboxError> {
    let fail = |e: String| SandboxError::Docker(format!("{cmd:?} in the container: {e}"));
    let options = bollard::exec::CreateExecOptions {
        cmd: Some(cmd.clone()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let exec = docker.create_exec(id, options).await.map_err(|e| fail(e.to_string()))?;
    let mut stdout = String::new();
    let mut stderr = String::new();
    match docker.start_exec(&exec.id, None).await.map_err(|e| fail(e.to_string()))? {
        bollard::exec::StartExecResults::Attached { mut output, .. } => {
            while let Some(Ok(chunk)) = output.next().await {
                match chunk {
                    bollard::container::LogOutput::StdOut { message } => {
                        stdout.push_str(&String::from_utf8_lossy(&message))
                    }
                    other => stderr.push_str(&other.to_string()),
                }
            }
        }
        bollard::exec::StartExecResults::Detached => {}
    }
    let code = docker.inspect_exec(&exec.id).await.map_err(|e| fail(e.to_string()))?.exit_code.unwrap_or(-1);
    if code != 0 {
        return Err(fail(format!("exit code {code}: {}", stderr.trim())));
    }
    Ok(stdout)
}

/// `lchown -R`: symbolic links are not followed, so nothing outside `root` changes owner.
fn chown_tree(root: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(root, Some(uid), Some(gid))?;
    if !std::fs::symlink_metadata(root)?.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(root)? {
        chown_tree(&entry?.path(), uid, gid)?;
    }
    Ok(())
}

async fn published_port(docker: &Docker, id: &str, exposed: &str) -> Result<u16, SandboxError> {
    let inspect = docker
        .inspect_container(id, None)
        .await
        .map_err(|e| SandboxError::Docker(format!("cannot inspect the container: {e}")))?;
    inspect
        .network_settings
        .and_then(|n| n.ports)
        .and_then(|ports| ports.get(exposed).cloned().flatten())
        .and_then(|bindings| bindings.into_iter().find_map(|b| b.host_port?.parse().ok()))
        .ok_or_else(|| SandboxError::Docker(format!("the container publishes no host port for {exposed}")))
}

/// How a container that is no longer running ended; `None` while it runs.
async fn stopped_status(docker: &Docker, id: &str) -> Option<String> {
    let state = docker.inspect_container(id, None).await.ok()?.state?;
    if state.running == Some(true) {
        return None;
    }
    let code = state.exit_code.unwrap_or(-1);
    Some(match state.error.filter(|e| !e.is_empty()) {
        Some(error) => format!("exit code {code}: {error}"),
        None => format!("exit code {code}"),
    })
}

/// Publishes the container's exit (status and OOM flag) once it stops running.
fn watch_exit(docker: Docker, id: String) -> watch::Receiver<Option<String>> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let options = WaitContainerOptionsBuilder::default().condition("not-running").build();
        // No request timeout: the wait lasts as long as the container.
        let waiter = docker.clone().with_timeout(Duration::from_secs(u64::from(u32::MAX)));
        let outcome = waiter.wait_container(&id, Some(options)).next().await;
        let mut status = match outcome {
            Some(Ok(r)) => format!("exit code {}", r.status_code),
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, error })) => {
                if error.is_empty() {
                    format!("exit code {code}")
                } else {
                    format!("exit code {code}: {error}")
                }
            }
            Some(Err(e)) => format!("lost track of it: {e}"),
            None => "lost track of it".to_owned(),
        };
        if let Ok(inspect) = docker.inspect_container(&id, None).await
            && inspect.state.as_ref().and_then(|s| s.oom_killed) == Some(true)
        {
            status.push_str(", killed for using too much memory (see openhands.docker.memoryMb)");
        }
        let _ = tx.send(Some(status));
    });
    rx
}

/// The last lines of a container's output.
async fn log_tail(docker: &Docker, id: &str) -> String {
    let options = LogsOptionsBuilder::default().stdout(true).stderr(true).tail(&LOG_TAIL.to_string()).build();
    let mut out = String::new();
    let mut logs = docker.logs(id, Some(options));
    while let Some(Ok(chunk)) = logs.next().await {
        out.push_str(&chunk.to_string());
    }
    out.trim_end().to_owned()
}

struct DockerHandle {
    docker: Docker,
    id: String,
    exit: watch::Receiver<Option<String>>,
    keep: bool,
    provider: std::sync::Weak<Inner>,
    stopped: std::sync::atomic::AtomicBool,
}

impl SandboxHandle for DockerHandle {
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if self.stopped.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            match self.provider.upgrade() {
                Some(inner) => inner.remove(&self.docker, &self.id, self.keep).await,
                None => {
                    let _ = self
                        .docker
                        .remove_container(&self.id, Some(RemoveContainerOptionsBuilder::default().force(true).build()))
                        .await;
                }
            }
        })
    }

    fn died(&self) -> BoxFuture<'_, super::Death> {
        let exit = self.exit.clone();
        Box::pin(async move {
            let status = super::exit_status(exit).await;
            let log = log_tail(&self.docker, &self.id).await;
            super::Death { reason: format!("the container {} stopped ({status})", short(&self.id)), log }
        })
    }

    fn paused_outside(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let inspect =
                self.docker.inspect_container(&self.id, None::<bollard::query_parameters::InspectContainerOptions>);
            matches!(inspect.await, Ok(c) if c.state.as_ref().and_then(|s| s.paused) == Some(true))
        })
    }

    fn freeze(&self) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(async move {
            self.docker
                .pause_container(&self.id)
                .await
                .map_err(|e| SandboxError::Docker(format!("docker pause failed: {e}")))
        })
    }

    fn thaw(&self) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(async move {
            match self.docker.unpause_container(&self.id).await {
                Ok(()) => Ok(()),
                // Not paused (e.g. paused by the agent only): nothing to undo.
                Err(bollard::errors::Error::DockerResponseServerError { status_code: 409, .. }) => Ok(()),
                Err(e) => Err(SandboxError::Docker(format!("docker unpause failed: {e}"))),
            }
        })
    }

    fn describe(&self) -> String {
        format!("container {}", short(&self.id))
    }
}

impl SandboxProvider for DockerProvider {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn start(&self, spec: SandboxSpec) -> BoxFuture<'_, Result<Sandbox, SandboxError>> {
        Box::pin(self.inner.clone().start(spec))
    }

    fn sees_only_the_workspace(&self) -> bool {
        true
    }

    /// Removes every container this instance started (pooled ones included), and orphans of dead instances.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.inner.closing.cancel();
            if !self.inner.used.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            let Ok(docker) = self.inner.client().await else { return };
            let pooled: Vec<Container> = std::mem::take(&mut self.inner.pool().ready);
            let keep = self.inner.config().keep_containers;
            let running: Vec<String> = {
                let live = self.inner.live.lock().unwrap_or_else(|p| p.into_inner());
                live.keys().filter(|id| !pooled.iter().any(|c| &c.id == *id)).cloned().collect()
            };
            let inner = &self.inner;
            let pool_removals = pooled.into_iter().map(|c| inner.discard(&docker, c));
            let removals = running.iter().map(|id| inner.remove(&docker, id, keep));
            futures::future::join(futures::future::join_all(pool_removals), futures::future::join_all(removals)).await;
            inner.remove_orphans(&docker).await;
        })
    }
}

/// `repo:tag` (or `repo@digest`) split for the pull API; no tag means `latest`.
fn split_image(image: &str) -> (String, String) {
    if image.contains('@') {
        return (image.to_owned(), String::new());
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rfind(':') {
        Some(i) => {
            let cut = image.len() - last.len() + i;
            (image[..cut].to_owned(), image[cut + 1..].to_owned())
        }
        None => (image.to_owned(), "latest".to_owned()),
    }
}

/// Credentials from `docker login` (`~/.docker/config.json`, plain `auths` entries) for the image's registry.
fn registry_credentials(repo: &str) -> Option<bollard::auth::DockerCredentials> {
    let first = repo.split('/').next().unwrap_or_default();
    let registry = if repo.contains('/') && (first.contains('.') || first.contains(':')) { first } else { "docker.io" };
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    let auths = config.get("auths")?.as_object()?;
    let entry = auths.iter().find(|(k, _)| {
        let host = k.trim_start_matches("https://").trim_start_matches("http://").split('/').next().unwrap_or_default();
        host == registry || (registry == "docker.io" && host == "index.docker.io")
    })?;
    let auth = entry.1.get("auth")?.as_str()?;
    Some(bollard::auth::DockerCredentials {
        auth: Some(auth.to_owned()),
        serveraddress: Some(registry.to_owned()),
        ..Default::default()
    })
}

fn pull_failed(image: &str, reason: &str) -> SandboxError {
    SandboxError::Image(format!(
        "cannot pull the agent-server image {image}: {reason}. If the registry needs a login, run `docker login`; or \
         set openhands.docker.image to an image you have (docker images), build one locally \
         (scripts/build-agent-image in the openhands-lsp repository), or set openhands.backend to \"process\""
    ))
}

fn free_port() -> Result<u16, SandboxError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| SandboxError::Io(format!("no free loopback port: {e}")))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| SandboxError::Io(format!("no free loopback port: {e}")))
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_split_into_repository_and_tag() {
        let cases = [
            ("ghcr.io/openhands/agent-server:1.58.0-python", ("ghcr.io/openhands/agent-server", "1.58.0-python")),
            ("localhost:5000/agent", ("localhost:5000/agent", "latest")),
            ("localhost:5000/agent:v1", ("localhost:5000/agent", "v1")),
            ("ubuntu", ("ubuntu", "latest")),
            ("repo@sha256:abc", ("repo@sha256:abc", "")),
        ];
        for (image, (repo, tag)) in cases {
            assert_eq!(split_image(image), (repo.to_owned(), tag.to_owned()), "{image}");
        }
    }

    #[test]
    fn pull_progress_adds_up_the_layers() {
        let info = |id: &str, status: &str, cur: Option<i64>, total: Option<i64>| bollard::models::CreateImageInfo {
            id: Some(id.into()),
            status: Some(status.into()),
            progress_detail: Some(bollard::models::ProgressDetail { current: cur, total }),
            ..Default::default()
        };
        let mut tally = PullTally::default();
        tally.update(&info("1.58.0-python", "Pulling from openhands/agent-server", None, None));
        tally.update(&info("aaa", "Pulling fs layer", None, None));
        tally.update(&info("bbb", "Pulling fs layer", None, None));
        tally.update(&info("aaa", "Downloading", Some(50), Some(100)));
        tally.update(&info("bbb", "Downloading", Some(0), Some(300)));
        assert_eq!(tally.summary(), "12% (0/2 layers)");
        tally.update(&info("aaa", "Download complete", None, None));
        tally.update(&info("bbb", "Downloading", Some(150), Some(300)));
        assert_eq!(tally.summary(), "62% (1/2 layers)");
        tally.update(&info("bbb", "Pull complete", None, None));
        assert_eq!(tally.summary(), "100% (2/2 layers)");
    }

    #[test]
    fn unreachable_daemons_are_explained_with_the_fix() {
        let denied = bollard::errors::Error::from(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        let text = unreachable_message(&denied);
        assert!(text.contains("permission denied") && text.contains("usermod -aG docker"), "{text}");
        let missing = bollard::errors::Error::from(std::io::Error::from(std::io::ErrorKind::NotFound));
        let text = unreachable_message(&missing);
        assert!(text.contains("Docker is not running") && text.contains("openhands.backend"), "{text}");
    }

    #[test]
    fn this_process_is_alive_and_a_dead_pid_is_not() {
        let me = owner_labels(Instance::current());
        assert_eq!(labelled_owner(&me).is_alive(), Some(true));
        let mut dead = me.clone();
        dead.insert(label::OWNER_START.into(), "1".into());
        assert_eq!(labelled_owner(&dead).is_alive(), Some(false), "a reused pid must not count as the owner");
        let mut elsewhere = me.clone();
        elsewhere.insert(label::OWNER_HOST.into(), "another-host".into());
        assert_eq!(labelled_owner(&elsewhere).is_alive(), None);
    }

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
