//! Windows, and any system without Unix's calls (see the module's own words in `mod.rs`): std's portable calls,
//! and the answers that make the callers fall back (unknown, none, not supported). Built and tested on Linux too,
//! with the `portable-platform` feature; the few lines under `cfg(windows)` are built by the release workflow only.

use std::path::{Path, PathBuf};
use std::process::Command;

/// No process groups or parent-death signal here: a child is stopped by its handle (`kill_on_drop`), and the
/// sandbox watcher (`sandbox::reaper`) cleans up after a killed server.
pub fn die_with_parent(_cmd: &mut Command) {}

/// Nothing to do: without Unix sessions, a console's Ctrl-C reaches the watcher too, which only cleans up then.
pub fn own_session(_cmd: &mut Command) {}

/// When process `pid` started, in a form that differs between two processes that had the same pid (Windows: its
/// creation time in 100 ns units, and `None` once it has exited). Unknown elsewhere: callers then never take
/// another instance for dead (`instance::Instance::is_alive`).
pub fn process_start_time(pid: u32) -> Option<String> {
    #[cfg(windows)]
    {
        processes::start_time(pid)
    }
    #[cfg(not(windows))]
    {
        let _ = pid;
        None
    }
}

#[cfg(windows)]
#[allow(unsafe_code)]
mod processes {
    use windows_sys::Win32::Foundation::{CloseHandle, FILETIME, STILL_ACTIVE};
    use windows_sys::Win32::System::Threading::{
        GetExitCodeProcess, GetProcessTimes, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
    };

    pub fn start_time(pid: u32) -> Option<String> {
        // SAFETY: OpenProcess returns a handle we own (null on failure), closed below; the calls between write only
        // into the locals they are given.
        let handle = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
        if handle.is_null() {
            return None;
        }
        let zero = FILETIME { dwLowDateTime: 0, dwHighDateTime: 0 };
        let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
        let mut code = 0u32;
        let alive = unsafe { GetExitCodeProcess(handle, &mut code) } != 0 && code == STILL_ACTIVE as u32;
        let timed = unsafe { GetProcessTimes(handle, &mut created, &mut exited, &mut kernel, &mut user) } != 0;
        unsafe { CloseHandle(handle) };
        (alive && timed)
            .then(|| ((u64::from(created.dwHighDateTime) << 32) | u64::from(created.dwLowDateTime)).to_string())
    }
}

/// Not known here: callers then never take a record for one of an earlier boot.
pub fn boot_id() -> String {
    String::new()
}

/// The machine's name, from the environment (`COMPUTERNAME` on Windows, `HOSTNAME` where a shell sets it).
pub fn hostname() -> String {
    ["COMPUTERNAME", "HOSTNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| std::fs::read_to_string("/etc/hostname").map(|s| s.trim().to_owned()).unwrap_or_default())
}

/// No memory-backed folder is known here: the user's temporary folder.
pub fn memory_base() -> PathBuf {
    std::env::temp_dir()
}

/// Not found here (the process backend, which leaves such processes, does not run here).
pub fn processes_with_env(_wanted: &[u8]) -> Vec<u32> {
    Vec::new()
}

/// No second open of a pipe here: every write goes through the stdout thread.
pub fn reopen_pipe_nonblocking(_fd: i32) -> Option<std::fs::File> {
    None
}

/// Runs `read` with the console not echoing what is typed (a key), and the echo back on afterwards, even when `read`
/// fails. Without a console on stdin (or off Windows), `read` runs as is.
pub fn without_echo<T>(read: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    #[cfg(windows)]
    {
        console::without_echo(read)
    }
    #[cfg(not(windows))]
    {
        read()
    }
}

#[cfg(windows)]
#[allow(unsafe_code)]
mod console {
    use windows_sys::Win32::System::Console::{
        ENABLE_ECHO_INPUT, GetConsoleMode, GetStdHandle, STD_INPUT_HANDLE, SetConsoleMode,
    };

    pub fn without_echo<T>(read: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
        // SAFETY: GetStdHandle returns the process's stdin handle (or an invalid one, which GetConsoleMode rejects);
        // GetConsoleMode writes one u32 into `saved`.
        let input = unsafe { GetStdHandle(STD_INPUT_HANDLE) };
        let mut saved = 0u32;
        if unsafe { GetConsoleMode(input, &mut saved) } == 0 {
            return read();
        }
        // SAFETY: sets the mode of the console handle GetConsoleMode accepted.
        unsafe { SetConsoleMode(input, saved & !ENABLE_ECHO_INPUT) };
        let result = read();
        // SAFETY: as above, with the mode saved before.
        unsafe { SetConsoleMode(input, saved) };
        // The user's Enter was not echoed either.
        eprintln!();
        result
    }
}

/// Without process groups, nothing to signal: the process backend, the only one that would, does not run here.
pub fn signal_group(_pid: u32, _stop: super::Stop) {}

/// As [`signal_group`].
pub fn signal_pid(_pid: u32, _stop: super::Stop) {}

/// As [`signal_group`]: none is known alive.
pub fn group_alive(_pid: u32) -> bool {
    false
}

/// Where Docker listens when `DOCKER_HOST` does not say (as bollard's defaults have it): Docker Desktop's pipe.
pub const DEFAULT_DOCKER_HOST: &str = "npipe:////./pipe/docker_engine";

/// Whether the process backend can run here: it cannot, in words a user reads when they choose it.
pub const PROCESS_BACKEND: Result<(), &str> =
    Err("the process backend is not supported on this system: it runs the agent-server under tmux, in Unix process \
     groups. Use the docker backend (Docker Desktop) or cloud: set openhands.backend");

/// Whether a Docker engine can be reached over SSH here: Windows' OpenSSH cannot share one connection (it has no
/// ControlMaster), which openhands-lsp needs for the engine's API and the forwarded ports.
pub const SSH_MULTIPLEXING: Result<(), &str> = Err("an engine reached over SSH needs OpenSSH's ControlMaster, which \
     Windows' OpenSSH lacks: forward the engine's socket yourself (ssh -L) and set openhands.docker.engine to \
     \"remote\", or give the engine a TCP address with TLS");

/// No numeric user ids here: 0 names the per-user folders (which are under the user's own temporary folder).
pub fn user_id() -> u32 {
    0
}

/// No numeric user ids here: a container keeps its image's user (Docker Desktop maps file ownership itself).
pub fn effective_ids() -> Option<(u32, u32)> {
    None
}

/// Not known here; nothing is relaxed for it.
pub fn is_root() -> bool {
    false
}

/// Not known here: folders under the user's own profile are taken as theirs.
pub fn owned_by_me(_meta: &std::fs::Metadata) -> bool {
    true
}

/// Makes `path` and its missing parents (under the user's profile, which only they may read).
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)
}

/// Creates a new file for writing; `mode`'s write bits decide only whether it ends read-only. `create_new` fails on
/// anything at `path`, a link included.
pub fn create_new_file(path: &Path, _mode: u32) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)
}

/// Opens a file for reading. Callers look at `symlink_metadata` first; here no flag stops a link swapped in since.
pub fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}

/// Permission bits as Unix would show them: read-only or not; no executable bit (git on Windows keeps none).
pub fn mode(meta: &std::fs::Metadata) -> u32 {
    match (meta.is_dir(), meta.permissions().readonly()) {
        (true, _) => 0o755,
        (false, true) => 0o444,
        (false, false) => 0o644,
    }
}

/// Sets what this system keeps of `mode`: whether `path` is read-only.
pub fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    let mut permissions = std::fs::symlink_metadata(path)?.permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(mode & 0o222 == 0);
    std::fs::set_permissions(path, permissions)
}

/// `meta`'s stat data as git for Windows keeps it: the modification time (for both times), nothing else.
pub fn stat(meta: &std::fs::Metadata) -> super::Stat {
    let since_epoch = |t: std::io::Result<std::time::SystemTime>| {
        t.ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| (i64::try_from(d.as_secs()).unwrap_or(i64::MAX), i64::from(d.subsec_nanos())))
            .unwrap_or_default()
    };
    let mtime = since_epoch(meta.modified());
    super::Stat { ctime: mtime, mtime, ..super::Stat::default() }
}

/// Makes a symbolic link at `link` that points at `target` (Windows: a file link, which needs Developer Mode or the
/// privilege to make links).
pub fn symlink(target: &Path, link: &Path) -> std::io::Result<()> {
    #[cfg(windows)]
    {
        std::os::windows::fs::symlink_file(target, link)
    }
    #[cfg(not(windows))]
    {
        let _ = (target, link);
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "symbolic links are not supported on this system"))
    }
}

/// No owners by number here: nothing changes.
pub fn lchown(_path: &Path, _uid: u32, _gid: u32) -> std::io::Result<()> {
    Ok(())
}

/// A path relative to a repository's top as git's bytes: UTF-8, with `/` between names (git's own separator).
pub fn path_bytes(path: &Path) -> std::borrow::Cow<'_, [u8]> {
    let text = path.to_string_lossy();
    if std::path::MAIN_SEPARATOR == '/' {
        return match text {
            std::borrow::Cow::Borrowed(s) => std::borrow::Cow::Borrowed(s.as_bytes()),
            std::borrow::Cow::Owned(s) => std::borrow::Cow::Owned(s.into_bytes()),
        };
    }
    std::borrow::Cow::Owned(text.replace(std::path::MAIN_SEPARATOR, "/").into_bytes())
}

/// The relative path git's bytes name (UTF-8; a name that is not is read with replacement characters).
pub fn path_from_bytes(bytes: &[u8]) -> std::borrow::Cow<'_, Path> {
    match String::from_utf8_lossy(bytes) {
        std::borrow::Cow::Borrowed(s) => std::borrow::Cow::Borrowed(Path::new(s)),
        std::borrow::Cow::Owned(s) => std::borrow::Cow::Owned(PathBuf::from(s)),
    }
}

/// `path` if it is a file; on Windows also `path` with one of `PATHEXT`'s extensions (`npx` is `npx.cmd`).
pub(super) fn runnable_as(path: &Path) -> Option<PathBuf> {
    if path.is_file() {
        return Some(path.to_owned());
    }
    if !cfg!(windows) || path.extension().is_some() {
        return None;
    }
    let extensions = std::env::var("PATHEXT").unwrap_or_else(|_| ".COM;.EXE;.BAT;.CMD".into());
    extensions
        .split(';')
        .filter(|e| !e.is_empty())
        .map(|e| path.with_extension(e.trim_start_matches('.')))
        .find(|p| p.is_file())
}

/// Resolves when Ctrl-C (or Ctrl-Break) arrives, with its name; never if no handler can be installed.
pub async fn termination() -> &'static str {
    match tokio::signal::ctrl_c().await {
        Ok(()) => "Ctrl-C",
        Err(e) => {
            tracing::warn!("cannot handle Ctrl-C ({e}): it ends the server without its cleanup");
            std::future::pending().await
        }
    }
}
