//! A remote Docker engine beside the local one, in the same run: what uploading the workspace adds to a conversation's
//! start, and how long the agent's changes take to come back when its turn ends. The remote engine is the tests' own
//! (`openhands_lsp_tests::remote_engine`: a second dockerd with TLS in a network namespace, on this machine), so the
//! figures are openhands-lsp's work and the engine's, without a real network's latency. The same engine reached over
//! SSH (`ssh://`, an sshd on its host) is the third: its API through `docker system dial-stdio` there, the
//! agent-server's port forwarded through SSH.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use openhands_lsp_tests::agent::{init_params, options};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::remote_engine::{HOST_ADDRESS, RemoteEngine};
use openhands_lsp_tests::repo::git;
use openhands_lsp_tests::{Options, Server};
use serde_json::{Value, json};

use super::{Row, TIMEOUT, image, quiet};

/// The workspace: a repository of this many files of this many bytes each (20 MB in all).
const FILES: usize = 2000;
const FILE_BYTES: usize = 10_000;
/// Files the agent changes in its turn.
const CHANGED: usize = 50;

pub fn remote(runs: usize, only: Option<&str>) -> Result<Vec<Row>> {
    let wanted = |scenario: &str| only.is_none_or(|o| scenario.contains(o));
    let image = image()?;
    let tmp = tempfile::tempdir()?;
    let ws = tmp.path().canonicalize()?;
    make_workspace(&ws)?;
    let engine = RemoteEngine::start(&image);
    let access = engine.over_ssh();
    let over_ssh = Engine {
        env: vec![("DOCKER_HOST".into(), access.docker_host())],
        docker: json!({"sshConfig": access.config()}),
    };
    let tls = Engine { env: engine.env(), docker: json!({}) };
    let mut rows = Vec::new();
    for (name, remote) in [
        ("local engine", None),
        ("remote engine (TLS, uploaded)", Some(&tls)),
        ("remote engine (SSH, uploaded, port forwarded)", Some(&over_ssh)),
    ] {
        let start_name = format!("start to first action, {name}, {FILES} files / 20 MB");
        let back_name = format!("last command to finished, {CHANGED} files changed, {name}");
        if !wanted(&start_name) && !wanted(&back_name) {
            continue;
        }
        let (starts, backs) = conversations(&image, &ws, remote, runs)?;
        rows.push(Row::new("remote engine", start_name, starts));
        rows.push(Row::new("remote engine", back_name, backs));
    }
    Ok(rows)
}

/// How a remote engine is reached: the environment (`DOCKER_HOST`…) and settings of `openhands.docker`.
struct Engine {
    env: Vec<(String, String)>,
    docker: Value,
}

fn make_workspace(ws: &Path) -> Result<()> {
    git(ws, &["init", "-q"]);
    for i in 0..FILES {
        let dir = ws.join(format!("src/m{}", i % 40));
        std::fs::create_dir_all(&dir)?;
        let line = format!("line of file {i}\n");
        std::fs::write(dir.join(format!("f{i}.txt")), line.repeat(FILE_BYTES / line.len()))?;
    }
    git(ws, &["add", "-A"]);
    git(ws, &["commit", "-qm", "bench"]);
    Ok(())
}

/// `runs` conversations, one after another: each runs one command that changes [`CHANGED`] files, then finishes.
/// Returns the times from `startTask` to its first action, and from its command's result to `finished`.
fn conversations(
    image: &str,
    ws: &Path,
    remote: Option<&Engine>,
    runs: usize,
) -> Result<(Vec<Duration>, Vec<Duration>)> {
    let change = format!("for i in $(seq 1 {CHANGED}); do echo changed >> src/m$((i % 40))/f$i.txt; done");
    let script: Vec<Step> = (0..runs).flat_map(|_| [Step::terminal(&change), Step::finish("done")]).collect();
    let llm = ScriptedLlm::start_for_containers(script);
    let base_url = match remote {
        Some(_) => format!("http://{HOST_ADDRESS}:{}/v1", llm.addr.port()),
        None => llm.container_base_url(),
    };
    let mut docker = json!({"image": image, "warmPool": 0, "startupTimeoutSeconds": 180});
    if let Some(engine) = remote {
        openhands_lsp_tests::lsp_client::merge(&mut docker, engine.docker.clone());
    }
    let overrides =
        json!({"backend": "docker", "confirmation": "never", "llm": {"baseUrl": base_url}, "docker": docker});
    let mut params = init_params(&llm, ws, overrides);
    params["initializationOptions"].as_object_mut().context("options")?.remove("isolation");
    let mut opts: Options = quiet(options());
    for (key, value) in remote.map(|e| e.env.clone()).unwrap_or_default() {
        opts = opts.env(&key, value);
    }
    let (mut server, _) = Server::start(opts, params)?;
    let (mut starts, mut backs) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let began = Instant::now();
        let started = server
            .command("openhands.startTask", json!({"instruction": "Change fifty files"}))?
            .map_err(|e| anyhow::anyhow!("startTask: {e:?}"))?;
        let id = started["conversationId"].as_str().context("conversationId")?.to_owned();
        let event = |kind: &'static str, id: String| {
            move |msgs: &[Value]| {
                msgs.iter()
                    .any(|m| {
                        m["method"] == "openhands/event"
                            && m["params"]["conversationId"] == id.as_str()
                            && m["params"]["kind"] == kind
                    })
                    .then_some(())
            }
        };
        server.wait_for("the first action", TIMEOUT, event("ActionEvent", id.clone()))?;
        starts.push(began.elapsed());
        server.wait_for("the command's result", TIMEOUT, event("ObservationEvent", id.clone()))?;
        let result = Instant::now();
        server.wait_for("finished", TIMEOUT, |msgs| {
            msgs.iter()
                .any(|m| {
                    m["method"] == "openhands/conversationChanged"
                        && m["params"]["id"] == id.as_str()
                        && (m["params"]["state"] == "finished" || m["params"]["state"] == "error")
                })
                .then_some(())
        })?;
        backs.push(result.elapsed());
    }
    server.shutdown_and_exit()?;
    Ok((starts, backs))
}
