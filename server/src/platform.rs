//! What differs between the systems the server builds for: how a child dies with this process, how a process is
//! told from a later one with its pid, the machine's boot and name, where memory-backed folders live, and how
//! stray processes are found. Linux is the system the tests run on; the macOS side follows each function's Linux
//! one with that system's calls and is built by the release workflow (`.github/workflows/release.yml`), not here.
//! Other systems get the answers that make the callers fall back (unknown, none), and Windows is refused at build
//! time: the server reads and writes files through Unix APIs throughout (symlink-safe opens, modes, process groups).

#[cfg(not(unix))]
compile_error!("openhands-lsp builds on Linux and macOS; Windows is not supported yet (see docs/architecture.md)");

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

/// A path that opens file descriptor `fd` of this process as a new file description (Linux `/proc/self/fd`), so
/// its flags can differ from the descriptor's. None elsewhere (macOS' `/dev/fd` shares the description).
pub fn reopenable_fd(fd: i32) -> Option<String> {
    cfg!(target_os = "linux").then(|| format!("/proc/self/fd/{fd}"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_start_time_a_boot_and_a_name() {
        let start = process_start_time(std::process::id());
        assert!(start.is_some_and(|s| !s.is_empty()));
        assert!(!boot_id().is_empty());
        assert!(!hostname().is_empty());
        assert_eq!(process_start_time(u32::MAX), None, "no such process");
    }
}
