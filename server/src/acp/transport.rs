//! ACP's wire: newline-delimited JSON-RPC 2.0 on stdin/stdout. One thread reads lines, one writes them (stdout is
//! the protocol: nothing else is ever written to it); the [`Peer`] sends notifications, requests to the client
//! (with their answers matched by id) and responses.
//!
//! Not the `agent-client-protocol` crate's connection layer: it runs its own actors and a blocking stdio of its
//! own beside this server's single-threaded runtime, and answers a malformed line by closing the connection,
//! where an editor's agent should answer it and keep serving.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::errors::RpcError;

/// The longest line read; a longer one is answered with a parse error and skipped (an embedded file of that size is
/// not context an agent can use).
const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// A message from the client.
#[derive(Debug)]
pub enum Incoming {
    Request { id: Value, method: String, params: Value },
    Notification { method: String, params: Value },
}

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, RpcError>>>>>;

/// The way to the client: notifications, requests (answered through `pending`) and responses, each one line.
/// What the writer thread is given: a line, or the end (answered once everything before it is written).
enum Out {
    Line(String),
    End(std::sync::mpsc::Sender<()>),
}

#[derive(Clone)]
pub struct Peer {
    out: mpsc::UnboundedSender<Out>,
    pending: Pending,
    next_id: Arc<AtomicU64>,
}

impl Peer {
    fn send(&self, message: &Value) {
        // A closed writer means the client has gone: there is no one left to tell.
        let _ = self.out.send(Out::Line(message.to_string()));
    }

    /// Writes out everything sent so far, then stops writing; waits up to `timeout` for it.
    pub fn finish(&self, timeout: std::time::Duration) {
        let (tx, rx) = std::sync::mpsc::channel();
        if self.out.send(Out::End(tx)).is_ok() {
            let _ = rx.recv_timeout(timeout);
        }
    }

    pub fn notify(&self, method: &str, params: impl Serialize) {
        let params = serde_json::to_value(params).unwrap_or(Value::Null);
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    pub fn respond(&self, id: Value, result: Result<Value, RpcError>) {
        let message = match result {
            Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
            Err(error) => json!({"jsonrpc": "2.0", "id": id, "error": error.to_json()}),
        };
        self.send(&message);
    }

    /// Asks the client and waits for its answer (until the client goes: then an error).
    pub async fn request<R: DeserializeOwned>(&self, method: &str, params: impl Serialize) -> Result<R, RpcError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.pending).insert(id, tx);
        let params = serde_json::to_value(params).unwrap_or(Value::Null);
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let value =
            rx.await.map_err(|_| RpcError::internal(format!("the editor left before answering {method}")))??;
        serde_json::from_value(value)
            .map_err(|e| RpcError::internal(format!("the editor's answer to {method} is not what ACP says: {e}")))
    }

    fn answer(&self, id: &Value, result: Result<Value, RpcError>) {
        let Some(id) = id.as_u64() else { return };
        if let Some(tx) = lock(&self.pending).remove(&id) {
            let _ = tx.send(result);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the reader and writer threads on `input`/`output`: the peer, and the client's requests and notifications
/// in order (`None` once its input ends). Malformed lines are answered here and never reach the caller.
pub fn start<R, W>(input: R, output: W) -> (Peer, mpsc::UnboundedReceiver<Incoming>)
where
    R: std::io::Read + Send + 'static,
    W: Write + Send + 'static,
{
    let (out_tx, out_rx) = mpsc::unbounded_channel::<Out>();
    let peer = Peer { out: out_tx, pending: Arc::default(), next_id: Arc::new(AtomicU64::new(0)) };
    let _ = std::thread::Builder::new().name("acp-stdout".into()).spawn(move || write_lines(output, out_rx));
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let reader_peer = peer.clone();
    let _ = std::thread::Builder::new().name("acp-stdin".into()).spawn(move || read_lines(input, &reader_peer, &in_tx));
    (peer, in_rx)
}

fn write_lines<W: Write>(output: W, mut rx: mpsc::UnboundedReceiver<Out>) {
    let mut out = std::io::BufWriter::new(output);
    while let Some(message) = rx.blocking_recv() {
        let line = match message {
            Out::Line(line) => line,
            Out::End(done) => {
                let _ = out.flush();
                let _ = done.send(());
                return;
            }
        };
        let written = out.write_all(line.as_bytes()).and_then(|()| out.write_all(b"\n"));
        // Flush once the burst is written: a message waits for no other.
        let flushed = written.and_then(|()| if rx.is_empty() { out.flush() } else { Ok(()) });
        if flushed.is_err() {
            return;
        }
    }
    let _ = out.flush();
}

fn read_lines<R: std::io::Read>(input: R, peer: &Peer, tx: &mpsc::UnboundedSender<Incoming>) {
    let mut reader = std::io::BufReader::new(input);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = std::io::Read::take(&mut reader, MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut line);
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if line.len() > MAX_LINE_BYTES && line.last() != Some(&b'\n') {
            peer.respond(Value::Null, Err(RpcError::parse(format!("a message over {MAX_LINE_BYTES} bytes"))));
            // The rest of that line is skipped.
            let _ = reader.skip_until(b'\n');
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if let Some(incoming) = classify(text, peer)
            && tx.send(incoming).is_err()
        {
            return;
        }
    }
}

/// One line: a request or notification for the caller; a response to one of ours, delivered here; anything else
/// answered with the JSON-RPC error it deserves.
fn classify(text: &str, peer: &Peer) -> Option<Incoming> {
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            peer.respond(Value::Null, Err(RpcError::parse(format!("not JSON: {e}"))));
            return None;
        }
    };
    let id = value.get("id").cloned();
    let reply_to = id.clone().unwrap_or(Value::Null);
    let invalid = |why: &str| {
        peer.respond(reply_to.clone(), Err(RpcError::invalid_request(why)));
        None
    };
    if !value.is_object() {
        return invalid("a JSON-RPC message is an object");
    }
    if value.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid("\"jsonrpc\": \"2.0\" is missing");
    }
    let params = value.get("params").cloned().unwrap_or(Value::Null);
    match (value.get("method").and_then(Value::as_str), id) {
        (Some(method), Some(id)) if id.is_string() || id.is_number() => {
            Some(Incoming::Request { id, method: method.to_owned(), params })
        }
        (Some(_), Some(_)) => invalid("a request's id is a string or a number"),
        (Some(method), None) => Some(Incoming::Notification { method: method.to_owned(), params }),
        (None, Some(id)) if value.get("result").is_some() || value.get("error").is_some() => {
            let result = match value.get("error") {
                Some(error) => Err(RpcError::from_client(error)),
                None => Ok(value.get("result").cloned().unwrap_or(Value::Null)),
            };
            peer.answer(&id, result);
            None
        }
        (None, _) => invalid("no \"method\""),
    }
}
