//! The docker backend against a real Docker engine and the agent-server image scripts/test builds
//! (`OPENHANDS_TEST_IMAGE`), with the scripted LLM reached from the containers through `host.docker.internal`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use openhands_lsp_tests::agent::{RUN_TIMEOUT, options, start_task, wait_state, wait_until};
use openhands_lsp_tests::docker::{
    container_of, docker, docker_params, image, inspect, output_containing, terminal_run, workspace,
};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::repo::git;
use openhands_lsp_tests::{Options, Server};
use serde_json::{Value, json};

/// Container ids with every one of `labels` (`key=value`), running or not.
fn containers_with_all(labels: &[&str]) -> Vec<String> {
    let mut args = vec!["ps".to_owned(), "-aq".into(), "--no-trunc".into()];
    for l in labels {
        args.extend(["--filter".to_owned(), format!("label={l}")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    docker(&args).lines().map(str::to_owned).filter(|l| !l.is_empty()).collect()
}

fn containers_with(label: &str) -> Vec<String> {
    containers_with_all(&[label])
}

/// The unclaimed pooled containers of the session with this pid (claiming renames a container after its
/// conversation; labels cannot change).
fn pooled_of(pid: u32) -> Vec<String> {
    let ids = containers_with_all(&["dev.openhands.lsp.role=pool", &format!("dev.openhands.lsp.owner.pid={pid}")]);
    ids.into_iter()
        .filter(|c| inspect(c)["Name"].as_str().is_some_and(|n| n.starts_with("/openhands-lsp-pool-")))
        .collect()
}

fn owned_by(owner: &str) -> Vec<String> {
    containers_with(&format!("dev.openhands.lsp.owner={owner}"))
}

fn status(server: &mut Server) -> Value {
    server.command("openhands.status", json!({})).unwrap().unwrap()
}

fn owner_of(container: &str) -> String {
    inspect(container)["Config"]["Labels"]["dev.openhands.lsp.owner"].as_str().unwrap().to_owned()
}

#[test]
fn a_conversation_runs_in_its_own_locked_down_container_and_its_changes_come_back_for_review() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start_for_containers(vec![
        Step::terminal("true"),
        Step::terminal(
            "echo uid=$(id -u) cwd=$(pwd); cat seed.txt; ls /var/run/docker.sock; echo pythonpath=[$PYTHONPATH]; \
             python3 -c 'import gc; print(\"full-gc-after\", gc.get_threshold()[2])'; echo end-of-probe",
        ),
        Step::tool(
            "file_editor",
            json!({"command": "create", "path": "/workspace/hello.txt", "file_text": "hi from docker\n", "security_risk": "LOW"}),
        ),
        Step::finish("written in the container").gated("finish"),
    ]);
    let (mut server, _) =
        Server::start(options(), docker_params(&llm, &ws, json!({"memoryMb": 1024, "cpus": 1.5}))).unwrap();
    let id = start_task(&mut server, "Say hello from a container");

    let probe = output_containing(&server, &id, "end-of-probe");
    assert!(probe.contains("uid=10001 cwd=/workspace"), "the agent runs as the image's non-root user: {probe}");
    assert!(probe.contains("seeded by the user"), "the workspace is mounted: {probe}");
    assert!(probe.contains("No such file"), "the Docker socket must not be in the container: {probe}");
    // openhands-lsp's start-up hook for the agent-server's Python (fewer full collections while it boots) stays out
    // of the agent's commands: no PYTHONPATH, the collector's defaults.
    assert!(probe.contains("pythonpath=[]"), "the hook's PYTHONPATH must not reach the agent's shell: {probe}");
    assert!(probe.contains("full-gc-after ") && !probe.contains("full-gc-after 1000"), "{probe}");

    let container = container_of(&id);
    let info = inspect(&container);
    let labels = &info["Config"]["Labels"];
    assert_eq!(labels["dev.openhands.lsp.conversation"], id.as_str());
    assert_eq!(labels["dev.openhands.lsp.owner.pid"], server.pid().to_string());
    let bindings = &info["HostConfig"]["PortBindings"]["8431/tcp"];
    assert_eq!(bindings.as_array().unwrap().len(), 1);
    assert_eq!(bindings[0]["HostIp"], "127.0.0.1", "published on loopback only: {bindings}");
    let published = &info["NetworkSettings"]["Ports"]["8431/tcp"];
    assert!(published.as_array().unwrap().iter().all(|b| b["HostIp"] == "127.0.0.1"), "{published}");
    assert!(info["HostConfig"]["ExtraHosts"].to_string().contains("host.docker.internal:host-gateway"));
    assert_eq!(info["HostConfig"]["Memory"], 1024 * 1024 * 1024);
    assert_eq!(info["HostConfig"]["NanoCpus"], 1_500_000_000u64);
    let mounts = info["Mounts"].as_array().unwrap();
    let mounted = |at: &str| mounts.iter().find(|m| m["Destination"] == at).map(|m| m["Source"].clone());
    assert_eq!(mounts.len(), 2, "only the workspace and the agent-server's record are mounted: {mounts:?}");
    let worktree = server.state_home.join(format!("openhands-lsp/conversations/{id}/worktree"));
    assert_eq!(mounted("/workspace"), Some(json!(worktree.to_str().unwrap())));
    // The agent-server's record of the conversation: in memory while it runs (a copy with secrets masked is kept
    // with the conversation), never in the state directory as written.
    let record = mounted("/tmp/agent-server-record").expect("the record is mounted");
    let record = PathBuf::from(record.as_str().unwrap());
    assert!(record.ends_with(format!("{id}/record")) && !record.starts_with(&server.state_home), "{mounts:?}");
    let env = info["Config"]["Env"].to_string();
    assert!(env.contains("SESSION_API_KEY="), "a session key guards the agent-server");
    assert!(env.contains("PYTHONPATH=/opt/openhands-lsp/python"), "the agent-server finds the hook: {env}");
    // The hook, under the image's own Python: it sets the collector, leaves PYTHONPATH and sys.path, and runs the
    // image's own sitecustomize (here one made up for the test).
    let hook = docker(&[
        "exec",
        &container,
        "sh",
        "-c",
        r#"mkdir -p /tmp/theirs && echo 'import os; os.environ["THEIRS"] = "ran"' > /tmp/theirs/sitecustomize.py &&
           PYTHONPATH=/opt/openhands-lsp/python:/tmp/theirs python3 -c 'import gc, os, sys
print(gc.get_threshold()[2], os.environ.get("PYTHONPATH"), os.environ.get("THEIRS"), any("openhands-lsp" in p for p in sys.path))'"#,
    ]);
    assert_eq!(hook.trim(), "1000 /tmp/theirs ran False");
    assert!(!env.contains("sk-scripted-test-key"), "the LLM key is a conversation secret, never container env");

    llm.open_gate("finish");
    let done = wait_state(&server, &id, "finished");
    assert_eq!(done["finalMessage"], "written in the container");
    assert!(!ws.join("hello.txt").exists(), "the user's folder changes only on apply");
    let review = server.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap();
    let review = review.unwrap_or_else(|e| panic!("reviewChanges: {e:?}\n{}", server.stderr()));
    let files: Vec<&str> = review["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(files, ["hello.txt"], "{review}");
    assert_eq!(std::fs::read_to_string(worktree.join("hello.txt")).unwrap(), "hi from docker\n");

    server.command("openhands.stop", json!({"conversationId": id})).unwrap().unwrap();
    wait_until("the container to be removed", Duration::from_secs(30), || {
        containers_with(&format!("dev.openhands.lsp.conversation={id}")).is_empty()
    });
    server.shutdown_and_exit().unwrap();
    assert!(!server.stderr_complete().contains("sk-scripted-test-key"));
}

#[test]
fn the_warm_pool_serves_a_conversation_at_once_and_refills_pause_freezes_and_a_dead_container_is_an_error() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start_for_containers(vec![
        Step::terminal("true"),
        Step::terminal("cat seed.txt; echo first-done"),
        // Pause interrupts the call held here; whether or not its reply is used, the next step runs after resume.
        Step::terminal("echo held").gated("go"),
        Step::terminal("echo after-resume > resumed.txt"),
        Step::finish("pooled and resumed"),
        // The second conversation: one command, then the container is killed while the agent waits.
        Step::terminal("echo second-started"),
        Step::finish("never reached").gated("never"),
    ]);
    let (mut server, _) = Server::start(options(), docker_params(&llm, &ws, json!({"warmPool": 1}))).unwrap();
    wait_until("a warm container", RUN_TIMEOUT, || !pooled_of(server.pid()).is_empty());
    let owner = owner_of(&pooled_of(server.pid())[0]);
    wait_until("the pool to report a ready container", RUN_TIMEOUT, || status(&mut server)["warmPool"]["ready"] == 1);
    let warm: Vec<String> = owned_by(&owner);
    assert_eq!(warm.len(), 1, "{warm:?}");

    let id = start_task(&mut server, "Use a warm container");
    assert_eq!(container_of(&id), warm[0], "the conversation claimed the warm container");
    let out = output_containing(&server, &id, "first-done");
    assert!(out.contains("seeded by the user"), "the workspace moved into the warm container: {out}");
    let worktree = server.state_home.join(format!("openhands-lsp/conversations/{id}/worktree"));
    // Docker still names the slot it mounted; the directory itself now lives at the worktree's path.
    let mounts = inspect(&warm[0])["Mounts"].clone();
    let workspace_mount = mounts.as_array().unwrap().iter().find(|m| m["Destination"] == "/workspace").unwrap().clone();
    let source = PathBuf::from(workspace_mount["Source"].as_str().unwrap());
    assert!(source.starts_with(server.state_home.join("openhands-lsp/docker-pool")), "{}", source.display());
    assert!(!source.exists() && worktree.join("seed.txt").exists(), "the worktree keeps its path on the host");

    // The pool refills in the background.
    wait_until("the pool to refill", RUN_TIMEOUT, || {
        pooled_of(server.pid()).iter().any(|c| c != &warm[0]) && status(&mut server)["warmPool"]["ready"] == 1
    });

    // Pause freezes the container; resume thaws it and the agent carries on.
    assert!(llm.wait_requests(3, RUN_TIMEOUT), "the agent waits on its third LLM call");
    server.command("openhands.pause", json!({"conversationId": id})).unwrap().unwrap();
    wait_state(&server, &id, "paused");
    assert_eq!(inspect(&warm[0])["State"]["Paused"], true, "docker pause went with the agent's pause");
    llm.open_gate("go");
    server.command("openhands.resume", json!({"conversationId": id})).unwrap().unwrap();
    assert_eq!(inspect(&warm[0])["State"]["Paused"], false);
    let done = wait_state(&server, &id, "finished");
    assert_eq!(done["finalMessage"], "pooled and resumed");
    assert_eq!(std::fs::read_to_string(worktree.join("resumed.txt")).unwrap(), "after-resume\n");

    // A container that dies mid-run turns into an error carrying its last log lines. This second conversation
    // starts on the refilled pool's container: created before the task was asked for, so not on its critical path.
    let refilled = pooled_of(server.pid());
    assert_eq!(refilled.len(), 1, "{refilled:?}");
    let second = start_task(&mut server, "Die midway");
    output_containing(&server, &second, "second-started");
    let victim = container_of(&second);
    assert_eq!(victim, refilled[0], "the second conversation runs on the pooled container");
    docker(&["kill", &victim]);
    let failed = wait_state(&server, &second, "error");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("the sandbox died") && error.contains("stopped (exit code"), "{error}");
    assert!(error.contains("last log lines"), "{error}");
    // The popup's text is the reason in one short line; the log's lines go to the log (the output channel).
    assert!(!error.contains('\n') && error.len() < 200, "a short reason, not the container's log: {error}");
    let shown = server
        .wait_notification("window/showMessage", |m| m["message"].as_str().unwrap_or("").contains("Die midway"))
        .unwrap();
    assert!(!shown["message"].as_str().unwrap().contains('\n'), "{shown}");

    server.shutdown_and_exit().unwrap();
    assert!(server.stderr_complete().contains("its last log lines:\n"), "the container's log is in the server's log");
    wait_until("every container of this session to be removed at exit", Duration::from_secs(30), || {
        owned_by(&owner).is_empty()
    });
}

#[test]
fn killing_openhands_lsp_mid_run_leaves_no_container_once_it_is_back_and_keeps_the_history() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start_for_containers(vec![
        Step::terminal("true"),
        Step::terminal("echo before-the-kill"),
        Step::finish("never reached").gated("never"),
    ]);
    let state = tempfile::tempdir().unwrap();
    let opts = || Options { state_home: Some(state.path().to_owned()), ..options() };
    let (mut first, _) = Server::start(opts(), docker_params(&llm, &ws, json!({"warmPool": 1}))).unwrap();
    let id = start_task(&mut first, "Be killed");
    output_containing(&first, &id, "before-the-kill");
    wait_until("a warm container beside the conversation's", RUN_TIMEOUT, || !pooled_of(first.pid()).is_empty());
    let running = container_of(&id);
    let owner = owner_of(&running);
    let pooled = pooled_of(first.pid());
    let slot = PathBuf::from(inspect(&pooled[0])["Config"]["Labels"]["dev.openhands.lsp.slot"].as_str().unwrap());
    assert!(slot.is_dir());
    let seen = first.notifications("openhands/event").into_iter().filter(|e| e["conversationId"] == id).count();
    first.kill();

    let (mut second, _) = Server::start(opts(), docker_params(&llm, &ws, json!({"warmPool": 0}))).unwrap();
    wait_until("the killed session's containers to be removed", Duration::from_secs(60), || {
        owned_by(&owner).is_empty()
    });
    assert!(!slot.exists(), "the orphan pool container's slot directory is removed too");
    let list = second.command("openhands.listConversations", json!({})).unwrap().unwrap();
    let entry = list["conversations"].as_array().unwrap().iter().find(|c| c["id"] == id).cloned().unwrap();
    assert_eq!(entry["live"], false, "{entry}");
    let page = second.command("openhands.getEvents", json!({"conversationId": id})).unwrap().unwrap();
    assert!(page["total"].as_u64().unwrap() >= seen as u64, "the history survives: {page}");
    let text = page["events"].to_string();
    assert!(text.contains("before-the-kill"), "{text}");
    second.shutdown_and_exit().unwrap();
}

#[test]
fn an_unreachable_docker_is_a_clear_error_at_once_and_in_status() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start_for_containers(vec![]);
    let missing = tempfile::tempdir().unwrap();
    let socket = format!("unix://{}/docker.sock", missing.path().display());
    let (mut server, _) =
        Server::start(options().env("DOCKER_HOST", &socket), docker_params(&llm, &ws, json!({"warmPool": 1}))).unwrap();

    // Shown once at start-up, and in the status bar's notification.
    let status_note = server.wait_notification("openhands/status", |p| p["kind"] == "error").unwrap();
    assert!(status_note["message"].as_str().unwrap().contains("Docker is not running"), "{status_note}");
    let started = Instant::now();
    let id = start_task(&mut server, "Anything");
    let failed = wait_state(&server, &id, "error");
    let took = started.elapsed();
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("Docker is not running") && error.contains(&socket), "{error}");
    assert!(error.contains("openhands.backend"), "the message says what else to use: {error}");
    assert!(took < Duration::from_secs(10), "an unreachable daemon fails fast (took {took:?})");

    let report = status(&mut server);
    let row = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "docker").cloned().unwrap();
    assert_eq!(row["status"], "error");
    assert!(row["detail"].as_str().unwrap().contains("Docker is not running"), "{row}");
    let shown: Vec<Value> = server
        .notifications("window/showMessage")
        .into_iter()
        .filter(|m| m["message"].as_str().unwrap_or_default().contains("Docker is not running"))
        .filter(|m| !m["message"].as_str().unwrap_or_default().contains("failed:"))
        .collect();
    assert_eq!(shown.len(), 1, "the start-up problem is shown once: {shown:?}");
    server.shutdown_and_exit().unwrap();
}

#[test]
fn a_missing_image_that_cannot_be_pulled_says_why_and_what_to_do() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start_for_containers(vec![]);
    // A registry on a closed loopback port: the pull fails at once.
    let (mut server, _) = Server::start(
        options(),
        docker_params(&llm, &ws, json!({"image": "127.0.0.1:9/openhands/agent-server:missing"})),
    )
    .unwrap();
    let id = start_task(&mut server, "Anything");
    let failed = wait_state(&server, &id, "error");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("cannot pull the agent-server image 127.0.0.1:9/openhands/agent-server:missing"), "{error}");
    for fix in ["docker login", "openhands.docker.image", "scripts/build-agent-image", "openhands.backend"] {
        assert!(error.contains(fix), "the message mentions {fix}: {error}");
    }
    let pulling = server
        .notifications("$/progress")
        .into_iter()
        .any(|p| p["value"]["message"].as_str().is_some_and(|m| m.starts_with("pulling 127.0.0.1:9/")));
    assert!(pulling, "the pull was reported as progress");
    server.shutdown_and_exit().unwrap();
}

/// The terminal run says a failed pull once, as the conversation's outcome: not also as log lines, nor again as the
/// command's own error (it said the same 300 characters four times).
#[test]
fn a_terminal_run_says_a_failed_pull_once() {
    let (_dir, ws) = workspace();
    let out = terminal_run(&ws, "127.0.0.1:9/openhands/agent-server:missing");
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let said = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(said.matches("cannot pull the agent-server image").count(), 1, "{said}");
    assert!(stdout.lines().any(|l| l.starts_with("error: cannot pull the agent-server image")), "{stdout}");
}

#[test]
fn doctor_reports_docker_and_the_image() {
    let settings = json!({"backend": "docker", "docker": {"image": image()}}).to_string();
    let out = Command::new(openhands_lsp_tests::lsp_client::server_binary())
        .args(["doctor", "--json", "--settings", &settings])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = |name: &str| report["checks"].as_array().unwrap().iter().find(|c| c["name"] == name).cloned().unwrap();
    assert_eq!(row("docker")["status"], "ok", "{report}");
    assert!(row("docker")["detail"].as_str().unwrap().starts_with("Docker "), "{report}");
    assert_eq!(row("agent-server image")["status"], "ok", "{report}");
    let missing = json!({"backend": "docker", "docker": {"image": "openhands-lsp/no-such-image:1"}}).to_string();
    let out = Command::new(openhands_lsp_tests::lsp_client::server_binary())
        .args(["doctor", "--json", "--settings", &missing])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let image_row = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "agent-server image").cloned();
    assert_eq!(image_row.unwrap()["status"], "warning", "{report}");
}

#[test]
fn an_absent_image_is_pulled_with_progress() {
    let registry = std::env::var("OPENHANDS_TEST_REGISTRY")
        .expect("OPENHANDS_TEST_REGISTRY is not set: run scripts/test (it starts a local registry)");
    // A small image of the test's own, pushed to the local registry and removed here, so the server must pull it.
    let tag = format!("{registry}/openhands-lsp-test/tiny:{}", std::process::id());
    let rootfs = tempfile::tempdir().unwrap();
    std::fs::write(rootfs.path().join("payload.bin"), vec![7u8; 3 * 1024 * 1024]).unwrap();
    let tar = rootfs.path().join("rootfs.tar");
    let status = Command::new("tar")
        .args(["-C", rootfs.path().to_str().unwrap(), "-cf", tar.to_str().unwrap(), "payload.bin"])
        .status()
        .unwrap();
    assert!(status.success());
    docker(&["import", tar.to_str().unwrap(), &tag]);
    docker(&["push", &tag]);
    docker(&["rmi", &tag]);

    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start_for_containers(vec![]);
    let (mut server, _) = Server::start(options(), docker_params(&llm, &ws, json!({"image": tag}))).unwrap();
    let id = start_task(&mut server, "Pull first");
    // The image is no agent-server, so the start fails after the pull; the pull itself is what this checks.
    let failed = wait_state(&server, &id, "error");
    let messages: Vec<String> = server
        .notifications("$/progress")
        .into_iter()
        .filter_map(|p| p["value"]["message"].as_str().map(str::to_owned))
        .collect();
    assert!(messages.iter().any(|m| m == &format!("pulling {tag}…")), "{messages:?}");
    let image_present = Command::new("docker").args(["image", "inspect", &tag]).output().unwrap().status.success();
    assert!(image_present, "the pulled image is there");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("exited during start-up"), "the start failed after the pull, not in it: {error}");
    server.shutdown_and_exit().unwrap();
    docker(&["rmi", &tag]);
}

#[test]
fn kept_containers_stay_for_inspection_and_the_network_setting_applies() {
    // A user-defined network of the test's own, made on the first run and reused.
    let network = "openhands-lsp-test-net";
    let exists = Command::new("docker").args(["network", "inspect", network]).output().unwrap().status.success();
    if !exists {
        docker(&["network", "create", network]);
    }
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start_for_containers(vec![
        Step::terminal("true"),
        Step::terminal("echo on-my-network"),
        Step::finish("never reached").gated("never"),
    ]);
    let settings = json!({"keepContainers": true, "network": network});
    let (mut server, _) = Server::start(options(), docker_params(&llm, &ws, settings)).unwrap();
    let id = start_task(&mut server, "Keep my container");
    // The agent reached the LLM from that network (through host.docker.internal), and ran.
    output_containing(&server, &id, "on-my-network");
    let container = container_of(&id);
    assert_eq!(inspect(&container)["HostConfig"]["NetworkMode"], network);

    server.command("openhands.stop", json!({"conversationId": id})).unwrap().unwrap();
    wait_state(&server, &id, "stopped");
    wait_until("the container to stop", Duration::from_secs(30), || inspect(&container)["State"]["Running"] == false);
    assert_eq!(
        containers_with(&format!("dev.openhands.lsp.conversation={id}")),
        std::slice::from_ref(&container),
        "with keepContainers the ended conversation's container stays, stopped, for inspection"
    );
    server.shutdown_and_exit().unwrap();
    docker(&["rm", "-f", &container]);
}

#[test]
fn git_works_in_the_container_on_the_conversations_own_copy_of_the_repository() {
    // The user opened a subfolder of a repository, with work not yet committed.
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().canonicalize().unwrap();
    git(&repo, &["init", "-q"]);
    git(&repo, &["config", "user.email", "dev@example.com"]);
    git(&repo, &["config", "user.name", "Dev"]);
    std::fs::create_dir(repo.join("app")).unwrap();
    std::fs::write(repo.join("app/main.py"), "print(1)\n").unwrap();
    std::fs::write(repo.join("README.md"), "widgets\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "the user's first commit"]);
    git(&repo, &["remote", "add", "origin", "https://github.com/acme/widgets.git"]);
    std::fs::write(repo.join("app/main.py"), "print(2)\n").unwrap();
    let ws = repo.join("app");
    let user_head = git(&repo, &["rev-parse", "HEAD"]);

    let llm = ScriptedLlm::start_for_containers(vec![
        Step::terminal("true"),
        Step::terminal(
            "pwd; git status --short; echo status-done; git log --format=%s; git rev-parse --abbrev-ref HEAD; \
             git remote get-url origin; git show HEAD:app/main.py; echo end-of-git",
        ),
        Step::terminal(
            "echo made > made.txt && git add made.txt && git commit -qm 'the agent commits' && \
             git log -1 --format='%s|%ae' && git status --short && echo end-of-commit",
        ),
        Step::finish("committed").gated("finish"),
    ]);
    let (mut server, _) = Server::start(options(), docker_params(&llm, &ws, json!({}))).unwrap();
    let id = start_task(&mut server, "Use git");

    let probe = output_containing(&server, &id, "end-of-git");
    assert!(!probe.contains("not a git repository"), "git finds the repository in the container: {probe}");
    let lines: Vec<&str> = probe.lines().map(str::trim).collect();
    assert_eq!(
        lines.first().copied(),
        Some("/workspace/app"),
        "the agent works in the folder the user opened: {probe}"
    );
    assert_eq!(lines.get(1).copied(), Some("status-done"), "a clean status at the start: {probe}");
    assert!(probe.contains("openhands: baseline") && probe.contains("the user's first commit"), "history: {probe}");
    assert!(probe.contains("openhands/use-git-"), "on the conversation's branch: {probe}");
    assert!(probe.contains("https://github.com/acme/widgets.git"), "the user's remote: {probe}");
    assert!(probe.contains("print(2)"), "the user's uncommitted work is in the starting point: {probe}");
    let commit = output_containing(&server, &id, "end-of-commit");
    assert!(commit.contains("the agent commits|dev@example.com"), "commits as the user would: {commit}");

    llm.open_gate("finish");
    wait_state(&server, &id, "finished");
    let review = server.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
    let files: Vec<&str> = review["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(files, ["made.txt"], "the agent's commit is reviewed like any change: {review}");
    // The user's repository is as it was: no branch, no worktree, no commit, the uncommitted work still there.
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), user_head);
    assert_eq!(git(&repo, &["branch", "--list", "openhands/*"]), "");
    assert_eq!(git(&repo, &["worktree", "list"]).lines().count(), 1);
    assert_eq!(git(&repo, &["status", "--short"]).trim(), "M app/main.py");
    server.shutdown_and_exit().unwrap();
}

/// `openhands.status` with `smokeCheck`: a container of the image boots, creates a conversation (no model call) and
/// is removed; the row says how long it took and which agent-server the image holds.
#[test]
fn the_smoke_check_boots_a_container_of_the_image_and_leaves_none() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start_for_containers(vec![]);
    let (mut server, _) = Server::start(options(), docker_params(&llm, &ws, json!({}))).unwrap();
    let quick = status(&mut server);
    assert!(
        !quick["checks"].as_array().unwrap().iter().any(|c| c["name"] == "agent-server smoke check"),
        "not run unless asked: {quick}"
    );
    let report = server.command("openhands.status", json!({"smokeCheck": true})).unwrap().unwrap();
    let row = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "agent-server smoke check").cloned();
    let row = row.unwrap_or_else(|| panic!("no smoke check row: {report}"));
    assert_eq!(row["status"], "ok", "{row}");
    let detail = row["detail"].as_str().unwrap();
    assert!(detail.starts_with("booted in ") && detail.contains("created and deleted a conversation"), "{detail}");
    assert!(
        detail.contains("agent-server 1.58.0 (SDK 1.58.0, tools 1.58.0, Python 3."),
        "the image's versions: {detail}"
    );
    assert_eq!(report["ok"], true, "{report}");
    let left = containers_with(&format!("dev.openhands.lsp.owner.pid={}", server.pid()));
    assert!(left.is_empty(), "the check's container is removed: {left:?}");
    server.shutdown_and_exit().unwrap();
}

/// A task across two repositories in a container: the workspace's copy at /workspace, the other folder's (the user
/// gave a subfolder of its repository) at /folders/<name>, each with its git data, neither the user's folder; a warm
/// container (one mount) is left for single-folder tasks; the agent's changes to both come back for review.
#[test]
fn a_task_across_folders_mounts_each_copy_in_the_container_and_reviews_each() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let repos = openhands_lsp_tests::repo::repositories(
        &root,
        &[("app", "app.txt", "v1\n"), ("api", "server/api.txt", "v1\n")],
    );
    let (app, api) = (&repos[0], &repos[1]);
    let llm = ScriptedLlm::start_for_containers(vec![
        Step::terminal(
            "echo v2 > app.txt && cd /folders/server/server && git rev-parse --abbrev-ref HEAD && \
             echo v2 > api.txt && pwd && echo end-of-folders",
        ),
        Step::finish("both bumped").gated("finish"),
    ]);
    let (mut server, _) = Server::start(options(), docker_params(&llm, app, json!({"warmPool": 1}))).unwrap();
    wait_until("a warm container", RUN_TIMEOUT, || {
        !containers_with_all(&["dev.openhands.lsp.role=pool", &format!("dev.openhands.lsp.owner.pid={}", server.pid())])
            .is_empty()
    });
    let started = server
        .command(
            "openhands.startTask",
            json!({"instruction": "Bump both", "folders": [app.display().to_string(), api.join("server").display().to_string()]}),
        )
        .unwrap()
        .unwrap();
    let id = started["conversationId"].as_str().unwrap().to_owned();
    let probe = output_containing(&server, &id, "end-of-folders");
    assert!(probe.contains("openhands/bump-both-"), "the other folder's copy has its own git data: {probe}");
    assert!(probe.contains("/folders/server/server"), "{probe}");
    let system = llm.requests()[0].body["messages"][0].to_string();
    assert!(system.contains("/folders/server/server (server)"), "the agent is told where it is: {system}");

    let info = inspect(&container_of(&id));
    assert_eq!(info["Config"]["Labels"]["dev.openhands.lsp.role"], "conversation", "not the warm one");
    let mounts = info["Mounts"].as_array().unwrap();
    let mounted = |at: &str| mounts.iter().find(|m| m["Destination"] == at).map(|m| m["Source"].clone());
    let conv = server.state_home.join(format!("openhands-lsp/conversations/{id}"));
    assert_eq!(mounted("/workspace"), Some(json!(conv.join("worktree"))));
    assert_eq!(mounted("/folders/server"), Some(json!(conv.join("folders/server"))));
    assert_eq!(mounts.len(), 3, "the two copies and the agent's record, no folder of the user's: {mounts:?}");

    llm.open_gate("finish");
    wait_state(&server, &id, "finished");
    let review = server.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
    let mut files: Vec<&str> =
        review["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    files.sort();
    assert_eq!(files, ["app.txt", "server/api.txt"], "{review}");
    let api_file = review["files"].as_array().unwrap().iter().find(|f| f["folder"] == "server").unwrap();
    assert_eq!(api_file["uri"], format!("file://{}", api.join("server/api.txt").display()));
    assert_eq!(std::fs::read_to_string(api.join("server/api.txt")).unwrap(), "v1\n", "the user's file waits for apply");
    server.shutdown_and_exit().unwrap();
}
