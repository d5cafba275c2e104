//! A Docker engine reached over SSH (`DOCKER_HOST=ssh://[user@]host[:port]`), the way the docker CLI reaches one:
//! the engine's API through `docker system dial-stdio` run on that host, once for each HTTP connection. Unlike the
//! CLI, one SSH connection serves them all (a ControlMaster this process starts and ends, and which dies with it),
//! and the ports the engine publishes on its host's loopback are forwarded to this machine's loopback through it
//! (`ssh -W`): the agent-server is never exposed on the engine host's network.
//!
//! openhands-lsp cannot answer a prompt: the key comes from ssh-agent or the SSH configuration (`~/.ssh/config`, or
//! the file `openhands.docker.sshConfig` names), and a host whose key is not known is refused (`BatchMode`).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bollard::{BollardRequest, Docker};
use futures::future::BoxFuture;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::sandbox::SandboxError;

/// Where an `ssh://[user@]host[:port]` address points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl Destination {
    /// Reads `ssh://[user@]host[:port]` (`[v6]` in brackets), as the docker CLI does: no path, nothing that ssh
    /// would take for an option.
    pub fn parse(address: &str) -> Result<Destination, String> {
        let form = "ssh://[user@]host[:port]";
        let bad =
            |why: &str| format!("DOCKER_HOST {address} is not an address ssh can use ({why}): write it as {form}");
        let rest = address.strip_prefix("ssh://").ok_or_else(|| bad("not ssh://"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(bad("it names a path"));
        }
        let (user, authority) = match rest.rsplit_once('@') {
            Some((user, authority)) => (Some(user.to_owned()), authority),
            None => (None, rest),
        };
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (host, tail) = v6.split_once(']').ok_or_else(|| bad("an unclosed ["))?;
                (host, tail.strip_prefix(':'))
            }
            None => match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let port = port.map(|p| p.parse::<u16>().map_err(|_| bad("the port is not a number"))).transpose()?;
        let looks_like_option = |s: &str| s.is_empty() || s.starts_with('-') || s.contains(char::is_whitespace);
        if looks_like_option(host) || user.as_deref().is_some_and(looks_like_option) {
            return Err(bad("no host, or a host or user ssh would read as an option"));
        }
        Ok(Destination { user, host: host.to_owned(), port })
    }

    /// `user@host` as ssh and people write it.
    fn shown(&self) -> String {
        match &self.user {
            Some(user) => format!("{user}@{}", self.host),
            None => self.host.clone(),
        }
    }
}

/// One SSH connection to the engine's host, shared by every request and forwarded port; it ends (and its control
/// folder goes) when the last user drops it.
pub struct Link {
    destination: Destination,
    /// `-F`: the SSH configuration file to read instead of `~/.ssh/config`.
    config: Option<PathBuf>,
    /// A private folder holding the ControlMaster's socket.
    dir: PathBuf,
    /// Killed on drop; dies with this process too (`platform::die_with_parent`).
    master: Mutex<Child>,
    /// What the last `docker system dial-stdio` says on stderr, once it ends: why the engine did not answer.
    last_dial: Mutex<Option<tokio::task::JoinHandle<String>>>,
}

/// The links this process holds, by destination and configuration file: the provider, `doctor`'s probe (which the
/// status runs again and again) and the image plan share one SSH connection to a host rather than log in each time.
type Held = Vec<((Destination, Option<PathBuf>), std::sync::Weak<Link>)>;
static HELD: std::sync::OnceLock<tokio::sync::Mutex<Held>> = std::sync::OnceLock::new();

impl Link {
    /// The connection to `destination` this process holds, or a new one (within the caller's time limit).
    pub async fn to(destination: Destination, config: Option<PathBuf>) -> Result<Arc<Link>, String> {
        let mut held = HELD.get_or_init(Default::default).lock().await;
        held.retain(|(_, link)| link.strong_count() > 0);
        let key = (destination, config);
        let standing = held.iter().filter(|(k, _)| *k == key).find_map(|(_, link)| link.upgrade());
        if let Some(link) = standing.filter(|link| link.alive()) {
            return Ok(link);
        }
        let link = Link::open(key.0.clone(), key.1.clone()).await?;
        held.retain(|(k, _)| *k != key);
        held.push((key, Arc::downgrade(&link)));
        Ok(link)
    }

    /// Connects to the engine's host and keeps the connection for the requests.
    async fn open(destination: Destination, config: Option<PathBuf>) -> Result<Arc<Link>, String> {
        crate::platform::SSH_MULTIPLEXING.map_err(|why| format!("DOCKER_HOST ssh://{}: {why}", destination.shown()))?;
        let dir = private_dir().map_err(|e| format!("cannot make a folder for the SSH connection's socket: {e}"))?;
        let control = dir.join("ctl");
        let mut master = ssh_command(&destination, config.as_deref(), &control);
        master.args(["-M", "-N", "-o", "ControlPersist=no", "-o", "ConnectTimeout=10"]);
        master.args(["-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3"]);
        master.arg("--").arg(&destination.host);
        let mut master = match master.spawn() {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(no_ssh(&destination, &e));
            }
        };
        let said = collect(master.stderr.take());
        // The socket appears once ssh has logged in; an ssh that ends first says why on stderr.
        loop {
            if control.exists() {
                break;
            }
            if let Ok(Some(_)) = master.try_wait() {
                let text = said.await.unwrap_or_default();
                let _ = std::fs::remove_dir_all(&dir);
                return Err(login_failure(&destination, &text));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Arc::new(Link { destination, config, dir, master: Mutex::new(master), last_dial: Mutex::default() }))
    }

    /// Whether the SSH connection still stands (a network that dropped, a host that rebooted end it): without it
    /// each request would log in anew, so the client connects again instead.
    pub fn alive(&self) -> bool {
        matches!(self.master.lock().unwrap_or_else(|p| p.into_inner()).try_wait(), Ok(None))
    }

    fn ssh(&self) -> Command {
        let mut command = ssh_command(&self.destination, self.config.as_deref(), &self.dir.join("ctl"));
        // A connection through the master only: should it be gone, ssh would log in anew rather than fail.
        command.args(["-o", "ControlMaster=no"]);
        command
    }

    /// A new connection to the engine's API.
    async fn dial(&self) -> io::Result<Stdio2> {
        let mut command = self.ssh();
        command.arg("--").arg(&self.destination.host).args(["docker", "system", "dial-stdio"]);
        let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
        *self.last_dial.lock().unwrap_or_else(|p| p.into_inner()) = Some(collect(child.stderr.take()));
        Stdio2::of(child)
    }

    /// A stream to `127.0.0.1:port` on the engine's host.
    async fn tunnel(&self, port: u16) -> io::Result<Stdio2> {
        let mut command = self.ssh();
        command.arg("-W").arg(format!("127.0.0.1:{port}")).arg("--").arg(&self.destination.host);
        let child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
        Stdio2::of(child)
    }

    /// Forwards a port of this machine's loopback to `port` on the engine host's loopback, until the returned
    /// [`Forward`] is dropped.
    pub async fn forward(self: &Arc<Self>, port: u16) -> io::Result<Forward> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let local = listener.local_addr()?.port();
        let link = self.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let link = link.clone();
                tokio::spawn(async move {
                    match link.tunnel(port).await {
                        Ok(mut tunnel) => {
                            let _ = tokio::io::copy_bidirectional(&mut socket, &mut tunnel).await;
                        }
                        Err(e) => tracing::warn!("cannot forward a connection to the engine's port {port}: {e}"),
                    }
                });
            }
        });
        Ok(Forward { port: local, task })
    }

    /// Why a request to the engine failed, in words: what `docker system dial-stdio` said there, when it said
    /// anything (no docker command, no daemon, no permission), else the request's own error.
    pub async fn explain(&self, err: &bollard::errors::Error) -> String {
        let last = self.last_dial.lock().unwrap_or_else(|p| p.into_inner()).take();
        // The request failed as the command ended: its last words are on their way.
        let said = match last {
            Some(said) => tokio::time::timeout(Duration::from_secs(2), said).await.ok().and_then(Result::ok),
            None => None,
        };
        dial_failure(&self.destination, &said.unwrap_or_default(), err)
    }
}

/// Why the engine did not answer through `docker system dial-stdio`, from what it said there.
fn dial_failure(destination: &Destination, said: &str, err: &bollard::errors::Error) -> String {
    let host = destination.shown();
    let last = said.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().trim().to_owned();
    if last.contains("not found") && last.contains("docker") {
        format!(
            "Docker over SSH at {host}: the docker command is not on that host's PATH ({last}). openhands-lsp runs \
             `docker system dial-stdio` there, as the docker CLI does: install the docker CLI there"
        )
    } else if !last.is_empty() {
        format!("Docker over SSH at {host} did not answer: {last}. Check with: ssh {host} docker info")
    } else {
        format!("Docker over SSH at {host} did not answer: {err}. Check with: ssh {host} docker info")
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Docker client whose connections are `docker system dial-stdio` on the engine's host, through `link`.
pub fn docker(link: Arc<Link>) -> Result<Docker, bollard::errors::Error> {
    let client = Arc::new(Client::builder(TokioExecutor::new()).build(Dialer(link)));
    let transport = move |request: BollardRequest| {
        let client = client.clone();
        async move { client.request(request).await.map_err(bollard::errors::Error::from) }
    };
    // The address only names the requests (http://docker/v1.xx/…): every connection is the dialer's.
    Docker::connect_with_custom_transport(transport, Some("http://docker"), 120, bollard::API_DEFAULT_VERSION)
}

/// A forwarded port; the forwarding ends when it is dropped (connections under way end with their container).
pub struct Forward {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The agent-server ports forwarded through SSH, by container id.
#[derive(Default)]
pub struct Forwards(Mutex<HashMap<String, Forward>>);

impl Forwards {
    /// Forwards the engine host's `port` (published there on loopback) to this machine until [`Forwards::close`]
    /// for container `id`; the port here.
    pub async fn open(&self, link: &Arc<Link>, id: &str, port: u16) -> Result<u16, SandboxError> {
        let forward = link.forward(port).await.map_err(|e| {
            SandboxError::Docker(format!("cannot forward the agent-server's port {port} through SSH: {e}"))
        })?;
        let here = forward.port;
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_owned(), forward);
        Ok(here)
    }

    pub fn close(&self, id: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
}

/// hyper's connector: each new connection is a new `docker system dial-stdio`.
#[derive(Clone)]
struct Dialer(Arc<Link>);

impl tower_service::Service<http::Uri> for Dialer {
    type Response = TokioIo<Stdio2>;
    type Error = io::Error;
    type Future = BoxFuture<'static, io::Result<TokioIo<Stdio2>>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let link = self.0.clone();
        Box::pin(async move { link.dial().await.map(TokioIo::new) })
    }
}

/// A child's stdin and stdout as one stream (the child killed when it is dropped).
struct Stdio2 {
    _child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

impl Stdio2 {
    fn of(mut child: Child) -> io::Result<Stdio2> {
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(io::Error::other("ssh started without its pipes"));
        };
        Ok(Stdio2 { _child: child, stdin, stdout })
    }
}

impl AsyncRead for Stdio2 {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdout).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stdio2 {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stdin).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdin).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stdin).poll_shutdown(cx)
    }
}

impl Connection for Stdio2 {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

/// `ssh` with what every use shares: the configuration, no prompts, the control socket, the user and port.
fn ssh_command(destination: &Destination, config: Option<&Path>, control: &Path) -> Command {
    let mut ssh = std::process::Command::new("ssh");
    if let Some(config) = config {
        ssh.arg("-F").arg(config);
    }
    ssh.args(["-o", "BatchMode=yes", "-S"]).arg(control);
    if let Some(user) = &destination.user {
        ssh.args(["-l", user]);
    }
    if let Some(port) = destination.port {
        ssh.args(["-p", &port.to_string()]);
    }
    crate::platform::die_with_parent(&mut ssh);
    let mut ssh = Command::from(ssh);
    ssh.kill_on_drop(true).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    ssh
}

/// A folder only this user can enter, for the control socket (short: a socket's path has ~100 bytes at most).
fn private_dir() -> io::Result<PathBuf> {
    let base = if cfg!(unix) { PathBuf::from("/tmp") } else { std::env::temp_dir() };
    let dir = base.join(format!("ohlsp-ssh-{}", &crate::sandbox::random_key()[..12]));
    crate::platform::create_private_dir(&dir)?;
    Ok(dir)
}

/// Everything `stream` says, once it ends.
fn collect(stream: Option<tokio::process::ChildStderr>) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut text = String::new();
        if let Some(mut stream) = stream {
            let _ = stream.read_to_string(&mut text).await;
        }
        text
    })
}

fn no_ssh(destination: &Destination, err: &io::Error) -> String {
    if err.kind() == io::ErrorKind::NotFound {
        format!(
            "DOCKER_HOST ssh://{} is reached with the ssh command, as the docker CLI does, and ssh is not installed \
             here: install OpenSSH's client",
            destination.shown()
        )
    } else {
        format!("cannot run ssh to reach the Docker engine at {}: {err}", destination.shown())
    }
}

/// Why ssh could not log in to the engine's host, with what to do (nothing can be asked: BatchMode).
fn login_failure(destination: &Destination, said: &str) -> String {
    let host = destination.shown();
    let last = said
        .lines()
        .map(str::trim)
        .rev()
        .find(|l| !l.is_empty() && !l.starts_with("Warning: Permanently added"))
        .unwrap_or("ssh ended without a word")
        .to_owned();
    if said.contains("Host key verification failed") || said.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        format!(
            "SSH to {host}: the host's key is not known here, or it changed ({last}). Connect once with \
             `ssh {host}` to check the key and accept it, then try again"
        )
    } else if said.contains("Permission denied") {
        format!(
            "SSH to {host}: the login was refused ({last}). openhands-lsp cannot type a password or a passphrase: \
             add your key to ssh-agent (ssh-add) or name it in your SSH configuration (IdentityFile), and check \
             that `ssh {host} docker info` works without a prompt"
        )
    } else {
        format!("SSH to {host} failed: {last}. Check that `ssh {host} docker info` works without a prompt")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_addresses_are_read_as_the_docker_cli_reads_them() {
        let plain = Destination::parse("ssh://build-box").unwrap();
        assert_eq!(plain, Destination { user: None, host: "build-box".into(), port: None });
        let full = Destination::parse("ssh://me@10.0.0.2:2222/").unwrap();
        assert_eq!(full, Destination { user: Some("me".into()), host: "10.0.0.2".into(), port: Some(2222) });
        assert_eq!(full.shown(), "me@10.0.0.2");
        let v6 = Destination::parse("ssh://root@[fd00::2]:22").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("fd00::2", Some(22)));
        for bad in ["ssh://", "ssh://-oProxyCommand=x", "ssh://me@host/var/run", "ssh://host:ssh", "ssh://-l@h"] {
            let why = Destination::parse(bad).unwrap_err();
            assert!(why.contains("ssh://[user@]host[:port]"), "{bad}: {why}");
        }
    }

    #[test]
    fn a_refused_login_says_what_to_do() {
        let to = Destination::parse("ssh://me@box").unwrap();
        let unknown = login_failure(&to, "Host key verification failed.\n");
        assert!(unknown.contains("not known") && unknown.contains("ssh me@box"), "{unknown}");
        let denied = login_failure(&to, "me@box: Permission denied (publickey).\n");
        assert!(denied.contains("ssh-agent") && denied.contains("Permission denied (publickey)"), "{denied}");
        let down = login_failure(&to, "ssh: connect to host box port 22: Connection refused\n");
        assert!(down.contains("Connection refused"), "{down}");
    }

    #[test]
    fn an_engine_that_does_not_answer_there_is_explained_by_what_it_said() {
        let to = Destination::parse("ssh://me@box").unwrap();
        let eof = bollard::errors::Error::from(io::Error::from(io::ErrorKind::UnexpectedEof));
        let no_cli = dial_failure(&to, "bash: line 1: docker: command not found\n", &eof);
        assert!(no_cli.contains("not on that host's PATH") && no_cli.contains("install the docker CLI"), "{no_cli}");
        let daemon =
            "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?";
        let down = dial_failure(&to, daemon, &eof);
        assert!(down.contains(daemon) && down.contains("ssh me@box docker info"), "{down}");
        assert!(dial_failure(&to, "", &eof).contains("did not answer"));
    }
}
