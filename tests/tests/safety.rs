//! Safety, attacked: consent is never assumed, conversation ids never become paths outside the state directory,
//! review and apply never follow the agent's symbolic links, and secrets never rest on disk. The real binary, the
//! real agent-server (process backend, and docker where a test says so), real git, the scripted LLM.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use openhands_lsp_tests::agent::{
    RUN_TIMEOUT, assert_secrets_absent, init_params, on_docker, options, wait_event, wait_state,
};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::repo::{files_under, git};
use openhands_lsp_tests::{Options, Server};
use serde_json::{Value, json};

fn workspace() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().canonicalize().unwrap();
    (dir, ws)
}

/// Waits until the user has been asked `n` times for a confirmation.
fn wait_asked(server: &Server, n: usize) -> Value {
    server
        .wait_for(&format!("confirmation prompt #{n}"), RUN_TIMEOUT, |msgs| {
            msgs.iter()
                .filter(|m| m["method"] == "window/showMessageRequest" && m["id"].is_number())
                .nth(n - 1)
                .map(|m| m["params"].clone())
        })
        .unwrap()
}

/// A session in `confirmation: always` whose prompts the user dismisses (Escape, closing the toast).
fn dismissing_session(llm: &ScriptedLlm, ws: &Path, opts: Options) -> Server {
    let (server, _) = Server::start(opts, init_params(llm, ws, json!({"confirmation": "always"}))).unwrap();
    server.on_request("window/showMessageRequest", |_| Ok(Value::Null));
    server
}

fn start(server: &mut Server, instruction: &str) -> String {
    let result = server.command("openhands.startTask", json!({"instruction": instruction})).unwrap().unwrap();
    result["conversationId"].as_str().unwrap().to_owned()
}

fn last_state(server: &Server, id: &str) -> String {
    server
        .notifications("openhands/conversationChanged")
        .iter()
        .rev()
        .find(|c| c["id"] == id)
        .map(|c| c["state"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

#[test]
fn a_dismissed_confirmation_is_asked_again_after_pause_and_resume_and_never_assumed() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start(vec![Step::terminal("echo ran > c.txt"), Step::finish("after the answer")]);
    let mut server = dismissing_session(&llm, &ws, options());
    let id = start(&mut server, "Ask first");
    let first = wait_asked(&server, 1);
    assert!(first["message"].as_str().unwrap().contains("$ echo ran > c.txt"), "{first}");
    wait_state(&server, &id, "waiting_for_confirmation");

    server.command("openhands.pause", json!({"conversationId": id})).unwrap().unwrap();
    server.command("openhands.resume", json!({"conversationId": id})).unwrap().unwrap();
    // Resume asks again instead of running what was never allowed.
    let again = wait_asked(&server, 2);
    assert!(again["message"].as_str().unwrap().contains("$ echo ran > c.txt"), "{again}");
    assert_eq!(last_state(&server, &id), "waiting_for_confirmation");
    assert!(!ws.join("c.txt").exists(), "the pending command ran on resume without an answer");
    assert_eq!(llm.requests().len(), 1, "the agent did not move on");

    // A second pause/resume, then the dismissed prompt is answered later, from the command.
    server.command("openhands.pause", json!({"conversationId": id})).unwrap().unwrap();
    server.command("openhands.resume", json!({"conversationId": id})).unwrap().unwrap();
    wait_asked(&server, 3);
    assert!(!ws.join("c.txt").exists());
    server
        .command(
            "openhands.respondToConfirmation",
            json!({"conversationId": id, "decision": "reject", "reason": "not now"}),
        )
        .unwrap()
        .unwrap();
    wait_state(&server, &id, "finished");
    assert!(!ws.join("c.txt").exists(), "rejected: never ran");
    let told = llm.requests()[1].body.to_string();
    assert!(told.contains("not now"), "the agent was told the reason: {told}");
}

#[test]
fn a_message_while_an_action_waits_is_delivered_and_the_action_stays_pending() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start(vec![Step::terminal("echo ran > c.txt"), Step::finish("done")]);
    let mut server = dismissing_session(&llm, &ws, options());
    let id = start(&mut server, "Ask first");
    wait_asked(&server, 1);
    wait_state(&server, &id, "waiting_for_confirmation");

    server
        .command("openhands.sendMessage", json!({"conversationId": id, "text": "What will that command do?"}))
        .unwrap()
        .unwrap();
    // The message is in the conversation; the action still waits, and the user is asked again.
    wait_event(&server, &id, "the user's message", |e| {
        e["kind"] == "MessageEvent" && e["source"] == "user" && e["detail"].as_str().unwrap_or("").contains("What will")
    });
    wait_asked(&server, 2);
    assert_eq!(last_state(&server, &id), "waiting_for_confirmation");
    assert!(!ws.join("c.txt").exists(), "a message is not consent");
    assert_eq!(llm.requests().len(), 1);

    server
        .command("openhands.respondToConfirmation", json!({"conversationId": id, "decision": "allow"}))
        .unwrap()
        .unwrap();
    wait_state(&server, &id, "finished");
    assert_eq!(std::fs::read_to_string(ws.join("c.txt")).unwrap(), "ran\n", "allowed: it ran");
    let next = llm.requests()[1].body.to_string();
    assert!(next.contains("What will that command do?"), "the agent read the message once allowed: {next}");
}

#[test]
fn a_waiting_action_never_runs_after_the_server_restarts() {
    let (_dir, ws) = workspace();
    let state = tempfile::tempdir().unwrap();
    let llm = ScriptedLlm::start(vec![Step::terminal("echo ran > c.txt"), Step::finish("done")]);
    let opts = Options { state_home: Some(state.path().to_path_buf()), ..options() };
    let mut first = dismissing_session(&llm, &ws, opts.clone());
    let id = start(&mut first, "Ask first");
    wait_asked(&first, 1);
    wait_state(&first, &id, "waiting_for_confirmation");
    first.shutdown_and_exit().unwrap();

    // The editor reloads: a new server on the same history.
    let mut second = dismissing_session(&llm, &ws, opts);
    let listed = second.command("openhands.listConversations", json!({})).unwrap().unwrap();
    let conversation = listed["conversations"].as_array().unwrap().iter().find(|c| c["id"] == id.as_str()).cloned();
    let conversation = conversation.expect("listed after the restart");
    assert_eq!(conversation["state"], "stopped", "{conversation}");
    assert_eq!(conversation["live"], false);
    for (command, args) in [
        ("openhands.resume", json!({"conversationId": id})),
        ("openhands.respondToConfirmation", json!({"conversationId": id, "decision": "allow"})),
    ] {
        let err = second.command(command, args).unwrap().expect_err(command);
        assert!(err.message.contains("not running in this session"), "{command}: {}", err.message);
    }
    // A message goes on with the conversation: delivered without a turn, and the waiting action is asked again.
    second.command("openhands.sendMessage", json!({"conversationId": id, "text": "go on"})).unwrap().unwrap();
    wait_asked(&second, 1);
    wait_state(&second, &id, "waiting_for_confirmation");
    second.shutdown_and_exit().unwrap();
    assert!(!ws.join("c.txt").exists(), "the action waiting at the restart never ran");
    assert_eq!(llm.requests().len(), 1, "no LLM call after the restart");
}

/// Ids that are not of the server's own form, for every command that takes one.
#[test]
fn conversation_ids_are_validated_before_any_use() {
    let (_dir, ws) = workspace();
    // A crafted conversation folder inside the user's workspace, naming a folder to delete.
    let victim = ws.join("precious");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("keep.txt"), "mine\n").unwrap();
    let evil = ws.join(".hidden/evil");
    std::fs::create_dir_all(&evil).unwrap();
    let crafted = json!({
        "id": "../../../ws/.hidden/evil", "title": "t", "instruction": "i", "workspace": ws, "backend": "process",
        "state": "finished", "createdAt": 1, "updatedAt": 1,
        "isolation": {"root": victim, "dest": victim, "repo": null, "branch": null, "baseline": "0000000000000000000000000000000000000000"}
    });
    std::fs::write(evil.join("meta.json"), crafted.to_string()).unwrap();
    std::fs::write(evil.join("events.jsonl"), "{\"kind\":\"MessageEvent\",\"id\":\"x\"}\n").unwrap();

    let llm = ScriptedLlm::start(vec![]);
    let (mut server, _) = Server::start(options(), init_params(&llm, &ws, json!({}))).unwrap();
    let state = server.state_home.join("openhands-lsp/conversations");
    let traversal = pathdiff(&evil, &state);
    let bad_ids = [
        traversal.as_str(),
        "../../../ws/.hidden/evil",
        evil.to_str().unwrap(),
        "/etc",
        "..",
        "",
        "0123456789ABCDEF0123456789ABCDEF",
    ];
    let commands: &[(&str, Value)] = &[
        ("openhands.getEvents", json!({})),
        ("openhands.reviewChanges", json!({})),
        ("openhands.applyChanges", json!({})),
        ("openhands.pushChanges", json!({})),
        ("openhands.discardChanges", json!({})),
        ("openhands.createPullRequest", json!({})),
        ("openhands.pause", json!({})),
        ("openhands.resume", json!({})),
        ("openhands.stop", json!({})),
        ("openhands.sendMessage", json!({"text": "hi"})),
        ("openhands.respondToConfirmation", json!({"decision": "allow"})),
    ];
    for id in bad_ids {
        for (command, extra) in commands {
            let mut args = extra.clone();
            args["conversationId"] = json!(id);
            let err = server.command(command, args).unwrap().expect_err(command);
            assert_eq!(err.code, -32602, "{command} {id:?}: {}", err.message);
            assert!(
                err.message.contains("arguments[0].conversationId") && err.message.contains("not a conversation id"),
                "{command} {id:?}: {}",
                err.message
            );
        }
    }
    assert!(victim.join("keep.txt").exists(), "nothing named by a crafted meta.json was deleted");
    assert!(evil.join("meta.json").exists());
    server.shutdown_and_exit().unwrap();
}

/// `target` relative to `base` (both absolute): the `../..` a traversal would use.
fn pathdiff(target: &Path, base: &Path) -> String {
    let (t, b): (Vec<_>, Vec<_>) = (target.components().collect(), base.components().collect());
    let common = t.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out: Vec<String> = vec!["..".into(); b.len() - common];
    out.extend(t[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    out.join("/")
}

#[test]
fn a_doctored_meta_json_in_the_state_directory_deletes_nothing_outside_it() {
    let (_dir, ws) = workspace();
    let outside = ws.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("keep.txt"), "mine\n").unwrap();
    git(&ws, &["init", "-q"]);
    git(&ws, &["commit", "-q", "--allow-empty", "-m", "init"]);
    git(&ws, &["branch", "main-work"]);
    let state = tempfile::tempdir().unwrap();
    let id = "0123456789abcdef0123456789abcdef";
    let dir = state.path().join("openhands-lsp/conversations").join(id);
    std::fs::create_dir_all(&dir).unwrap();
    let head = git(&ws, &["rev-parse", "HEAD"]);
    for (dest, branch, why) in [
        (outside.clone(), "openhands/x", "is not inside the conversation's folder"),
        (dir.join("worktree"), "main-work", "is not one openhands-lsp made"),
    ] {
        let meta = json!({
            "id": id, "title": "t", "instruction": "i", "workspace": ws, "backend": "process", "state": "finished",
            "createdAt": 1, "updatedAt": 1,
            "isolation": {"root": dest, "dest": dest, "repo": ws, "branch": branch, "baseline": head.trim()}
        });
        std::fs::write(dir.join("meta.json"), meta.to_string()).unwrap();
        let llm = ScriptedLlm::start(vec![]);
        let opts = Options { state_home: Some(state.path().to_path_buf()), ..options() };
        let (mut server, _) = Server::start(opts, init_params(&llm, &ws, json!({}))).unwrap();
        for command in ["openhands.discardChanges", "openhands.reviewChanges"] {
            let err = server.command(command, json!({"conversationId": id})).unwrap().expect_err(command);
            assert!(err.message.contains(why), "{command}: {}", err.message);
        }
        server.shutdown_and_exit().unwrap();
    }
    assert!(outside.join("keep.txt").exists(), "the folder a doctored meta.json named is still there");
    assert!(git(&ws, &["branch", "--list", "main-work"]).contains("main-work"), "the user's branch is still there");
}

/// The user's repository for the symlink test.
fn user_repo() -> (tempfile::TempDir, PathBuf) {
    let (dir, ws) = workspace();
    git(&ws, &["init", "-q"]);
    std::fs::write(ws.join("a.txt"), "one\ntwo\n").unwrap();
    std::fs::write(ws.join("victim.txt"), "the user's text\n").unwrap();
    std::fs::write(ws.join("run.sh"), "#!/bin/sh\necho run\n").unwrap();
    std::fs::write(ws.join("keep.txt"), "kept\n").unwrap();
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-qm", "init"]);
    (dir, ws)
}

/// `text` with LSP text `edits` applied (ASCII text: characters are bytes), last first as an editor does.
fn with_edits(text: &str, edits: &[Value]) -> String {
    let offset = |p: &Value| {
        let (line, character) = (p["line"].as_u64().unwrap() as usize, p["character"].as_u64().unwrap() as usize);
        let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
        (start + character).min(text.len())
    };
    let mut out = text.to_owned();
    let mut sorted: Vec<&Value> = edits.iter().collect();
    sorted.sort_by_key(|e| std::cmp::Reverse(offset(&e["range"]["start"])));
    for e in sorted {
        out.replace_range(offset(&e["range"]["start"])..offset(&e["range"]["end"]), e["newText"].as_str().unwrap());
    }
    out
}

/// Writes what a `WorkspaceEdit` says, as the editor would.
fn apply_to_disk(params: &Value) {
    for change in params["edit"]["documentChanges"].as_array().into_iter().flatten() {
        let uri = change["textDocument"]["uri"].as_str().or_else(|| change["uri"].as_str()).unwrap();
        let path = PathBuf::from(uri.strip_prefix("file://").unwrap());
        match change["kind"].as_str() {
            Some("create") => std::fs::write(&path, "").unwrap(),
            Some(other) => panic!("unexpected operation {other}"),
            None => {
                let edits = change["edits"].as_array().unwrap();
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                std::fs::write(&path, with_edits(&text, edits)).unwrap();
            }
        }
    }
}

fn symlinks_are_changes_of_their_own(docker: bool) {
    let (_dir, ws) = user_repo();
    let agent = "ln -s /etc/passwd passwd_link && rm victim.txt && ln -s /etc/hostname victim.txt \
                 && python3 -m venv --without-pip .venv && mkdir -p pkg/lib && ln -s lib pkg/lib64 \
                 && ln -s ../outside up_link \
                 && ln -s a.txt inside_link && chmod +x run.sh \
                 && printf 'one\\nTWO\\n' > a.txt && ls -la";
    let script = vec![Step::terminal(agent), Step::finish("links made")];
    let llm = if docker { ScriptedLlm::start_for_containers(script) } else { ScriptedLlm::start(script) };
    let mut params = init_params(&llm, &ws, json!({}));
    params["initializationOptions"].as_object_mut().unwrap().remove("isolation");
    params["capabilities"]["workspace"] = json!({"workspaceEdit": {"documentChanges": true,
        "resourceOperations": ["create", "rename", "delete"], "changeAnnotationSupport": {"groupsOnLabel": true}}});
    if docker {
        on_docker(&mut params, &llm, json!({}));
    }
    let (mut server, _) = Server::start(options(), params).unwrap();
    server.on_request("workspace/applyEdit", |p| {
        apply_to_disk(p);
        Ok(json!({"applied": true}))
    });
    let id = start(&mut server, "Make links");
    wait_state(&server, &id, "finished");

    // Review works for the whole conversation, a venv's directory link included.
    let review = server.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
    let files = review["files"].as_array().unwrap();
    let file = |path: &str| files.iter().find(|f| f["path"] == path).unwrap_or_else(|| panic!("{path} in {review}"));
    let host_passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    assert!(!review.to_string().contains(host_passwd.lines().next().unwrap()), "a link's target was read through");

    let passwd = file("passwd_link");
    assert_eq!(passwd["status"], "added");
    assert_eq!(passwd["symlink"], json!({"original": null, "proposed": "/etc/passwd"}));
    assert!(passwd["proposed"].is_null() && passwd["refusal"].as_str().unwrap().contains("/etc/passwd"), "{passwd}");
    assert!(passwd["note"].as_str().unwrap().starts_with("symbolic link → /etc/passwd"), "{passwd}");

    let victims: Vec<&Value> = files.iter().filter(|f| f["path"] == "victim.txt").collect();
    assert_eq!(victims.len(), 1, "a file replaced by a link is one change: {victims:?}");
    assert_eq!(victims[0]["status"], "modified");
    assert_eq!(victims[0]["symlink"], json!({"original": null, "proposed": "/etc/hostname"}));
    assert_eq!(victims[0]["original"], "the user's text\n");
    assert!(victims[0]["refusal"].is_string(), "{}", victims[0]);

    // A directory link like the one a venv makes (lib64 -> lib). The docker image's Python writes a .gitignore
    // into a new venv, so there the venv itself is ignored; pkg/lib64 is the same shape on both backends.
    for dir_link in [Some("pkg/lib64"), (!docker).then_some(".venv/lib64")].into_iter().flatten() {
        let lib64 = file(dir_link);
        assert_eq!(lib64["symlink"]["proposed"], "lib");
        assert!(lib64["refusal"].is_null(), "{lib64}");
    }
    let inside = file("inside_link");
    assert_eq!(inside["symlink"]["proposed"], "a.txt");
    assert!(inside["refusal"].is_null());

    let run = file("run.sh");
    assert_eq!(run["status"], "modified");
    assert_eq!(run["executable"], json!({"original": false, "proposed": true}));
    assert_eq!(run["note"], "made executable (+x)");
    assert_eq!(run["original"], run["proposed"]);

    // Apply exactly these, the links outside among them.
    let chosen = ["a.txt", "run.sh", "inside_link", "pkg/lib64", "passwd_link", "victim.txt", "up_link"];
    let result =
        server.command("openhands.applyChanges", json!({"conversationId": id, "files": chosen})).unwrap().unwrap();
    let outcome = |path: &str| {
        result["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == path)
            .cloned()
            .unwrap_or_else(|| panic!("{path}"))
    };
    for path in ["a.txt", "run.sh", "inside_link", "pkg/lib64"] {
        assert_eq!(outcome(path)["outcome"], "applied", "{path}: {result}");
    }
    for path in ["passwd_link", "victim.txt"] {
        assert_eq!(outcome(path)["outcome"], "refused", "{path}: {result}");
        let reason = outcome(path)["reason"].as_str().unwrap().to_owned();
        assert!(reason.contains("only links that stay inside your workspace are applied"), "{result}");
    }
    assert_eq!(outcome("up_link")["outcome"], "refused");
    assert!(outcome("up_link")["reason"].as_str().unwrap().contains("../outside, outside your workspace"), "{result}");
    if !docker {
        assert_eq!(outcome(".venv/bin/python")["outcome"], "skipped");
    }

    // The disk says exactly what the result says.
    assert_eq!(std::fs::read_to_string(ws.join("a.txt")).unwrap(), "one\nTWO\n");
    let run_mode = std::fs::metadata(ws.join("run.sh")).unwrap().permissions().mode();
    assert_eq!(run_mode & 0o111, 0o111, "run.sh is executable: {run_mode:o}");
    assert_eq!(std::fs::read_link(ws.join("inside_link")).unwrap(), PathBuf::from("a.txt"));
    assert_eq!(std::fs::read_link(ws.join("pkg/lib64")).unwrap(), PathBuf::from("lib"));
    assert!(std::fs::symlink_metadata(ws.join("up_link")).is_err());
    assert!(std::fs::symlink_metadata(ws.join("passwd_link")).is_err(), "no link out of the workspace");
    let victim = std::fs::symlink_metadata(ws.join("victim.txt")).unwrap();
    assert!(victim.is_file(), "the user's file is still a file");
    assert_eq!(std::fs::read_to_string(ws.join("victim.txt")).unwrap(), "the user's text\n");
    assert_eq!(std::fs::read_to_string(ws.join("keep.txt")).unwrap(), "kept\n");
    server.shutdown_and_exit().unwrap();
}

#[test]
fn symlinks_are_changes_of_their_own_process_backend() {
    symlinks_are_changes_of_their_own(false);
}

#[test]
fn symlinks_are_changes_of_their_own_docker_backend() {
    symlinks_are_changes_of_their_own(true);
}

/// A canary given with `openhands.setSecret`, echoed by the agent, at `--log-level trace`: nowhere on disk.
fn secrets_never_rest_on_disk(docker: bool) {
    let (_dir, ws) = workspace();
    let canary = "ghp_canaryRestingSecret0123456789";
    let script = vec![Step::terminal(&format!("echo token={canary} > /dev/null; echo done")), Step::finish("echoed")];
    let llm = if docker { ScriptedLlm::start_for_containers(script) } else { ScriptedLlm::start(script) };
    let mut params = init_params(&llm, &ws, json!({}));
    params["initializationOptions"].as_object_mut().unwrap().remove("isolation");
    if docker {
        on_docker(&mut params, &llm, json!({}));
    }
    let opts = options().arg("--log-level").arg("trace");
    let (mut server, _) = Server::start(opts, params).unwrap();
    server.command("openhands.setSecret", json!({"name": "github_token", "value": canary})).unwrap().unwrap();
    let id = start(&mut server, "Echo the token");
    wait_event(&server, &id, "the echo", |e| e["kind"] == "ObservationEvent");
    // While it runs: nothing under the state directory (the sandbox folder included) holds the canary.
    let state = server.state_home.clone();
    let containers = if docker { running_containers_of(&id) } else { Vec::new() };
    for c in &containers {
        let found = container_files_with(c, canary);
        assert!(found.is_empty(), "the canary rests in the container's files: {found:?}");
    }
    assert_no_canary_under(&state, canary);
    wait_state(&server, &id, "finished");
    server.shutdown_and_exit().unwrap();
    assert_secrets_absent(&server, &[canary], &[]);
    // Nor spelled in hex, as a dump of raw frames would.
    let hex: String = canary.bytes().map(|b| format!("{b:02x}")).collect();
    assert!(!server.stderr_complete().to_lowercase().contains(&hex[..24]), "the canary in hex in the log");
    assert!(server.stderr_complete().contains("\nLOG "), "the log really was at trace level");
    assert!(files_under(&state).iter().any(|f| f.ends_with("events.jsonl")));
}

fn assert_no_canary_under(root: &Path, canary: &str) {
    for file in files_under(root) {
        if !std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(!bytes.windows(canary.len()).any(|w| w == canary.as_bytes()), "the canary is in {}", file.display());
    }
}

fn running_containers_of(id: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args(["ps", "-q", "--no-trunc", "--filter", &format!("label=dev.openhands.lsp.conversation={id}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

/// Files on the host's disk that the container wrote (its overlay layer, and its log) that hold `text`. What it
/// keeps on a tmpfs is memory, and not in the layer.
fn container_files_with(container: &str, text: &str) -> Vec<String> {
    let host_path = |format: &str| {
        let out = std::process::Command::new("docker").args(["inspect", "-f", format, container]).output().unwrap();
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    };
    let upper = host_path("{{.GraphDriver.Data.UpperDir}}");
    assert!(upper.is_dir(), "the container's layer on the host: {}", upper.display());
    let mut files = files_under(&upper);
    files.push(host_path("{{.LogPath}}"));
    files
        .into_iter()
        .filter(|f| std::fs::symlink_metadata(f).is_ok_and(|m| m.is_file()))
        .filter(|f| std::fs::read(f).is_ok_and(|b| b.windows(text.len()).any(|w| w == text.as_bytes())))
        .map(|f| f.display().to_string())
        .collect()
}

#[test]
fn secrets_never_rest_on_disk_process_backend() {
    secrets_never_rest_on_disk(false);
}

#[test]
fn secrets_never_rest_on_disk_docker_backend() {
    secrets_never_rest_on_disk(true);
}
