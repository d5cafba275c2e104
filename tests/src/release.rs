//! The release as users get it: the artifacts `scripts/release` writes (scripts/test makes them before the tests
//! run), served over HTTP as a GitHub release serves them, and a new user's environment (a fresh `HOME`, no `cargo`
//! or `rustc` on `PATH`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;

/// The version every artifact carries: the workspace's (this crate shares it).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// This machine's target, the one scripts/release builds.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("the repository")
}

/// The folder scripts/release wrote: `OPENHANDS_TEST_DIST`, else `target/dist`.
pub fn dist() -> PathBuf {
    let dir =
        std::env::var_os("OPENHANDS_TEST_DIST").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target/dist"));
    assert!(
        dir.join("SHA256SUMS").exists(),
        "{} holds no release: run scripts/test (it runs scripts/release first)",
        dir.display()
    );
    dir
}

/// The release archive of this machine's target.
pub fn archive_name() -> String {
    format!("openhands-lsp-{VERSION}-{TARGET}.tar.gz")
}

/// `PATH` as a new user has it: the system's folders, none of this machine's toolchains.
pub const NEW_USER_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// A command run as a new user: only `PATH` (the system's) and a fresh `HOME` in its environment.
pub fn as_new_user(program: impl AsRef<std::ffi::OsStr>, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear().env("PATH", NEW_USER_PATH).env("HOME", home);
    cmd
}

/// The sha256 of a file, as `sha256sum` prints it.
pub fn sha256_of(file: &Path) -> String {
    let out = Command::new("sha256sum").arg(file).output().expect("sha256sum");
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_owned()
}

/// Unpacks a `.tar.gz` into `into`; returns the names it held.
pub fn unpack(archive: &Path, into: &Path) -> Vec<String> {
    let listed = Command::new("tar").arg("-tzf").arg(archive).output().expect("tar -t");
    assert!(listed.status.success(), "{}: {}", archive.display(), String::from_utf8_lossy(&listed.stderr));
    let out = Command::new("tar").arg("-xzf").arg(archive).arg("-C").arg(into).output().expect("tar -x");
    assert!(out.status.success(), "{}: {}", archive.display(), String::from_utf8_lossy(&out.stderr));
    let mut names: Vec<String> = String::from_utf8_lossy(&listed.stdout).lines().map(str::to_owned).collect();
    names.sort();
    names
}

/// Static files over HTTP, as a release's download URLs serve them: `GET /<path>` answers the file under the root,
/// or 404. Records the paths asked for.
pub struct FileServer {
    pub url: String,
    asked: Arc<Mutex<Vec<String>>>,
    _runtime: tokio::runtime::Runtime,
}

impl FileServer {
    pub fn serve(root: &Path) -> FileServer {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let state = (root.to_path_buf(), asked.clone());
        let app = axum::Router::new().route("/{*path}", axum::routing::get(file)).with_state(state);
        let (runtime, addr) = crate::serve_router(app, 1);
        FileServer { url: format!("http://{addr}"), asked, _runtime: runtime }
    }

    /// The paths asked for so far.
    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

type Served = (PathBuf, Arc<Mutex<Vec<String>>>);

async fn file(State((root, asked)): State<Served>, UrlPath(path): UrlPath<String>) -> Result<Vec<u8>, StatusCode> {
    if let Ok(mut a) = asked.lock() {
        a.push(path.clone());
    }
    if path.split('/').any(|part| part == ".." || part.is_empty()) {
        return Err(StatusCode::NOT_FOUND);
    }
    tokio::fs::read(root.join(path)).await.map_err(|_| StatusCode::NOT_FOUND)
}
