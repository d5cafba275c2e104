//! A running container as the runner holds it: stop, pause and unpause, its death and the log's tail, and what
//! is asked of it (exec, its published port, its user's ids).

use std::path::Path;
use std::sync::Weak;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{LogsOptionsBuilder, RemoveContainerOptionsBuilder, WaitContainerOptionsBuilder};
use futures::StreamExt;
use futures::future::BoxFuture;
use tokio::sync::watch;

use super::{Inner, LOG_TAIL, short};
use crate::sandbox::devcontainer::SetupCommand;
use crate::sandbox::{Death, SandboxError, SandboxHandle, SetupRun};

pub(super) struct DockerHandle {
    pub docker: Docker,
    pub id: String,
    pub exit: watch::Receiver<Option<String>>,
    /// `keepContainers`: stopped, not removed.
    pub keep: bool,
    pub provider: Weak<Inner>,
    pub stopped: std::sync::atomic::AtomicBool,
    /// Where the agent works in the container (set-up commands run there).
    pub working_dir: String,
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

    fn died(&self) -> BoxFuture<'_, Death> {
        let exit = self.exit.clone();
        Box::pin(async move {
            let status = crate::sandbox::exit_status(exit).await;
            let log = log_tail(&self.docker, &self.id).await;
            Death { reason: format!("the container {} stopped ({status})", short(&self.id)), log }
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

    fn missing_commands<'a>(&'a self, commands: &'a [String]) -> BoxFuture<'a, Vec<String>> {
        Box::pin(async move {
            let mut missing = Vec::new();
            for command in commands {
                // `command -v` in the image's shell, as the agent's user: what the agent-server would start.
                let look = vec!["sh".into(), "-c".into(), "command -v \"$1\"".into(), "sh".into(), command.clone()];
                if exec_output(&self.docker, &self.id, look).await.is_err() {
                    missing.push(command.clone());
                }
            }
            missing
        })
    }

    fn run_setup<'a>(&'a self, command: &'a SetupCommand, timeout: Duration) -> BoxFuture<'a, Option<SetupRun>> {
        Box::pin(async move {
            // As the container's user (the agent's), its output and errors in one stream, in order. `timeout` ends it
            // at the limit where the image has it (coreutils); the wait below gives up on it anyway.
            let secs = timeout.as_secs().max(1).to_string();
            let script = "if command -v timeout >/dev/null 2>&1; then exec timeout -k 5 \"$0\" \"$@\" 2>&1; else exec \"$@\" 2>&1; fi";
            let mut cmd: Vec<String> = vec!["/bin/sh".into(), "-c".into(), script.into(), secs];
            match command {
                SetupCommand::Shell(text) => cmd.extend(["/bin/sh".into(), "-c".into(), text.clone()]),
                SetupCommand::Exec(argv) => cmd.extend(argv.iter().cloned()),
            }
            let run = exec_run(&self.docker, &self.id, cmd, Some(&self.working_dir));
            match tokio::time::timeout(timeout + Duration::from_secs(10), run).await {
                Ok(Ok((code, output))) => {
                    // `timeout` exits 124 (137 when it had to kill).
                    let timed_out = matches!(code, 124 | 137);
                    Some(SetupRun { exit_code: (!timed_out).then_some(code), timed_out, output })
                }
                Ok(Err(e)) => Some(SetupRun { exit_code: None, timed_out: false, output: e.to_string() }),
                Err(_) => Some(SetupRun { exit_code: None, timed_out: true, output: String::new() }),
            }
        })
    }

    fn describe(&self) -> String {
        format!("container {}", short(&self.id))
    }
}

/// The numeric uid and gid of the container's user.
pub(super) async fn user_ids(docker: &Docker, id: &str, user: &str) -> Result<(u32, u32), SandboxError> {
    let ask = |flag: &'static str| exec_output(docker, id, vec!["id".into(), flag.into()]);
    let (uid, gid) = tokio::join!(ask("-u"), ask("-g"));
    match (uid?.trim().parse::<u32>(), gid?.trim().parse::<u32>()) {
        (Ok(u), Ok(g)) => Ok((u, g)),
        _ => Err(SandboxError::Docker(format!("cannot tell the uid of the container's user {user}"))),
    }
}

/// The uid and gid of the image's user `user` in a container that has not started yet, read from its /etc/passwd
/// (a user given as numbers is taken as it is); `None` when it cannot be told.
pub(super) async fn ids_before_start(docker: &Docker, id: &str, user: &str) -> Option<(u32, u32)> {
    let (name, group) = user.split_once(':').map_or((user, None), |(u, g)| (u, Some(g)));
    if let Ok(uid) = name.parse::<u32>() {
        return Some((uid, group.and_then(|g| g.parse().ok()).unwrap_or(uid)));
    }
    let options = bollard::query_parameters::DownloadFromContainerOptionsBuilder::default().path("/etc/passwd").build();
    let mut stream = docker.download_from_container(id, Some(options));
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.ok()?);
    }
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut entry = archive.entries().ok()?.next()?.ok()?;
    let mut passwd = String::new();
    std::io::Read::read_to_string(&mut entry, &mut passwd).ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 4 || fields[0] != name {
            return None;
        }
        Some((fields[2].parse().ok()?, fields[3].parse().ok()?))
    })
}

/// Runs a command as the container's user (in `dir`, when given) and returns its exit code and its output.
async fn exec_run(
    docker: &Docker,
    id: &str,
    cmd: Vec<String>,
    dir: Option<&str>,
) -> Result<(i64, String), SandboxError> {
    let fail = |e: String| SandboxError::Docker(format!("running {:?} in the container: {e}", cmd.last()));
    let options = bollard::exec::CreateExecOptions {
        cmd: Some(cmd.clone()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        working_dir: dir.map(str::to_owned),
        ..Default::default()
    };
    let exec = docker.create_exec(id, options).await.map_err(|e| fail(e.to_string()))?;
    let mut output = String::new();
    if let bollard::exec::StartExecResults::Attached { output: mut stream, .. } =
        docker.start_exec(&exec.id, None).await.map_err(|e| fail(e.to_string()))?
    {
        while let Some(Ok(chunk)) = stream.next().await {
            output.push_str(&chunk.to_string());
        }
    }
    let code = docker.inspect_exec(&exec.id).await.map_err(|e| fail(e.to_string()))?.exit_code.unwrap_or(-1);
    Ok((code, output))
}

/// Runs a command as the container's user and returns its standard output; fails on a non-zero exit.
pub(super) async fn exec_output(docker: &Docker, id: &str, cmd: Vec<String>) -> Result<String, SandboxError> {
    exec_stdout(docker, id, cmd).await.map(|out| String::from_utf8_lossy(&out).into_owned())
}

/// [`exec_output`] as bytes (file names need not be UTF-8).
pub(super) async fn exec_stdout(docker: &Docker, id: &str, cmd: Vec<String>) -> Result<Vec<u8>, SandboxError> {
    let fail = |e: String| SandboxError::Docker(format!("{cmd:?} in the container: {e}"));
    let (exec, output) = exec_start(docker, id, &cmd).await.map_err(fail)?;
    let mut stdout = Vec::new();
    let mut stderr = String::new();
    if let Some(mut output) = output {
        while let Some(Ok(chunk)) = output.next().await {
            match chunk {
                bollard::container::LogOutput::StdOut { message } => stdout.extend_from_slice(&message),
                other => stderr.push_str(&other.to_string()),
            }
        }
    }
    let code = docker.inspect_exec(&exec).await.map_err(|e| fail(e.to_string()))?.exit_code.unwrap_or(-1);
    if code != 0 {
        return Err(fail(format!("exit code {code}: {}", stderr.trim())));
    }
    Ok(stdout)
}

/// Runs `cmd` in the container, handing its stdout to `sink` piece by piece (never whole in memory); its exit code.
pub(super) async fn exec_streamed(
    docker: &Docker,
    id: &str,
    cmd: Vec<String>,
    sink: tokio::sync::mpsc::Sender<bytes::Bytes>,
) -> Result<i64, SandboxError> {
    let fail = |e: String| SandboxError::Docker(format!("{:?} in the container: {e}", cmd.first()));
    let (exec, output) = exec_start(docker, id, &cmd).await.map_err(fail)?;
    if let Some(mut output) = output {
        while let Some(chunk) = output.next().await {
            match chunk.map_err(|e| fail(e.to_string()))? {
                bollard::container::LogOutput::StdOut { message } => {
                    if sink.send(message).await.is_err() {
                        break;
                    }
                }
                other => tracing::debug!(container = short(id), "{:?}: {}", cmd.first(), other.to_string().trim()),
            }
        }
    }
    drop(sink);
    Ok(docker.inspect_exec(&exec).await.map_err(|e| fail(e.to_string()))?.exit_code.unwrap_or(-1))
}

type ExecOutput = std::pin::Pin<
    Box<dyn futures::Stream<Item = Result<bollard::container::LogOutput, bollard::errors::Error>> + Send>,
>;

/// Starts `cmd` in the container with its stdout and stderr attached: the exec's id and its output.
async fn exec_start(docker: &Docker, id: &str, cmd: &[String]) -> Result<(String, Option<ExecOutput>), String> {
    let options = bollard::exec::CreateExecOptions {
        cmd: Some(cmd.to_vec()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        ..Default::default()
    };
    let exec = docker.create_exec(id, options).await.map_err(|e| e.to_string())?;
    match docker.start_exec(&exec.id, None).await.map_err(|e| e.to_string())? {
        bollard::exec::StartExecResults::Attached { output, .. } => Ok((exec.id, Some(output))),
        bollard::exec::StartExecResults::Detached => Ok((exec.id, None)),
    }
}

/// `lchown -R`: symbolic links are not followed, so nothing outside `root` changes owner.
pub(super) fn chown_tree(root: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    crate::platform::lchown(root, uid, gid)?;
    if !std::fs::symlink_metadata(root)?.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(root)? {
        chown_tree(&entry?.path(), uid, gid)?;
    }
    Ok(())
}

/// The host port the agent-server's port is published on; a container that stopped has none: then why it stopped.
pub(super) async fn published_port_or_why(docker: &Docker, id: &str, exposed: &str) -> Result<u16, SandboxError> {
    match published_port(docker, id, exposed).await {
        Ok(p) => Ok(p),
        Err(e) => match stopped_status(docker, id).await {
            Some(status) => {
                let log = format!("; last log lines:\n{}", log_tail(docker, id).await);
                Err(SandboxError::ExitedEarly { status, log })
            }
            None => Err(e),
        },
    }
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
pub(super) fn watch_exit(docker: Docker, id: String) -> watch::Receiver<Option<String>> {
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
pub(super) async fn log_tail(docker: &Docker, id: &str) -> String {
    let options = LogsOptionsBuilder::default().stdout(true).stderr(true).tail(&LOG_TAIL.to_string()).build();
    let mut out = String::new();
    let mut logs = docker.logs(id, Some(options));
    while let Some(Ok(chunk)) = logs.next().await {
        out.push_str(&chunk.to_string());
    }
    out.trim_end().to_owned()
}
