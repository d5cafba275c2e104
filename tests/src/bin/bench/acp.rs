//! The ACP front against the peers that speak ACP on stdio: `openhands acp` (OpenHands CLI 1.16, Python 3.12) and
//! `copilot-language-server --acp` (Node 22). Spawn to the `initialize` response; `session/new` (the peers answer
//! "authentication required": they need accounts this machine cannot reach, so theirs is the time to that answer);
//! and, for openhands-lsp, prompt to the first `session/update` and to the agent's first tool call with the docker
//! backend and a warm pool (the scripted LLM answers at once).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::stdio_peer::{Framing, Peer};
use serde_json::{Value, json};

use super::Row;

const GROUP: &str = "acp";

fn initialize() -> Value {
    json!({"protocolVersion": 1, "clientCapabilities": {"fs": {"readTextFile": false, "writeTextFile": false}, "terminal": false},
        "clientInfo": {"name": "openhands-lsp-bench", "version": "1"}})
}

struct Contender {
    name: &'static str,
    command: Vec<String>,
}

fn contenders(settings: &Path) -> Result<Vec<Contender>> {
    let super::startup::Programs { lsp, node, copilot, openhands } = super::startup::programs()?;
    Ok(vec![
        Contender {
            name: "openhands-lsp acp",
            command: vec![lsp, "acp".into(), "--settings".into(), settings.display().to_string()],
        },
        Contender {
            name: "openhands acp 1.16.0 (Python 3.12)",
            command: vec![openhands.display().to_string(), "acp".into()],
        },
        Contender {
            name: "copilot-language-server 1.539.0 --acp (Node 22)",
            command: vec![node.display().to_string(), copilot.display().to_string(), "--acp".into()],
        },
    ])
}

fn spawn(command: &[String], home: &Path, extra: &[&str]) -> Result<Peer> {
    let mut cmd = Command::new(&command[0]);
    cmd.args(extra)
        .args(&command[1..])
        .env("HOME", home)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("LLM_API_KEY", "sk-bench")
        .env("OPENHANDS_LSP_LOG", "info")
        .current_dir(home);
    Peer::spawn(cmd, Framing::Lines, json!({}))
}

fn end(mut peer: Peer) {
    peer.close_stdin();
    peer.terminate();
    let _ = peer.wait_exit(Duration::from_secs(30));
}

pub fn acp(runs: usize, only: Option<&str>) -> Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let settings = dir.path().join("settings.json");
    std::fs::write(
        &settings,
        json!({"openhands": {"backend": "process", "llm": {"model": "openai/gpt-4o"}}}).to_string(),
    )?;
    let mut rows = Vec::new();
    for c in contenders(&settings)? {
        if only.is_some_and(|o| !c.name.contains(o)) {
            continue;
        }
        let (mut init, mut new, mut new_said) = (Vec::new(), Vec::new(), String::new());
        for _ in 0..runs {
            let home = tempfile::tempdir()?;
            let ws = home.path().join("ws");
            std::fs::create_dir_all(&ws)?;
            let started = Instant::now();
            let mut peer = spawn(&c.command, home.path(), &[])?;
            let id = peer.request("initialize", initialize())?;
            let (at, response) =
                peer.response(id, Duration::from_secs(120)).with_context(|| format!("{}: initialize", c.name))?;
            if response.get("error").is_some() {
                bail!("{}: initialize failed: {}", c.name, response["error"]);
            }
            init.push(at - started);
            let sent = Instant::now();
            let id = peer.request("session/new", json!({"cwd": ws, "mcpServers": []}))?;
            let (at, response) =
                peer.response(id, Duration::from_secs(60)).with_context(|| format!("{}: session/new", c.name))?;
            new.push(at - sent);
            if let Some(e) = response.get("error") {
                new_said = format!(" (answers: {})", e["message"].as_str().unwrap_or("an error"));
            }
            end(peer);
        }
        rows.push(Row::new(GROUP, format!("spawn to initialize response: {}", c.name), init));
        rows.push(Row::new(GROUP, format!("session/new: {}{new_said}", c.name), new));
    }
    if only.is_none_or(|o| "openhands-lsp acp".contains(o)) {
        rows.extend(first_update(runs)?);
    }
    Ok(rows)
}

/// Prompt to the first `session/update` and to the agent's first tool call, docker backend, one warm container
/// ready (the server's log says when).
fn first_update(runs: usize) -> Result<Vec<Row>> {
    let lsp = std::env::var("OPENHANDS_LSP_BIN").context("OPENHANDS_LSP_BIN is not set: run scripts/bench")?;
    let (mut first, mut first_call) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let llm = ScriptedLlm::start_for_containers(vec![Step::terminal("echo warm"), Step::finish("done")]);
        let home = tempfile::tempdir()?;
        let ws = home.path().join("ws");
        std::fs::create_dir_all(&ws)?;
        let settings = home.path().join("settings.json");
        let log = home.path().join("server.log");
        std::fs::write(
            &settings,
            json!({"openhands": {"backend": "docker", "llm": {"model": "openai/gpt-4o", "baseUrl": llm.container_base_url()},
                "docker": {"image": super::image()?, "warmPool": 1, "startupTimeoutSeconds": 180}}})
            .to_string(),
        )?;
        let log_arg = format!("--log-file={}", log.display());
        let command = [lsp.clone(), "acp".into(), "--settings".into(), settings.display().to_string()];
        let mut peer = spawn(&command, home.path(), &[&log_arg])?;
        let id = peer.request("initialize", initialize())?;
        peer.response(id, Duration::from_secs(30))?;
        let deadline = Instant::now() + Duration::from_secs(300);
        while !std::fs::read_to_string(&log).unwrap_or_default().contains("warm pool: a container is ready") {
            if Instant::now() > deadline {
                bail!("the warm pool did not fill in 300 s (log: {})", log.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let id = peer.request("session/new", json!({"cwd": ws, "mcpServers": []}))?;
        let (_, session) = peer.response(id, Duration::from_secs(30))?;
        let session_id = session["result"]["sessionId"].as_str().context("no session id")?.to_owned();
        peer.backlog.clear();
        let sent = Instant::now();
        let prompt = peer.request(
            "session/prompt",
            json!({"sessionId": session_id, "prompt": [{"type": "text", "text": "Warm up"}]}),
        )?;
        let (mut seen_first, mut seen_call) = (None, None);
        loop {
            let (at, message) = peer.recv(Duration::from_secs(120))?;
            if message["id"] == prompt && message.get("method").is_none() {
                break;
            }
            let update = &message["params"]["update"];
            if message["method"] != "session/update" || update["sessionUpdate"] == "available_commands_update" {
                continue;
            }
            seen_first.get_or_insert(at - sent);
            let agents = update["sessionUpdate"] == "tool_call"
                && !update["toolCallId"].as_str().unwrap_or("").starts_with("openhands-");
            if agents && seen_call.is_none() {
                seen_call = Some(at - sent);
            }
        }
        first.push(seen_first.context("no session/update before the prompt's answer")?);
        first_call.push(seen_call.context("no tool call of the agent")?);
        end(peer);
    }
    Ok(vec![
        Row::new(GROUP, "prompt to first session/update, docker warm pool: openhands-lsp acp", first),
        Row::new(GROUP, "prompt to the agent's first tool call, docker warm pool: openhands-lsp acp", first_call),
    ])
}
