//! No agent runs unattended on the user's key after openhands-lsp is gone, however it goes (an editor that quits
//! at once, SIGTERM, SIGKILL, a crash).
//!
//! The first sandbox starts a watcher: this same program as `openhands-lsp reap`, in its own session (a signal to
//! the editor's process group does not reach it), with no terminal and nothing on stdout. It reads a pipe from the
//! server: what to clean up (the docker instance whose containers to remove, the tmux folders of the agents'
//! terminals), one line each. The kernel closes the server's end when the server dies, SIGKILL included (and only
//! then: the pipe is close-on-exec, so no other child holds it), and end of input is the watcher's cue: it removes
//! that instance's containers and stops those tmux servers, then exits. After a clean exit it finds nothing left.

use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The hidden subcommand that runs the watcher.
pub const SUBCOMMAND: &str = "reap";

/// The server's end of the pipe to its watcher (`None` when the watcher could not be started: cleanup then rests on
/// the next start's sweep, as before).
static WATCHER: OnceLock<Mutex<Option<std::process::ChildStdin>>> = OnceLock::new();

/// Tells the watcher to remove the containers of docker instance `owner` should the server die; `keep` (the
/// `keepContainers` setting) stops them instead.
pub fn watch_docker(owner: &str, keep: bool, ssh_config: Option<&std::path::Path>) {
    send(&format!("docker {owner} {}", if keep { "keep" } else { "remove" }));
    // An engine over SSH is reached with the same SSH configuration file (`openhands.docker.sshConfig`).
    if let Some(config) = ssh_config {
        send(&format!("docker-ssh-config {}", config.display()));
    }
}

/// Tells the watcher to stop the tmux servers whose sockets are under `dir` should the server die.
pub fn watch_tmux(dir: &std::path::Path) {
    send(&format!("tmux {}", dir.display()));
}

fn send(line: &str) {
    let slot = WATCHER.get_or_init(|| Mutex::new(spawn()));
    let mut pipe = slot.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(stdin) = pipe.as_mut()
        && let Err(e) = writeln!(stdin, "{line}").and_then(|()| stdin.flush())
    {
        tracing::warn!("the sandbox watcher is gone ({e}); sandboxes are cleaned at the next start instead");
        *pipe = None;
    }
}

fn spawn() -> Option<std::process::ChildStdin> {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            tracing::warn!("cannot start the sandbox watcher (no path to this program: {e})");
            return None;
        }
    };
    let mut cmd = Command::new(exe);
    cmd.arg(SUBCOMMAND).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).current_dir("/");
    crate::platform::own_session(&mut cmd);
    match cmd.spawn() {
        Ok(mut child) => {
            tracing::debug!(pid = child.id(), "sandbox watcher started");
            // Reaped by a thread so it never lingers as a zombie of ours.
            let stdin = child.stdin.take();
            std::thread::spawn(move || child.wait());
            stdin
        }
        Err(e) => {
            tracing::warn!("cannot start the sandbox watcher: {e}");
            None
        }
    }
}

/// What the watcher was told to clean up.
#[derive(Debug, Default, PartialEq)]
pub struct Duties {
    /// The docker instance whose containers to remove (`true`: keep them, stopped).
    pub docker: Option<(String, bool)>,
    /// The SSH configuration file an engine over SSH is reached with.
    pub docker_ssh_config: Option<std::path::PathBuf>,
    /// Folders of tmux sockets whose servers to stop.
    pub tmux: Vec<std::path::PathBuf>,
}

impl Duties {
    fn read(input: impl BufRead) -> Duties {
        let mut duties = Duties::default();
        for line in input.lines().map_while(Result::ok) {
            match line.split_once(' ') {
                Some(("docker", rest)) => {
                    let (owner, mode) = rest.split_once(' ').unwrap_or((rest, "remove"));
                    duties.docker = Some((owner.to_owned(), mode == "keep"));
                }
                Some(("docker-ssh-config", path)) => duties.docker_ssh_config = Some(path.into()),
                Some(("tmux", dir)) => duties.tmux.push(dir.into()),
                _ => {}
            }
        }
        duties
    }
}

/// The watcher's first half: waits for the end of its input (the server's death or exit) and says what to clean up
/// (`sandbox::reap` does it).
pub fn wait_for_duties() -> Duties {
    Duties::read(std::io::stdin().lock())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duties_are_read_line_by_line_the_last_docker_line_winning() {
        let input = b"tmux /tmp/ohlsp-a\ndocker abc remove\nnonsense\ndocker abc keep\ntmux /tmp/ohlsp-b\n\
                      docker-ssh-config /home/me/my ssh/config\n";
        let duties = Duties::read(&input[..]);
        assert_eq!(duties.docker, Some(("abc".to_owned(), true)));
        assert_eq!(duties.docker_ssh_config, Some("/home/me/my ssh/config".into()));
        assert_eq!(duties.tmux, vec![std::path::PathBuf::from("/tmp/ohlsp-a"), "/tmp/ohlsp-b".into()]);
    }
}
