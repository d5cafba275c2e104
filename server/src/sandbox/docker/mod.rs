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

use super::python_hook;
use super::{Environment, Sandbox, SandboxError, SandboxProvider, SandboxSpec, StartProgress, random_key};
use crate::agent_server::{AgentServerClient, Endpoint};
use crate::instance::Instance;
use crate::secrets::Secret;
use bollard::Docker;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RenameContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{Notify, watch};
/// The agent-server's port inside the container.
/// The agent-server's port inside its container: one of its own, so editors can tell it from the user's own
/// containers' ports (VS Code's port auto-forwarding ignores it: the extension's `remote.portsAttributes` default).
pub const AGENT_PORT: u16 = 8431;

/// Where the workspace is mounted in the container.
pub const CONTAINER_WORKSPACE: &str = "/workspace";
/// Where a conversation's extra folders are mounted, each under its name (a task across folders).
pub const CONTAINER_FOLDERS: &str = "/folders";

/// Names of pooled containers not yet claimed by a conversation.
const POOL_NAME_PREFIX: &str = "openhands-lsp-pool-";

/// Log lines kept in error messages.
const LOG_TAIL: usize = 40;

/// Where the agent-server keeps its own store in the container: a tmpfs.
const AGENT_STATE_DIR: &str = "/tmp/agent-server-state";

/// Where the agent-server keeps its record of conversations in the container: the conversation's `agent` folder on
/// the host, mounted, so that the conversation can go on in another container.
const AGENT_RECORD_DIR: &str = "/tmp/agent-server-record";

mod daemon;
mod dockerfile_build;
pub mod engine;
mod files;
mod handle;
mod image;
mod owner;
mod pool;
pub(crate) mod project_image;
mod spec;
mod ssh;

use daemon::{Connection, Reached, connect, connect_timeout, is_not_found, reach};
pub use daemon::{Probe, probe};
use engine::Engine;
use files::Placed;
use handle::{DockerHandle, chown_tree};
use image::ImageFacts;
use owner::remove_container;
pub use owner::remove_instance;
use pool::{Pool, move_into_slot, record_slot};
use project_image::ImageChoice;
use spec::{ContainerUser, user_for};

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

/// What a pooled container must match to serve a conversation started with these settings on this image.
fn fingerprint(config: &DockerConfig, choice: &ImageChoice) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}|{}",
        config.image,
        choice.image,
        choice.bundle.as_deref().unwrap_or_default(),
        config.memory_mb,
        config.cpus,
        config.network,
        config.keep_containers
    )
}

fn startup_timeout(config: &DockerConfig) -> Duration {
    Duration::from_secs(config.startup_timeout_seconds.into())
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
    /// What it was made from.
    choice: ImageChoice,
    exit: watch::Receiver<Option<String>>,
    /// On a remote engine: the folders uploaded into it, whose changes are brought back.
    placed: Vec<Placed>,
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
    /// Where the logs of projects' image builds are kept.
    build_logs: Option<PathBuf>,
    /// Images found fit for the agent-server (by id), and agent-server volumes found complete.
    checked_bases: Mutex<std::collections::HashSet<String>>,
    bundles: tokio::sync::Mutex<std::collections::HashSet<String>>,
    /// Dev container notices said in this session.
    noticed: Mutex<std::collections::HashSet<String>>,
    docker: tokio::sync::Mutex<Connection>,
    /// Over SSH: the agent-server ports forwarded here, by container id (dropped with the container).
    forwards: ssh::Forwards,
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
                build_logs: state_dir.map(|d| d.join("image-builds")),
                checked_bases: Default::default(),
                bundles: Default::default(),
                noticed: Default::default(),
                docker: tokio::sync::Mutex::new(Connection::default()),
                forwards: ssh::Forwards::default(),
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
            target: self.inner.pool_target(&self.inner.config()),
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

pub use project_image::{ImagePlan, clean_images, describe as describe_image, plan_image};

#[derive(Clone, Copy)]
enum Role<'a> {
    /// A conversation's, with its extra folders (mounted under [`CONTAINER_FOLDERS`], each at its name).
    Conversation(&'a str, &'a [(String, PathBuf)]),
    Pool,
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

    fn keeps_agent_record(&self) -> bool {
        true
    }

    fn repair_hint(&self) -> Option<String> {
        let image = self.inner.config().image.clone();
        Some(format!(
            "The agent-server in the image {image} looks broken: remove the image (docker image rm {image}) so it is \
             pulled again, or set openhands.docker.image to another one"
        ))
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
            inner.remove_own_pooled(&docker).await;
            inner.remove_orphans(&docker).await;
        })
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

impl Inner {
    fn config(&self) -> DockerConfig {
        self.config.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The engine the settings and `DOCKER_HOST` name.
    fn engine(&self, config: &DockerConfig) -> Engine {
        Engine::current(config)
    }

    /// How many warm containers to keep: none unless docker is the selected backend, and none on a remote engine
    /// (a pooled container would hold no workspace).
    fn pool_target(&self, config: &DockerConfig) -> u32 {
        let active = self.active.load(std::sync::atomic::Ordering::SeqCst);
        if active && !self.engine(config).remote { config.warm_pool } else { 0 }
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection to the daemon, checked with a ping; an unreachable daemon fails within [`connect_timeout`].
    async fn client(&self) -> Result<Docker, SandboxError> {
        let engine = self.engine(&self.config());
        let limit = connect_timeout(&engine);
        let mut cached = self.docker.lock().await;
        // Over SSH, a connection that ended is opened again (the requests would each log in anew otherwise).
        if cached.tunnel.as_ref().is_some_and(|link| !link.alive()) {
            *cached = Connection::default();
        }
        if let Some(docker) = cached.docker.as_ref() {
            match tokio::time::timeout(limit, docker.ping()).await {
                Ok(Ok(_)) => return Ok(docker.clone()),
                _ => cached.docker = None,
            }
        }
        // Whoever waited for an attempt that just failed (the warm pool's, say) gets its answer instead of making
        // the user wait for a second one: a hung daemon fails a start within the connection's time limit, as documented.
        if let Some((at, message)) = &cached.failed
            && at.elapsed() < limit
        {
            return Err(SandboxError::DockerUnavailable(message.clone()));
        }
        match reach(&engine).await {
            Ok(Reached { docker, tunnel }) => {
                self.used.store(true, std::sync::atomic::Ordering::SeqCst);
                *cached = Connection { docker: Some(docker.clone()), tunnel, failed: None };
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

    /// Creates, starts and health-checks a container mounting `mount` at /workspace and `record` (when given) where
    /// the agent-server keeps its record of conversations; on a remote engine, uploading `placed` instead.
    async fn launch(
        &self,
        docker: &Docker,
        config: &DockerConfig,
        (mount, record, placed): (&Path, Option<&Path>, Option<Vec<Placed>>),
        role: Role<'_>,
        // What the container runs, and what it needs to know of that image.
        (choice, image): (&ImageChoice, &ImageFacts),
        user: ContainerUser,
    ) -> Result<Container, SandboxError> {
        if config.network == "none" {
            return Err(SandboxError::Docker(
                "openhands.docker.network is \"none\": openhands-lsp could not reach the agent-server in the \
                 container. Use \"bridge\" (the default) or a user-defined network"
                    .into(),
            ));
        }
        let engine = self.engine(config);
        let began = std::time::Instant::now();
        let session_key = random_key();
        let host_port = if config.network == "host" { Some(super::free_port()?) } else { None };
        let upload_owner = user.ids();
        let spec = spec::container_spec(spec::SpecInput {
            config,
            mount,
            record,
            role,
            owner: &self.owner,
            image,
            choice,
            user,
            session_key: &session_key,
            secret_key: &random_key(),
            name_key: &random_key(),
            host_port,
            remote: engine.remote,
            publish_on: engine.publish_on(),
        });
        // Before the container exists: should this process die at any moment from now, its watcher removes it.
        super::reaper::watch_docker(&self.owner.id, config.keep_containers, engine.ssh_config.as_deref());
        let created = docker
            .create_container(Some(CreateContainerOptionsBuilder::default().name(&spec.name).build()), spec.body)
            .await
            .map_err(|e| SandboxError::Docker(format!("cannot create a container from {}: {e}", choice.image)))?;
        let id = created.id;
        tracing::debug!(container = short(&id), "created after {:?}", began.elapsed());
        self.live.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), true);
        let boot = Boot {
            session_key,
            host_port,
            exposed: spec.exposed,
            chown_to: spec.chown_to,
            chown_ids: spec.chown_ids,
            choice: choice.clone(),
            slot: matches!(role, Role::Pool).then(|| mount.to_owned()),
            record: record.map(Path::to_owned),
            began,
            upload: placed.filter(|_| engine.remote).map(|p| (p, upload_owner)),
            address: engine.published_address(),
            tunnel: if engine.ssh { self.docker.lock().await.tunnel.clone() } else { None },
        };
        let result = self.boot(docker, &id, config, boot).await;
        if result.is_err() {
            self.remove(docker, &id, false).await;
        }
        result
    }

    /// Starts a created container and waits for its agent-server.
    async fn boot(
        &self,
        docker: &Docker,
        id: &str,
        config: &DockerConfig,
        boot: Boot,
    ) -> Result<Container, SandboxError> {
        let Boot { session_key, host_port, exposed, chown_to, mut chown_ids, choice, slot, record, began, .. } = boot;
        copy_python_hook(docker, id).await;
        let placed = match boot.upload {
            Some((placed, owner)) => files::upload_as(docker, id, placed, owner.ok_or(chown_to.as_deref())).await?,
            None => Vec::new(),
        };
        // The agent-server reads its record of conversations as it starts: it must be its user's by then.
        if let (Some(record), Some(user), true) = (record, &chown_to, placed.is_empty()) {
            if chown_ids.is_none() {
                chown_ids = handle::ids_before_start(docker, id, user).await;
            }
            if let Some((uid, gid)) = chown_ids {
                tokio::task::spawn_blocking(move || chown_tree(&record, uid, gid))
                    .await
                    .map_err(|e| SandboxError::Io(e.to_string()))?
                    .map_err(|e| SandboxError::Io(format!("handing the agent-server's record to {user}: {e}")))?;
            }
        }
        docker
            .start_container(id, None)
            .await
            .map_err(|e| SandboxError::Docker(format!("cannot start the container: {e}")))?;
        let exit = handle::watch_exit(docker.clone(), id.to_owned());
        let port = match host_port {
            Some(p) => p,
            None => handle::published_port_or_why(docker, id, &exposed).await?,
        };
        let port = match &boot.tunnel {
            Some(link) => self.forwards.open(link, id, port).await?,
            None => port,
        };
        tracing::debug!(container = short(id), "started, port {port}, after {:?}", began.elapsed());
        let endpoint =
            Endpoint { base_url: format!("http://{}:{port}", boot.address), session_key: Secret::new(session_key) };
        let probe = exit.clone();
        let health = super::wait_healthy(&endpoint, startup_timeout(config), || probe.borrow().clone(), String::new);
        // The user's ids are asked of the running container while the agent-server boots, off the critical path.
        let ids = async {
            match (&chown_to, chown_ids) {
                (_, Some(ids)) => Ok(Some(ids)),
                (Some(user), None) => handle::user_ids(docker, id, user).await.map(Some),
                (None, None) => Ok(None),
            }
        };
        let (health, chown_ids) = tokio::join!(health, ids);
        if let Err(e) = health {
            let log = format!("; last log lines:\n{}", handle::log_tail(docker, id).await);
            return Err(match e {
                SandboxError::NotHealthy { after, .. } => SandboxError::NotHealthy { after, log },
                SandboxError::ExitedEarly { status, .. } => SandboxError::ExitedEarly { status, log },
                other => other,
            });
        }
        tracing::debug!(container = short(id), "healthy after {:?}", began.elapsed());
        if !placed.is_empty() {
            files::mark_uploaded(docker, id).await?;
        }
        Ok(Container {
            id: id.to_owned(),
            endpoint,
            slot,
            chown_to,
            chown_ids: chown_ids?,
            fingerprint: fingerprint(config, &choice),
            choice,
            exit,
            placed,
        })
    }

    /// Removes a container (or only stops it when `keep`).
    async fn remove(&self, docker: &Docker, id: &str, keep: bool) {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        self.forwards.close(id);
        remove_container(docker, id, keep, 5).await;
    }

    async fn start(self: Arc<Self>, spec: SandboxSpec) -> Result<Sandbox, SandboxError> {
        let docker = self.client().await?;
        let config = self.config();
        let progress = spec.progress.as_ref();
        let choice = self.choose_image(&docker, &config, &spec.workspace, &spec.source, progress).await?;
        self.serve(&choice);
        let engine = self.engine(&config);
        engine.fits(&config.network, spec.workspace_is_ours)?;
        let remote = engine.remote;
        // A warm container mounts one folder: a task across several gets its own (and a remote engine has none).
        if spec.workspace_is_ours
            && spec.folders.is_empty()
            && self.pool_root.is_some()
            && !remote
            && let Some(container) = self.take_warm(&fingerprint(&config, &choice))
        {
            self.pool_wake.notify_one();
            match self.claim(&docker, container, &spec).await {
                Ok(sandbox) => return Ok(sandbox),
                Err(e) => {
                    tracing::warn!(conversation = %spec.conversation_id, "warm container unusable ({e}); starting a new one")
                }
            }
        }
        let image = self.ensure_image(&docker, &choice.image, progress).await?;
        // The image may have just been pulled: the pool can fill now.
        self.pool_wake.notify_one();
        let what = if remote {
            format!("starting a container on {} and uploading the workspace…", engine.host)
        } else {
            "starting a container…".to_owned()
        };
        StartProgress::report_to(progress, what);
        let user = user_for(&image, spec.workspace_is_ours, choice.bundle.is_some());
        let role = Role::Conversation(&spec.conversation_id, &spec.folders);
        let placed = remote.then(|| files::placed(&spec));
        let mounts = (spec.workspace.as_path(), spec.agent_record.as_deref(), placed);
        let container = self.launch(&docker, &config, mounts, role, (&choice, &image), user).await?;
        if container.placed.is_empty()
            && let Err(e) = self.chown_workspace(&container, &spec).await
        {
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
            let (ws, s, record) = (spec.workspace.clone(), slot.clone(), spec.agent_record.clone());
            // The agent-server's record of the conversation (what it did before, when it goes on) too.
            tokio::task::spawn_blocking(move || {
                move_into_slot(&ws, &s)?;
                match record {
                    Some(record) => {
                        std::fs::create_dir_all(&record).and_then(|()| move_into_slot(&record, &record_slot(&s)))
                    }
                    None => Ok(()),
                }
            })
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
        if let Err(e) = self.chown_workspace(&container, spec).await {
            self.remove(docker, &container.id, false).await;
            return Err(e);
        }
        tracing::info!(conversation = %spec.conversation_id, container = short(&container.id), "claimed a warm container");
        Ok(self.sandbox(docker.clone(), container, &spec.subfolder))
    }

    /// Gives the workspace (and the agent-server's record) to the image's user when the agent runs as it (see
    /// [`Inner::user_for`]). Done on the host, where openhands-lsp is root: in the container, `no-new-privileges`
    /// leaves an exec'd root without capabilities.
    async fn chown_workspace(&self, container: &Container, spec: &SandboxSpec) -> Result<(), SandboxError> {
        let (Some(user), Some((uid, gid))) = (&container.chown_to, container.chown_ids) else { return Ok(()) };
        let mut roots: Vec<PathBuf> =
            std::iter::once(spec.workspace.clone()).chain(spec.agent_record.clone()).collect();
        // The extra folders' copies (the user's own folders are never handed over).
        if spec.workspace_is_ours {
            roots.extend(spec.folders.iter().map(|(_, host)| host.clone()));
        }
        tokio::task::spawn_blocking(move || roots.iter().try_for_each(|root| chown_tree(root, uid, gid)))
            .await
            .map_err(|e| SandboxError::Io(e.to_string()))?
            .map_err(|e| SandboxError::Io(format!("handing the workspace to the container's user {user}: {e}")))
    }

    fn sandbox(self: &Arc<Self>, docker: Docker, container: Container, subfolder: &Path) -> Sandbox {
        let config = self.config();
        let working_dir = Path::new(CONTAINER_WORKSPACE).join(subfolder).to_string_lossy().into_owned();
        let choice = container.choice;
        // What a dev container asks that is not applied is said once per session, not at every conversation.
        let notice = choice.notice.filter(|n| self.noticed.lock().unwrap_or_else(|p| p.into_inner()).insert(n.clone()));
        let environment = Environment {
            image: choice.bundle.is_some().then(|| choice.image.clone()),
            origin: choice.bundle.is_some().then_some(choice.origin),
            notice,
            setup: choice.post_create,
            setup_timeout: Duration::from_secs(config.setup_timeout_seconds.into()),
        };
        let files_back = (!container.placed.is_empty()).then(|| files::back(&docker, &container.id, container.placed));
        Sandbox {
            endpoint: container.endpoint.clone(),
            working_dir: working_dir.clone(),
            handle: Box::new(DockerHandle {
                docker,
                id: container.id,
                exit: container.exit,
                keep: config.keep_containers,
                provider: Arc::downgrade(self),
                stopped: Default::default(),
                working_dir,
            }),
            remote: None,
            environment,
            files_back,
        }
    }
}

/// A uid and a gid.
type Ids = (u32, u32);

/// What booting a created container needs to know.
struct Boot {
    session_key: String,
    host_port: Option<u16>,
    exposed: String,
    chown_to: Option<String>,
    chown_ids: Option<(u32, u32)>,
    choice: ImageChoice,
    slot: Option<PathBuf>,
    /// The host folder mounted as the agent-server's record of conversations.
    record: Option<PathBuf>,
    began: std::time::Instant,
    /// On a remote engine: the folders to upload, and their owner there (`None`: the image's user, asked).
    upload: Option<(Vec<Placed>, Option<Ids>)>,
    /// Where this machine reaches the ports the engine publishes.
    address: String,
    /// Over SSH: the link the agent-server's port is forwarded through.
    tunnel: Option<Arc<ssh::Link>>,
}

/// Before start: Python reads its start-up hook once, as it begins. Only a speed-up: without it (a daemon that
/// refuses the copy), the agent-server boots as the image has it (PYTHONPATH names a missing folder).
async fn copy_python_hook(docker: &Docker, id: &str) {
    let to_root = UploadToContainerOptionsBuilder::default().path("/").build();
    let copied = match python_hook::archive() {
        Ok(hook) => docker
            .upload_to_container(id, Some(to_root), bollard::body_full(hook.into()))
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = copied {
        tracing::warn!(container = short(id), "the start-up hook was not copied into the container: {e}");
    }
}
