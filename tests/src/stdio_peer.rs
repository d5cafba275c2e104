//! A lean JSON-RPC peer over a child's stdio for the benchmarks: LSP (`Content-Length`) or newline-delimited framing
//! (ACP), every message timestamped the moment it is read, and the usual server-to-client requests answered so a
//! server never waits on the bench. (The test harness in `lsp_client` checks far more and is slower for it.)

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Lsp,
    Lines,
}

/// A message and when it was read.
pub type Received = (Instant, Value);

pub struct Peer {
    pub child: Child,
    stdin: Arc<Mutex<Option<ChildStdin>>>,
    rx: Receiver<Received>,
    framing: Framing,
    next_id: i64,
    /// Messages read while waiting for something else.
    pub backlog: Vec<Received>,
}

impl Peer {
    pub fn spawn(mut command: Command, framing: Framing, settings: Value) -> Result<Peer> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("spawning {command:?}"))?;
        let stdout = child.stdout.take().context("stdout")?;
        let stdin = Arc::new(Mutex::new(child.stdin.take()));
        let (tx, rx) = channel();
        let writer = stdin.clone();
        std::thread::spawn(move || read_loop(stdout, framing, tx, writer, settings));
        Ok(Peer { child, stdin, rx, framing, next_id: 0, backlog: Vec::new() })
    }

    pub fn send(&self, message: &Value) -> Result<()> {
        write_message(&self.stdin, self.framing, message)
    }

    pub fn request(&mut self, method: &str, params: Value) -> Result<i64> {
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}))?;
        Ok(self.next_id)
    }

    pub fn notify(&self, method: &str, params: Value) -> Result<()> {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}))
    }

    /// The next message, from the backlog first.
    pub fn recv(&mut self, timeout: Duration) -> Result<Received> {
        if !self.backlog.is_empty() {
            return Ok(self.backlog.remove(0));
        }
        match self.rx.recv_timeout(timeout) {
            Ok(m) => Ok(m),
            Err(RecvTimeoutError::Timeout) => bail!("no message within {timeout:?}"),
            Err(RecvTimeoutError::Disconnected) => bail!("the peer closed its stdout"),
        }
    }

    /// Waits for the response to `id`, keeping everything else in the backlog.
    pub fn response(&mut self, id: i64, timeout: Duration) -> Result<Received> {
        let deadline = Instant::now() + timeout;
        let mut kept = Vec::new();
        let found = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, m) = match self.rx.recv_timeout(left) {
                Ok(m) => m,
                Err(_) => bail!("no response to request {id} within {timeout:?}"),
            };
            if m["id"] == id && m.get("method").is_none() {
                break (at, m);
            }
            kept.push((at, m));
        };
        self.backlog.extend(kept);
        Ok(found)
    }

    pub fn close_stdin(&self) {
        self.stdin.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Waits for the process to end; kills it after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<Duration> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if self.child.try_wait()?.is_some() {
                return Ok(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        bail!("did not exit within {timeout:?}")
    }

    /// SIGTERM, as an editor ends a server that has no exit message.
    #[allow(unsafe_code)]
    pub fn terminate(&self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn write_message(stdin: &Mutex<Option<ChildStdin>>, framing: Framing, message: &Value) -> Result<()> {
    let body = message.to_string();
    let mut guard = stdin.lock().unwrap_or_else(|p| p.into_inner());
    let w = guard.as_mut().context("stdin closed")?;
    match framing {
        Framing::Lsp => write!(w, "Content-Length: {}\r\n\r\n{body}", body.len())?,
        Framing::Lines => writeln!(w, "{body}")?,
    }
    w.flush()?;
    Ok(())
}

fn read_loop(
    stdout: std::process::ChildStdout,
    framing: Framing,
    tx: Sender<Received>,
    writer: Arc<Mutex<Option<ChildStdin>>>,
    settings: Value,
) {
    let mut reader = BufReader::with_capacity(1 << 20, stdout);
    loop {
        let body = match framing {
            Framing::Lsp => {
                let mut length = None;
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let l = line.trim_end();
                    if l.is_empty() {
                        break;
                    }
                    if let Some(v) = l.strip_prefix("Content-Length:") {
                        length = v.trim().parse::<usize>().ok();
                    }
                }
                let Some(n) = length else { return };
                let mut buf = vec![0; n];
                if reader.read_exact(&mut buf).is_err() {
                    return;
                }
                buf
            }
            Framing::Lines => {
                let mut line = Vec::new();
                if reader.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                    return;
                }
                line
            }
        };
        let at = Instant::now();
        let Ok(message) = serde_json::from_slice::<Value>(&body) else { continue };
        // Server-to-client requests get the answers an editor would give.
        if let (Some(method), Some(id)) = (message["method"].as_str(), message.get("id")) {
            let result = match method {
                "workspace/configuration" => json!([settings.clone()]),
                "window/showMessageRequest" => Value::Null,
                _ => Value::Null,
            };
            let _ = write_message(&writer, framing, &json!({"jsonrpc": "2.0", "id": id, "result": result}));
            continue;
        }
        if tx.send((at, message)).is_err() {
            return;
        }
    }
}

/// Resident set size of a process, in bytes (`VmRSS`).
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse::<u64>().ok()?;
    Some(kb * 1024)
}

/// The RSS of a process and all its descendants.
pub fn tree_rss_bytes(pid: u32) -> u64 {
    let mut total = rss_bytes(pid).unwrap_or(0);
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    for child in children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()) {
        total += tree_rss_bytes(child);
    }
    total
}
