//! `scripts/bench`: benchmarks of openhands-lsp, printed as a markdown table and written as JSON under
//! `target/bench/`. Figures, not pass/fail: nothing here fails on a number.
//!
//!   bench [--runs N] [--only SUBSTRING] [--json FILE] [start-up] [relay] [first-action] [checkpoint] [acp] [batch]
//!   [remote-engine]   (all by default)
//!
//! The JSON goes to `target/bench/bench.json` unless `--json` names another file (`scripts/test`'s one-run check
//! of the benchmarks writes its own, leaving the last real figures alone).
#![allow(clippy::print_stdout)] // the table on stdout is this program's output

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use openhands_lsp_tests::agent::{init_params, options};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::{Options, Server};
use serde_json::{Value, json};

mod acp;
mod batch;
mod checkpoint;
mod host;
mod relay;
mod remote;
mod startup;

const TIMEOUT: Duration = Duration::from_secs(300);

/// min / median / max of one figure over the runs.
#[derive(Debug, Clone, serde::Serialize)]
struct Row {
    group: &'static str,
    scenario: String,
    unit: &'static str,
    runs: usize,
    min: f64,
    median: f64,
    max: f64,
}

impl Row {
    /// Durations, in milliseconds.
    fn new(group: &'static str, scenario: impl Into<String>, samples: Vec<Duration>) -> Row {
        Row::values(group, scenario, "ms", samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect())
    }

    fn values(group: &'static str, scenario: impl Into<String>, unit: &'static str, mut samples: Vec<f64>) -> Row {
        samples.sort_by(|a, b| a.total_cmp(b));
        let median = if samples.is_empty() {
            0.0
        } else if samples.len() % 2 == 1 {
            samples[samples.len() / 2]
        } else {
            (samples[samples.len() / 2 - 1] + samples[samples.len() / 2]) / 2.0
        };
        Row {
            group,
            scenario: scenario.into(),
            unit,
            runs: samples.len(),
            min: samples.first().copied().unwrap_or_default(),
            median,
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

fn main() -> Result<()> {
    let mut runs = 10usize;
    let mut only: Option<String> = None;
    let mut json_file: Option<PathBuf> = None;
    let mut which: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().context("--runs N")?.parse()?,
            "--only" => only = Some(args.next().context("--only SUBSTRING")?),
            "--json" => json_file = Some(args.next().context("--json FILE")?.into()),
            other => which.push(other.to_owned()),
        }
    }
    if which.is_empty() {
        which = ["start-up", "relay", "first-action", "checkpoint", "acp", "batch", "remote-engine"]
            .map(String::from)
            .to_vec();
    }
    let mut rows = Vec::new();
    let mut loads = Vec::new();
    for w in &which {
        let before = host::Snapshot::take();
        match w.as_str() {
            "start-up" => rows.extend(startup::startup(runs, only.as_deref())?),
            "relay" => rows.extend(relay::relay(runs, only.as_deref())?),
            "first-action" => rows.extend(first_action(runs, only.as_deref())?),
            "checkpoint" => rows.extend(checkpoint::checkpoints(runs, only.as_deref())?),
            "acp" => rows.extend(acp::acp(runs, only.as_deref())?),
            "batch" => rows.extend(batch::batch(runs, only.as_deref())?),
            "remote-engine" => rows.extend(remote::remote(runs, only.as_deref())?),
            other => {
                bail!(
                    "unknown benchmark {other:?} (known: start-up, relay, first-action, checkpoint, acp, batch, remote-engine)"
                )
            }
        }
        loads.push(host::Snapshot::take().load_since(&before, w));
    }
    print_table(&rows);
    println!(
        "\nThe machine while each group ran (steal: CPU time the hypervisor gave to others; CPU pressure: wall time"
    );
    println!("in which some task here, the benchmark's own included, waited for a CPU):");
    for load in &loads {
        println!("- {}", load.describe());
    }
    let file =
        json_file.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench/bench.json"));
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let machine = json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
    });
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&json!({"machine": machine, "host_load": loads, "rows": rows}))?,
    )?;
    println!("\n(figures also in {})", file.display());
    Ok(())
}

fn print_table(rows: &[Row]) {
    println!("| benchmark | scenario | runs | min | median | max |");
    println!("|---|---|---:|---:|---:|---:|");
    for r in rows {
        let f = |v: f64| format!("{} {}", figure(v), r.unit);
        println!("| {} | {} | {} | {} | {} | {} |", r.group, r.scenario, r.runs, f(r.min), f(r.median), f(r.max));
    }
}

/// Three significant digits, without exponent notation.
fn figure(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn image() -> Result<String> {
    std::env::var("OPENHANDS_TEST_IMAGE").context("OPENHANDS_TEST_IMAGE is not set: run scripts/bench")
}

/// Time from `openhands.startTask` to the first agent action reaching the editor (an `ActionEvent`
/// notification), with the scripted LLM answering at once; and, for reference, the agent-server's own boot.
fn first_action(runs: usize, only: Option<&str>) -> Result<Vec<Row>> {
    let image = image()?;
    let wanted = |scenario: &str| only.is_none_or(|o| scenario.contains(o));
    let mut rows = Vec::new();
    let boot_process_name = "agent-server boot alone: process, spawn to /health";
    if wanted(boot_process_name) {
        rows.push(Row::new("first action", boot_process_name, boot_process(runs)?));
    }
    let boot_docker_name = "agent-server boot alone: docker run to /health";
    if wanted(boot_docker_name) {
        rows.push(Row::new("first action", boot_docker_name, boot_container(&image, runs, None)?));
    }
    let alone_name = "agent-server alone: docker run to its first action (driven with curl, no openhands-lsp)";
    if wanted(alone_name) {
        let script: Vec<Step> = (0..runs * 2).flat_map(|_| [Step::terminal("true"), Step::finish("done")]).collect();
        let llm = ScriptedLlm::start_for_containers(script);
        rows.push(Row::new("first action", alone_name, boot_container(&image, runs, Some(&llm))?));
    }
    // Every conversation asks for one command, then finishes; a stopped one may leave its second step unused.
    let script: Vec<Step> = (0..runs * 4).flat_map(|_| [Step::terminal("true"), Step::finish("done")]).collect();
    let llm = ScriptedLlm::start_for_containers(script);
    let ws = tempfile::tempdir()?;
    std::fs::write(ws.path().join("README.md"), "bench\n")?;
    let ws = ws.path().canonicalize()?;

    let process_name = "openhands-lsp, process backend";
    if wanted(process_name) {
        let server = session(&llm, &ws, json!({"backend": "process"}))?;
        rows.push(Row::new("first action", process_name, measure(server, runs, None)?));
    }
    let docker_base = json!({"backend": "docker", "llm": {"baseUrl": llm.container_base_url()},
                             "docker": {"image": image, "startupTimeoutSeconds": 180}});
    let mut cold = docker_base.clone();
    cold["docker"]["warmPool"] = json!(0);
    let cold_name = "openhands-lsp, docker cold (no pool)";
    if wanted(cold_name) {
        rows.push(Row::new("first action", cold_name, measure(session(&llm, &ws, cold.clone())?, runs, None)?));
    }
    // Boots vary by seconds between runs here: pairing each cold start with a reference run right before it
    // cancels the drift, which separate blocks of runs do not. Two references: the agent-server's boot alone
    // (`docker run` to `/health`, what the target is measured against) and the agent-server driven alone with curl
    // to its first action (what a bare client of a cold agent-server waits).
    let paired_boot = "openhands-lsp docker cold minus the agent-server's boot (docker run to /health), paired runs";
    if wanted(paired_boot) {
        let differences = paired(session(&llm, &ws, cold.clone())?, runs, || boot_container(&image, 1, None))?;
        rows.push(Row::values("first action", paired_boot, "ms", differences));
    }
    let paired_curl = "openhands-lsp docker cold minus the agent-server alone (curl), paired runs";
    if wanted(paired_curl) {
        let script: Vec<Step> = (0..runs * 2).flat_map(|_| [Step::terminal("true"), Step::finish("done")]).collect();
        let alone_llm = ScriptedLlm::start_for_containers(script);
        let differences =
            paired(session(&llm, &ws, cold.clone())?, runs, || boot_container(&image, 1, Some(&alone_llm)))?;
        rows.push(Row::values("first action", paired_curl, "ms", differences));
    }
    let warm_name = "openhands-lsp, docker warm pool";
    if wanted(warm_name) {
        let mut warm = docker_base.clone();
        warm["docker"]["warmPool"] = json!(1);
        rows.push(Row::new("first action", warm_name, measure(session(&llm, &ws, warm)?, runs, Some(1))?));
    }
    rows.extend(project_image(&llm, &docker_base, runs, &wanted)?);
    let vscode_name = "Start Task click to first step visible in VS Code (code-server, docker warm pool)";
    if wanted(vscode_name) {
        rows.push(Row::values("first action", vscode_name, "ms", in_vscode(&image, runs)?));
    }
    Ok(rows)
}

/// A project with a dev container whose Dockerfile starts from an image with `make`: its first action cold (the
/// image built and the agent-server's volume filled: `clean-images` before each run), cached (built before), and
/// from the warm pool, beside the agent-server image's own rows above.
fn project_image(
    llm: &ScriptedLlm,
    docker_base: &Value,
    runs: usize,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<Vec<Row>> {
    let base =
        std::env::var("OPENHANDS_TEST_MAKE_BASE").context("OPENHANDS_TEST_MAKE_BASE is not set: run scripts/bench")?;
    let dir = tempfile::tempdir()?;
    let ws = dir.path().join("project");
    std::fs::create_dir_all(ws.join(".devcontainer"))?;
    std::fs::write(ws.join(".devcontainer/devcontainer.json"), r#"{"build": {"dockerfile": "Dockerfile"}}"#)?;
    std::fs::write(ws.join(".devcontainer/Dockerfile"), format!("FROM {base}\nRUN make --version\n"))?;
    // Cold means both gone: the build and the agent-server's volume. The previous run's container may still be
    // on its way out (a volume in use is kept), so this asks until the volume went too.
    let clean = || -> Result<()> {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let out = std::process::Command::new(openhands_lsp_tests::lsp_client::server_binary())
                .arg("clean-images")
                .output()?;
            let said = String::from_utf8_lossy(&out.stdout).into_owned();
            if !out.status.success() {
                bail!("clean-images: {said}");
            }
            let left = std::process::Command::new("docker")
                .args(["volume", "ls", "-q", "--filter", "label=dev.openhands.lsp.bundle"])
                .output()?;
            if String::from_utf8_lossy(&left.stdout).trim().is_empty() {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                bail!("the agent-server's volume is still in use after a minute: {said}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    let mut rows = Vec::new();
    let mut cold = docker_base.clone();
    cold["docker"]["warmPool"] = json!(0);
    let cold_name = "openhands-lsp, project image from a Dockerfile: cold (built, agent-server volume filled)";
    if wanted(cold_name) {
        let mut server = session(llm, &ws, cold.clone())?;
        let mut samples = Vec::new();
        for _ in 0..runs {
            clean()?;
            samples.push(first_action_once(&mut server)?);
        }
        server.shutdown_and_exit()?;
        rows.push(Row::new("first action", cold_name, samples));
    }
    let cached_name = "openhands-lsp, project image from a Dockerfile: cached (built before, no pool)";
    if wanted(cached_name) {
        let mut server = session(llm, &ws, cold)?;
        first_action_once(&mut server)?; // builds it, if the row above did not
        rows.push(Row::new("first action", cached_name, measure(server, runs, None)?));
    }
    let warm_name = "openhands-lsp, project image from a Dockerfile: warm pool";
    if wanted(warm_name) {
        let mut warm = docker_base.clone();
        warm["docker"]["warmPool"] = json!(1);
        let mut server = session(llm, &ws, warm)?;
        // The pool keeps the images it served: after this one, one container of the project's and one of the
        // agent-server image's.
        first_action_once(&mut server)?;
        rows.push(Row::new("first action", warm_name, measure(server, runs, Some(2))?));
    }
    Ok(rows)
}

/// In a real VS Code (code-server, the extension from its .vsix, this build's server): Start Task from the
/// palette, from the Enter to the first step shown in the conversation view, `runs` times, each on a warm container.
fn in_vscode(image: &str, runs: usize) -> Result<Vec<f64>> {
    // Every answer is the one command: each run is stopped at its first step, whichever request it makes.
    let llm = ScriptedLlm::start_for_containers(vec![Step::terminal("true"); runs * 4]);
    let dir = tempfile::tempdir()?;
    let ws = dir.path().join("project");
    std::fs::create_dir(&ws)?;
    std::fs::write(ws.join("README.md"), "bench\n")?;
    openhands_lsp_tests::repo::git(&ws, &["init", "-q"]);
    openhands_lsp_tests::repo::git(&ws, &["add", "-A"]);
    openhands_lsp_tests::repo::git(&ws, &["commit", "-qm", "init"]);
    let state = tempfile::tempdir()?;
    let settings = json!({
        "openhands.backend": "docker",
        "openhands.docker.image": image,
        "openhands.docker.warmPool": 1,
        "openhands.docker.startupTimeoutSeconds": 180,
        "openhands.llm.model": "openai/stub",
        "openhands.llm.baseUrl": llm.container_base_url(),
        "openhands.llm.numRetries": 0,
        "openhands.confirmation": "never",
        "workbench.startupEditor": "none",
        "chat.disableAIFeatures": true,
        "workbench.secondarySideBar.defaultVisibility": "hidden",
    });
    let env = [
        ("OPENHANDS_LSP_PATH", openhands_lsp_tests::lsp_client::server_binary().display().to_string()),
        ("LLM_API_KEY", "sk-bench".to_owned()),
        ("XDG_STATE_HOME", state.path().display().to_string()),
    ];
    let bench = openhands_lsp_tests::vscode::Workbench::start("bench-first-step", &ws, settings, &env);
    let out = bench.drive("first_step", &[("WARM", "1".to_owned()), ("RUNS", runs.to_string())]);
    let result: Value = serde_json::from_str(out.lines().last().unwrap_or_default())?;
    let samples: Vec<f64> = result["ms"].as_array().context("ms")?.iter().filter_map(Value::as_f64).collect();
    if samples.len() != runs {
        bail!("{} of {runs} runs measured: {out}", samples.len());
    }
    Ok(samples)
}

fn session(llm: &ScriptedLlm, ws: &Path, overrides: Value) -> Result<Server> {
    let mut params = init_params(llm, ws, overrides);
    // The default isolation (the conversation's own worktree), which the warm pool serves.
    params["initializationOptions"].as_object_mut().context("options")?.remove("isolation");
    let (server, _) = Server::start(quiet(options()), params)?;
    Ok(server)
}

/// Logs at `warn`, or, with `BENCH_LOG=FILE`, everything at debug into FILE (to see where the time goes).
fn quiet(opts: Options) -> Options {
    match std::env::var("BENCH_LOG") {
        Ok(file) => opts.env("OPENHANDS_LSP_LOG", "openhands_lsp=debug").arg("--log-file").arg(&file),
        Err(_) => opts.env("OPENHANDS_LSP_LOG", "warn"),
    }
}

/// `runs` times: the reference, then one conversation to its first action; the differences in milliseconds.
fn paired(mut server: Server, runs: usize, mut reference: impl FnMut() -> Result<Vec<Duration>>) -> Result<Vec<f64>> {
    let mut differences = Vec::new();
    for _ in 0..runs {
        let reference = reference()?.first().map_or(0.0, Duration::as_secs_f64);
        let ours = first_action_once(&mut server)?;
        differences.push((ours.as_secs_f64() - reference) * 1000.0);
    }
    server.shutdown_and_exit()?;
    Ok(differences)
}

/// Runs `runs` conversations one after another; with `pool`, each starts once that many containers are ready.
fn measure(mut server: Server, runs: usize, pool: Option<u64>) -> Result<Vec<Duration>> {
    let mut samples = Vec::new();
    for _ in 0..runs {
        if let Some(n) = pool {
            let deadline = Instant::now() + TIMEOUT;
            loop {
                let status = server.command("openhands.status", json!({}))?.map_err(|e| anyhow::anyhow!("{e:?}"))?;
                if status["warmPool"]["ready"].as_u64() >= Some(n) {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("the warm pool did not fill: {}", status["warmPool"]);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        samples.push(first_action_once(&mut server)?);
    }
    server.shutdown_and_exit()?;
    Ok(samples)
}

/// One conversation from `startTask` to its first action reaching the editor; then it is stopped.
fn first_action_once(server: &mut Server) -> Result<Duration> {
    let started = Instant::now();
    let result = server
        .command("openhands.startTask", json!({"instruction": "Run one command"}))?
        .map_err(|e| anyhow::anyhow!("startTask: {e:?}"))?;
    let id = result["conversationId"].as_str().context("conversationId")?.to_owned();
    server.wait_for("the first action", TIMEOUT, |msgs| {
        msgs.iter()
            .find(|m| {
                m["method"] == "openhands/event"
                    && m["params"]["conversationId"] == id
                    && m["params"]["kind"] == "ActionEvent"
            })
            .map(|_| ())
    })?;
    let elapsed = started.elapsed();
    server.command("openhands.stop", json!({"conversationId": id}))?.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok(elapsed)
}

/// Creates a conversation, sends it a message and polls its events until the first action (all with curl).
fn first_action_with_curl(port: u16, llm: &ScriptedLlm) -> Result<()> {
    let base = format!("http://127.0.0.1:{port}/api/conversations");
    let id = uuid::Uuid::new_v4().simple().to_string();
    let create = json!({
        "conversation_id": id,
        "workspace": {"kind": "LocalWorkspace", "working_dir": "/workspace"},
        "agent": {"kind": "Agent", "llm": {"model": "openai/stub", "base_url": llm.container_base_url(), "api_key": "sk-bench",
                  "usage_id": "agent", "num_retries": 0},
                  "tools": [{"name": "terminal"}, {"name": "file_editor"}, {"name": "task_tracker"}]},
        "confirmation_policy": {"kind": "NeverConfirm"},
        "autotitle": false,
    });
    curl(&["-X", "POST", &base, "-d", &create.to_string()])?;
    let message = json!({"role": "user", "content": [{"type": "text", "text": "Run one command"}], "run": true});
    curl(&["-X", "POST", &format!("{base}/{id}/events"), "-d", &message.to_string()])?;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let page = curl(&[&format!("{base}/{id}/events/search?kind=ActionEvent&limit=1")])?;
        let page: Value = serde_json::from_str(&page)?;
        if page["items"].as_array().is_some_and(|items| !items.is_empty()) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("no action from the agent-server on port {port}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn curl(args: &[&str]) -> Result<String> {
    let out = Command::new("curl")
        .args(["-sf", "-m", "30", "-H", "Content-Type: application/json", "-H", "X-Session-API-Key: bench"])
        .args(args)
        .output()?;
    if !out.status.success() {
        bail!("curl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Polls `/health` (with curl, as a user would) until it answers 200.
fn wait_health(port: u16) -> Result<()> {
    let deadline = Instant::now() + TIMEOUT;
    let url = format!("http://127.0.0.1:{port}/health");
    loop {
        let ok = Command::new("curl")
            .args(["-sf", "-o", "/dev/null", "-m", "2", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("no /health on port {port}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn boot_process(runs: usize) -> Result<Vec<Duration>> {
    let command = openhands_lsp_tests::agent::agent_server_command();
    let mut samples = Vec::new();
    for _ in 0..runs {
        let port = openhands_lsp_tests::process::free_port()?;
        let dir = tempfile::tempdir()?;
        let started = Instant::now();
        let mut child = Command::new(&command)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .current_dir(dir.path())
            .env("SESSION_API_KEY", "bench")
            // As openhands-lsp starts it: no model-cost-map download thread (whose start-up race kills the server).
            .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let ok = wait_health(port);
        samples.push(started.elapsed());
        let _ = child.kill();
        let _ = child.wait();
        ok?;
    }
    Ok(samples)
}

/// `docker run` of the image to `/health`; with `llm`, on to the first action of a conversation driven with curl
/// (what the agent-server takes by itself, as a bare client sees it).
fn boot_container(image: &str, runs: usize, llm: Option<&ScriptedLlm>) -> Result<Vec<Duration>> {
    let mut samples = Vec::new();
    for _ in 0..runs {
        let port = openhands_lsp_tests::process::free_port()?;
        let started = Instant::now();
        let out = Command::new("docker")
            .args([
                "run",
                "-d",
                "--rm",
                "-e",
                "LITELLM_LOCAL_MODEL_COST_MAP=True",
                "-e",
                "SESSION_API_KEY=bench",
                "--add-host",
                "host.docker.internal:host-gateway",
                "-p",
                &format!("127.0.0.1:{port}:8000"),
            ])
            .arg(image)
            .output()?;
        if !out.status.success() {
            bail!("docker run: {}", String::from_utf8_lossy(&out.stderr));
        }
        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let ok = wait_health(port).and_then(|()| match llm {
            Some(llm) => first_action_with_curl(port, llm),
            None => Ok(()),
        });
        samples.push(started.elapsed());
        let _ = Command::new("docker").args(["rm", "-f", &id]).stdout(Stdio::null()).status();
        ok?;
    }
    Ok(samples)
}
