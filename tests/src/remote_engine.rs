//! A Docker engine on "another machine": a second `dockerd` in a network namespace of its own, listening on TCP with
//! TLS (a CA, a server and a client certificate made here), with its own data, containers and networks. Nothing of
//! this machine's engine is shared with it: not its socket, not its images (the agent-server image is loaded into it),
//! and it cannot mount this machine's folders by path any more than a real remote machine could see them.
//!
//! This machine is 10.203.0.1 and the engine's host 10.203.0.2, joined by a veth pair; the engine's containers reach
//! this machine (the scripted LLM) at 10.203.0.1. Needs root (network namespaces), as scripts/test runs.
//!
//! The same engine is also reached over SSH ([`RemoteEngine::over_ssh`]): an `sshd` of its own on the engine's
//! host, where `docker` speaks to that engine's socket, with a key and a host key made here and an SSH
//! configuration file naming them (nothing of this machine's `~/.ssh` is read or written).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::agent::wait_until;

/// This machine's address as the engine's host sees it.
pub const HOST_ADDRESS: &str = "10.203.0.1";
/// The engine's host.
pub const ENGINE_ADDRESS: &str = "10.203.0.2";
const PORT: u16 = 2376;
const NETNS: &str = "ohlsp-remote";
/// The engine host's sshd port whose logins have no docker command on their `PATH`.
const NO_DOCKER_PORT: u16 = 2222;
const VETH: &str = "ohlsp-r0";
const VETH_PEER: &str = "ohlsp-r1";

pub struct RemoteEngine {
    dir: tempfile::TempDir,
    dockerd: Child,
}

impl RemoteEngine {
    /// Starts the engine and loads `image` into it (copied from this machine's engine).
    pub fn start(image: &str) -> RemoteEngine {
        remove_network();
        let dir = tempfile::Builder::new().prefix("ohlsp-remote-engine.").tempdir_in("/var/tmp").unwrap();
        make_certificates(&dir.path().join("certs"));
        make_network();
        let log = std::fs::File::create(dir.path().join("dockerd.log")).unwrap();
        let certs = dir.path().join("certs");
        let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
        let cert = |name: &str| certs.join(name).to_str().unwrap().to_owned();
        // nsenter, not `ip netns exec`: that one mounts a fresh /sys without the cgroup hierarchy dockerd needs.
        let dockerd = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{NETNS}"))
            .args(["dockerd", "--host", &format!("tcp://{ENGINE_ADDRESS}:{PORT}"), "--tlsverify"])
            .args(["--host", &format!("unix://{}", path("docker.sock"))])
            .args(["--tlscacert", &cert("ca.pem"), "--tlscert", &cert("server-cert.pem")])
            .args(["--tlskey", &cert("server-key.pem"), "--data-root", &path("data"), "--exec-root", &path("exec")])
            .args(["--pidfile", &path("dockerd.pid"), "--bip", "172.31.250.1/24"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("dockerd (scripts/test installs docker.io)");
        let engine = RemoteEngine { dir, dockerd };
        wait_until("the remote engine to answer over TLS", Duration::from_secs(60), || {
            engine.docker_command(&["info"]).output().is_ok_and(|o| o.status.success())
        });
        engine.load(image);
        engine
    }

    /// `DOCKER_HOST` and the rest, as a user of a remote engine sets them.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("DOCKER_HOST".into(), format!("tcp://{ENGINE_ADDRESS}:{PORT}")),
            ("DOCKER_TLS_VERIFY".into(), "1".into()),
            ("DOCKER_CERT_PATH".into(), self.certs().to_str().unwrap().into()),
        ]
    }

    /// The client's certificates (ca.pem, cert.pem, key.pem).
    pub fn certs(&self) -> PathBuf {
        self.dir.path().join("certs")
    }

    /// The docker CLI speaking to this engine; the test fails when the command does.
    pub fn docker(&self, args: &[&str]) -> String {
        let out = self.docker_command(args).output().expect("the docker CLI");
        assert!(out.status.success(), "docker {args:?} (remote engine): {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    fn docker_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("docker");
        command.envs(self.env()).args(args);
        command
    }

    fn load(&self, image: &str) {
        let mut save = Command::new("docker").args(["save", image]).stdout(Stdio::piped()).spawn().unwrap();
        let load = self.docker_command(&["load", "-q"]).stdin(save.stdout.take().unwrap()).output().unwrap();
        assert!(save.wait().unwrap().success() && load.status.success(), "{}", String::from_utf8_lossy(&load.stderr));
    }

    /// Starts an `sshd` on the engine's host through which the engine is reached (`ssh://root@10.203.0.2`).
    pub fn over_ssh(&self) -> SshAccess {
        SshAccess::start(self.dir.path())
    }

    /// The engine's own log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }
}

impl Drop for RemoteEngine {
    fn drop(&mut self) {
        let containers = self.docker_command(&["ps", "-aq"]).output().map(|o| o.stdout).unwrap_or_default();
        for id in String::from_utf8_lossy(&containers).split_whitespace() {
            let _ = self.docker_command(&["rm", "-f", id]).output();
        }
        let _ = Command::new("kill").args(["-TERM", &self.dockerd.id().to_string()]).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline && matches!(self.dockerd.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.dockerd.kill();
        let _ = self.dockerd.wait();
        // What dockerd left mounted under its folders goes before the folders do.
        let _ =
            Command::new("umount").args(["-R", "-l"]).arg(self.dir.path().join("exec")).stderr(Stdio::null()).status();
        let _ =
            Command::new("umount").args(["-R", "-l"]).arg(self.dir.path().join("data")).stderr(Stdio::null()).status();
        remove_network();
    }
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn make_network() {
    run("ip", &["netns", "add", NETNS]);
    run("ip", &["link", "add", VETH, "type", "veth", "peer", "name", VETH_PEER]);
    run("ip", &["link", "set", VETH_PEER, "netns", NETNS]);
    run("ip", &["addr", "add", &format!("{HOST_ADDRESS}/24"), "dev", VETH]);
    run("ip", &["link", "set", VETH, "up"]);
    let inside = |args: &[&str]| {
        let mut all = vec!["netns", "exec", NETNS, "ip"];
        all.extend_from_slice(args);
        run("ip", &all);
    };
    inside(&["addr", "add", &format!("{ENGINE_ADDRESS}/24"), "dev", VETH_PEER]);
    inside(&["link", "set", VETH_PEER, "up"]);
    inside(&["link", "set", "lo", "up"]);
    inside(&["route", "add", "default", "via", HOST_ADDRESS]);
}

/// Removes the namespace and the link (left by an earlier run that was killed, too).
fn remove_network() {
    let _ = Command::new("ip").args(["link", "del", VETH]).stderr(Stdio::null()).status();
    let _ = Command::new("ip").args(["netns", "del", NETNS]).stderr(Stdio::null()).status();
}

/// A CA, the engine's certificate (for its address) and a client certificate, as `docker-machine` makes them.
fn make_certificates(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test CA",
        "-keyout",
        "ca-key.pem",
        "-out",
        "ca.pem",
    ]);
    let sign = |name: &str, subject: &str, extensions: &str| {
        std::fs::write(dir.join(format!("{name}.ext")), extensions).unwrap();
        let (key, csr, cert, ext) =
            (format!("{name}-key.pem"), format!("{name}.csr"), format!("{name}-cert.pem"), format!("{name}.ext"));
        openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", &key, "-out", &csr]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &cert,
            "-extfile",
            &ext,
        ]);
    };
    sign(
        "server",
        &format!("/CN={ENGINE_ADDRESS}"),
        &format!("subjectAltName=IP:{ENGINE_ADDRESS}\nextendedKeyUsage=serverAuth\n"),
    );
    sign("client", "/CN=client", "extendedKeyUsage=clientAuth\n");
    // Where the docker CLI (and bollard) look: cert.pem and key.pem.
    std::fs::copy(dir.join("client-cert.pem"), dir.join("cert.pem")).unwrap();
    std::fs::copy(dir.join("client-key.pem"), dir.join("key.pem")).unwrap();
}

/// An `sshd` on the engine's host (in its namespace), and what a user of it has: a key, the host's key in a
/// known_hosts file, and an SSH configuration file naming both.
pub struct SshAccess {
    dir: PathBuf,
    sshd: Child,
}

impl SshAccess {
    fn start(engine_dir: &Path) -> SshAccess {
        let dir = engine_dir.join("ssh");
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str| dir.join(name).to_str().unwrap().to_owned();
        for key in ["host_key", "id_ed25519", "other_key"] {
            let _ = std::fs::remove_file(dir.join(key));
            run("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-C", key, "-f", &file(key)]);
        }
        std::fs::copy(dir.join("id_ed25519.pub"), dir.join("authorized_keys")).unwrap();
        let host_key = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
        std::fs::write(dir.join("known_hosts"), format!("{ENGINE_ADDRESS} {host_key}")).unwrap();
        std::fs::write(dir.join("unknown_hosts"), "").unwrap();
        let socket = engine_dir.join("docker.sock");
        let sshd_config = format!(
            "ListenAddress {ENGINE_ADDRESS}\nPort 22\nPort {NO_DOCKER_PORT}\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\nStrictModes no\n\
             UsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nAllowTcpForwarding yes\nSetEnv DOCKER_HOST=unix://{}\n\
             Match LocalPort {NO_DOCKER_PORT}\n  SetEnv PATH=/nowhere\n",
            file("host_key"),
            file("sshd.pid"),
            file("authorized_keys"),
            socket.display()
        );
        std::fs::write(dir.join("sshd_config"), sshd_config).unwrap();
        let configs = [
            ("ssh_config", "id_ed25519", "known_hosts"),
            ("ssh_config_unknown_host", "id_ed25519", "unknown_hosts"),
            ("ssh_config_other_key", "other_key", "known_hosts"),
        ];
        for (name, key, known) in configs {
            let config = format!(
                "Host {ENGINE_ADDRESS}\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  \
                 GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n",
                file(key),
                file(known)
            );
            std::fs::write(dir.join(name), config).unwrap();
        }
        // sshd's unprivileged half runs in this empty folder (Debian's package makes it at boot only).
        std::fs::create_dir_all("/run/sshd").unwrap();
        let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
        let sshd = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{NETNS}"))
            .args(["/usr/sbin/sshd", "-D", "-e", "-f", &file("sshd_config")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("sshd (scripts/test installs openssh-server)");
        let access = SshAccess { dir, sshd };
        wait_until("the engine's sshd to accept connections", Duration::from_secs(30), || {
            std::net::TcpStream::connect((ENGINE_ADDRESS, 22)).is_ok()
        });
        access
    }

    /// `DOCKER_HOST` as a user of the engine over SSH sets it.
    pub fn docker_host(&self) -> String {
        format!("ssh://root@{ENGINE_ADDRESS}")
    }

    /// The SSH configuration file with the key and the host's key (for `openhands.docker.sshConfig`).
    pub fn config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    /// The same, with no host key known.
    pub fn config_without_host_key(&self) -> PathBuf {
        self.dir.join("ssh_config_unknown_host")
    }

    /// The same, with a key the host does not accept.
    pub fn config_with_another_key(&self) -> PathBuf {
        self.dir.join("ssh_config_other_key")
    }

    /// `DOCKER_HOST` for a login on that host whose `PATH` has no docker command.
    pub fn docker_host_without_docker(&self) -> String {
        format!("ssh://root@{ENGINE_ADDRESS}:{NO_DOCKER_PORT}")
    }

    /// sshd's own log, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for SshAccess {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
    }
}
