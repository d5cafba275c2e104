//! A real terminal for Neovim: tmux at a fixed size, keys sent as a user types them, and the screen captured as the
//! user sees it. Every capture a test keeps is saved under `target/test-logs/neovim/`, and a wait that times out
//! names the file holding the screen it ended on.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Screen {
    socket: PathBuf,
    test: String,
    logs: PathBuf,
    shots: std::cell::Cell<u32>,
    _dir: tempfile::TempDir,
}

/// Where the screens go: `target/test-logs/neovim/`.
pub fn logs_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("test-logs/neovim")
}

impl Screen {
    /// Runs `command` in a new tmux server of its own, `columns` × `rows`, in `cwd`, with `env` added.
    pub fn start(
        test: &str,
        cwd: &Path,
        env: &[(&str, String)],
        command: &[String],
        columns: u16,
        rows: u16,
    ) -> Screen {
        let dir = tempfile::tempdir().expect("a folder for the tmux socket");
        let socket = dir.path().join("tmux.sock");
        let logs = logs_dir();
        std::fs::create_dir_all(&logs).expect("target/test-logs/neovim");
        let mut tmux = Command::new("tmux");
        tmux.arg("-S").arg(&socket).args(["-f", "/dev/null", "new-session", "-d", "-s", "main"]);
        tmux.args(["-x", &columns.to_string(), "-y", &rows.to_string(), "-c"]).arg(cwd);
        for (k, v) in env {
            tmux.args(["-e", &format!("{k}={v}")]);
        }
        tmux.args(command);
        let out = tmux.env("TERM", "xterm-256color").output().expect("tmux");
        assert!(out.status.success(), "tmux new-session: {}", String::from_utf8_lossy(&out.stderr));
        Screen { socket, test: test.to_owned(), logs, shots: std::cell::Cell::new(0), _dir: dir }
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").arg("-S").arg(&self.socket).args(args).output().expect("tmux");
        assert!(out.status.success(), "tmux {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Key names as tmux knows them (`Enter`, `Escape`, `C-w`), each pressed once.
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Types `text` as it is.
    pub fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "main", "-l", text]);
    }

    /// Types an Ex command and presses Enter.
    pub fn ex(&self, command: &str) {
        self.type_text(&format!(":{command}"));
        self.keys(&["Enter"]);
    }

    /// Whether a bell rang in the terminal (tmux marks the window: the session is detached, as a window the user
    /// is not looking at).
    pub fn bell_rang(&self) -> bool {
        self.tmux(&["display-message", "-p", "-t", "main", "#{window_bell_flag}"]).trim() == "1"
    }

    /// The screen now, one line per row.
    pub fn capture(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "main"])
    }

    /// Saves the screen as `NN-label.txt` for this test and returns its path.
    pub fn save(&self, label: &str) -> PathBuf {
        let n = self.shots.get() + 1;
        self.shots.set(n);
        let path = self.logs.join(format!("{}-{n:02}-{label}.txt", self.test));
        std::fs::write(&path, self.capture()).expect("saving the screen");
        path
    }

    /// Waits until the screen satisfies `pred`, then saves it as `label` and returns it; on timeout, saves the
    /// screen it ended on and panics naming the file.
    pub fn wait_for(&self, label: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.capture();
            if pred(&screen) {
                self.save(label);
                return screen;
            }
            if Instant::now() >= deadline {
                let file = self.save(&format!("{label}-TIMED-OUT"));
                panic!(
                    "timed out after {timeout:?} waiting for {label}; the screen is in {}:\n{screen}",
                    file.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-S").arg(&self.socket).arg("kill-server").output();
    }
}
