//! Sandboxes: where a conversation's agent-server runs. Backends differ only in how they provision one; after
//! that every conversation talks to an [`Endpoint`] through the same agent-server client.

pub mod devcontainer;
pub mod docker;
pub mod process;
mod python_hook;
pub mod reaper;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::agent_server::{AgentServerClient, Endpoint};

/// What a conversation asks of a backend.
#[derive(Debug, Clone, Default)]
pub struct SandboxSpec {
    pub conversation_id: String,
    /// The host directory the sandbox gets.
    pub workspace: PathBuf,
    /// Where in `workspace` the agent works (empty: at its top).
    pub subfolder: PathBuf,
    /// The host folders the sandbox shows besides `workspace` (a task across folders), by name: a container mounts
    /// each under `/folders/<name>`; a process sees them where they are.
    pub folders: Vec<(String, PathBuf)>,
    /// A directory of the conversation's own for the sandbox's files (agent-server state, logs).
    pub scratch: PathBuf,
    /// The workspace is openhands-lsp's own copy (a worktree), not the user's folder: a backend may move it (keeping
    /// its path) and change its owner.
    pub workspace_is_ours: bool,
    /// Where to report what a slow start is doing (pulling an image, booting a container).
    pub progress: Option<StartProgress>,
    /// The user's folder the conversation started from (its git remote and branch tell the cloud what to clone).
    pub source: PathBuf,
    pub title: String,
    /// The conversation's first message, for a backend that starts the conversation itself ([`SandboxProvider::starts_conversations`]).
    pub first_message: Option<String>,
    /// Follow this existing cloud conversation instead of starting one.
    pub attach: Option<String>,
    /// The conversation's secrets (provider tokens by the names the agent's shell knows): a backend that creates
    /// the conversation itself (the cloud) passes them on.
    pub secrets: std::collections::BTreeMap<String, crate::secrets::Secret>,
    /// The folder where the agent-server keeps its record of the conversation (its `conversations` folder), kept
    /// with the conversation so that it can go on after a restart ([`SandboxProvider::keeps_agent_record`]). `None`:
    /// in memory, gone with the sandbox.
    pub agent_record: Option<PathBuf>,
}

/// A conversation in OpenHands Cloud (or a self-hosted OpenHands server).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CloudLink {
    /// The app conversation's id (also its id on the sandbox's agent-server).
    pub conversation_id: String,
    pub sandbox_id: String,
    /// The conversation's page in the web UI.
    pub url: String,
    /// `owner/repo` the cloud cloned, and the branch it started from.
    pub repository: Option<String>,
    pub branch: Option<String>,
    /// Pull requests the agent opened (numbers on the repository's provider).
    #[serde(default)]
    pub pull_requests: Vec<u64>,
}

/// A conversation that the backend created on its agent-server (the cloud does, with its first message sent).
#[derive(Clone)]
pub struct RemoteConversation {
    /// Its id on the agent-server.
    pub id: String,
    /// The repository's folder name (where the cloud cloned it, below the agent's working directory).
    pub repo_name: Option<String>,
    pub link: CloudLink,
    /// Asks the backend which pull requests the agent has opened so far (`None`: it could not tell now).
    pub pull_requests: Arc<dyn Fn() -> BoxFuture<'static, Option<Vec<u64>>> + Send + Sync>,
}

impl std::fmt::Debug for RemoteConversation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteConversation").field("id", &self.id).field("link", &self.link).finish_non_exhaustive()
    }
}

/// Receives progress messages while a sandbox starts.
#[derive(Clone)]
pub struct StartProgress(Arc<dyn Fn(String) + Send + Sync>);

impl StartProgress {
    pub fn new(f: impl Fn(String) + Send + Sync + 'static) -> Self {
        StartProgress(Arc::new(f))
    }

    pub fn report(&self, message: String) {
        (self.0)(message)
    }

    /// Reports to `progress`, when there is one to report to.
    pub fn report_to(progress: Option<&StartProgress>, message: String) {
        if let Some(p) = progress {
            p.report(message);
        }
    }
}

impl std::fmt::Debug for StartProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StartProgress")
    }
}

/// A running sandbox.
pub struct Sandbox {
    pub endpoint: Endpoint,
    /// The working directory to give the agent-server (a path inside the sandbox).
    pub working_dir: String,
    pub handle: Box<dyn SandboxHandle>,
    /// Set when the backend created the conversation itself; else the runner creates it.
    pub remote: Option<RemoteConversation>,
    /// What the sandbox runs on and what to do in it before the agent starts.
    pub environment: Environment,
    /// Set when the sandbox works on copies of the conversation's folders on another machine (a remote Docker
    /// engine): brings what the agent changed there back into them.
    pub files_back: Option<FilesBack>,
}

/// Writes what the agent changed in the sandbox into the conversation's folders on this machine; returns how many
/// files changed here.
pub type FilesBack = Arc<dyn Fn() -> BoxFuture<'static, Result<usize, SandboxError>> + Send + Sync>;

/// What a sandbox runs on (a project's image), for the conversation's header, and its set-up.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// The image the agent works in, when it is a project's own (its toolchain); `None`: the backend's usual place.
    pub image: Option<String>,
    /// Where that image comes from, in words.
    pub origin: Option<String>,
    /// What the project's configuration asked that is not applied, to be said once.
    pub notice: Option<String>,
    /// Commands run in the sandbox before the agent starts (the dev container's `postCreateCommand`; the runner adds
    /// `.openhands/setup.sh`). Only a backend that can run them ([`SandboxHandle::run_setup`]) does.
    pub setup: Vec<(String, devcontainer::SetupCommand)>,
    /// How long each set-up command may take.
    pub setup_timeout: Duration,
}

/// How a set-up command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupRun {
    /// Its exit code (`None`: it was stopped at the time limit, or could not be told).
    pub exit_code: Option<i64>,
    pub timed_out: bool,
    /// Its output, standard error included.
    pub output: String,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "cannot start the agent-server command {command:?}: {reason}. Install it ({install}) and set openhands.process.command to V/bin/agent-server",
        install = crate::config::AGENT_SERVER_INSTALL
    )]
    CommandNotFound { command: String, reason: String },
    #[error("the agent-server did not become healthy within {after:?}{log}")]
    NotHealthy { after: Duration, log: String },
    #[error("the agent-server exited during start-up ({status}){log}")]
    ExitedEarly { status: String, log: String },
    #[error("cannot prepare the sandbox: {0}")]
    Io(String),
    /// The chosen backend cannot run on this system; the message says which can.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The daemon cannot be reached; the message names the cause and the fix.
    #[error("{0}")]
    DockerUnavailable(String),
    /// The image is missing and cannot be pulled; the message says what to do.
    #[error("{0}")]
    Image(String),
    #[error("Docker: {0}")]
    Docker(String),
    /// The warm pool does not pull: the image is pulled when a conversation starts.
    #[error("the image {0} is not present yet: it is pulled when the first conversation starts")]
    ImageAbsent(String),
    /// OpenHands Cloud refused, failed or lost the conversation; the message says what to do.
    #[error("{0}")]
    Cloud(String),
}

/// The folder, inside the agent-server's folder of conversation records, where openhands-lsp says it has taken a
/// step's checkpoint (`following` while it follows the conversation; one empty file per step, by the observation's
/// event id). The agent-server's start-up hook (`sitecustomize.py`, `_StepRecorded`) holds the agent's next step until
/// then, so a checkpoint holds exactly its step's files. The agent-server skips it: it has no `meta.json`.
pub const STEP_ACKS: &str = ".openhands-lsp-steps";

/// The hook's environment, for an agent-server whose records are at `records` (a path in the sandbox).
pub fn step_acks_env(records: &str) -> [(&'static str, String); 2] {
    [
        ("OPENHANDS_LSP_STEP_ACKS", format!("{}/{STEP_ACKS}", records.trim_end_matches('/'))),
        ("OPENHANDS_LSP_QUIET_TOOLS", crate::agent_server::events::QUIET_TOOLS.join(",")),
    ]
}

/// Controls one running sandbox.
pub trait SandboxHandle: Send + Sync {
    /// Stops and removes the sandbox. Idempotent.
    fn stop(&self) -> BoxFuture<'_, ()>;
    /// Resolves when the sandbox dies on its own: why, and the last lines of its log.
    fn died(&self) -> BoxFuture<'_, Death>;
    /// Freezes the sandbox itself (docker pause); the default does nothing beyond the agent's own pause.
    fn freeze(&self) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(async { Ok(()) })
    }
    fn thaw(&self) -> BoxFuture<'_, Result<(), SandboxError>> {
        Box::pin(async { Ok(()) })
    }
    /// Whether something outside openhands-lsp froze the sandbox (`docker pause` by hand).
    fn paused_outside(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { false })
    }
    /// Which of `commands` cannot be found where the agent runs (in a container: inside it); the default looks
    /// nothing up (the process backend's are looked up before it starts).
    fn missing_commands<'a>(&'a self, _commands: &'a [String]) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async { Vec::new() })
    }
    /// Runs a set-up command where the agent works, as the agent's user, in its working directory; `None`: this
    /// backend runs no set-up (the process backend uses the machine's own toolchain; the cloud has its own).
    fn run_setup<'a>(
        &'a self,
        _command: &'a devcontainer::SetupCommand,
        _timeout: Duration,
    ) -> BoxFuture<'a, Option<SetupRun>> {
        Box::pin(async { None })
    }
    /// A short description for logs and status (`pid 1234`, `container abc`).
    fn describe(&self) -> String;
}

/// How a sandbox died: one line for the person (`the container 1a2b3c stopped (exit code 137)`), and its log's
/// last lines for the log, where they help whoever looks into it without filling a popup.
#[derive(Debug, Clone, Default)]
pub struct Death {
    pub reason: String,
    pub log: String,
}

pub trait SandboxProvider: Send + Sync {
    fn name(&self) -> &'static str;
    fn start(&self, spec: SandboxSpec) -> BoxFuture<'_, Result<Sandbox, SandboxError>>;
    /// Stops everything this provider started (at exit).
    fn shutdown(&self) -> BoxFuture<'_, ()>;
    /// Clears what a sandbox of an earlier, dead session may have left behind. Must be quick when there is nothing.
    fn sweep(&self, _conversation_id: &str) {}
    /// The backend creates the conversation on its agent-server itself, with the first message (the cloud): the
    /// spec carries it, and the runner follows what it created.
    fn starts_conversations(&self) -> bool {
        false
    }
    /// The sandbox sees only the workspace, nothing else of the host (a container's one mount).
    fn sees_only_the_workspace(&self) -> bool {
        false
    }
    /// The agent-server's record of a conversation can be kept in [`SandboxSpec::agent_record`], and a sandbox
    /// started on it again goes on with the conversation (the process and docker backends).
    fn keeps_agent_record(&self) -> bool {
        false
    }
    /// What to do when the agent-server this provider runs is itself broken (it fails with an error of its own where
    /// it should work): how to install or get it again. `None`: nothing the user can repair here (the cloud's).
    fn repair_hint(&self) -> Option<String> {
        None
    }
    /// The provider of one backend, where this one holds several (a conversation that runs elsewhere than the
    /// selected backend).
    fn select(&self, _backend: crate::config::Backend) -> Option<SharedProvider> {
        None
    }
}

pub type SharedProvider = Arc<dyn SandboxProvider>;

/// The sandbox watcher (`openhands-lsp reap`, see `reaper`): once the server is gone, removes what it was told of.
pub fn reap() -> std::process::ExitCode {
    let duties = reaper::wait_for_duties();
    for dir in &duties.tmux {
        process::sweep_tmux_dir(dir);
    }
    if let Some((owner, keep)) = duties.docker {
        match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt.block_on(docker::remove_instance(&owner, keep, duties.docker_ssh_config.clone())),
            Err(_) => return std::process::ExitCode::FAILURE,
        }
    }
    std::process::ExitCode::SUCCESS
}

/// Polls `/health` until it answers, the deadline passes, or `early_exit` reports the server died.
pub async fn wait_healthy(
    endpoint: &Endpoint,
    timeout: Duration,
    mut early_exit: impl FnMut() -> Option<String>,
    log_tail: impl Fn() -> String,
) -> Result<(), SandboxError> {
    let client = AgentServerClient::new(endpoint.clone());
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(50);
    loop {
        if let Some(status) = early_exit() {
            return Err(SandboxError::ExitedEarly { status, log: format_tail(&log_tail()) });
        }
        if client.health(Duration::from_secs(2)).await.is_ok() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(SandboxError::NotHealthy { after: timeout, log: format_tail(&log_tail()) });
        }
        tokio::time::sleep(delay).await;
        // Every poll past the moment it turns healthy is time the user waits: keep the step short.
        delay = (delay * 2).min(Duration::from_millis(100));
    }
}

/// Waits for a sandbox's exit status, published once on `exit` by whoever watches the sandbox.
pub(crate) async fn exit_status(mut exit: tokio::sync::watch::Receiver<Option<String>>) -> String {
    loop {
        if let Some(status) = exit.borrow_and_update().clone() {
            return status;
        }
        if exit.changed().await.is_err() {
            return "unknown status".to_owned();
        }
    }
}

fn format_tail(tail: &str) -> String {
    if tail.trim().is_empty() { String::new() } else { format!("; last log lines:\n{tail}") }
}

/// A loopback port nothing listens on now (the agent-server takes it a moment later).
pub(crate) fn free_port() -> Result<u16, SandboxError> {
    let no_port = |e: std::io::Error| SandboxError::Io(format!("no free loopback port: {e}"));
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(no_port)?;
    listener.local_addr().map(|a| a.port()).map_err(no_port)
}

/// A random hex key (session keys, secret keys) from the OS's randomness.
pub fn random_key() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("{a}{b}")
}
