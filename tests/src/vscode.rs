//! A real VS Code for the extension's end-to-end tests: code-server (VS Code OSS in a browser, installed by
//! scripts/lib/vscode.sh) with a fresh user-data folder, the extension installed from the `.vsix` users install,
//! and a folder open. Scenarios are Node scripts in `tests/vscode-e2e/` that drive Debian's Chromium through
//! playwright-core as a user clicks and types; each saves its screenshots under `target/test-logs/vscode-e2e/`.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Workbench {
    child: Child,
    pub port: u16,
    pub folder: PathBuf,
    test: String,
    log: PathBuf,
    _dirs: tempfile::TempDir,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("the repository")
}

fn required_env(name: &str) -> PathBuf {
    let value = std::env::var_os(name).unwrap_or_else(|| {
        panic!("{name} is not set: run scripts/test, which installs code-server and sets it (scripts/lib/vscode.sh)")
    });
    PathBuf::from(value)
}

/// Where the screenshots and logs of `test` go: `target/test-logs/vscode-e2e/<test>/`.
pub fn logs_dir(test: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target"));
    target.join("test-logs/vscode-e2e").join(test)
}

/// The `.vsix` `npm run package` made (scripts/test makes it before the tests run).
fn vsix() -> PathBuf {
    let path = std::env::var_os("OPENHANDS_TEST_VSIX")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("editors/vscode/dist/openhands.vsix"));
    assert!(path.exists(), "{} is missing: run scripts/test (it packages the extension)", path.display());
    path
}

impl Workbench {
    /// code-server on a free port of 127.0.0.1 with `folder` open, the user settings `settings`, and `env` added
    /// to its environment (the extension host inherits it).
    pub fn start(test: &str, folder: &Path, settings: serde_json::Value, env: &[(&str, String)]) -> Workbench {
        Workbench::start_from(test, folder, settings, env, &vsix())
    }

    /// [`Workbench::start`] with the extension installed from `vsix` (a release's package, say).
    pub fn start_from(
        test: &str,
        folder: &Path,
        settings: serde_json::Value,
        env: &[(&str, String)],
        vsix: &Path,
    ) -> Workbench {
        let node = required_env("OPENHANDS_TEST_CODE_SERVER_NODE");
        let entry = required_env("OPENHANDS_TEST_CODE_SERVER");
        let dirs = tempfile::tempdir().expect("a folder for VS Code's data");
        let user_data = dirs.path().join("user-data");
        let extensions = dirs.path().join("extensions");
        std::fs::create_dir_all(user_data.join("User")).expect("user-data");
        std::fs::write(user_data.join("User/settings.json"), settings.to_string()).expect("settings.json");
        let logs = logs_dir(test);
        let _ = std::fs::remove_dir_all(&logs);
        std::fs::create_dir_all(&logs).expect("the test's log folder");

        let install = Command::new(&node)
            .arg(&entry)
            .arg("--user-data-dir")
            .arg(&user_data)
            .arg("--extensions-dir")
            .arg(&extensions)
            .arg("--install-extension")
            .arg(vsix)
            .output()
            .expect("code-server --install-extension");
        assert!(
            install.status.success(),
            "installing the extension failed: {}{}",
            String::from_utf8_lossy(&install.stdout),
            String::from_utf8_lossy(&install.stderr)
        );

        let port = crate::process::free_port().expect("a free port");
        let log = logs.join("code-server.log");
        let out = std::fs::File::create(&log).expect("code-server.log");
        let mut command = Command::new(&node);
        command
            .arg(&entry)
            .args(["--auth", "none", "--bind-addr", &format!("127.0.0.1:{port}")])
            .arg("--user-data-dir")
            .arg(&user_data)
            .arg("--extensions-dir")
            .arg(&extensions)
            .args(["--disable-workspace-trust", "--disable-telemetry", "--disable-update-check"])
            .args(["--disable-getting-started-override", "--ignore-last-opened"])
            .arg(folder)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log"))
            .stderr(out);
        // Its own process group: the extension host and the server it starts go with it.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().expect("code-server");
        let bench = Workbench {
            child,
            port,
            folder: folder.to_path_buf(),
            test: test.to_owned(),
            log: log.clone(),
            _dirs: dirs,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "code-server did not listen within 60 s; its log: {}", log.display());
            std::thread::sleep(Duration::from_millis(100));
        }
        bench
    }

    /// Runs the scenario `tests/vscode-e2e/<script>.js` against this workbench with `env` added; returns what it
    /// printed. A failing scenario fails the test with its output (which names the screenshot to open).
    pub fn drive(&self, script: &str, env: &[(&str, String)]) -> String {
        let dir = repo_root().join("tests/vscode-e2e");
        let mut child = Command::new("node")
            .arg(dir.join(format!("{script}.js")))
            .current_dir(&dir)
            .env("PORT", self.port.to_string())
            .env("FOLDER", &self.folder)
            .env("SHOTS", logs_dir(&self.test))
            .env("USER_DATA", self._dirs.path().join("user-data"))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node (the scenario)");
        let mut stdout = String::new();
        let mut stderr = String::new();
        child.stdout.take().map(|mut s| s.read_to_string(&mut stdout));
        child.stderr.take().map(|mut s| s.read_to_string(&mut stderr));
        let status = child.wait().expect("the scenario");
        let _ = std::fs::write(logs_dir(&self.test).join(format!("{script}.out")), format!("{stdout}\n{stderr}"));
        assert!(
            status.success(),
            "scenario {script} failed ({status}):\n{stdout}\n{stderr}\ncode-server's log: {}",
            self.log.display()
        );
        stdout
    }
}

impl Workbench {
    /// Everything the extension hosts logged: code-server runs them on its side (`logs/<session>/exthost<N>/
    /// remoteexthost.log` in the user-data folder), one per window load.
    pub fn extension_host_log(&self) -> String {
        self.logs_named(&["remoteexthost.log", "exthost.log"])
    }

    /// What the extension wrote to its OpenHands output channel (`OpenHands.log`), every window load's.
    pub fn output_log(&self) -> String {
        self.logs_named(&["OpenHands.log"])
    }

    fn logs_named(&self, names: &[&str]) -> String {
        fn walk(dir: &Path, names: &[&str], out: &mut String) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, names, out);
                } else if path.file_name().is_some_and(|n| names.iter().any(|want| n == *want))
                    && let Ok(text) = std::fs::read_to_string(&path)
                {
                    out.push_str(&format!("== {}\n{text}", path.display()));
                }
            }
        }
        let mut out = String::new();
        walk(&self._dirs.path().join("user-data/logs"), names, &mut out);
        out
    }
}

impl Workbench {
    /// What scenario `script` printed when it last ran (saved next to its screenshots).
    pub fn drive_output(&self, script: &str) -> String {
        std::fs::read_to_string(logs_dir(&self.test).join(format!("{script}.out"))).unwrap_or_default()
    }
}

/// Files under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file()
                && std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle.as_bytes()))
            {
                found.push(path);
            }
        }
    }
    found
}

impl Drop for Workbench {
    fn drop(&mut self) {
        let pid = self.child.id();
        kill_group(pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        kill_group(pid, libc::SIGKILL);
        let _ = self.child.wait();
    }
}

#[allow(unsafe_code)]
fn kill_group(pid: u32, signal: i32) {
    // SAFETY: kill(2) on the process group this harness made; no memory is touched.
    unsafe {
        libc::kill(-(pid as i32), signal);
    }
}
