//! What the test crate does with processes and time, in one place: children in a process group of their own that
//! die with the test (the race with a parent that dies first included, as the product's process backend does it),
//! signals to a group, free loopback ports, and dates in the formats the stand-ins answer with (no date library).
//! What an agent's terminal leaves behind (tmux servers and their children) is swept with the product's own
//! `openhands_lsp::sandbox::process::sweep_tmux_dir`.

use std::os::unix::process::CommandExt as _;

/// A free port on 127.0.0.1 (free now; the caller binds it a moment later).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// The child gets `signal` when the test process dies (should the test have died between fork and `prctl`, it
/// exits at once, as the product's process backend does it); with `own_group`, also a session (and so a process
/// group) of its own, paused, resumed and killed as one.
#[allow(unsafe_code)]
pub fn dying_with_parent(cmd: &mut std::process::Command, signal: libc::c_int, own_group: bool) {
    let parent = std::process::id();
    // SAFETY: async-signal-safe calls only, between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if own_group {
                libc::setsid();
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, signal);
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

/// Sends `signal` to the process group led by `pid`.
#[allow(unsafe_code)]
pub fn kill_group(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) on a process group the test created.
    unsafe {
        libc::kill(-(pid as libc::pid_t), signal);
    }
}

/// Dates as the stand-ins write them.
pub mod dates {
    use std::time::{SystemTime, UNIX_EPOCH};

    /// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
    pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
        let z = z + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        (yoe + era * 400 + i64::from(m <= 2), m, d)
    }

    fn parts() -> (i64, u32, u32, u64, u32) {
        let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = d.as_secs();
        let (y, m, day) = civil_from_days((secs / 86_400) as i64);
        (y, m, day, secs % 86_400, d.subsec_micros())
    }

    /// Now, RFC 3339 in UTC (`2026-11-30T16:40:00Z`), as the OpenHands app server answers.
    pub fn rfc3339_now() -> String {
        let (y, m, d, rem, _) = parts();
        format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
    }

    /// Now, naive ISO 8601 with microseconds (`2026-11-30T16:40:00.123456`), as the agent-server stamps events.
    pub fn agent_server_timestamp() -> String {
        let (y, m, d, rem, micros) = parts();
        format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}", rem / 3600, rem % 3600 / 60, rem % 60)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn days_become_dates() {
            assert_eq!(super::civil_from_days(0), (1970, 1, 1));
            assert_eq!(super::civil_from_days(20_787), (2026, 11, 30));
            assert_eq!(super::civil_from_days(11_016), (2000, 2, 29));
        }
    }
}
