//! Start-up against the peers: spawn to the `initialize` response, RSS one second later, and `exit` to process end,
//! for openhands-lsp, GitHub's `@github/copilot-language-server` (LSP on stdio, Node 22) and the OpenHands CLI in
//! ACP mode (`openhands acp`, newline-delimited JSON-RPC). The peers live in `.cache/bench-peers` (scripts/bench
//! installs them).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use openhands_lsp_tests::stdio_peer::{Framing, Peer, tree_rss_bytes};
use serde_json::{Value, json};

use super::Row;

struct Contender {
    name: &'static str,
    command: Vec<String>,
    framing: Framing,
    initialize: Value,
}

fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/bench-peers")
}

/// The peers' programs (in `.cache/bench-peers`), and openhands-lsp's.
pub struct Programs {
    pub lsp: String,
    pub node: PathBuf,
    pub copilot: PathBuf,
    pub openhands: PathBuf,
}

pub fn programs() -> Result<Programs> {
    let lsp = std::env::var("OPENHANDS_LSP_BIN").context("OPENHANDS_LSP_BIN is not set: run scripts/bench")?;
    let peers = peers_dir();
    let node = peers.join("node_modules/node/bin/node");
    let copilot = peers.join("node_modules/@github/copilot-language-server/dist/language-server.js");
    let openhands = peers.join("openhands-venv/bin/openhands");
    for p in [&node, &copilot, &openhands] {
        if !p.exists() {
            bail!("{} is missing: run scripts/bench (it installs the peers into .cache/bench-peers)", p.display());
        }
    }
    Ok(Programs { lsp, node, copilot, openhands })
}

fn contenders() -> Result<Vec<Contender>> {
    let Programs { lsp, node, copilot, openhands } = programs()?;
    let lsp_init = |name: &str| {
        json!({
            "processId": std::process::id(),
            "clientInfo": {"name": "openhands-lsp-bench", "version": "1"},
            "rootUri": null,
            "capabilities": {"window": {"workDoneProgress": true}, "workspace": {"configuration": true}},
            "initializationOptions": {
                "editorInfo": {"name": "bench", "version": "1.0"},
                "editorPluginInfo": {"name": name, "version": "1.0"},
            },
        })
    };
    Ok(vec![
        Contender {
            name: "openhands-lsp",
            command: vec![lsp],
            framing: Framing::Lsp,
            initialize: lsp_init("openhands"),
        },
        Contender {
            name: "copilot-language-server 1.539.0 (Node 22)",
            command: vec![node.display().to_string(), copilot.display().to_string(), "--stdio".into()],
            framing: Framing::Lsp,
            initialize: lsp_init("copilot"),
        },
        Contender {
            name: "openhands acp 1.16.0 (Python 3.12)",
            command: vec![openhands.display().to_string(), "acp".into()],
            framing: Framing::Lines,
            initialize: json!({"protocolVersion": 1, "clientCapabilities": {"fs": {"readTextFile": false, "writeTextFile": false}, "terminal": false}}),
        },
    ])
}

pub fn startup(runs: usize, only: Option<&str>) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut medians = Vec::new();
    for c in contenders()? {
        if only.is_some_and(|o| !c.name.contains(o)) {
            continue;
        }
        let (mut init, mut rss, mut exit) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            let home = tempfile::tempdir()?;
            let mut command = Command::new(&c.command[0]);
            command
                .args(&c.command[1..])
                .env("HOME", home.path())
                .env("XDG_STATE_HOME", home.path().join("state"))
                .env("XDG_CONFIG_HOME", home.path().join("config"))
                .env("OPENHANDS_LSP_LOG", "warn")
                .current_dir(home.path());
            let started = Instant::now();
            let mut peer = Peer::spawn(command, c.framing, json!({}))?;
            let id = peer.request("initialize", c.initialize.clone())?;
            let (at, response) =
                peer.response(id, Duration::from_secs(120)).with_context(|| format!("{}: initialize", c.name))?;
            if response.get("error").is_some() {
                bail!("{}: initialize failed: {}", c.name, response["error"]);
            }
            init.push(at - started);
            if c.framing == Framing::Lsp {
                peer.notify("initialized", json!({}))?;
            }
            // The definition: resident memory one second after start-up (the process and its children).
            std::thread::sleep(Duration::from_secs(1));
            rss.push(tree_rss_bytes(peer.pid()) as f64 / (1024.0 * 1024.0));
            let ended = match c.framing {
                Framing::Lsp => {
                    let id = peer.request("shutdown", Value::Null)?;
                    peer.response(id, Duration::from_secs(30))?;
                    let t = Instant::now();
                    peer.notify("exit", Value::Null)?;
                    peer.wait_exit(Duration::from_secs(30)).map(|_| t.elapsed())
                }
                // ACP has no exit message, and `openhands acp` stays up when its stdin closes: an editor ends it
                // by closing the pipe and sending SIGTERM.
                Framing::Lines => {
                    let t = Instant::now();
                    peer.close_stdin();
                    peer.terminate();
                    peer.wait_exit(Duration::from_secs(30)).map(|_| t.elapsed())
                }
            };
            exit.push(ended.with_context(|| format!("{}: exit", c.name))?);
        }
        let row = Row::new("start-up", format!("{}: spawn to initialize response", c.name), init);
        medians.push((c.name, row.median));
        rows.push(row);
        rows.push(Row::values("start-up", format!("{}: RSS 1 s after start", c.name), "MB", rss));
        let how = if c.framing == Framing::Lsp { "exit" } else { "stdin closed + SIGTERM" };
        rows.push(Row::new("start-up", format!("{}: {how} to process end", c.name), exit));
    }
    if let Some((_, ours)) = medians.iter().find(|(n, _)| *n == "openhands-lsp")
        && let Some(fastest) = medians.iter().filter(|(n, _)| *n != "openhands-lsp").map(|(_, m)| *m).reduce(f64::min)
        && *ours > 0.0
    {
        rows.push(Row::values(
            "start-up",
            "fastest peer's initialize ÷ openhands-lsp's (medians)",
            "×",
            vec![fastest / ours],
        ));
    }
    Ok(rows)
}
