//! The `process` backend: a locally installed agent-server, one process per conversation, on a free loopback port.
//! No isolation: the agent works directly on the host.
//!
//! No agent-server outlives openhands-lsp: each is its own process group (stopped as a group), and the kernel kills
//! it if openhands-lsp dies, even by SIGKILL (`PR_SET_PDEATHSIG`).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

use super::{
    Sandbox, SandboxError, SandboxHandle, SandboxProvider, SandboxSpec, python_hook, random_key, wait_healthy,
};
use crate::agent_server::Endpoint;
use crate::platform::{Stop, create_private_dir, group_alive, signal_group, signal_pid};
use crate::secrets::{Redactor, Secret, SecretName, SecretStore};

#[derive(Debug, Clone)]
pub struct ProcessConfig {
    /// The program and its leading arguments; `--host 127.0.0.1 --port N` are appended.
    pub command: Vec<String>,
    pub startup_timeout: Duration,
}

impl ProcessConfig {
    pub fn from_settings(settings: &crate::config::ProcessSettings) -> Self {
        ProcessConfig {
            command: settings.command.split_whitespace().map(str::to_owned).collect(),
            startup_timeout: Duration::from_secs(settings.startup_timeout_seconds.into()),
        }
    }
}

pub struct ProcessProvider {
    config: RwLock<ProcessConfig>,
    secrets: SecretStore,
    running: Mutex<Vec<Arc<ProcessState>>>,
}

impl ProcessProvider {
    pub fn new(config: ProcessConfig, secrets: SecretStore) -> Self {
        ProcessProvider { config: RwLock::new(config), secrets, running: Mutex::new(Vec::new()) }
    }

    /// New settings apply to sandboxes started from now on.
    pub fn configure(&self, config: ProcessConfig) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = config;
    }
}

/// Environment variables never passed on to an agent-server: the user's secrets reach it only as a
/// conversation's secrets.
fn secret_env_vars() -> impl Iterator<Item = &'static str> {
    SecretName::ALL.into_iter().map(SecretName::env_var)
}

impl SandboxProvider for ProcessProvider {
    fn name(&self) -> &'static str {
        "process"
    }

    fn keeps_agent_record(&self) -> bool {
        true
    }

    fn start(&self, spec: SandboxSpec) -> BoxFuture<'_, Result<Sandbox, SandboxError>> {
        Box::pin(async move {
            crate::platform::PROCESS_BACKEND.map_err(SandboxError::Unsupported)?;
            let config = self.config.read().unwrap_or_else(|p| p.into_inner()).clone();
            let redactor = self.secrets.redactor();
            let Some((program, args)) = config.command.split_first() else {
                return Err(SandboxError::CommandNotFound { command: String::new(), reason: "it is empty".into() });
            };
            std::fs::create_dir_all(&spec.scratch)
                .map_err(|e| SandboxError::Io(format!("{}: {e}", spec.scratch.display())))?;
            let port = super::free_port()?;
            let python_path = python_hook::local(&spec.scratch.join("python-hook"));
            let session_key = random_key();
            // The agent's tmux servers leave its process group: should this process die before it stops them (a
            // quit right after stop, a crash, SIGKILL), its watcher does.
            super::reaper::watch_tmux(&tmux_dir(&spec.conversation_id));
            let store = agent_store_dir(&spec.conversation_id)
                .map_err(|e| SandboxError::Io(format!("the agent-server's store in memory: {e}")))?;
            let mut cmd = agent_command((program, args), &spec, &store, port, &session_key);
            if let Some(path) = python_path {
                cmd.env("PYTHONPATH", path);
            }
            crate::platform::die_with_parent(cmd.as_std_mut());
            let mut child = cmd.spawn().map_err(|e| SandboxError::CommandNotFound {
                command: config.command.join(" "),
                reason: e.to_string(),
            })?;
            let pid = child.id().unwrap_or(0);
            let state = Arc::new(ProcessState::new(pid, spec.conversation_id.clone()));
            pump_output(child.stdout.take(), state.clone(), redactor.clone());
            pump_output(child.stderr.take(), state.clone(), redactor);
            let exit_rx = watch_exit(child, state.clone());
            let endpoint =
                Endpoint { base_url: format!("http://127.0.0.1:{port}"), session_key: Secret::new(session_key) };
            let probe_rx = exit_rx.clone();
            let health =
                wait_healthy(&endpoint, config.startup_timeout, || probe_rx.borrow().clone(), || state.tail()).await;
            if let Err(e) = health {
                state.stop().await;
                return Err(e);
            }
            tracing::info!(conversation = %spec.conversation_id, pid, port, "agent-server ready");
            if let Ok(mut running) = self.running.lock() {
                running.retain(|s| !s.is_stopped());
                running.push(state.clone());
            }
            let working_dir = spec.workspace.join(&spec.subfolder).to_string_lossy().into_owned();
            Ok(Sandbox {
                endpoint,
                working_dir,
                handle: Box::new(ProcessHandle { state, exit: exit_rx }),
                remote: None,
                environment: Default::default(),
                files_back: None,
            })
        })
    }

    fn repair_hint(&self) -> Option<String> {
        let command = self.config.read().unwrap_or_else(|p| p.into_inner()).command.join(" ");
        Some(format!(
            "The agent-server installed at {command:?} looks broken: install it again from the lock in \
             openhands-lsp's repository ({}) and set openhands.process.command to V/bin/agent-server",
            crate::config::AGENT_SERVER_INSTALL
        ))
    }

    fn sweep(&self, conversation_id: &str) {
        sweep_tmux(conversation_id);
        remove_agent_store(conversation_id);
    }

    /// At exit the editor waits on us, and the kernel would SIGKILL the servers the moment we exit anyway
    /// (`PR_SET_PDEATHSIG`): kill at once rather than wait for a graceful stop.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let all: Vec<_> = self.running.lock().map(|mut r| std::mem::take(&mut *r)).unwrap_or_default();
            for state in &all {
                state.kill_now();
            }
        })
    }
}

/// Lines of agent-server output kept for error messages.
const TAIL_LINES: usize = 40;

struct ProcessState {
    pid: u32,
    conversation_id: String,
    tail: Mutex<VecDeque<String>>,
    stopped: std::sync::atomic::AtomicBool,
}

impl ProcessState {
    fn new(pid: u32, conversation_id: String) -> Self {
        ProcessState { pid, conversation_id, tail: Mutex::new(VecDeque::new()), stopped: Default::default() }
    }

    fn tail(&self) -> String {
        self.tail.lock().map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n")).unwrap_or_default()
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn kill_now(&self) {
        if self.stopped.swap(true, std::sync::atomic::Ordering::SeqCst) || self.pid == 0 {
            return;
        }
        signal_group(self.pid, Stop::Kill);
        sweep_tmux(&self.conversation_id);
        remove_agent_store(&self.conversation_id);
    }

    /// SIGTERM to the process group, then SIGKILL if it lingers; then the agent's tmux servers.
    async fn stop(&self) {
        if self.stopped.swap(true, std::sync::atomic::Ordering::SeqCst) || self.pid == 0 {
            return;
        }
        signal_group(self.pid, Stop::Term);
        for _ in 0..30 {
            if !group_alive(self.pid) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        signal_group(self.pid, Stop::Kill);
        let id = self.conversation_id.clone();
        let _ = tokio::task::spawn_blocking(move || {
            sweep_tmux(&id);
            remove_agent_store(&id);
        })
        .await;
    }
}

struct ProcessHandle {
    state: Arc<ProcessState>,
    exit: watch::Receiver<Option<String>>,
}

impl SandboxHandle for ProcessHandle {
    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.state.stop())
    }

    fn died(&self) -> BoxFuture<'_, super::Death> {
        let exit = self.exit.clone();
        Box::pin(async move {
            let status = super::exit_status(exit).await;
            super::Death { reason: format!("the agent-server process exited ({status})"), log: self.state.tail() }
        })
    }

    fn describe(&self) -> String {
        format!("agent-server pid {}", self.state.pid)
    }
}

/// The agent-server's command line and environment (without this process's secrets or terminal size).
fn agent_command(
    (program, args): (&String, &[String]),
    spec: &SandboxSpec,
    store: &std::path::Path,
    port: u16,
    session_key: &str,
) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .current_dir(&spec.scratch)
        .env("SESSION_API_KEY", session_key)
        .env("OH_SECRET_KEY", random_key())
        // The bundled model cost map: no download at start-up, and no download thread, whose logging races
        // litellm's lazy imports and can kill the server (_DeadlockError, seen with litellm 1.105.3).
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("TMUX_TMPDIR", tmux_dir(&spec.conversation_id))
        // The agent-server's own record of the conversation: with the conversation, so that it can go on
        // after a restart (its secrets encrypted under OH_SECRET_KEY, a key never written down: a new
        // sandbox gets them again); else in memory, gone with the sandbox.
        .env("OH_CONVERSATIONS_PATH", spec.agent_record.clone().unwrap_or_else(|| store.join("conversations")))
        .env("OH_BASH_EVENTS_DIR", store.join("bash_events"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for var in secret_env_vars() {
        cmd.env_remove(var);
    }
    // Not the editor's terminal size: the agent-server's logging wraps its tracebacks to COLUMNS (an agent
    // panel's narrow terminal made them 38 columns wide in the log).
    cmd.env_remove("COLUMNS").env_remove("LINES");
    if let Some(records) = spec.agent_record.as_ref().and_then(|r| r.to_str()) {
        cmd.envs(super::step_acks_env(records));
    }
    cmd
}

/// Memory-backed folders for the agent-servers' own stores (`platform::memory_base`: a per-user tmpfs on Linux).
pub(crate) fn memory_root() -> PathBuf {
    crate::platform::memory_base().join(format!("openhands-lsp-{}", crate::platform::user_id()))
}

/// The conversation's agent-server store, in memory, readable by this user only. Never on disk: it holds the
/// agent's actions as the agent wrote them.
fn agent_store_dir(conversation_id: &str) -> std::io::Result<PathBuf> {
    let root = memory_root();
    create_private_dir(&root)?;
    let meta = std::fs::symlink_metadata(&root)?;
    // Somebody else's folder (or a link) in a shared /dev/shm is no place for it.
    if !meta.is_dir() || !crate::platform::owned_by_me(&meta) {
        return Err(std::io::Error::other(format!("{} is not this user's folder", root.display())));
    }
    let dir = root.join(conversation_id);
    create_private_dir(&dir)?;
    Ok(dir)
}

/// [`live_record`]'s path, whether or not it exists.
pub fn live_record_path(conversation_id: &str) -> PathBuf {
    memory_root().join(conversation_id).join("record")
}

/// Where a sandbox's agent-server keeps its record of the conversation while it runs: in memory, beside the rest
/// of its store (the conversation keeps a copy with its secrets masked, see `conversation::resume`).
pub fn live_record(conversation_id: &str) -> std::io::Result<PathBuf> {
    let dir = agent_store_dir(conversation_id)?.join("record");
    create_private_dir(&dir)?;
    Ok(dir)
}

/// Removes the conversation's memory-backed folder (the agent-server's store and its live record): once no sandbox of
/// it runs.
pub fn remove_agent_store(conversation_id: &str) {
    let _ = std::fs::remove_dir_all(memory_root().join(conversation_id));
}

/// Where the agent's terminal tool keeps its tmux sockets. tmux daemonizes out of the agent-server's process group,
/// so it is found and stopped through these sockets. Short on purpose: a unix socket path has at most 108 bytes.
pub fn tmux_dir(conversation_id: &str) -> PathBuf {
    let short: String = conversation_id.chars().take(16).collect();
    std::env::temp_dir().join(format!("ohlsp-{short}"))
}

/// Stops every tmux server the conversation's agent started and removes its socket directory.
pub fn sweep_tmux(conversation_id: &str) {
    sweep_tmux_dir(&tmux_dir(conversation_id));
}

/// Stops every tmux server with a socket under `dir` (`dir/tmux-UID/NAME`), and removes `dir`.
pub fn sweep_tmux_dir(dir: &std::path::Path) {
    let Ok(per_user) = std::fs::read_dir(dir) else { return };
    for user_dir in per_user.flatten() {
        for socket in std::fs::read_dir(user_dir.path()).into_iter().flatten().flatten() {
            let status = std::process::Command::new("tmux")
                .arg("-S")
                .arg(socket.path())
                .arg("kill-server")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            tracing::debug!("tmux kill-server {}: {status:?}", socket.path().display());
        }
    }
    // What the agent started in the background (`cmd &`, `nohup`, a dev server) outlives its tmux server, orphaned.
    // Everything the agent's terminal started inherits `TMUX_TMPDIR` pointing at this folder: that finds it.
    kill_processes_with_env(format!("TMUX_TMPDIR={}", dir.display()).as_bytes());
    let _ = std::fs::remove_dir_all(dir);
}

/// SIGKILLs this user's processes whose environment holds the entry `wanted` (`NAME=value`).
fn kill_processes_with_env(wanted: &[u8]) {
    for pid in crate::platform::processes_with_env(wanted) {
        tracing::debug!(pid, "stopping a process the agent left behind");
        signal_pid(pid, Stop::Kill);
    }
}

fn pump_output<R>(pipe: Option<R>, state: Arc<ProcessState>, redactor: Redactor)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
{
    let Some(pipe) = pipe else { return };
    tokio::spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let line = redactor.redact(&line).into_owned();
            tracing::debug!(target: "agent_server", pid = state.pid, "{line}");
            if let Ok(mut tail) = state.tail.lock() {
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        }
    });
}

/// Reaps the child and publishes its exit status.
fn watch_exit(mut child: Child, state: Arc<ProcessState>) -> watch::Receiver<Option<String>> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(async move {
        let status = match child.wait().await {
            Ok(s) => s.to_string(),
            Err(e) => format!("wait failed: {e}"),
        };
        tracing::info!(pid = state.pid, "agent-server exited: {status}");
        let _ = tx.send(Some(status));
    });
    rx
}

#[cfg(test)]
mod tests {
    /// Where the platform has no process backend (Windows; `portable-platform` here), choosing it is refused in
    /// words that name the backends that work, before anything is started or created.
    #[cfg(feature = "portable-platform")]
    #[tokio::test]
    async fn a_system_without_the_process_backend_refuses_it_in_words() {
        use super::super::{SandboxProvider, SandboxSpec};
        let tmp = tempfile::tempdir().unwrap();
        let provider = super::ProcessProvider::new(
            super::ProcessConfig {
                command: vec!["agent-server".into()],
                startup_timeout: std::time::Duration::from_secs(1),
            },
            crate::secrets::SecretStore::default(),
        );
        let spec = SandboxSpec {
            conversation_id: "c1".into(),
            workspace: tmp.path().into(),
            subfolder: "".into(),
            folders: Vec::new(),
            scratch: tmp.path().join("scratch"),
            workspace_is_ours: true,
            progress: None,
            source: tmp.path().into(),
            title: "t".into(),
            first_message: None,
            attach: None,
            secrets: Default::default(),
            agent_record: None,
        };
        let Err(e) = provider.start(spec).await else { panic!("the process backend started") };
        let words = e.to_string();
        assert!(words.contains("not supported on this system") && words.contains("docker"), "{words}");
        assert!(!tmp.path().join("scratch").exists(), "nothing was made before the refusal");
    }
}
