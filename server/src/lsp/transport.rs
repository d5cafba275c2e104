//! Stdio framing in front of tower-lsp-server.
//!
//! tower-lsp-server ends its read loop on the first frame it cannot decode, which would end the whole server on one
//! malformed message from a client. So the framing is ours: a reader thread parses `Content-Length` frames from
//! stdin, answers what is not well-formed JSON-RPC itself (ParseError / InvalidRequest) and forwards only messages
//! tower-lsp-server can decode. A writer thread owns stdout, so our own error responses never land inside another
//! frame, and several queued frames go out with one flush.
//!
//! Threads rather than tokio's stdin/stdout: tokio reads stdin on its blocking pool and a runtime cannot shut down
//! while that read is pending, so a client that keeps stdin open after `exit` would keep us alive.
//!
//! When stdout is a pipe (as editors start language servers) small writes skip the stdout thread: they go straight
//! into the pipe through a second, non-blocking open of it ([`Direct`]), as long as nothing is queued for the
//! thread. Handing every agent event to another thread cost a wake-up each, and on a busy machine the wait for that
//! thread to be scheduled.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Request, Response};

/// A larger frame is refused: no editor sends one, and reading it whole could exhaust memory.
const MAX_FRAME_BYTES: usize = 256 * 1024 * 1024;
/// Bytes queued for stdout beyond which tower-lsp-server's writes wait. An editor that reads slower than an agent
/// streams (50 MB of terminal output) then slows the agent's stream instead of filling our memory.
const MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;

enum WriterMsg {
    Bytes(Vec<u8>),
    Flush(std_mpsc::Sender<()>),
}

/// How much is waiting for the stdout thread, and who waits for it to shrink.
#[derive(Default)]
struct Queued {
    bytes: AtomicUsize,
    waker: futures::task::AtomicWaker,
    /// Held by the stdout thread while it writes and flushes a batch, and by a direct write: bytes reach the pipe
    /// from one writer at a time, in the order they were handed over.
    turn: Mutex<()>,
    /// Writes that went straight into the pipe.
    direct_writes: AtomicUsize,
}

impl Queued {
    fn turn(&self) -> std::sync::MutexGuard<'_, ()> {
        self.turn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Up to this size a write to a pipe is atomic: with `O_NONBLOCK` it writes everything or nothing (`PIPE_BUF`).
const PIPE_BUF: usize = 4096;

/// A second open of stdout's pipe with `O_NONBLOCK`, for writes that must never wait. Its own file description,
/// so the flags of the editor's pipe (fd 1, which the stdout thread writes with blocking writes) stay as they are.
pub struct Direct(std::fs::File);

impl Direct {
    /// For this process's stdout when it is a pipe; `None` for a terminal or a file, or where a descriptor cannot be
    /// opened anew (`platform::reopen_pipe_nonblocking`).
    pub fn stdout() -> Option<Direct> {
        Direct::reopen(1)
    }

    fn reopen(fd: i32) -> Option<Direct> {
        crate::platform::reopen_pipe_nonblocking(fd).map(Direct)
    }
}

/// Sends complete frames to the stdout thread. Cheap to clone.
#[derive(Clone)]
pub struct Output {
    tx: std_mpsc::Sender<WriterMsg>,
    queued: Arc<Queued>,
    direct: Option<Arc<Direct>>,
}

impl Output {
    /// Our own answers (to malformed input) never wait: they are small and few.
    fn send_json(&self, value: &Value) {
        let body = value.to_string();
        let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        frame.extend_from_slice(body.as_bytes());
        self.queued.bytes.fetch_add(frame.len(), Ordering::SeqCst);
        let _ = self.tx.send(WriterMsg::Bytes(frame));
    }

    /// Blocks until everything sent so far is written and flushed, or the timeout passes.
    pub fn flush_blocking(&self, timeout: Duration) {
        let (ack_tx, ack_rx) = std_mpsc::channel();
        if self.tx.send(WriterMsg::Flush(ack_tx)).is_ok() {
            let _ = ack_rx.recv_timeout(timeout);
        }
    }

    /// The half tower-lsp-server writes its frames into.
    pub fn async_writer(&self) -> ChannelWriter {
        ChannelWriter { tx: self.tx.clone(), queued: self.queued.clone(), direct: self.direct.clone() }
    }
}

/// Starts the stdout thread writing to `out`; `direct`, when given, is a non-blocking handle on the same pipe.
pub fn spawn_writer<W: Write + Send + 'static>(mut out: W, direct: Option<Direct>) -> Output {
    let (tx, rx) = std_mpsc::channel::<WriterMsg>();
    let queued = Arc::new(Queued::default());
    let drained = queued.clone();
    let spawned = std::thread::Builder::new().name("lsp-stdout".into()).spawn(move || {
        let mut broken = false;
        while let Ok(first) = rx.recv() {
            let turn = drained.turn();
            let mut acks = Vec::new();
            let mut pending = Some(first);
            // Take everything already queued, then flush once.
            while let Some(msg) = pending.take().or_else(|| rx.try_recv().ok()) {
                match msg {
                    WriterMsg::Bytes(bytes) => {
                        if !broken && let Err(e) = out.write_all(&bytes) {
                            tracing::error!("writing to stdout failed, dropping further output: {e}");
                            broken = true;
                        }
                        drained.bytes.fetch_sub(bytes.len(), Ordering::SeqCst);
                        drained.waker.wake();
                    }
                    WriterMsg::Flush(ack) => acks.push(ack),
                }
            }
            if !broken && let Err(e) = out.flush() {
                tracing::error!("flushing stdout failed, dropping further output: {e}");
                broken = true;
            }
            drop(turn);
            for ack in acks {
                let _ = ack.send(());
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the stdout thread: {e}");
    }
    Output { tx, queued, direct: direct.map(Arc::new) }
}

/// `AsyncWrite` into the stdout thread. tower-lsp-server's `FramedWrite` only ever hands over whole encoded frames,
/// and every write is accepted whole, so chunks never split a frame.
pub struct ChannelWriter {
    tx: std_mpsc::Sender<WriterMsg>,
    queued: Arc<Queued>,
    direct: Option<Arc<Direct>>,
}

impl ChannelWriter {
    /// Writes `buf` into the pipe at once when that cannot overtake or split anything: nothing queued for the
    /// stdout thread, the thread not writing, and `buf` small enough to go in whole or not at all. False: nothing
    /// was written.
    fn write_direct(&self, buf: &[u8]) -> bool {
        let Some(direct) = &self.direct else { return false };
        if buf.len() > PIPE_BUF || self.queued.bytes.load(Ordering::SeqCst) != 0 {
            return false;
        }
        let Ok(_turn) = self.queued.turn.try_lock() else { return false };
        // Looked at again holding the turn: the stdin thread may have queued an answer meanwhile.
        if self.queued.bytes.load(Ordering::SeqCst) != 0 {
            return false;
        }
        let whole = matches!((&direct.0).write(buf), Ok(n) if n == buf.len());
        if whole {
            self.queued.direct_writes.fetch_add(1, Ordering::Relaxed);
        }
        whole
    }
}

impl AsyncWrite for ChannelWriter {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.write_direct(buf) {
            return Poll::Ready(Ok(buf.len()));
        }
        // Past the limit, wait for the stdout thread to drain (register first, then look again: no lost wake-up).
        if self.queued.bytes.load(Ordering::SeqCst) >= MAX_QUEUED_BYTES {
            self.queued.waker.register(cx.waker());
            if self.queued.bytes.load(Ordering::SeqCst) >= MAX_QUEUED_BYTES {
                return Poll::Pending;
            }
        }
        self.queued.bytes.fetch_add(buf.len(), Ordering::SeqCst);
        match self.tx.send(WriterMsg::Bytes(buf.to_vec())) {
            Ok(()) => Poll::Ready(Ok(buf.len())),
            Err(_) => Poll::Ready(Err(io::Error::new(io::ErrorKind::BrokenPipe, "stdout thread is gone"))),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// What the reader thread saw, for the exit code.
#[derive(Default)]
pub struct InputState {
    pub exit_seen: AtomicBool,
    /// Recorded on arrival: a client may send `exit` right behind `shutdown`, before the shutdown handler has run.
    pub shutdown_seen: AtomicBool,
}

pub type InputStream = tokio_util::io::StreamReader<ReceiverStream, Bytes>;

/// Starts the stdin thread. The returned reader yields only frames tower-lsp-server can decode.
pub fn spawn_reader<R: Read + Send + 'static>(input: R, output: Output) -> (InputStream, Arc<InputState>) {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(64);
    let state = Arc::new(InputState::default());
    let thread_state = state.clone();
    let spawned = std::thread::Builder::new().name("lsp-stdin".into()).spawn(move || {
        let mut reader = BufReader::with_capacity(64 * 1024, input);
        loop {
            match read_frame(&mut reader) {
                Ok(None) => break,
                Ok(Some(body)) => match classify(&body) {
                    Verdict::Forward { method } => {
                        tracing::trace!(target: "openhands_lsp::protocol", "<- {}", masked_for_log(&body));
                        match method {
                            Some(Lifecycle::Exit) => thread_state.exit_seen.store(true, Ordering::SeqCst),
                            Some(Lifecycle::Shutdown) => thread_state.shutdown_seen.store(true, Ordering::SeqCst),
                            None => {}
                        }
                        let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
                        frame.extend_from_slice(&body);
                        if tx.blocking_send(Ok(Bytes::from(frame))).is_err() {
                            break;
                        }
                    }
                    Verdict::Reject(response) => output.send_json(&response),
                },
                Err(FrameError::Malformed(reason)) => {
                    tracing::warn!("malformed frame from the client: {reason}");
                    output.send_json(&error_response(Value::Null, -32700, &format!("Parse error: {reason}")));
                }
                Err(FrameError::Io(e)) => {
                    tracing::error!("reading stdin failed: {e}");
                    break;
                }
            }
        }
        tracing::debug!("stdin closed");
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the stdin thread: {e}");
    }
    (tokio_util::io::StreamReader::new(ReceiverStream(rx)), state)
}

enum FrameError {
    /// The frame was consumed; reading can go on with the next one.
    Malformed(String),
    Io(io::Error),
}

/// Reads one frame's body; `None` at end of input.
fn read_frame(reader: &mut impl BufRead) -> Result<Option<Vec<u8>>, FrameError> {
    let mut content_length: Option<usize> = None;
    let mut problem: Option<String> = None;
    let mut line = String::new();
    let mut saw_header_line = false;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData => FrameError::Malformed("header is not UTF-8".into()),
            _ => FrameError::Io(e),
        })?;
        if n == 0 {
            return if saw_header_line {
                Err(FrameError::Io(io::Error::new(io::ErrorKind::UnexpectedEof, "end of input inside a header")))
            } else {
                Ok(None)
            };
        }
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            if !saw_header_line {
                continue; // stray blank line between frames
            }
            break;
        }
        saw_header_line = true;
        // After a frame whose length we could not know, its body runs into the next header
        // ("hello" + "Content-Length: 5"): resynchronise on the header rather than lose the next message.
        let trimmed = match find_ascii_case_insensitive(trimmed, "content-length:") {
            Some(at) if at > 0 => {
                tracing::warn!("skipped {at} bytes of garbage before a header");
                &trimmed[at..]
            }
            _ => trimmed,
        };
        match trimmed.split_once(':') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("content-length") => {
                match value.trim().parse::<usize>() {
                    Ok(len) => content_length = Some(len),
                    Err(_) => problem = Some(format!("bad Content-Length {:?}", value.trim())),
                }
            }
            Some((name, _)) if name.trim().eq_ignore_ascii_case("content-type") => {}
            _ => problem = Some(format!("unexpected header line {trimmed:?}")),
        }
    }
    let Some(len) = content_length else {
        return Err(FrameError::Malformed(problem.unwrap_or_else(|| "missing Content-Length header".into())));
    };
    if len > MAX_FRAME_BYTES {
        io::copy(&mut reader.take(len as u64), &mut io::sink()).map_err(FrameError::Io)?;
        return Err(FrameError::Malformed(format!("frame of {len} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")));
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).map_err(FrameError::Io)?;
    if let Some(problem) = problem {
        return Err(FrameError::Malformed(problem));
    }
    Ok(Some(body))
}

/// The message as text for a trace log, with `openhands.setSecret` values masked.
fn masked_for_log(body: &[u8]) -> String {
    let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
        return String::from_utf8_lossy(body).into_owned();
    };
    let params = &mut value["params"];
    if params["command"] == "openhands.setSecret"
        && let Some(args) = params["arguments"].as_array_mut()
    {
        for arg in args {
            if arg.get("value").is_some() {
                arg["value"] = json!(crate::secrets::MASK);
            }
        }
    }
    value.to_string()
}

fn find_ascii_case_insensitive(haystack: &str, needle: &str) -> Option<usize> {
    haystack.as_bytes().windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

enum Lifecycle {
    Shutdown,
    Exit,
}

enum Verdict {
    Forward { method: Option<Lifecycle> },
    Reject(Value),
}

/// Accepts exactly what tower-lsp-server's codec accepts, so it never sees a frame it would die on.
fn classify(body: &[u8]) -> Verdict {
    if let Ok(request) = serde_json::from_slice::<Request>(body) {
        let method = match (request.method(), request.id()) {
            ("exit", None) => Some(Lifecycle::Exit),
            ("shutdown", Some(_)) => Some(Lifecycle::Shutdown),
            _ => None,
        };
        return Verdict::Forward { method };
    }
    if serde_json::from_slice::<Response>(body).is_ok() {
        return Verdict::Forward { method: None };
    }
    match serde_json::from_slice::<Value>(body) {
        Err(e) => Verdict::Reject(error_response(Value::Null, -32700, &format!("Parse error: {e}"))),
        Ok(value) => {
            let id = value.get("id").filter(|id| id.is_string() || id.is_i64()).cloned().unwrap_or(Value::Null);
            Verdict::Reject(error_response(id, -32600, &invalid_request_reason(&value)))
        }
    }
}

fn invalid_request_reason(value: &Value) -> String {
    let reason = match value {
        Value::Array(_) => "batches are not supported by the Language Server Protocol".to_owned(),
        Value::Object(map) => {
            if map.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
                "\"jsonrpc\" must be \"2.0\"".to_owned()
            } else if map.get("method").is_some_and(|m| !m.is_string()) {
                "\"method\" must be a string".to_owned()
            } else if map.get("id").is_some_and(|id| !(id.is_string() || id.is_i64() || id.is_null())) {
                "\"id\" must be an integer or a string".to_owned()
            } else {
                "not a request, notification or response".to_owned()
            }
        }
        _ => "a message must be a JSON object".to_owned(),
    };
    format!("Invalid request: {reason}")
}

fn error_response(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// The reader thread's channel as a `Stream`, for tokio-util's `StreamReader`.
pub struct ReceiverStream(mpsc::Receiver<io::Result<Bytes>>);

impl futures::Stream for ReceiverStream {
    type Item = io::Result<Bytes>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stdout that takes nothing until the test lets it, like an editor that stopped reading.
    struct Stalled(std::sync::Arc<std::sync::Mutex<bool>>, std::sync::Arc<std::sync::Condvar>);

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut open = self.0.lock().unwrap();
            while !*open {
                open = self.1.wait(open).unwrap();
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn writes_wait_while_stdout_is_behind_and_go_on_when_it_drains() {
        use tokio::io::AsyncWriteExt as _;
        let gate = (std::sync::Arc::new(std::sync::Mutex::new(false)), std::sync::Arc::new(std::sync::Condvar::new()));
        let output = spawn_writer(Stalled(gate.0.clone(), gate.1.clone()), None);
        let mut writer = output.async_writer();
        let chunk = vec![b'x'; 256 * 1024];
        // Up to the limit, writes are accepted at once...
        for _ in 0..(MAX_QUEUED_BYTES / chunk.len()) {
            tokio::time::timeout(Duration::from_secs(1), writer.write_all(&chunk)).await.unwrap().unwrap();
        }
        // ...then a write waits for the stalled stdout,
        let blocked = tokio::time::timeout(Duration::from_millis(200), writer.write_all(&chunk)).await;
        assert!(blocked.is_err(), "a write past the limit should wait");
        // and goes through once stdout drains.
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        tokio::time::timeout(Duration::from_secs(5), writer.write_all(&chunk)).await.unwrap().unwrap();
    }

    #[cfg_attr(feature = "portable-platform", ignore = "reopening a pipe is Linux's")]
    #[tokio::test]
    async fn small_writes_go_straight_into_the_pipe_and_order_holds_when_it_fills() {
        use std::os::fd::AsRawFd as _;
        use tokio::io::AsyncWriteExt as _;
        let (mut reader, writer) = std::io::pipe().unwrap();
        let direct = Direct::reopen(writer.as_raw_fd()).expect("a pipe can be opened again");
        let output = spawn_writer(writer, Some(direct));
        let mut out = output.async_writer();
        // Far more than the pipe holds while nobody reads, small and large (past PIPE_BUF) writes mixed: the first
        // go straight in, then the pipe fills and the rest queue for the stdout thread.
        let chunks: Vec<Vec<u8>> = (0..400)
            .map(|i| {
                let size = if i % 50 == 49 { 3 * PIPE_BUF } else { 900 };
                let mut chunk = format!("<{i:05}>").into_bytes();
                chunk.resize(size, b'a' + (i % 26) as u8);
                chunk
            })
            .collect();
        // Nobody reads yet: every write is still accepted (the queue's limit is far above what is written).
        for chunk in &chunks {
            tokio::time::timeout(Duration::from_secs(10), out.write_all(chunk)).await.unwrap().unwrap();
        }
        let direct = output.queued.direct_writes.load(Ordering::Relaxed);
        assert!(direct > 10, "small writes went straight into the pipe ({direct})");
        assert!(direct < chunks.len(), "once the pipe was full, writes went through the stdout thread");
        let expected: Vec<u8> = chunks.concat();
        let mut got = vec![0; expected.len()];
        reader.read_exact(&mut got).unwrap();
        assert!(got == expected, "every byte arrives, in order");
        // Small writes go straight in again once the thread has caught up.
        output.flush_blocking(Duration::from_secs(10));
        out.write_all(b"after").await.unwrap();
        assert_eq!(output.queued.direct_writes.load(Ordering::Relaxed), direct + 1);
        let mut tail = [0; 5];
        reader.read_exact(&mut tail).unwrap();
        assert_eq!(&tail, b"after");
    }

    fn frames(input: &str) -> Vec<Result<Option<Vec<u8>>, String>> {
        let mut reader = BufReader::new(input.as_bytes());
        let mut out = Vec::new();
        loop {
            match read_frame(&mut reader) {
                Ok(None) => break,
                Ok(Some(b)) => out.push(Ok(Some(b))),
                Err(FrameError::Malformed(m)) => out.push(Err(m)),
                Err(FrameError::Io(e)) => {
                    out.push(Err(format!("io: {e}")));
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn reads_consecutive_frames_with_optional_content_type() {
        let got = frames(
            "Content-Length: 2\r\n\r\n{}Content-Length: 2\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n[]",
        );
        assert_eq!(got, vec![Ok(Some(b"{}".to_vec())), Ok(Some(b"[]".to_vec()))]);
    }

    #[test]
    fn recovers_after_a_header_without_length() {
        let got = frames("X-Foo: 1\r\n\r\nContent-Length: 2\r\n\r\n{}");
        assert!(matches!(&got[0], Err(m) if m.contains("unexpected header")), "{got:?}");
        assert_eq!(got[1], Ok(Some(b"{}".to_vec())));
    }

    #[test]
    fn resynchronises_on_a_header_glued_to_garbage() {
        let got = frames("Content-Lenght: 5\r\n\r\nhelloContent-Length: 2\r\n\r\n{}");
        assert!(matches!(&got[0], Err(m) if m.contains("Lenght")), "{got:?}");
        assert_eq!(got[1], Ok(Some(b"{}".to_vec())));
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn secrets_are_masked_in_the_protocol_trace() {
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"workspace/executeCommand","params":{"command":"openhands.setSecret","arguments":[{"name":"github_token","value":"ghp_x"}]}}"#;
        let text = masked_for_log(body);
        assert!(!text.contains("ghp_x") && text.contains("github_token"), "{text}");
    }

    #[test]
    fn truncated_body_is_an_io_error() {
        let got = frames("Content-Length: 10\r\n\r\n{}");
        assert!(matches!(&got[0], Err(m) if m.starts_with("io:")), "{got:?}");
    }

    #[test]
    fn classify_rejects_what_the_codec_would_choke_on() {
        let reject = |s: &str| match classify(s.as_bytes()) {
            Verdict::Reject(v) => v,
            Verdict::Forward { .. } => panic!("forwarded {s}"),
        };
        assert_eq!(reject("{not json")["error"]["code"], -32700);
        assert_eq!(reject("[1]")["error"]["code"], -32600);
        assert_eq!(reject(r#"{"jsonrpc":"1.0","id":3,"method":"x"}"#)["id"], 3);
        assert_eq!(reject(r#"{"jsonrpc":"2.0","id":4,"method":5}"#)["error"]["code"], -32600);
        assert!(matches!(
            classify(br#"{"jsonrpc":"2.0","method":"exit"}"#),
            Verdict::Forward { method: Some(Lifecycle::Exit) }
        ));
        assert!(matches!(
            classify(br#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#),
            Verdict::Forward { method: Some(Lifecycle::Shutdown) }
        ));
        assert!(matches!(classify(br#"{"jsonrpc":"2.0","id":1,"result":null}"#), Verdict::Forward { method: None }));
    }
}
