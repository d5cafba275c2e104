//! What differs between the systems the server builds for, in one place: processes (a child that dies with the
//! server, process groups and signals, telling a process from a later one with its pid, stray processes), the
//! machine (boot id, name, memory-backed folders, user ids), files (modes, owners, links, symlink-safe opens, stat
//! data for git's index, paths as git's bytes), the terminal (reading a key unechoed) and the signals that end a
//! server.
//!
//! Two sides, and nothing outside this module names a system: `unix.rs` (Linux, where the tests run; macOS' calls
//! beside Linux's, built by the release workflow) and `portable.rs` (Windows, with std's portable calls and a few
//! Windows ones). The portable side is also built and tested here on Linux with the `portable-platform` feature, so
//! the rest of the server is proven to need nothing of Unix; only the few calls marked `cfg(windows)` in it are not
//! compiled here (see docs/architecture.md).
//!
//! The process backend runs the agent under tmux in Unix process groups: on the portable side it is refused in
//! words ([`PROCESS_BACKEND`]), and the docker and cloud backends are what remains.

#[cfg(all(unix, not(feature = "portable-platform")))]
mod unix;
#[cfg(all(unix, not(feature = "portable-platform")))]
pub use unix::*;

#[cfg(any(not(unix), feature = "portable-platform"))]
mod portable;
#[cfg(any(not(unix), feature = "portable-platform"))]
pub use portable::*;

/// How a process is asked to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Asked (SIGTERM): it may clean up.
    Term,
    /// Ended at once (SIGKILL).
    Kill,
}

/// What git's index keeps of a file's stat data, so an unchanged file need not be read again. Times are
/// (seconds, nanoseconds) since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stat {
    pub ctime: (i64, i64),
    pub mtime: (i64, i64),
    pub dev: u64,
    pub ino: u64,
    pub uid: u32,
    pub gid: u32,
}

/// `program` as given (when it names a folder) or found on `PATH`, if it is a file this system can run
/// ([`is_runnable_file`]: the executable bits on Unix, `PATHEXT` on Windows).
pub fn find_program(program: &std::path::Path) -> Option<std::path::PathBuf> {
    if program.as_os_str().is_empty() {
        return None;
    }
    if program.components().count() > 1 {
        return runnable_as(program);
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).find_map(|dir| runnable_as(&dir.join(program)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_start_time_a_boot_and_a_name() {
        let start = process_start_time(std::process::id());
        let portable = cfg!(any(not(unix), feature = "portable-platform"));
        assert!(portable || start.is_some_and(|s| !s.is_empty()));
        assert!(portable || !boot_id().is_empty());
        assert!(!hostname().is_empty());
        assert_eq!(process_start_time(u32::MAX), None, "no such process");
    }

    #[test]
    fn programs_are_found_on_path_and_by_their_path() {
        let found = find_program(std::path::Path::new("git")).expect("git is on PATH");
        assert!(found.is_absolute() && found.is_file());
        assert_eq!(find_program(&found), Some(found.clone()));
        assert_eq!(find_program(std::path::Path::new("no-such-program-here")), None);
        assert_eq!(find_program(std::path::Path::new("")), None);
    }
}
