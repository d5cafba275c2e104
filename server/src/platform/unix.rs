//! Linux and macOS (see the module's own words in `mod.rs`). Linux is the system the tests run on; the macOS side
//! follows each Linux function with that system's calls and is built by the release workflow
//! (`.github/workflows/release.yml`), not here.

use std::path::PathBuf;
use std::process::Command;

/// The child gets a process group of its own (so a stop reaches what it started), and on Linux it is killed when
/// this process dies, SIGKILL included (`PR_SET_PDEATHSIG`). macOS has no such signal: there the sandbox watcher
/// (`sandbox::reaper`) and the next start's sweep are what clean up after a killed server.
#[allow(unsafe_code)]
pub fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt as _;
    let parent = std::process::id();
    // SAFETY: runs in the forked child before exec; calls only async-signal-safe libc functions.
    unsafe {
        cmd.pre_exec(move || {
            libc::setpgid(0, 0);
            #[cfg(target_os = "linux")]
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            // The parent may have died before the child got here: then nobody would send the signal.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// When process `pid` started, in a form that differs between two processes that had the same pid (Linux: clock
/// ticks since boot, field 22 of `/proc/PID/stat`; macOS: seconds and microseconds since the epoch).
#[cfg(target_os = "linux")]
pub fn process_start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_owned)
}

#[cfg(target_os = "macos")]
#[allow(unsafe_code)]
pub fn process_start_time(pid: u32) -> Option<String> {
    let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_bsdinfo>() as libc::c_int;
    // SAFETY: proc_pidinfo writes at most `size` bytes into `info`, which is that large.
    let got =
        unsafe { libc::proc_pidinfo(pid as libc::c_int, libc::PROC_PIDTBSDINFO, 0, (&raw mut info).cast(), size) };
    (got == size).then(|| format!("{}.{:06}", info.pbi_start_tvsec, info.pbi_start_tvusec))
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn process_start_time(_pid: u32) -> Option<String> {
    None
}

/// An id of this boot of the machine: after a reboot no process of before is alive.
#[cfg(target_os = "linux")]
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_owned()).unwrap_or_default()
}

#[cfg(target_os = "macos")]
pub fn boot_id() -> String {
    sysctl_string(c"kern.bootsessionuuid").unwrap_or_default()
}

#[cfg(target_os = "macos")]
#[allow(unsafe_code)]
fn sysctl_string(name: &std::ffi::CStr) -> Option<String> {
    let mut buf = [0u8; 256];
    let mut len = buf.len();
    // SAFETY: sysctlbyname writes at most `len` bytes into `buf` and sets `len` to what it wrote.
    let rc = unsafe { libc::sysctlbyname(name.as_ptr(), buf.as_mut_ptr().cast(), &mut len, std::ptr::null_mut(), 0) };
    (rc == 0).then(|| String::from_utf8_lossy(&buf[..len]).trim_end_matches('\0').trim().to_owned())
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn boot_id() -> String {
    String::new()
}

/// The machine's name (POSIX `gethostname`).
#[allow(unsafe_code)]
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into `buf`.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The base of this user's memory-backed folders: `$XDG_RUNTIME_DIR` (a per-user tmpfs), else `/dev/shm`. macOS
/// has neither: there it is the per-user `$TMPDIR` (mode 0700 under /var/folders), which is on disk.
pub fn memory_base() -> PathBuf {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|d| d.is_dir());
    #[cfg(target_os = "macos")]
    let fallback = std::env::temp_dir();
    #[cfg(not(target_os = "macos"))]
    let fallback = PathBuf::from("/dev/shm");
    runtime.unwrap_or(fallback)
}

/// This user's processes (other than this one) whose environment holds the entry `wanted` (`NAME=value`). Linux
/// reads `/proc/PID/environ`; elsewhere none are found (what they would find is cleaned at the next start there).
#[cfg(target_os = "linux")]
pub fn processes_with_env(wanted: &[u8]) -> Vec<u32> {
    let Ok(procs) = std::fs::read_dir("/proc") else { return Vec::new() };
    let me = std::process::id();
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        // Unreadable for other users' processes: those are not ours to stop.
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|environ| environ.split(|b| *b == 0).any(|entry| entry == wanted))
        })
        .collect()
}

#[cfg(not(target_os = "linux"))]
pub fn processes_with_env(_wanted: &[u8]) -> Vec<u32> {
    Vec::new()
}

/// Opens the pipe on file descriptor `fd` of this process again, as a new file description with `O_NONBLOCK`, so
/// writes through it never wait while the descriptor's own flags stay as they are. Linux reopens through
/// `/proc/self/fd`; `None` elsewhere (macOS' `/dev/fd` shares the description), for what is not a pipe, or on error.
pub fn reopen_pipe_nonblocking(fd: i32) -> Option<std::fs::File> {
    use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
    if !cfg!(target_os = "linux") {
        return None;
    }
    let path = format!("/proc/self/fd/{fd}");
    if !std::fs::metadata(&path).ok()?.file_type().is_fifo() {
        return None;
    }
    let file = std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(&path);
    file.inspect_err(|e| tracing::debug!("fd {fd}: no direct writes ({e})")).ok()
}

/// Runs `read` with the terminal on stdin not echoing what is typed (a key), and the echo back on afterwards, even
/// when `read` fails. Without a terminal on stdin, `read` runs as is.
#[allow(unsafe_code)]
pub fn without_echo<T>(read: impl FnOnce() -> std::io::Result<T>) -> std::io::Result<T> {
    // SAFETY: tcgetattr fills the zeroed termios it is given; fd 0 is only read.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(0, &mut saved) } != 0 {
        return read();
    }
    let mut quiet = saved;
    quiet.c_lflag &= !libc::ECHO;
    quiet.c_lflag |= libc::ECHONL;
    // SAFETY: sets the attributes of fd 0 from a termios tcgetattr filled.
    unsafe { libc::tcsetattr(0, libc::TCSANOW, &quiet) };
    let result = read();
    // SAFETY: as above, with the attributes saved before.
    unsafe { libc::tcsetattr(0, libc::TCSANOW, &saved) };
    result
}

/// The child starts a session of its own (`setsid`): no signal sent to the server's group or terminal reaches it.
#[allow(unsafe_code)]
pub fn own_session(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: runs in the forked child before exec; setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
}

fn signal_number(stop: super::Stop) -> libc::c_int {
    match stop {
        super::Stop::Term => libc::SIGTERM,
        super::Stop::Kill => libc::SIGKILL,
    }
}

/// Signals the process group led by `pid` (one [`die_with_parent`] made).
#[allow(unsafe_code)]
pub fn signal_group(pid: u32, stop: super::Stop) {
    // SAFETY: kill(2) with a negative pid signals the process group we created for this child.
    unsafe {
        libc::kill(-(pid as libc::pid_t), signal_number(stop));
    }
}

/// Signals one process; a pid that has gone meanwhile is no error.
#[allow(unsafe_code)]
pub fn signal_pid(pid: u32, stop: super::Stop) {
    // SAFETY: kill(2) on one process; a pid that has gone meanwhile is only an error return.
    unsafe {
        libc::kill(pid as libc::pid_t, signal_number(stop));
    }
}

/// Whether any process of the group led by `pid` is alive.
#[allow(unsafe_code)]
pub fn group_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(-(pid as libc::pid_t), 0) == 0 }
}

/// Where Docker listens when `DOCKER_HOST` does not say (as bollard's defaults have it).
pub const DEFAULT_DOCKER_HOST: &str = "unix:///var/run/docker.sock";

/// Whether the process backend can run here: it can on Unix.
pub const PROCESS_BACKEND: Result<(), &str> = Ok(());

/// Whether a Docker engine can be reached over SSH here: one ssh connection shared through a control socket
/// (OpenSSH's ControlMaster), which Unix's OpenSSH has.
pub const SSH_MULTIPLEXING: Result<(), &str> = Ok(());

/// This process's real user id, for names of per-user folders in shared places.
#[allow(unsafe_code)]
pub fn user_id() -> u32 {
    // SAFETY: getuid cannot fail and touches no memory.
    unsafe { libc::getuid() }
}

/// The effective user and group ids, which a container runs as to own what it writes in a mounted folder. Always
/// some on Unix.
#[allow(unsafe_code)]
pub fn effective_ids() -> Option<(u32, u32)> {
    // SAFETY: geteuid/getegid cannot fail and touch no memory.
    Some(unsafe { (libc::geteuid(), libc::getegid()) })
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    effective_ids().is_some_and(|(uid, _)| uid == 0)
}

/// Whether this user owns what `meta` describes.
pub fn owned_by_me(meta: &std::fs::Metadata) -> bool {
    std::os::unix::fs::MetadataExt::uid(meta) == user_id()
}

/// Makes `path` and its missing parents, the new ones readable by this user only (0700).
pub fn create_private_dir(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)
}

/// Creates a new file for writing, with the permission bits `mode` from its first moment, and never through a
/// symbolic link at `path` (`O_NOFOLLOW`): a link there is an error.
pub fn create_new_file(path: &std::path::Path, mode: u32) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).custom_flags(libc::O_NOFOLLOW).open(path)
}

/// Opens a file for reading, never through a symbolic link at `path` (`O_NOFOLLOW`).
pub fn open_no_follow(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path)
}

/// The permission bits (`0o7777`) of what `meta` describes.
pub fn mode(meta: &std::fs::Metadata) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777
}

/// Sets the permission bits of `path`.
pub fn set_mode(path: &std::path::Path, mode: u32) -> std::io::Result<()> {
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))
}

/// `meta`'s stat data as git's index keeps it.
pub fn stat(meta: &std::fs::Metadata) -> super::Stat {
    use std::os::unix::fs::MetadataExt;
    super::Stat {
        ctime: (meta.ctime(), meta.ctime_nsec()),
        mtime: (meta.mtime(), meta.mtime_nsec()),
        dev: meta.dev(),
        ino: meta.ino(),
        uid: meta.uid(),
        gid: meta.gid(),
    }
}

/// Makes a symbolic link at `link` that points at `target`.
pub fn symlink(target: &std::path::Path, link: &std::path::Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

/// Gives `path` (a link itself, never what it points at) to `uid` and `gid`.
pub fn lchown(path: &std::path::Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))
}

/// A path relative to a repository's top as git's bytes: the bytes of the name, as they are on Unix.
pub fn path_bytes(path: &std::path::Path) -> std::borrow::Cow<'_, [u8]> {
    use std::os::unix::ffi::OsStrExt;
    std::borrow::Cow::Borrowed(path.as_os_str().as_bytes())
}

/// The relative path git's bytes name.
pub fn path_from_bytes(bytes: &[u8]) -> std::borrow::Cow<'_, std::path::Path> {
    use std::os::unix::ffi::OsStrExt;
    std::borrow::Cow::Borrowed(std::path::Path::new(std::ffi::OsStr::from_bytes(bytes)))
}

/// `path` if it is a file with an executable bit set.
pub(super) fn runnable_as(path: &std::path::Path) -> Option<PathBuf> {
    let meta = path.metadata().ok()?;
    (meta.is_file() && mode(&meta) & 0o111 != 0).then(|| path.to_owned())
}

/// Resolves when SIGTERM, SIGHUP or SIGINT arrives, with its name; never if no handler can be installed. An editor
/// that ends its server with one gets the same clean end as one that closes its input.
pub async fn termination() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup), Ok(mut int)) =
        (signal(SignalKind::terminate()), signal(SignalKind::hangup()), signal(SignalKind::interrupt()))
    else {
        tracing::warn!("cannot handle termination signals: they end the server without its cleanup");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = hup.recv() => "SIGHUP",
        _ = int.recv() => "SIGINT",
    }
}
