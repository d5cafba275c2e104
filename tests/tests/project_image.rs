//! The project's own toolchain in the docker sandbox: the image a folder's dev container, the base image setting or
//! the agent-server image gives, built once, checked, set up by the project's script, and cleaned by a command
//! (`server/src/sandbox/docker/project_image.rs`), against a real Docker engine with the base images scripts/test
//! builds (`scripts/build-test-base-images`).

use std::path::{Path, PathBuf};
use std::process::Command;

use openhands_lsp_tests::Server;
use openhands_lsp_tests::agent::{options, start_task, wait_state};
use openhands_lsp_tests::docker::{
    base_image, container_of, docker, docker_params, image, inspect, output_containing, terminal_run, workspace,
};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use serde_json::{Value, json};

fn progress_messages(server: &Server) -> Vec<String> {
    server
        .notifications("$/progress")
        .into_iter()
        .filter_map(|p| p["value"]["message"].as_str().map(str::to_owned))
        .collect()
}

/// The images built for the project in `folder` (named after it: see project_image.rs).
fn builds_of(folder: &Path) -> Vec<String> {
    let name = folder.file_name().unwrap().to_string_lossy().to_lowercase().replace('.', "");
    let out = docker(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", "openhands-lsp-project/*"]);
    out.lines().filter(|l| l.contains(&name)).map(str::to_owned).collect()
}

/// A crate whose one test fails, with a dev container whose Dockerfile starts from an image with cargo (Debian's,
/// older glibc than the agent-server's). Planted in its devcontainer.json: everything that would reach beyond the
/// sandbox, each leaving a trace in `planted` (a host folder) if it were applied.
fn rust_project(planted: &Path) -> (tempfile::TempDir, PathBuf) {
    let (dir, ws) = workspace();
    std::fs::create_dir_all(ws.join("src")).unwrap();
    std::fs::create_dir_all(ws.join(".devcontainer")).unwrap();
    std::fs::write(ws.join("Cargo.toml"), "[package]\nname = \"adder\"\nversion = \"0.1.0\"\nedition = \"2021\"\n")
        .unwrap();
    std::fs::write(
        ws.join("src/lib.rs"),
        "pub fn add(a: i32, b: i32) -> i32 {\n    a - b\n}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn adds() {\n        assert_eq!(super::add(2, 2), 4);\n    }\n}\n",
    )
    .unwrap();
    let p = planted.display();
    std::fs::write(
        ws.join(".devcontainer/devcontainer.json"),
        format!(
            r#"{{
  // The project's own dev container, as VS Code would use it.
  "name": "adder",
  "build": {{ "dockerfile": "Dockerfile", "context": "..", "args": {{ "GREETING": "hello" }} }},
  "initializeCommand": "touch {p}/initialize",
  "runArgs": ["-v", "{p}:/planted"],
  "mounts": ["source={p},target=/planted2,type=bind"],
  "privileged": true,
  "capAdd": ["SYS_ADMIN"],
  "securityOpt": ["apparmor=unconfined"],
  "forwardPorts": [4711],
  "appPort": 4712,
  "features": {{ "ghcr.io/devcontainers/features/node:1": {{}} }},
  "postStartCommand": "touch /planted/poststart",
  "postCreateCommand": "cargo --version && echo post-create-ran",
}}"#
        ),
    )
    .unwrap();
    std::fs::write(
        ws.join(".devcontainer/Dockerfile"),
        format!(
            "FROM {}\nARG GREETING\nCOPY Cargo.toml /opt/seen/\n\
             RUN echo \"built with $GREETING\" > /etc/built-by-devcontainer && cat /proc/net/dev > /etc/build-net && \\\n    \
             (ls /planted /run/secrets 2>&1 || true) > /etc/build-mounts\n",
            base_image("OPENHANDS_TEST_CARGO_BASE")
        ),
    )
    .unwrap();
    (dir, ws)
}

/// Held (shared) by the tests that use projects' images, and alone by the one that cleans them away.
static PROJECT_IMAGES: std::sync::RwLock<()> = std::sync::RwLock::new(());

#[test]
fn the_agent_builds_and_tests_a_rust_crate_with_the_dev_containers_toolchain_and_nothing_reaches_the_host() {
    let _shared = PROJECT_IMAGES.read().unwrap_or_else(|p| p.into_inner());
    let planted = tempfile::tempdir().unwrap();
    let (_dir, ws) = rust_project(planted.path());
    let llm = ScriptedLlm::start_for_containers(vec![
        Step::terminal("cargo test 2>&1; echo cargo-exit=$?"),
        Step::terminal(
            "cat /etc/built-by-devcontainer /etc/build-mounts; grep -c docker0 /etc/build-net; ls /planted /planted2 2>&1; \
             echo uid=$(id -u); echo end-of-probe",
        ),
        Step::tool(
            "file_editor",
            json!({"command": "str_replace", "path": "/workspace/src/lib.rs", "old_str": "a - b", "new_str": "a + b", "security_risk": "LOW"}),
        ),
        Step::terminal("cargo test 2>&1; echo cargo-exit=$?"),
        Step::finish("the test passes").gated("finish"),
        // The second conversation's.
        Step::terminal("cargo --version; echo second-probe"),
        Step::finish("again"),
    ]);
    let (mut server, _) = Server::start(options(), docker_params(&llm, &ws, json!({}))).unwrap();
    let id = start_task(&mut server, "Make the test pass");

    // First the dev container's postCreateCommand, as the conversation's first step, before the task.
    let setup = output_containing(&server, &id, "post-create-ran");
    assert!(setup.contains("cargo 1."), "{setup}");
    let first = output_containing(&server, &id, "cargo-exit=");
    assert!(first.contains("test tests::adds ... FAILED") && first.contains("cargo-exit=101"), "{first}");
    assert!(first.contains("left: `0`"), "cargo's own output: {first}");
    let probe = output_containing(&server, &id, "end-of-probe");
    assert!(probe.contains("built with hello"), "the build got its args: {probe}");
    assert!(probe.contains("'/planted': No such file") && probe.contains("'/run/secrets': No such file"), "{probe}");
    assert!(probe.lines().any(|l| l.trim() == "0"), "the build's network is not the host's (no docker0): {probe}");
    assert!(probe.contains("'/planted2': No such file"), "no mounts from the dev container: {probe}");
    assert!(!probe.contains("uid=0"), "the agent is not root: {probe}");

    let container = container_of(&id);
    let info = inspect(&container);
    assert!(
        info["Config"]["Image"].as_str().unwrap().starts_with("openhands-lsp-project/"),
        "{}",
        info["Config"]["Image"]
    );
    let host = &info["HostConfig"];
    assert_eq!(host["Privileged"], false);
    assert!(host["CapAdd"].is_null() || host["CapAdd"] == json!([]), "{}", host["CapAdd"]);
    assert_eq!(host["SecurityOpt"], json!(["no-new-privileges:true"]));
    let ports: Vec<&String> = host["PortBindings"].as_object().unwrap().keys().collect();
    assert_eq!(ports, ["8431/tcp"], "only the agent-server's port");
    let mounts: Vec<(String, String, bool)> = info["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (m["Type"].as_str().unwrap().to_owned(), m["Destination"].as_str().unwrap().to_owned(), m["RW"] == true)
        })
        .collect();
    assert_eq!(mounts.len(), 3, "{mounts:?}");
    assert!(mounts.contains(&("bind".into(), "/workspace".into(), true)), "{mounts:?}");
    // The agent-server's record of the conversation (in memory on the host), that it can go on later.
    assert!(mounts.contains(&("bind".into(), "/tmp/agent-server-record".into(), true)), "{mounts:?}");
    assert!(mounts.contains(&("volume".into(), "/opt/openhands-lsp/agent".into(), false)), "{mounts:?}");

    llm.open_gate("finish");
    let done = wait_state(&server, &id, "finished");
    assert_eq!(done["finalMessage"], "the test passes");
    let events = server.command("openhands.getEvents", json!({"conversationId": id})).unwrap().unwrap();
    let outputs: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "ObservationEvent")
        .filter_map(|e| e["detail"].as_str())
        .filter(|d| d.contains("cargo-exit="))
        .collect();
    assert_eq!(outputs.len(), 2, "{outputs:?}");
    assert!(outputs[1].contains("test result: ok. 1 passed") && outputs[1].contains("cargo-exit=0"), "{}", outputs[1]);
    assert!(
        std::fs::read_to_string(ws.join("src/lib.rs")).unwrap().contains("a - b"),
        "the user's file waits for review"
    );
    let messages = progress_messages(&server);
    assert!(
        messages.iter().any(|m| m.starts_with("building the image of .devcontainer/devcontainer.json")),
        "{messages:?}"
    );
    let cargo_base = base_image("OPENHANDS_TEST_CARGO_BASE");
    let first_step = format!("building the image of .devcontainer/devcontainer.json: Step 1/4 : FROM {cargo_base}");
    assert!(messages.contains(&first_step), "the build's steps show: {messages:?}");
    let builds = builds_of(&ws);
    assert_eq!(builds.len(), 1, "{builds:?}");

    // The next conversation on the project builds nothing: the image of the same key is there.
    let shown = messages.len();
    let second = start_task(&mut server, "Check the toolchain");
    let out = output_containing(&server, &second, "second-probe");
    assert!(out.contains("cargo 1."), "{out}");
    wait_state(&server, &second, "finished");
    let later = progress_messages(&server);
    assert!(!later[shown..].iter().any(|m| m.contains("building")), "nothing was built again: {:?}", &later[shown..]);
    assert_eq!(builds_of(&ws), builds, "the same image");
    // What the dev container asks beyond the sandbox is said once, in words, naming each: not again for the second.
    let notices: Vec<String> = server
        .notifications("window/showMessage")
        .iter()
        .filter_map(|m| m["message"].as_str().map(str::to_owned))
        .filter(|m| m.contains("never applied"))
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    for named in [
        "initializeCommand (it would run on your machine)",
        "runArgs",
        "mounts",
        "privileged",
        "capAdd",
        "securityOpt",
        "forwardPorts",
        "appPort",
        "features",
        "postStartCommand",
    ] {
        assert!(notices[0].contains(named), "{named} is named: {}", notices[0]);
    }
    let order: Vec<String> =
        server.command("openhands.getEvents", json!({"conversationId": id})).unwrap().unwrap()["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["summary"].as_str().unwrap_or_default().to_owned())
            .collect();
    let setup_at = order.iter().position(|s| s.contains("post-create-ran")).unwrap();
    let task_at = order.iter().position(|s| s == "you: Make the test pass").unwrap();
    assert!(setup_at < task_at, "the set-up is the first step: {order:?}");
    // doctor says which image the folder's conversations use, and that it is built.
    let out = Command::new(openhands_lsp_tests::lsp_client::server_binary())
        .args(["doctor", "--json", "--quick", "--folder", ws.to_str().unwrap(), "--settings"])
        .arg(json!({"backend": "docker", "docker": {"image": image()}}).to_string())
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "sandbox image").cloned().unwrap();
    assert_eq!(row["status"], "ok", "{row}");
    let detail = row["detail"].as_str().unwrap();
    assert!(
        detail.contains("built from .devcontainer/Dockerfile (.devcontainer/devcontainer.json; built)"),
        "{detail}"
    );
    server.shutdown_and_exit().unwrap();
    let traces: Vec<_> = std::fs::read_dir(planted.path()).unwrap().collect();
    assert!(traces.is_empty(), "nothing of the dev container reached the host: {traces:?}");
}

#[test]
fn a_base_image_setting_gives_its_toolchain_and_unfit_images_and_broken_builds_are_said_in_words() {
    let _shared = PROJECT_IMAGES.read().unwrap_or_else(|p| p.into_inner());
    let (_dir, ws) = workspace();
    // OpenHands' own set-up script: its output is the first step; it fails, and the agent starts anyway.
    std::fs::create_dir_all(ws.join(".openhands")).unwrap();
    std::fs::write(ws.join(".openhands/setup.sh"), "echo setting-up as $(id -u) in $(pwd)\nexit 3\n").unwrap();
    let llm = ScriptedLlm::start_for_containers(vec![
        Step::terminal("make --version | head -1; command -v tmux; echo end-of-probe"),
        Step::finish("done"),
    ]);
    let make = base_image("OPENHANDS_TEST_MAKE_BASE");
    let (mut server, _) = Server::start(options(), docker_params(&llm, &ws, json!({"baseImage": make}))).unwrap();
    let id = start_task(&mut server, "Which make?");
    let setup = output_containing(&server, &id, "setting-up");
    assert!(setup.contains("in /workspace") && !setup.contains("as 0 "), "as the agent, where it works: {setup}");
    assert!(setup.contains("[set-up: .openhands/setup.sh failed (exit code 3); the agent starts anyway]"), "{setup}");
    let probe = output_containing(&server, &id, "end-of-probe");
    assert!(probe.contains("GNU Make 4."), "the base image's make: {probe}");
    assert!(probe.contains("/opt/openhands-lsp/agent/path/tmux"), "tmux comes with the agent-server: {probe}");
    wait_state(&server, &id, "finished");
    // openhands.status (the editors' status item) says which image the folder's conversations use.
    let report = server.command("openhands.status", json!({})).unwrap().unwrap();
    let row = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "sandbox image").cloned().unwrap();
    assert_eq!(row["status"], "ok", "{row}");
    let expected = format!("{}: {make}, from openhands.docker.baseImage (present)", ws.display());
    assert_eq!(row["detail"], expected.as_str(), "{row}");
    server.shutdown_and_exit().unwrap();

    // Alpine-like (musl): refused, saying what to use.
    let musl = base_image("OPENHANDS_TEST_MUSL_BASE");
    let (mut server, _) = Server::start(options(), docker_params(&llm, &ws, json!({"baseImage": musl}))).unwrap();
    let id = start_task(&mut server, "Anything");
    let error = wait_state(&server, &id, "error")["error"].as_str().unwrap().to_owned();
    assert!(error.contains("is built on musl") && error.contains("glibc-based") && error.contains("Debian"), "{error}");
    server.shutdown_and_exit().unwrap();

    // A Dockerfile that fails: the step is named, with its last lines.
    std::fs::write(ws.join(".devcontainer.json"), r#"{"build": {"dockerfile": "build/Dockerfile"}}"#).unwrap();
    std::fs::create_dir_all(ws.join("build")).unwrap();
    std::fs::write(ws.join("build/Dockerfile"), format!("FROM {make}\nRUN echo broken-step-output && exit 7\n"))
        .unwrap();
    let (mut server, _) = Server::start(options(), docker_params(&llm, &ws, json!({"baseImage": make}))).unwrap();
    let id = start_task(&mut server, "Anything");
    let error = wait_state(&server, &id, "error")["error"].as_str().unwrap().to_owned();
    assert!(error.starts_with("building the image of .devcontainer.json at Step 2/"), "{error}");
    assert!(error.contains(" : RUN echo broken-step-output && exit 7 failed: The command"), "{error}");
    assert!(!error.contains("Removing intermediate container"), "docker's bookkeeping is left out: {error}");
    assert!(error.contains("returned a non-zero code: 7") && error.contains("\nbroken-step-output"), "{error}");
    assert!(error.contains("The whole log: "), "{error}");
    server.shutdown_and_exit().unwrap();
}

#[test]
fn clean_images_removes_projects_builds_and_the_agent_server_volumes_no_container_uses() {
    let _alone = PROJECT_IMAGES.write().unwrap_or_else(|p| p.into_inner());
    let tag = format!("openhands-lsp-project/clean-test-{}:0123456789abcdef", std::process::id());
    docker(&["tag", &base_image("OPENHANDS_TEST_MAKE_BASE"), &tag]);
    let volume = format!("openhands-lsp-agent-r2-cleantest{}", std::process::id());
    docker(&["volume", "create", "--label", "dev.openhands.lsp.bundle=test", &volume]);
    let out = Command::new(openhands_lsp_tests::lsp_client::server_binary()).arg("clean-images").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("removed image {tag}")), "{said}");
    assert!(said.contains(&format!("removed volume {volume}")), "{said}");
    assert!(!Command::new("docker").args(["image", "inspect", &tag]).output().unwrap().status.success());
    assert!(!Command::new("docker").args(["volume", "inspect", &volume]).output().unwrap().status.success());
    // The base it was tagged from is no project's build: it stays.
    docker(&["image", "inspect", &base_image("OPENHANDS_TEST_MAKE_BASE")]);
}

/// The terminal run shows a build's steps as lines of their own, and a failed build once, as its outcome.
#[test]
fn a_terminal_run_shows_a_builds_steps_as_lines_and_its_failure_once() {
    let _shared = PROJECT_IMAGES.read().unwrap_or_else(|p| p.into_inner());
    let (_dir, ws) = workspace();
    std::fs::write(ws.join(".devcontainer.json"), r#"{"build": {"dockerfile": "Dockerfile"}}"#).unwrap();
    let make = base_image("OPENHANDS_TEST_MAKE_BASE");
    std::fs::write(ws.join("Dockerfile"), format!("FROM {make}\nRUN echo terminal-step-two && exit 4\n")).unwrap();
    let out = terminal_run(&ws, &image());
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let first = format!("  building the image of .devcontainer.json: Step 1/2 : FROM {make}");
    assert!(lines.contains(&first.as_str()), "{stdout}");
    assert!(
        lines.iter().any(|l| l.starts_with("  building the image of .devcontainer.json: Step 2/2 : RUN echo")),
        "{stdout}"
    );
    let said = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(said.matches("failed: The command").count(), 1, "the failure is said once: {said}");
}

/// An image made for another processor, as `docker save` and `docker load` carry one from an arm64 machine
/// (`docker import --platform` ignores the platform on this engine): the musl test base with `arm64` in its
/// configuration.
fn arm64_image() -> String {
    let name = format!("openhands-lsp-test/arm64-{}:1", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("saved");
    std::fs::create_dir(&saved).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("docker save \"$0\" | tar x -C {}", saved.display()))
        .arg(base_image("OPENHANDS_TEST_MUSL_BASE"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest_path = saved.join("manifest.json");
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let config_path = saved.join(manifest[0]["Config"].as_str().unwrap());
    let mut config: Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    config["architecture"] = json!("arm64");
    std::fs::write(saved.join("arm64.json"), config.to_string()).unwrap();
    manifest[0]["Config"] = json!("arm64.json");
    manifest[0]["RepoTags"] = json!([name]);
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    let out =
        Command::new("sh").arg("-c").arg(format!("tar c -C {} . | docker load", saved.display())).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    name
}

#[test]
fn a_set_up_past_its_time_limit_is_stopped_and_said_and_an_image_for_another_processor_is_refused() {
    let _shared = PROJECT_IMAGES.read().unwrap_or_else(|p| p.into_inner());
    let (_dir, ws) = workspace();
    std::fs::create_dir_all(ws.join(".openhands")).unwrap();
    std::fs::write(ws.join(".openhands/setup.sh"), "echo slow-set-up-begins\nsleep 120\necho never-printed\n").unwrap();
    // The agent looks for the set-up's sleep: stopped at the limit, nothing of it is left running.
    let look = "(for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline; echo; done) 2>/dev/null | grep -c '^sleep 120'; \
                echo probe-done";
    let llm = ScriptedLlm::start_for_containers(vec![Step::terminal(look), Step::finish("done")]);
    let make = base_image("OPENHANDS_TEST_MAKE_BASE");
    let settings = json!({"baseImage": make, "setupTimeoutSeconds": 5});
    let (mut server, _) = Server::start(options(), docker_params(&llm, &ws, settings)).unwrap();
    let id = start_task(&mut server, "Look around");
    let setup = output_containing(&server, &id, "slow-set-up-begins");
    assert!(!setup.contains("never-printed"), "{setup}");
    assert!(
        setup.ends_with(
            "[set-up: .openhands/setup.sh did not finish within 5 s (openhands.docker.setupTimeoutSeconds) and was \
             stopped; the agent starts anyway]"
        ),
        "{setup}"
    );
    let probe = output_containing(&server, &id, "probe-done");
    assert!(probe.starts_with("0\n"), "the set-up's command was stopped: {probe}");
    wait_state(&server, &id, "finished");
    server.shutdown_and_exit().unwrap();

    let arm64 = arm64_image();
    let (mut server, _) = Server::start(options(), docker_params(&llm, &ws, json!({"baseImage": arm64}))).unwrap();
    let id = start_task(&mut server, "Anything");
    let error = wait_state(&server, &id, "error")["error"].as_str().unwrap().to_owned();
    assert!(error.contains(&format!("the project's image {arm64} is built for arm64")), "{error}");
    assert!(error.contains("amd64 variant"), "{error}");
    server.shutdown_and_exit().unwrap();
    docker(&["rmi", &arm64]);
}

/// A project's image whose shell start-up takes its time and prints, as conda's or nvm's does in dev containers
/// (`/etc/bash.bashrc`, read by every interactive bash): the agent's first command waits for it and reports what it
/// really did, and the slow start-up is named (the process backend's own test: tests/tests/shell.rs).
#[test]
fn a_project_images_slow_shell_start_up_is_waited_for_and_its_first_command_reports_what_it_did() {
    let _shared = PROJECT_IMAGES.read().unwrap_or_else(|p| p.into_inner());
    let (_dir, ws) = workspace();
    let make = base_image("OPENHANDS_TEST_MAKE_BASE");
    let start_up =
        r#"echo '(conda-like) activating base...'\nsleep 4\nPS1='(base) > '\nexport PROMPT_COMMAND='echo -n'\n"#;
    std::fs::write(ws.join(".devcontainer.json"), r#"{"build": {"dockerfile": "Dockerfile"}}"#).unwrap();
    std::fs::write(ws.join("Dockerfile"), format!("FROM {make}\nRUN printf \"{start_up}\" >> /etc/bash.bashrc\n"))
        .unwrap();
    // (`exit` at the top would end the agent's shell: the agent-server resets its terminal then.)
    let first = "sleep 3; echo slept-well; sh -c 'exit 5'";
    let llm = ScriptedLlm::start_for_containers(vec![Step::terminal(first), Step::finish("done")]);
    let (mut server, _) = Server::start(options(), docker_params(&llm, &ws, json!({}))).unwrap();
    let id = start_task(&mut server, "Check the shell");
    let e = openhands_lsp_tests::agent::wait_event(&server, &id, "the first command's observation", |e| {
        e["kind"] == "ObservationEvent" && e["raw"]["observation"]["command"] == first
    });
    let raw = &e["raw"]["observation"];
    let text: String =
        raw["content"].as_array().unwrap().iter().filter_map(|c| c["text"].as_str()).collect::<Vec<_>>().join("");
    assert!(text.contains("slept-well"), "the command's real output: {text:?}");
    assert_eq!(raw["exit_code"], 5, "its real exit code: {text:?}");
    assert!(!text.contains("activating base"), "the start-up's output is not the command's: {text:?}");
    assert!(text.contains("[The terminal's shell took"), "the slow start-up is named: {text:?}");
    wait_state(&server, &id, "finished");
    server.shutdown_and_exit().unwrap();
}
