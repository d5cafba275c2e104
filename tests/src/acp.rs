//! ACP test support: scenarios in `tests/acp-client/` (the official TypeScript SDK as the editor, run by Node) and
//! a raw line client for what a well-behaved SDK never sends (malformed lines, wrong versions).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::llm::ScriptedLlm;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().expect("the repository")
}

/// `target/test-logs/acp/`.
pub fn logs_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target"));
    let dir = target.join("test-logs/acp");
    std::fs::create_dir_all(&dir).expect("the log folder");
    dir
}

/// What an ACP agent started by a test gets: a state folder of its own, a settings file, the environment.
pub struct Setup {
    pub state: tempfile::TempDir,
    pub settings: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Setup {
    /// Settings for the process backend and `llm` (`overrides` merged in), with `LLM_API_KEY` set.
    pub fn new(llm: &ScriptedLlm, overrides: Value) -> Setup {
        let state = tempfile::tempdir().expect("state folder");
        let mut settings = json!({
            "backend": "process",
            "llm": {"model": "openai/gpt-4o", "baseUrl": llm.base_url(), "numRetries": 0},
            "process": {"command": crate::agent::agent_server_command(), "startupTimeoutSeconds": 180},
            "confirmation": "never",
            "docker": {"warmPool": 0},
        });
        crate::lsp_client::merge(&mut settings, overrides);
        let file = state.path().join("settings.json");
        std::fs::write(&file, json!({"openhands": settings}).to_string()).expect("settings");
        let env = vec![
            ("LLM_API_KEY".to_owned(), "sk-acp-test-key".to_owned()),
            ("XDG_STATE_HOME".to_owned(), state.path().join("state").display().to_string()),
            ("XDG_CONFIG_HOME".to_owned(), state.path().join("config").display().to_string()),
            ("LLM_URL".to_owned(), format!("http://{}", llm.addr)),
        ];
        Setup { state, settings: file, env }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.state.path().join("state/openhands-lsp")
    }

    /// Runs scenario `name` (`tests/acp-client/<name>.mjs`) with `env` added; its JSON result. Its output is kept in
    /// `target/test-logs/acp/<name>-<test>.out`.
    pub fn drive(&self, name: &str, env: &[(&str, String)]) -> Value {
        let dir = repo_root().join("tests/acp-client");
        let output = Command::new("node")
            .arg(dir.join(format!("{name}.mjs")))
            .current_dir(&dir)
            .env("OPENHANDS_LSP_BIN", crate::lsp_client::server_binary())
            .env("SETTINGS", &self.settings)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .output()
            .expect("node (the ACP client scenario)");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        // Named after the test too: several tests run one scenario.
        let test = std::thread::current().name().unwrap_or("test").replace("::", "-");
        let log = logs_dir().join(format!("{name}-{test}.out"));
        let _ = std::fs::write(&log, format!("{stdout}\n--- stderr ---\n{stderr}"));
        assert!(output.status.success(), "scenario {name} failed ({}):\n{stderr}", output.status);
        serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("scenario {name} printed no JSON ({e}):\n{stdout}"))
    }
}

/// The updates of a scenario's result, of kind `kind` (`sessionUpdate`).
pub fn updates<'a>(result: &'a Value, kind: &str) -> Vec<&'a Value> {
    result["updates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|u| &u["update"])
        .filter(|u| u["sessionUpdate"] == kind)
        .collect()
}

/// `openhands-lsp acp` on pipes, spoken to line by line.
pub struct RawAgent {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl RawAgent {
    pub fn start(setup: &Setup, extra_env: &[(&str, &str)], settings: Option<&Path>) -> RawAgent {
        let mut cmd = Command::new(crate::lsp_client::server_binary());
        cmd.arg("acp");
        if let Some(file) = settings.or(Some(&setup.settings)) {
            cmd.arg("--settings").arg(file);
        }
        let mut child = cmd
            .envs(setup.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(extra_env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openhands-lsp acp");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    return;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        RawAgent { child, stdin, lines, stderr }
    }

    pub fn send_line(&mut self, line: &str) {
        self.stdin.write_all(line.as_bytes()).and_then(|()| self.stdin.write_all(b"\n")).expect("write");
        self.stdin.flush().expect("flush");
    }

    /// The next line the agent writes, as JSON (every line must be JSON: stdout is the protocol).
    pub fn next_message(&mut self) -> Value {
        let line = self.lines.recv_timeout(Duration::from_secs(30)).expect("a line from the agent within 30 s");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON on stdout ({e}): {line}"))
    }

    /// Sends request `id` and returns its response (notifications before it are skipped).
    pub fn request(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send_line(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string());
        self.response(&json!(id))
    }

    pub fn response(&mut self, id: &Value) -> Value {
        loop {
            let msg = self.next_message();
            if msg.get("id") == Some(id) && msg.get("method").is_none() {
                return msg;
            }
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Closes its input; waits for it to exit; its exit status code.
    pub fn finish(mut self) -> Option<i32> {
        drop(self.stdin);
        for _ in 0..300 {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        None
    }
}
