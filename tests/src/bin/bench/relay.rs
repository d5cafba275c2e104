//! The relay: openhands-lsp started as an editor starts it, its `process` backend pointed at `fake-agent-server`
//! (the agent-server's routes and event format, pushing events as fast as the socket takes them). Per-event latency
//! from the event's send time (in its id) to the `openhands/event` notification read by the editor, throughput,
//! `textDocument/codeAction` latency while 10 conversations stream, memory with 10 × 10,000 events, and 50 MB of
//! terminal output beside a normal conversation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use openhands_lsp_tests::stdio_peer::{Framing, Peer, rss_bytes};
use serde_json::{Value, json};

use super::Row;

/// With `BENCH_EVENTS_LOG=<file>`, every event's arrival (seconds into the session), conversation and latency (ms)
/// go to that file, one line each: where the slow ones cluster in time tells a stall from scheduling noise.
static EVENTS_LOG: std::sync::LazyLock<Option<std::sync::Mutex<std::io::BufWriter<std::fs::File>>>> =
    std::sync::LazyLock::new(|| {
        let path = std::env::var_os("BENCH_EVENTS_LOG")?;
        std::fs::File::create(path).ok().map(|f| std::sync::Mutex::new(std::io::BufWriter::new(f)))
    });

const EVENTS: usize = 10_000;
const BIG_OUTPUT: usize = 50 << 20;
const TIMEOUT: Duration = Duration::from_secs(300);
/// Paced rates for the latency figures: well below what the relay sustains.
const PACED_ONE: u32 = 2000;
const PACED_TEN: u32 = 1000;

/// One session: `conversations` streams of 10,000 events at `rate` (0: burst).
fn run(conversations: usize, rate: u32, probe_code_actions: bool) -> Result<Seen> {
    let mut s = Session::start(rate)?;
    let mut expected = HashMap::new();
    for i in 0..conversations {
        let id = s.start_task(&format!("Stream events {i}"))?;
        expected.insert(id, expected_events(s.ws.path()));
    }
    let mut seen = stream(&mut s, &expected, probe_code_actions)?;
    // Memory once every event is in: the server alone (its agent-servers are other processes).
    seen.rss_after = rss_bytes(s.peer.pid()).unwrap_or(0);
    s.finish()?;
    Ok(seen)
}

fn bin(name: &str) -> PathBuf {
    let lsp = PathBuf::from(std::env::var("OPENHANDS_LSP_BIN").unwrap_or_default());
    lsp.parent().map(|d| d.join(name)).unwrap_or_else(|| PathBuf::from(name))
}

struct Session {
    peer: Peer,
    ws: tempfile::TempDir,
    _state: tempfile::TempDir,
    /// Wall-clock time of an Instant, to compare read times with the send times in event ids.
    clock: (Instant, SystemTime),
}

impl Session {
    /// `rate`: events per second per conversation (0: as fast as they go).
    fn start(rate: u32) -> Result<Session> {
        let lsp = std::env::var("OPENHANDS_LSP_BIN").context("OPENHANDS_LSP_BIN is not set: run scripts/bench")?;
        let ws = tempfile::tempdir()?;
        let state = tempfile::tempdir()?;
        let settings = json!({
            "backend": "process",
            "isolation": "none",
            "confirmation": "never",
            "llm": {"model": "openai/stub"},
            "process": {"command": bin("fake-agent-server").display().to_string(), "startupTimeoutSeconds": 60},
        });
        let mut command = Command::new(lsp);
        command
            .env("XDG_STATE_HOME", state.path())
            .env("OPENHANDS_LSP_LOG", "warn")
            .env("LLM_API_KEY", "sk-bench")
            .env("FAKE_EVENTS", EVENTS.to_string())
            .env("FAKE_RATE", rate.to_string());
        let mut peer = Peer::spawn(command, Framing::Lsp, settings.clone())?;
        let uri = format!("file://{}", ws.path().display());
        let id = peer.request(
            "initialize",
            json!({"processId": std::process::id(), "rootUri": uri,
                   "workspaceFolders": [{"uri": uri, "name": "ws"}],
                   "capabilities": {"window": {"workDoneProgress": true}},
                   "initializationOptions": settings}),
        )?;
        peer.response(id, Duration::from_secs(30))?;
        peer.notify("initialized", json!({}))?;
        // A document for the codeAction requests.
        peer.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": format!("{uri}/main.rs"), "languageId": "rust", "version": 1,
                                    "text": "fn main() {\n    let x = 1;\n}\n"}}),
        )?;
        Ok(Session { peer, ws, _state: state, clock: (Instant::now(), SystemTime::now()) })
    }

    fn start_task(&mut self, instruction: &str) -> Result<String> {
        let id = self.peer.request(
            "workspace/executeCommand",
            json!({"command": "openhands.startTask", "arguments": [{"instruction": instruction}]}),
        )?;
        let (_, response) = self.peer.response(id, Duration::from_secs(30))?;
        response["result"]["conversationId"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("startTask: {response}"))
    }

    /// Milliseconds from an event's send time (its id) to `at`.
    fn latency_ms(&self, at: Instant, event_id: &str) -> Option<f64> {
        let sent: u128 = event_id.strip_prefix("bench-")?.split('-').nth(1)?.parse().ok()?;
        let wall = self.clock.1 + (at - self.clock.0);
        let read = wall.duration_since(UNIX_EPOCH).ok()?.as_nanos();
        Some(read.saturating_sub(sent) as f64 / 1e6)
    }

    fn finish(mut self) -> Result<()> {
        let id = self.peer.request("shutdown", Value::Null)?;
        self.peer.response(id, Duration::from_secs(60))?;
        self.peer.notify("exit", Value::Null)?;
        self.peer.wait_exit(Duration::from_secs(60))?;
        drop(self.ws);
        Ok(())
    }
}

/// What one streaming run saw.
#[derive(Default)]
struct Seen {
    latencies: HashMap<String, Vec<f64>>,
    first: Option<Instant>,
    last: Option<Instant>,
    code_action_ms: Vec<f64>,
    peak_rss: u64,
    rss_after: u64,
}

impl Seen {
    fn all_latencies(&mut self) -> Vec<f64> {
        self.latencies.values_mut().flat_map(|v| v.drain(..)).collect()
    }

    fn rate(&self) -> f64 {
        let n: usize = self.latencies.values().map(Vec::len).sum();
        let span = self.last.zip(self.first).map(|(l, f)| (l - f).as_secs_f64()).unwrap_or(0.0);
        if span > 0.0 { n as f64 / span } else { 0.0 }
    }
}

/// Reads until every conversation has delivered `expected[id]` events; meanwhile, with `probe_code_actions`,
/// sends a codeAction every 10 ms and times its answer, and samples the server's RSS.
fn stream(s: &mut Session, expected: &HashMap<String, usize>, probe_code_actions: bool) -> Result<Seen> {
    let mut seen = Seen::default();
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut pending: HashMap<i64, Instant> = HashMap::new();
    let mut next_probe = Instant::now();
    let mut next_rss = Instant::now();
    let deadline = Instant::now() + TIMEOUT;
    let uri = format!("file://{}/main.rs", s.ws.path().display());
    let done =
        |counts: &HashMap<String, usize>| expected.iter().all(|(id, n)| counts.get(id).copied().unwrap_or(0) >= *n);
    while !done(&counts) {
        if Instant::now() > deadline {
            bail!("events did not all arrive within {TIMEOUT:?}: {counts:?} of {expected:?}");
        }
        if Instant::now() >= next_rss {
            seen.peak_rss = seen.peak_rss.max(rss_bytes(s.peer.pid()).unwrap_or(0));
            next_rss = Instant::now() + Duration::from_millis(20);
        }
        if probe_code_actions && Instant::now() >= next_probe {
            let id = s.peer.request(
                "textDocument/codeAction",
                json!({"textDocument": {"uri": uri}, "range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 9}},
                       "context": {"diagnostics": [{"range": {"start": {"line": 1, "character": 8}, "end": {"line": 1, "character": 9}},
                                                    "message": "unused variable: `x`", "severity": 2, "source": "rustc"}]}}),
            )?;
            pending.insert(id, Instant::now());
            next_probe = Instant::now() + Duration::from_millis(10);
        }
        let Ok((at, m)) = s.peer.recv(Duration::from_millis(5)) else { continue };
        if let Some(sent) = m["id"].as_i64().and_then(|id| pending.remove(&id)) {
            seen.code_action_ms.push((at - sent).as_secs_f64() * 1000.0);
            continue;
        }
        if m["method"] != "openhands/event" {
            continue;
        }
        let p = &m["params"];
        let (Some(conversation), Some(event_id)) = (p["conversationId"].as_str(), p["id"].as_str()) else { continue };
        if !expected.contains_key(conversation) {
            continue;
        }
        if let Some(ms) = s.latency_ms(at, event_id) {
            if let Some(Ok(mut log)) = EVENTS_LOG.as_ref().map(|l| l.lock()) {
                use std::io::Write as _;
                let _ = writeln!(log, "{:.6} {conversation} {ms:.3}", (at - s.clock.0).as_secs_f64());
            }
            seen.latencies.entry(conversation.to_owned()).or_default().push(ms);
            *counts.entry(conversation.to_owned()).or_default() += 1;
            seen.first.get_or_insert(at);
            seen.last = Some(at);
        }
    }
    // Answers still on their way.
    let until = Instant::now() + Duration::from_secs(5);
    while !pending.is_empty() && Instant::now() < until {
        if let Ok((at, m)) = s.peer.recv(Duration::from_millis(50))
            && let Some(sent) = m["id"].as_i64().and_then(|id| pending.remove(&id))
        {
            seen.code_action_ms.push((at - sent).as_secs_f64() * 1000.0);
        }
    }
    // Every scenario reads through here, and the log is a static: it is never dropped, so flush it now.
    if let Some(Ok(mut log)) = EVENTS_LOG.as_ref().map(|l| l.lock()) {
        use std::io::Write as _;
        let _ = log.flush();
    }
    Ok(seen)
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

/// Events per conversation the editor receives: the running state, the steps, the finished state.
fn expected_events(_ws: &Path) -> usize {
    EVENTS + 2
}

pub fn relay(runs: usize, only: Option<&str>) -> Result<Vec<Row>> {
    let wanted = |name: &str| only.is_none_or(|o| name.contains(o));
    let mut rows = Vec::new();

    // Latency is measured with the events paced below capacity (a burst measures queueing instead); throughput
    // with a burst.
    if wanted("relay, 1 conversation") {
        let (mut p50, mut p99, mut rate) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let mut seen = run(1, PACED_ONE, false)?;
            let mut all = seen.all_latencies();
            p50.push(percentile(&mut all, 50.0));
            p99.push(percentile(&mut all, 99.0));
            rate.push(run(1, 0, false)?.rate());
        }
        let name = "1 conversation × 10,000 events";
        rows.push(Row::values("relay", format!("{name} at {PACED_ONE}/s: per-event latency p50"), "ms", p50));
        rows.push(Row::values("relay", format!("{name} at {PACED_ONE}/s: per-event latency p99"), "ms", p99));
        rows.push(Row::values("relay", format!("{name}, burst: throughput"), "events/s", rate));
    }

    if wanted("relay, 10 conversations") {
        let (mut p50, mut p99, mut rate, mut ca50, mut ca99, mut rss) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let mut seen = run(10, PACED_TEN, true)?;
            let mut all = seen.all_latencies();
            p50.push(percentile(&mut all, 50.0));
            p99.push(percentile(&mut all, 99.0));
            ca50.push(percentile(&mut seen.code_action_ms, 50.0));
            ca99.push(percentile(&mut seen.code_action_ms, 99.0));
            rss.push(seen.rss_after as f64 / (1024.0 * 1024.0));
            rate.push(run(10, 0, false)?.rate());
        }
        let name = "10 conversations × 10,000 events";
        rows.push(Row::values("relay", format!("{name} at {PACED_TEN}/s each: per-event latency p50"), "ms", p50));
        rows.push(Row::values("relay", format!("{name} at {PACED_TEN}/s each: per-event latency p99"), "ms", p99));
        rows.push(Row::values("relay", format!("{name}, burst: throughput (all)"), "events/s", rate));
        rows.push(Row::values(
            "responsiveness",
            "textDocument/codeAction while 10 conversations stream: p50",
            "ms",
            ca50,
        ));
        rows.push(Row::values(
            "responsiveness",
            "textDocument/codeAction while 10 conversations stream: p99",
            "ms",
            ca99,
        ));
        rows.push(Row::values("memory", "RSS with 10 conversations × 10,000 events", "MB", rss));
    }

    if wanted("relay, 50 MB") {
        let (mut growth, mut p99_other, mut seconds) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let mut s = Session::start(PACED_ONE)?;
            let before = rss_bytes(s.peer.pid()).unwrap_or(0);
            let started = Instant::now();
            let big = s.start_task(&format!("Stream output FAKE_OUTPUT_BYTES={BIG_OUTPUT}"))?;
            let other = s.start_task("Stream events beside it")?;
            // The big one sends an action and a 64 KiB observation per block.
            let blocks = BIG_OUTPUT.div_ceil(64 << 10);
            let expected = HashMap::from([(big, 2 * blocks + 2), (other.clone(), expected_events(s.ws.path()))]);
            let mut seen = stream(&mut s, &expected, false)?;
            seconds.push(started.elapsed().as_secs_f64());
            growth.push(seen.peak_rss.saturating_sub(before) as f64 / (1024.0 * 1024.0));
            p99_other.push(percentile(seen.latencies.get_mut(&other).map(Vec::as_mut_slice).unwrap_or(&mut []), 99.0));
            s.finish()?;
        }
        let name = "50 MB of terminal output beside a 10,000-event conversation";
        rows.push(Row::values("relay", format!("{name}: RSS growth (peak)"), "MB", growth));
        rows.push(Row::values("relay", format!("{name}: the other conversation's latency p99"), "ms", p99_other));
        rows.push(Row::values("relay", format!("{name}: time to deliver both"), "s", seconds));
    }
    Ok(rows)
}
