//! The docker backend on a remote Docker engine (`DOCKER_HOST=tcp://…` with TLS): a second `dockerd` in a network
//! namespace of its own (`openhands_lsp_tests::remote_engine`), which can mount nothing of this machine. The workspace
//! goes up as an archive, the agent's changes come back into the conversation's copy for the usual review and apply,
//! the agent-server is reached at the engine's host, and the agent's memory goes up and comes back with the
//! conversation so that it goes on after a restart. The same engine is then reached over SSH
//! (`DOCKER_HOST=ssh://…`), as the docker CLI reaches one.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use openhands_lsp_tests::agent::{RUN_TIMEOUT, options, reviewed_files, start_task, wait_state, wait_until};
use openhands_lsp_tests::docker::{docker, docker_params, image, output_containing};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::remote_engine::{ENGINE_ADDRESS, HOST_ADDRESS, RemoteEngine, SshAccess};
use openhands_lsp_tests::repo::git;
use openhands_lsp_tests::{Options, Server};
use serde_json::{Value, json};

/// A repository of the user's: a file the agent changes, one it deletes, a script whose mode it changes, and build
/// outputs git ignores.
fn repository() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().canonicalize().unwrap();
    git(&ws, &["init", "-q"]);
    git(&ws, &["config", "user.email", "dev@example.com"]);
    git(&ws, &["config", "user.name", "Dev"]);
    std::fs::write(ws.join("seed.txt"), "seeded by the user\n").unwrap();
    std::fs::write(ws.join("gone.txt"), "the agent removes this\n").unwrap();
    std::fs::write(ws.join("tool.sh"), "#!/bin/sh\necho tool\n").unwrap();
    std::fs::set_permissions(ws.join("tool.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(ws.join(".gitignore"), "target/\n").unwrap();
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-qm", "the user's first commit"]);
    (tmp, ws)
}

fn session(llm: &ScriptedLlm, ws: &Path, state: &Path, engine: &RemoteEngine) -> Server {
    session_with(llm, ws, state, engine.env(), json!({"warmPool": 1}))
}

fn session_with(llm: &ScriptedLlm, ws: &Path, state: &Path, env: Vec<(String, String)>, docker: Value) -> Server {
    let mut params = docker_params(llm, ws, docker);
    // The engine's containers reach this machine at its address on the engine's network, not host-gateway's.
    let port = llm.addr.port();
    params["initializationOptions"]["llm"]["baseUrl"] = json!(format!("http://{HOST_ADDRESS}:{port}/v1"));
    let mut opts = Options { state_home: Some(state.to_path_buf()), ..options() };
    for (key, value) in env {
        opts = opts.env(&key, value);
    }
    Server::start(opts, params).unwrap().0
}

fn doctor(env: &[(String, String)]) -> Value {
    doctor_with(env, json!({}))
}

fn doctor_with(env: &[(String, String)], docker: Value) -> Value {
    let mut settings = json!({"backend": "docker", "docker": {"image": image()}});
    openhands_lsp_tests::lsp_client::merge(&mut settings["docker"], docker);
    let settings = settings.to_string();
    let out = Command::new(openhands_lsp_tests::lsp_client::server_binary())
        .args(["doctor", "--json", "--settings", &settings])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "docker").cloned().unwrap()
}

fn executable(path: &Path) -> bool {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o111 != 0
}

#[test]
fn a_task_on_a_remote_engine_gets_the_workspace_uploaded_and_its_changes_back_for_review_and_goes_on_later() {
    let engine = RemoteEngine::start(&image());

    // doctor names the engine, and says it is remote; certificates it cannot read are said as such.
    let row = doctor(&engine.env());
    assert_eq!(row["status"], "ok", "{row}\n{}", engine.log());
    let detail = row["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("remote engine at tcp://{ENGINE_ADDRESS}:2376 (TLS)")), "{row}");
    assert!(detail.contains("uploaded") && detail.contains("no warm pool"), "{row}");
    let no_certs = tempfile::tempdir().unwrap();
    let mut wrong = engine.env();
    wrong.retain(|(k, _)| k != "DOCKER_CERT_PATH");
    wrong.push(("DOCKER_CERT_PATH".into(), no_certs.path().to_str().unwrap().into()));
    let row = doctor(&wrong);
    assert_eq!(row["status"], "error", "{row}");
    assert!(row["detail"].as_str().unwrap().contains("cannot read the TLS certificates"), "{row}");

    let (_repo, ws) = repository();
    let state = tempfile::tempdir().unwrap();
    let llm = ScriptedLlm::start_for_containers(vec![
        Step::terminal(
            "cat seed.txt; ls -l tool.sh; git status --short; echo status-done; git log --format=%s; echo end-of-probe",
        ),
        Step::terminal(
            "echo 'changed on the remote engine' >> seed.txt && rm gone.txt && chmod -x tool.sh && \
             mkdir -p target src && echo built > target/app.bin && printf '#!/bin/sh\\necho hi\\n' > run.sh && \
             chmod +x run.sh && echo new > src/new.txt && echo end-of-edit",
        ),
        Step::finish("edited on the remote engine").gated("finish"),
        Step::terminal("cat seed.txt; echo two > two.txt; echo end-of-second"),
        Step::finish("second turn on the remote engine"),
    ]);
    let mut server = session(&llm, &ws, state.path(), &engine);
    let id = start_task(&mut server, "Change things remotely");

    let probe = output_containing(&server, &id, "end-of-probe");
    let said = server.messages().iter().map(Value::to_string).find(|m| m.contains("uploading the workspace"));
    let said = said.unwrap_or_else(|| panic!("the start says it uploads the workspace: {:?}", server.messages()));
    assert!(said.contains(&format!("tcp://{ENGINE_ADDRESS}:2376")), "{said}");
    assert!(probe.contains("seeded by the user"), "the workspace was uploaded: {probe}");
    assert!(probe.contains("-rwx"), "with its modes: {probe}");
    assert!(probe.contains("status-done") && !probe.contains("not a git repository"), "git works there: {probe}");
    assert!(probe.contains("the user's first commit"), "with the history: {probe}");

    // The container is the remote engine's, mounts nothing, and publishes the port on the engine's host.
    let filter = format!("label=dev.openhands.lsp.conversation={id}");
    let container = engine.docker(&["ps", "-q", "--no-trunc", "--filter", &filter]);
    assert!(!container.is_empty(), "the conversation's container runs on the remote engine");
    let info: Value = serde_json::from_str::<Value>(&engine.docker(&["inspect", &container])).unwrap()[0].clone();
    assert_eq!(info["Mounts"], json!([]), "nothing of this machine is mounted: {}", info["Mounts"]);
    assert_eq!(info["HostConfig"]["Binds"], Value::Null);
    assert_eq!(info["HostConfig"]["PortBindings"]["8431/tcp"][0]["HostIp"], "", "{}", info["HostConfig"]);
    assert_eq!(docker(&["ps", "-aq", "--filter", &filter]), "", "nothing of it on this machine's engine");
    assert_eq!(
        engine.docker(&["ps", "-aq", "--filter", "label=dev.openhands.lsp.role=pool"]),
        "",
        "no warm pool on a remote engine"
    );
    output_containing(&server, &id, "end-of-edit");
    let worktree = state.path().join(format!("openhands-lsp/conversations/{id}/worktree"));
    assert!(worktree.join("gone.txt").exists(), "the copy changes only when the changes are brought back");

    llm.open_gate("finish");
    let done = wait_state(&server, &id, "finished");
    assert_eq!(done["finalMessage"], "edited on the remote engine");
    let (files, review) = reviewed_files(&mut server, &id);
    let expected = [
        ("gone.txt", "deleted"),
        ("run.sh", "added"),
        ("seed.txt", "modified"),
        ("src/new.txt", "added"),
        ("tool.sh", "modified"),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(p, s)| (p.to_string(), s.to_string())).collect();
    assert_eq!(files, expected, "the agent's changes, not its ignored build output: {review}");
    assert!(!worktree.join("target").exists(), "ignored build output stays on the engine");
    assert!(executable(&worktree.join("run.sh")) && !executable(&worktree.join("tool.sh")), "modes came back");
    assert!(!ws.join("run.sh").exists(), "the user's folder changes only on apply");
    server.command("openhands.applyChanges", json!({"conversationId": id})).unwrap().unwrap();
    let edit = server.server_requests("workspace/applyEdit");
    let edit = edit.last().expect("an applyEdit to the user's folder").to_string();
    assert!(edit.contains("changed on the remote engine") && edit.contains("seed.txt"), "{edit}");
    server.shutdown_and_exit().unwrap();
    wait_until("the remote engine's containers to be removed", RUN_TIMEOUT, || {
        engine.docker(&["ps", "-aq", "--filter", &filter]).is_empty()
    });
    assert!(!server.stderr_complete().contains("sk-scripted-test-key"), "the LLM key is never logged");

    // A new session: the conversation goes on in a new container of the engine, the agent's memory uploaded.
    let requests_before = llm.requests().len();
    let mut second = session(&llm, &ws, state.path(), &engine);
    second
        .command("openhands.sendMessage", json!({"conversationId": id, "text": "Now write two.txt"}))
        .unwrap()
        .unwrap();
    let later = output_containing(&second, &id, "end-of-second");
    assert!(later.contains("changed on the remote engine"), "the copy went up again as the agent left it: {later}");
    let ended = second
        .wait_for("the second turn to end", RUN_TIMEOUT, |msgs| {
            msgs.iter()
                .filter(|m| m["method"] == "openhands/conversationChanged" && m["params"]["id"] == id)
                .map(|m| &m["params"])
                .find(|p| p["finalMessage"] == "second turn on the remote engine" || p["state"] == "error")
                .cloned()
        })
        .unwrap();
    assert_eq!(ended["state"], "finished", "{ended}");
    let request = llm.requests()[requests_before].clone();
    let history = request.body["messages"].to_string();
    assert!(history.contains("Change things remotely") && history.contains("end-of-edit"), "the agent's memory");
    assert!(history.contains("Now write two.txt"));
    assert_eq!(std::fs::read_to_string(worktree.join("two.txt")).unwrap(), "two\n");
    second.shutdown_and_exit().unwrap();

    batch_on_the_remote_engine(&engine, engine.env(), json!({}));
    over_ssh(&engine);
}

/// `run --tasks` on the same engine: four tasks, two at a time, their patches made from what came back.
fn batch_on_the_remote_engine(engine: &RemoteEngine, env: Vec<(String, String)>, docker: Value) {
    let (_repo, ws) = repository();
    let ids = ["r01", "r02", "r03", "r04"];
    let scripts = ids
        .iter()
        .map(|id| {
            let write = Step::terminal(&format!("echo 'note of {id}' > note-{id}.txt"));
            (format!("[[task {id}]]"), vec![write, Step::finish(&format!("{id} done"))])
        })
        .collect();
    let llm = ScriptedLlm::start_per_task(scripts);
    let tasks: String = ids
        .iter()
        .map(|id| {
            let line =
                json!({"instance_id": id, "repo": ws, "problem_statement": format!("[[task {id}]] Leave a note.")});
            format!("{line}\n")
        })
        .collect();
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("tasks.jsonl"), tasks).unwrap();
    let mut settings = json!({
        "llm": {"model": "openai/stub", "baseUrl": format!("http://{HOST_ADDRESS}:{}/v1", llm.addr.port()), "numRetries": 0},
        "confirmation": "never",
        "docker": {"image": image(), "startupTimeoutSeconds": 180},
    });
    openhands_lsp_tests::lsp_client::merge(&mut settings["docker"], docker);
    let state = tempfile::tempdir().unwrap();
    let run = Command::new(openhands_lsp_tests::lsp_client::server_binary())
        .args(["run", "--tasks", "tasks.jsonl", "--parallel", "2", "--out", "predictions.jsonl"])
        .args(["--backend", "docker", "--settings", &settings.to_string()])
        .current_dir(out.path())
        .env("XDG_STATE_HOME", state.path())
        .env("LLM_API_KEY", "sk-remote-batch-canary")
        .envs(env)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "{text}");
    let lines = std::fs::read_to_string(out.path().join("predictions.jsonl")).unwrap();
    let predictions: Vec<Value> = lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(predictions.len(), 4, "{text}");
    for p in &predictions {
        let id = p["instance_id"].as_str().unwrap();
        assert_eq!(p["status"], "finished", "{p}");
        let patch = p["model_patch"].as_str().unwrap();
        assert!(patch.contains(&format!("+++ b/note-{id}.txt")) && patch.contains(&format!("+note of {id}")), "{p}");
    }
    assert!(!text.contains("sk-remote-batch-canary"), "{text}");
    assert_eq!(engine.docker(&["ps", "-aq"]), "", "no container of the run is left on the engine");
}

/// The same engine over SSH (`DOCKER_HOST=ssh://root@10.203.0.2`; the key and the host's key in an SSH configuration
/// file that `openhands.docker.sshConfig` names): its API through `docker system dial-stdio` on that host, the
/// agent-server's port published on that host's loopback and forwarded here through the same SSH connection.
fn over_ssh(engine: &RemoteEngine) {
    let access = engine.over_ssh();
    let env = vec![("DOCKER_HOST".to_owned(), access.docker_host())];
    let config = |path: std::path::PathBuf| json!({"sshConfig": path});

    let row = doctor_with(&env, config(access.config()));
    assert_eq!(row["status"], "ok", "{row}\n{}", access.log());
    let detail = row["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("remote engine at ssh://root@{ENGINE_ADDRESS} (over SSH)")), "{row}");
    assert!(detail.contains("forwarded through SSH"), "{row}");
    let row = doctor_with(&env, config(access.config_without_host_key()));
    assert_eq!(row["status"], "error", "{row}");
    let detail = row["detail"].as_str().unwrap();
    assert!(detail.contains("the host's key is not known") && detail.contains("ssh root@10.203.0.2"), "{row}");
    let row = doctor_with(&env, config(access.config_with_another_key()));
    let detail = row["detail"].as_str().unwrap();
    assert!(detail.contains("the login was refused") && detail.contains("ssh-agent"), "{row}");
    let no_docker = [("DOCKER_HOST".to_owned(), access.docker_host_without_docker())];
    let row = doctor_with(&no_docker, config(access.config()));
    let detail = row["detail"].as_str().unwrap();
    assert!(detail.contains("the docker command is not on that host's PATH"), "{row}\n{}", access.log());

    let (_repo, ws) = repository();
    let state = tempfile::tempdir().unwrap();
    let llm = ScriptedLlm::start_for_containers(vec![
        Step::terminal("cat seed.txt; echo 'changed over ssh' >> seed.txt; echo end-of-ssh-edit"),
        Step::finish("edited over ssh").gated("finish"),
        Step::terminal("echo end-of-second-over-ssh"),
        Step::finish("second task over ssh"),
    ]);
    let docker = json!({"warmPool": 1, "sshConfig": access.config()});
    let mut server = session_with(&llm, &ws, state.path(), env.clone(), docker);
    let id = start_task(&mut server, "Change a file over SSH");
    let said = output_containing(&server, &id, "end-of-ssh-edit");
    assert!(said.contains("seeded by the user"), "the workspace went up over SSH: {said}");
    let filter = format!("label=dev.openhands.lsp.conversation={id}");
    let container = engine.docker(&["ps", "-q", "--no-trunc", "--filter", &filter]);
    let info: Value = serde_json::from_str::<Value>(&engine.docker(&["inspect", &container])).unwrap()[0].clone();
    assert_eq!(info["Mounts"], json!([]));
    let binding = &info["HostConfig"]["PortBindings"]["8431/tcp"][0];
    assert_eq!(binding["HostIp"], "127.0.0.1", "published on the engine host's loopback only: {binding}");
    llm.open_gate("finish");
    let done = wait_state(&server, &id, "finished");
    assert_eq!(done["finalMessage"], "edited over ssh");
    let (files, review) = reviewed_files(&mut server, &id);
    assert_eq!(files, vec![("seed.txt".to_owned(), "modified".to_owned())], "{review}");
    server.command("openhands.applyChanges", json!({"conversationId": id})).unwrap().unwrap();
    let edit = server.server_requests("workspace/applyEdit");
    assert!(edit.last().is_some_and(|e| e.to_string().contains("changed over ssh")), "{edit:?}");

    // The SSH connection drops (a network, a reboot): the next task connects again, one connection as before.
    let masters = ssh_processes().into_iter().filter(|p| p.contains(" -M ")).collect::<Vec<_>>();
    assert_eq!(masters.len(), 1, "one SSH connection serves every request and port: {masters:?}");
    let pid = masters[0].split_whitespace().next().unwrap().to_owned();
    assert!(Command::new("kill").args(["-9", &pid]).status().unwrap().success());
    let second = start_task(&mut server, "A second task over SSH");
    output_containing(&server, &second, "end-of-second-over-ssh");
    assert_eq!(wait_state(&server, &second, "finished")["finalMessage"], "second task over ssh");
    let masters = ssh_processes().into_iter().filter(|p| p.contains(" -M ")).collect::<Vec<_>>();
    assert!(masters.len() == 1 && !masters[0].starts_with(&format!("{pid} ")), "connected again: {masters:?}");

    // Killed outright: its watcher removes the container through SSH too, and none of its ssh processes is left.
    assert!(!ssh_processes().is_empty(), "the server holds one SSH connection to the engine's host");
    server.kill();
    wait_until("the killed server's container to be removed over SSH", RUN_TIMEOUT, || {
        engine.docker(&["ps", "-aq", "--filter", &filter]).is_empty()
    });
    wait_until("no ssh of the server's to be left", RUN_TIMEOUT, || ssh_processes().is_empty());
    assert!(!server.stderr_complete().contains("sk-scripted-test-key"), "the LLM key is never logged");

    // A batch over SSH: two containers at a time, each agent-server's port forwarded through the one connection.
    batch_on_the_remote_engine(engine, env, config(access.config()));
    drop::<SshAccess>(access);
}

/// The ssh processes openhands-lsp runs (theirs have a control socket under /tmp/ohlsp-ssh-…).
fn ssh_processes() -> Vec<String> {
    let out = Command::new("pgrep").args(["-a", "-f", "ohlsp-ssh-"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.contains("pgrep")).map(str::to_owned).collect()
}
