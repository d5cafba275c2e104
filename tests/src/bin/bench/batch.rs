//! Batch runs (`openhands-lsp run --tasks`): 20 tasks with `--parallel` 1, 4 and 8 on docker, the warm pool sized to
//! N as the batch sizes it. Beside each other: the run's wall time; each task's own time on the agent-server (from its
//! conversation's first event to its last, both stamped by the agent-server) and the overhead beyond it (the task's
//! wall seconds in its line minus that: checkout, copy, container claim, conversation set-up, the patch, the clean-up);
//! and the peak RSS of openhands-lsp (`VmHWM`, read while it runs). The first N tasks find the pool still booting (a
//! batch starts with it empty): their overhead is a row of its own. Each task's model takes a while for its first
//! answer ([`think`]: a real task's agent works for minutes), long enough for the pool to boot the next N containers
//! meanwhile, as in a real batch; a container's boot is about 3 s of CPU, and N of them at once on this machine's
//! cores take about N × 3.1 s. With `--runs 1` (scripts/test's check that the benchmarks run) the batches have N + 2
//! tasks (two of them after the first N) and answer at once.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use serde_json::{Value, json};

use super::Row;

/// How long each task's model takes for its first answer at `parallel`: the pool's N boots fit in it.
fn think(parallel: usize) -> Duration {
    Duration::from_millis(4000 + 3500 * parallel as u64)
}

pub fn batch(runs: usize, only: Option<&str>) -> Result<Vec<Row>> {
    let image = super::image()?;
    let mut rows = Vec::new();
    for parallel in [1usize, 4, 8] {
        let tasks = if runs <= 1 { parallel + 2 } else { 20 };
        let name = |what: &str| format!("{tasks} tasks, --parallel {parallel}: {what}");
        if only.is_some_and(|o| !name("").contains(o)) {
            continue;
        }
        let wait = if runs <= 1 { Duration::ZERO } else { think(parallel) };
        let run = run_batch(&image, (tasks, wait), parallel)?;
        rows.push(Row::values("batch", name("wall time of the run"), "s", vec![run.wall.as_secs_f64()]));
        rows.push(Row::values("batch", name("agent's own time per task"), "ms", run.agent_ms.clone()));
        let warm = run.overhead_ms.get(parallel..).unwrap_or_default().to_vec();
        let cold = run.overhead_ms.iter().take(parallel).copied().collect();
        rows.push(Row::values("batch", name("overhead per task beyond the agent's time, pool ready"), "ms", warm));
        rows.push(Row::values("batch", name(&format!("overhead of the first {parallel} (pool booting)")), "ms", cold));
        rows.push(Row::values("batch", name("peak RSS of openhands-lsp"), "MB", vec![run.peak_rss_mb]));
    }
    Ok(rows)
}

struct Run {
    wall: Duration,
    agent_ms: Vec<f64>,
    overhead_ms: Vec<f64>,
    peak_rss_mb: f64,
}

fn run_batch(image: &str, (tasks, think): (usize, Duration), parallel: usize) -> Result<Run> {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().canonicalize()?;
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo)?;
    for args in
        [&["init", "-q"][..], &["add", "-A"], &["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "i"]]
    {
        if args[0] == "add" {
            std::fs::write(repo.join("README.md"), "bench\n")?;
        }
        let ok = Command::new("git").args(args).current_dir(&repo).status()?.success();
        if !ok {
            bail!("git {args:?}");
        }
    }
    let mut lines = String::new();
    let mut scripts = Vec::new();
    for n in 0..tasks {
        let marker = format!("[[task t{n:02}]]");
        let args = json!({"command": "create", "path": format!("{{workdir}}/note-{n}.txt"), "file_text": "note\n",
                          "security_risk": "LOW"});
        let mut first = Step::tool("file_editor", args);
        first.delay_ms = Some(think.as_millis() as u64);
        scripts.push((marker.clone(), vec![first, Step::finish("done")]));
        let line = json!({"instance_id": format!("t{n:02}"), "repo": "repo", "problem_statement": format!("{marker} Leave a note.")});
        lines.push_str(&format!("{line}\n"));
    }
    std::fs::write(root.join("tasks.jsonl"), lines)?;
    let llm = ScriptedLlm::start_per_task(scripts);
    let settings = json!({
        "llm": {"model": "openai/stub", "baseUrl": llm.container_base_url(), "numRetries": 0},
        "confirmation": "never",
        "docker": {"image": image, "startupTimeoutSeconds": 180},
    });
    let state = root.join("state");
    let began = Instant::now();
    let mut child = Command::new(std::env::var("OPENHANDS_LSP_BIN").context("OPENHANDS_LSP_BIN")?)
        .args(["run", "--tasks", "tasks.jsonl", "--parallel", &parallel.to_string(), "--out", "out.jsonl"])
        .args(["--backend", "docker", "--settings", &settings.to_string()])
        .current_dir(&root)
        .env("XDG_STATE_HOME", &state)
        .env("LLM_API_KEY", "sk-bench")
        .env_remove("OPENHANDS_LSP_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    let deadline = Instant::now() + Duration::from_secs(1800);
    let status = loop {
        if let Some(hwm) = std::fs::read_to_string(&status_file).ok().as_deref().and_then(vm_hwm_kb) {
            peak_kb = peak_kb.max(hwm);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            bail!("the batch of {tasks} at --parallel {parallel} did not end in 30 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let wall = began.elapsed();
    let out = child.wait_with_output()?;
    if !status.success() {
        bail!("the batch failed: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    let mut agent_ms = Vec::new();
    let mut overhead_ms = Vec::new();
    // In the order the tasks started (t00 first).
    let mut lines: Vec<Value> =
        std::fs::read_to_string(root.join("out.jsonl"))?.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    lines.sort_by_key(|p| p["instance_id"].as_str().unwrap_or_default().to_owned());
    for p in &lines {
        let id = p["conversation_id"].as_str().context("conversation_id")?;
        let events = state.join("openhands-lsp/conversations").join(id).join("events.jsonl");
        let agent = agent_span(&events)?;
        let wall_ms = p["wall_seconds"].as_f64().context("wall_seconds")? * 1000.0;
        agent_ms.push(agent);
        overhead_ms.push(wall_ms - agent);
    }
    Ok(Run { wall, agent_ms, overhead_ms, peak_rss_mb: peak_kb as f64 / 1024.0 })
}

/// `VmHWM:   12345 kB` → 12345.
fn vm_hwm_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Milliseconds from the first event the agent-server stamped to the last.
fn agent_span(events: &Path) -> Result<f64> {
    let text = std::fs::read_to_string(events).with_context(|| events.display().to_string())?;
    let stamps: Vec<f64> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|e| e["timestamp"].as_str().and_then(seconds_of))
        .collect();
    let (Some(first), Some(last)) = (stamps.iter().copied().reduce(f64::min), stamps.iter().copied().reduce(f64::max))
    else {
        bail!("no stamped event in {}", events.display());
    };
    Ok((last - first) * 1000.0)
}

/// Seconds since midnight of `2026-12-07T15:43:59.709146` (a batch does not run across midnight here).
fn seconds_of(stamp: &str) -> Option<f64> {
    let time = stamp.split('T').nth(1)?.trim_end_matches('Z');
    let mut parts = time.split(':');
    let (h, m, s) = (parts.next()?.parse::<f64>().ok()?, parts.next()?.parse::<f64>().ok()?, parts.next()?);
    let s: f64 = s.split(['+', '-']).next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}
