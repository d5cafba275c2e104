//! An LSP client harness that drives the real `openhands-lsp` binary over stdio.
//!
//! - Speaks Content-Length framing and checks every byte the server writes to stdout is well-formed protocol
//!   (header, JSON body, `"jsonrpc":"2.0"`); a violation fails the test at the next wait and at drop.
//! - Answers server-to-client requests from scripted handlers (sensible defaults for the common ones).
//! - Waits for conditions over everything received, with timeouts; never assumes notification order.
//! - On drop: shutdown + exit if the test did not end the session itself, then asserts the process exited.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::{Value, json};

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// A reply to a server-to-client request: `Ok(result)` or `Err(error object)`.
pub type Reply = std::result::Result<Value, Value>;
type Handler = Box<dyn FnMut(&Value) -> Reply + Send>;

/// The path of the server binary, built once per test process so tests never run a stale one.
pub fn server_binary() -> PathBuf {
    static BUILD: Once = Once::new();
    if let Ok(path) = std::env::var("OPENHANDS_LSP_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test binary>
    let profile_dir = exe.parent().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        // The same selection as `cargo test` (all targets, dev-dependencies included), so features unify the
        // same way and this is a no-op after it, instead of rebuilding the binary with other features.
        cmd.args(["build", "--quiet", "--workspace", "--all-targets"]);
        // The test process's per-crate variables would look like a changed environment to build scripts that
        // track them (ring tracks CARGO_MANIFEST_DIR) and rebuild half the tree.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("CARGO_") && !matches!(key.as_ref(), "CARGO_HOME" | "CARGO_TARGET_DIR") {
                cmd.env_remove(key.as_ref());
            }
        }
        if release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("running cargo build for openhands-lsp");
        assert!(status.success(), "cargo build --workspace --all-targets failed");
    });
    profile_dir.join("openhands-lsp")
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Variables removed from the inherited environment.
    pub env_remove: Vec<String>,
    /// Defaults to a fresh temporary directory (so tests never share conversations).
    pub state_home: Option<PathBuf>,
}

impl Options {
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_owned(), value.into()));
        self
    }
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }
    pub fn test_hooks(self) -> Self {
        self.env("OPENHANDS_LSP_TEST_HOOKS", "1")
    }
}

#[derive(Default)]
struct Inbox {
    /// Everything the server sent, in arrival order.
    messages: Vec<Value>,
    protocol_errors: Vec<String>,
    stdout_closed: bool,
}

struct Shared {
    inbox: Mutex<Inbox>,
    changed: Condvar,
    handlers: Mutex<HashMap<String, Handler>>,
    stdin: Mutex<Option<ChildStdin>>,
    stderr: Mutex<String>,
    stderr_closed: std::sync::atomic::AtomicBool,
    /// The test killed the server: a frame cut short by SIGKILL is not a protocol error.
    killed: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn inbox(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn write_frame(&self, body: &[u8]) -> Result<()> {
        let mut stdin = self.stdin.lock().unwrap_or_else(|p| p.into_inner());
        let pipe = stdin.as_mut().ok_or_else(|| anyhow!("stdin already closed"))?;
        pipe.write_all(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes())?;
        pipe.write_all(body)?;
        pipe.flush()?;
        Ok(())
    }
}

/// A JSON-RPC error returned by the server.
#[derive(Debug, Clone)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JSON-RPC error {}: {}", self.code, self.message)
    }
}

pub struct Server {
    child: Child,
    shared: Arc<Shared>,
    next_id: i64,
    exit_status: Option<ExitStatus>,
    _state_home: Option<tempfile::TempDir>,
    pub state_home: PathBuf,
}

impl Server {
    pub fn spawn(opts: Options) -> Result<Server> {
        let (temp, state_home) = match &opts.state_home {
            Some(dir) => (None, dir.clone()),
            None => {
                let t = tempfile::tempdir()?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let mut cmd = Command::new(server_binary());
        cmd.args(&opts.args)
            .env("XDG_STATE_HOME", &state_home)
            .env("OPENHANDS_LSP_LOG", "debug")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for key in &opts.env_remove {
            cmd.env_remove(key);
        }
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().context("spawning openhands-lsp")?;
        let shared = Arc::new(Shared {
            inbox: Mutex::new(Inbox::default()),
            changed: Condvar::new(),
            handlers: Mutex::new(default_handlers()),
            stdin: Mutex::new(child.stdin.take()),
            stderr: Mutex::new(String::new()),
            stderr_closed: std::sync::atomic::AtomicBool::new(false),
            killed: std::sync::atomic::AtomicBool::new(false),
        });
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let reader_shared = shared.clone();
        std::thread::spawn(move || read_loop(stdout, reader_shared));
        let stderr = child.stderr.take().ok_or_else(|| anyhow!("no stderr"))?;
        let stderr_shared = shared.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                stderr_shared.stderr.lock().unwrap_or_else(|p| p.into_inner()).push_str(&line);
                line.clear();
            }
            stderr_shared.stderr_closed.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        Ok(Server { child, shared, next_id: 1, exit_status: None, _state_home: temp, state_home })
    }

    /// Spawns, sends `initialize` with the given params merged over defaults, then `initialized`.
    pub fn start(opts: Options, initialize_params: Value) -> Result<(Server, Value)> {
        let mut server = Server::spawn(opts)?;
        let result = server.initialize(initialize_params)?;
        Ok((server, result))
    }

    pub fn initialize(&mut self, params: Value) -> Result<Value> {
        let mut base = json!({
            "processId": std::process::id(),
            "clientInfo": {"name": "openhands-lsp-tests"},
            "rootUri": null,
            "capabilities": {}
        });
        merge(&mut base, params);
        let result = self.request("initialize", base)?.map_err(|e| anyhow!("initialize failed: {e}"))?;
        self.notify("initialized", json!({}))?;
        Ok(result)
    }

    /// Sets the reply for a server-to-client request method (replacing the default).
    pub fn on_request(&self, method: &str, handler: impl FnMut(&Value) -> Reply + Send + 'static) {
        self.shared.handlers.lock().unwrap_or_else(|p| p.into_inner()).insert(method.to_owned(), Box::new(handler));
    }

    pub fn send_raw(&self, body: &[u8]) -> Result<()> {
        self.shared.write_frame(body)
    }

    /// Writes bytes as they are, framing included (for broken-framing tests).
    pub fn send_bytes(&self, bytes: &[u8]) -> Result<()> {
        let mut stdin = self.shared.stdin.lock().unwrap_or_else(|p| p.into_inner());
        let pipe = stdin.as_mut().ok_or_else(|| anyhow!("stdin already closed"))?;
        pipe.write_all(bytes)?;
        pipe.flush()?;
        Ok(())
    }

    pub fn notify(&self, method: &str, params: Value) -> Result<()> {
        self.send_raw(json!({"jsonrpc": "2.0", "method": method, "params": params}).to_string().as_bytes())
    }

    /// Sends a request and returns its id without waiting.
    pub fn send_request(&mut self, method: &str, params: Value) -> Result<i64> {
        let id = self.next_id;
        self.next_id += 1;
        self.send_raw(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string().as_bytes())?;
        Ok(id)
    }

    /// Waits for the response to `id`.
    pub fn response(&self, id: i64, timeout: Duration) -> Result<std::result::Result<Value, RpcError>> {
        let id = json!(id);
        let msg = self.wait_for(&format!("response to request {id}"), timeout, |inbox| {
            inbox.iter().find(|m| m.get("id") == Some(&id) && m.get("method").is_none()).cloned()
        })?;
        Ok(match msg.get("error") {
            Some(err) => Err(RpcError {
                code: err["code"].as_i64().unwrap_or(0),
                message: err["message"].as_str().unwrap_or_default().to_owned(),
            }),
            None => Ok(msg.get("result").cloned().unwrap_or(Value::Null)),
        })
    }

    /// Sends a request and waits for its response. The outer error is a harness failure (timeout, dead server).
    pub fn request(&mut self, method: &str, params: Value) -> Result<std::result::Result<Value, RpcError>> {
        let id = self.send_request(method, params)?;
        self.response(id, DEFAULT_TIMEOUT)
    }

    /// `workspace/executeCommand` with one argument object.
    pub fn command(&mut self, command: &str, argument: Value) -> Result<std::result::Result<Value, RpcError>> {
        self.request("workspace/executeCommand", json!({"command": command, "arguments": [argument]}))
    }

    /// Waits until `probe` finds something in everything received so far.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut(&[Value]) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        let mut inbox = self.shared.inbox();
        loop {
            if !inbox.protocol_errors.is_empty() {
                bail!("server broke the protocol on stdout: {:?}", inbox.protocol_errors);
            }
            if let Some(found) = probe(&inbox.messages) {
                return Ok(found);
            }
            if inbox.stdout_closed {
                drop(inbox); // (the log's tail reads the inbox too)
                bail!("server closed stdout while waiting for {what}; stderr:\n{}", self.stderr_tail());
            }
            let now = Instant::now();
            if now >= deadline {
                drop(inbox);
                bail!("timed out after {timeout:?} waiting for {what}; stderr:\n{}", self.stderr_tail());
            }
            inbox = self
                .shared
                .changed
                .wait_timeout(inbox, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Waits for a notification of `method` whose params satisfy `pred`.
    pub fn wait_notification(&self, method: &str, mut pred: impl FnMut(&Value) -> bool) -> Result<Value> {
        self.wait_for(&format!("notification {method}"), DEFAULT_TIMEOUT, |msgs| {
            msgs.iter()
                .filter(|m| m["method"] == method && m.get("id").is_none())
                .map(|m| m.get("params").cloned().unwrap_or(Value::Null))
                .find(|p| pred(p))
        })
    }

    /// All notifications of `method` received so far (params only).
    pub fn notifications(&self, method: &str) -> Vec<Value> {
        self.shared
            .inbox()
            .messages
            .iter()
            .filter(|m| m["method"] == method && m.get("id").is_none())
            .map(|m| m.get("params").cloned().unwrap_or(Value::Null))
            .collect()
    }

    /// All server-to-client requests of `method` received so far (params only).
    pub fn server_requests(&self, method: &str) -> Vec<Value> {
        self.shared
            .inbox()
            .messages
            .iter()
            .filter(|m| m["method"] == method && m.get("id").is_some())
            .map(|m| m.get("params").cloned().unwrap_or(Value::Null))
            .collect()
    }

    /// Everything received, in order.
    pub fn messages(&self) -> Vec<Value> {
        self.shared.inbox().messages.clone()
    }

    /// The server's log: what it wrote to stderr, then the lines it sent as `window/logMessage` (once the editor is
    /// there, its log goes there), each as `LEVEL text`.
    pub fn stderr(&self) -> String {
        let mut log = self.raw_stderr();
        for m in self.messages().iter().filter(|m| m["method"] == "window/logMessage") {
            let level = match m["params"]["type"].as_u64() {
                Some(1) => "ERROR",
                Some(2) => "WARN",
                Some(3) => "INFO",
                _ => "LOG",
            };
            log.push_str(&format!("{level} {}\n", m["params"]["message"].as_str().unwrap_or_default()));
        }
        log
    }

    /// Only what the server wrote to stderr.
    pub fn raw_stderr(&self) -> String {
        self.shared.stderr.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// All of stderr, once the process has closed it (for checks that something was never logged).
    pub fn stderr_complete(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.shared.stderr_closed.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "stderr never closed");
            std::thread::sleep(Duration::from_millis(5));
        }
        self.stderr()
    }

    /// Waits until the server's stderr (read by a background thread) satisfies `pred`.
    pub fn wait_stderr(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while !pred(&self.stderr()) {
            if Instant::now() >= deadline {
                bail!("timed out after {timeout:?} waiting for {what} on stderr");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    fn stderr_tail(&self) -> String {
        let all = self.stderr();
        let start = all.len().saturating_sub(4000);
        all[all.floor_char_boundary(start)..].to_owned()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `shutdown` then `exit` and returns the exit status.
    pub fn shutdown_and_exit(&mut self) -> Result<ExitStatus> {
        let res = self.request("shutdown", Value::Null)?;
        res.map_err(|e| anyhow!("shutdown failed: {e}"))?;
        self.notify("exit", Value::Null)?;
        self.wait_exit(Duration::from_secs(5))?.ok_or_else(|| anyhow!("server did not exit after shutdown+exit"))
    }

    /// Polls for process exit (every millisecond, so callers can measure how fast it was).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        if let Some(status) = self.exit_status {
            return Ok(Some(status));
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.exit_status = Some(status);
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Closes the server's stdin (end of input).
    pub fn close_stdin(&self) {
        self.shared.stdin.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    pub fn kill(&mut self) {
        self.shared.killed.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = self.child.kill();
        if let Ok(status) = self.child.wait() {
            self.exit_status = Some(status);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exit_status.is_none() {
            let graceful = self.shutdown_and_exit();
            if graceful.is_err() {
                self.kill();
            }
            if !std::thread::panicking()
                && let Err(e) = graceful
            {
                panic!("server did not shut down cleanly: {e}\nstderr:\n{}", self.stderr_tail());
            }
        }
        let errors = self.shared.inbox().protocol_errors.clone();
        if !std::thread::panicking() {
            assert!(errors.is_empty(), "server broke the protocol on stdout: {errors:?}");
        }
    }
}

fn default_handlers() -> HashMap<String, Handler> {
    let mut map: HashMap<String, Handler> = HashMap::new();
    map.insert("window/workDoneProgress/create".into(), Box::new(|_| Ok(Value::Null)));
    map.insert("client/registerCapability".into(), Box::new(|_| Ok(Value::Null)));
    map.insert("client/unregisterCapability".into(), Box::new(|_| Ok(Value::Null)));
    map.insert(
        "workspace/configuration".into(),
        Box::new(|p| {
            Ok(Value::Array(
                p["items"].as_array().map(|items| items.iter().map(|_| Value::Null).collect()).unwrap_or_default(),
            ))
        }),
    );
    map.insert("window/showMessageRequest".into(), Box::new(|_| Ok(Value::Null)));
    map.insert("window/showDocument".into(), Box::new(|_| Ok(json!({"success": true}))));
    map.insert(
        "workspace/applyEdit".into(),
        Box::new(|_| Ok(json!({"applied": false, "failureReason": "the test client applies nothing unless told to"}))),
    );
    map
}

fn read_loop(stdout: impl Read, shared: Arc<Shared>) {
    let mut reader = BufReader::new(stdout);
    loop {
        match read_frame(&mut reader) {
            Ok(None) => break,
            Ok(Some(msg)) => {
                if msg.get("method").is_some() && msg.get("id").is_some() {
                    answer(&shared, &msg);
                }
                shared.inbox().messages.push(msg);
                shared.changed.notify_all();
            }
            Err(e) => {
                if !shared.killed.load(std::sync::atomic::Ordering::SeqCst) {
                    shared.inbox().protocol_errors.push(e);
                }
                shared.changed.notify_all();
                break;
            }
        }
    }
    shared.inbox().stdout_closed = true;
    shared.changed.notify_all();
}

fn answer(shared: &Shared, msg: &Value) {
    let method = msg["method"].as_str().unwrap_or_default().to_owned();
    let params = msg.get("params").cloned().unwrap_or(Value::Null);
    let reply = {
        let mut handlers = shared.handlers.lock().unwrap_or_else(|p| p.into_inner());
        match handlers.get_mut(&method) {
            Some(handler) => handler(&params),
            None => Err(json!({"code": -32601, "message": format!("test client does not handle {method}")})),
        }
    };
    let response = match reply {
        Ok(result) => json!({"jsonrpc": "2.0", "id": msg["id"], "result": result}),
        Err(error) => json!({"jsonrpc": "2.0", "id": msg["id"], "error": error}),
    };
    let _ = shared.write_frame(response.to_string().as_bytes());
}

/// Reads one frame strictly: only `Content-Length` and `Content-Type` headers, a JSON body, `"jsonrpc":"2.0"`.
fn read_frame(reader: &mut impl BufRead) -> std::result::Result<Option<Value>, String> {
    let mut length = None;
    let mut line = String::new();
    let mut first = true;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(|e| format!("reading stdout: {e}"))?;
        if n == 0 {
            return if first { Ok(None) } else { Err("stdout ended inside a header".into()) };
        }
        first = false;
        if !line.ends_with("\r\n") {
            return Err(format!("header line not terminated by CRLF: {line:?}"));
        }
        let trimmed = &line[..line.len() - 2];
        if trimmed.is_empty() {
            break;
        }
        match trimmed.split_once(": ") {
            Some(("Content-Length", v)) => {
                length = Some(v.parse::<usize>().map_err(|_| format!("bad Content-Length {v:?}"))?)
            }
            Some(("Content-Type", _)) => {}
            _ => return Err(format!("not an LSP header on stdout: {trimmed:?}")),
        }
    }
    let length = length.ok_or("frame without Content-Length")?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).map_err(|e| format!("short body: {e}"))?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| format!("body is not JSON ({e}): {}", String::from_utf8_lossy(&body)))?;
    if value["jsonrpc"] != "2.0" {
        return Err(format!("message without \"jsonrpc\":\"2.0\": {value}"));
    }
    Ok(Some(value))
}

/// Deep-merges `patch` into `base` (objects merge, everything else replaces).
pub fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p,
    }
}
