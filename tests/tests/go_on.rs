//! Conversations that go on after a restart, with the agent's memory: the real openhands-lsp, the real agent-server
//! (process backend here; docker in docker.rs), a scripted LLM. A conversation finishes, the server exits, a new
//! server sends it a message: the model gets the first instruction and the agent's earlier tool calls, the change
//! lands in the same copy, review shows both turns' changes and checkpoints go on numbering.

use std::path::Path;

use openhands_lsp_tests::agent::{RUN_TIMEOUT, assert_secrets_absent, init_params, wait_state};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::repo::git;
use openhands_lsp_tests::{Options, Server};
use serde_json::{Value, json};

const LLM_KEY: &str = "sk-go-on-canary-5aa1c0ffee";
const GITHUB_TOKEN: &str = "ghp_goOnCanary0123456789abcdefABCDEF";

fn repository() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().canonicalize().unwrap();
    git(&ws, &["init", "-q"]);
    std::fs::write(ws.join("README.md"), "hello\n").unwrap();
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-qm", "init"]);
    (tmp, ws)
}

/// A session in its own copy (review before apply), with the canary secrets.
fn session(llm: &ScriptedLlm, ws: &Path, state: &Path) -> Server {
    let mut params = init_params(llm, ws, json!({}));
    params["initializationOptions"].as_object_mut().unwrap().remove("isolation");
    let opts = Options { state_home: Some(state.to_path_buf()), ..Options::default() }
        .env("LLM_API_KEY", LLM_KEY)
        .env("GITHUB_TOKEN", GITHUB_TOKEN);
    Server::start(opts, params).unwrap().0
}

/// A conversation of an earlier session: `instruction` run to its end by a server that then exits; its id.
fn finished_earlier(llm: &ScriptedLlm, ws: &Path, state: &Path, instruction: &str) -> String {
    let mut first = session(llm, ws, state);
    let started = first.command("openhands.startTask", json!({"instruction": instruction})).unwrap().unwrap();
    let id = started["conversationId"].as_str().unwrap().to_owned();
    wait_state(&first, &id, "finished");
    first.shutdown_and_exit().unwrap();
    id
}

fn listed(server: &mut Server, id: &str) -> Value {
    let list = server.command("openhands.listConversations", json!({})).unwrap().unwrap();
    list["conversations"].as_array().unwrap().iter().find(|c| c["id"] == id).cloned().expect("listed")
}

fn turn_ended(server: &Server, id: &str, message: &str) -> Value {
    let ended = server
        .wait_for(message, RUN_TIMEOUT, |msgs| {
            msgs.iter()
                .filter(|m| m["method"] == "openhands/conversationChanged" && m["params"]["id"] == id)
                .find(|m| {
                    let state = &m["params"]["state"];
                    (m["params"]["finalMessage"] == message && state == "finished") || state == "error"
                })
                .map(|m| m["params"].clone())
        })
        .unwrap();
    assert_eq!(ended["state"], "finished", "{ended}");
    ended
}

#[test]
fn a_finished_conversation_goes_on_after_a_restart_with_the_agents_memory() {
    let (_repo, ws) = repository();
    let state = tempfile::tempdir().unwrap();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("printf 'one\\n' > one.txt"),
        Step::finish("first turn done"),
        Step::terminal("printf 'two\\n' > two.txt"),
        Step::finish("second turn done"),
    ]);
    let id = finished_earlier(&llm, &ws, state.path(), "Write one.txt");
    let record = state.path().join(format!("openhands-lsp/conversations/{id}/agent"));
    assert!(record.join(&id).join("base_state.json").is_file(), "the agent-server's record is kept with it");
    let requests_before = llm.requests().len();

    let mut second = session(&llm, &ws, state.path());
    let entry = listed(&mut second, &id);
    assert_eq!(entry["live"], false);
    assert_eq!(entry["cannotContinue"], Value::Null, "{entry}");
    second
        .command("openhands.sendMessage", json!({"conversationId": id, "text": "Now write two.txt"}))
        .unwrap()
        .unwrap();
    turn_ended(&second, &id, "second turn done");
    // The LLM use goes on counting: both turns' calls (10 tokens in and 5 out each, two calls a turn).
    let after = listed(&mut second, &id);
    assert_eq!((after["usage"]["tokensIn"].as_u64(), after["usage"]["tokensOut"].as_u64()), (Some(40), Some(20)));

    // The model got the earlier history: the first instruction and the agent's earlier tool call, then the message.
    let request = llm.requests()[requests_before].clone();
    let messages = request.body["messages"].as_array().unwrap();
    let said = |role: &str| -> Vec<String> {
        messages.iter().filter(|m| m["role"] == role).map(|m| m.to_string()).collect::<Vec<_>>()
    };
    assert!(said("user").iter().any(|m| m.contains("Write one.txt")), "the first instruction: {:?}", said("user"));
    assert!(said("user").last().is_some_and(|m| m.contains("Now write two.txt")), "the message last");
    let calls = said("assistant");
    assert!(
        calls.iter().any(|m| m.contains("> one.txt") && m.contains("terminal")),
        "the earlier tool call: {calls:?}"
    );
    assert_eq!(request.headers["authorization"], format!("Bearer {LLM_KEY}"), "the key given again");

    // The change landed in the same copy, beside the first turn's; review shows both, checkpoints go on numbering.
    let root = std::path::PathBuf::from(entry["isolation"]["root"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(root.join("one.txt")).unwrap(), "one\n");
    assert_eq!(std::fs::read_to_string(root.join("two.txt")).unwrap(), "two\n");
    assert!(!ws.join("two.txt").exists(), "the user's files change only on apply");
    let review = second.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
    let files: Vec<&str> = review["files"].as_array().unwrap().iter().filter_map(|f| f["path"].as_str()).collect();
    assert!(files.iter().any(|f| f.ends_with("one.txt")) && files.iter().any(|f| f.ends_with("two.txt")), "{review}");
    let checkpoints = second.command("openhands.listCheckpoints", json!({"conversationId": id})).unwrap().unwrap();
    let numbers: Vec<u64> =
        checkpoints["checkpoints"].as_array().unwrap().iter().filter_map(|c| c["number"].as_u64()).collect();
    assert_eq!(numbers, vec![1, 2], "{checkpoints}");
    // The log goes on where it was: every event once.
    let page = second.command("openhands.getEvents", json!({"conversationId": id, "limit": 1000})).unwrap().unwrap();
    let mut ids: Vec<String> =
        page["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "no event twice in the log");
    second.shutdown_and_exit().unwrap();

    // The agent-server's record holds neither the LLM key nor the token in clear (nor does anything else).
    assert_secrets_absent(&second, &[LLM_KEY, GITHUB_TOKEN], &[]);
}

#[test]
fn a_conversation_from_before_the_agents_memory_was_kept_says_it_cannot_go_on_and_why() {
    let (_repo, ws) = repository();
    let state = tempfile::tempdir().unwrap();
    let llm = ScriptedLlm::start(vec![Step::finish("done")]);
    let id = finished_earlier(&llm, &ws, state.path(), "Do it");
    // As a conversation of an earlier openhands-lsp has it: no record of the agent-server's.
    std::fs::remove_dir_all(state.path().join(format!("openhands-lsp/conversations/{id}/agent"))).unwrap();

    let mut second = session(&llm, &ws, state.path());
    let entry = listed(&mut second, &id);
    let why = entry["cannotContinue"].as_str().expect("a reason");
    assert!(why.contains("made before") && why.contains("start a new task"), "{why}");
    let err = second
        .command("openhands.sendMessage", json!({"conversationId": id, "text": "more"}))
        .unwrap()
        .expect_err("it cannot go on");
    assert!(err.message.contains("cannot go on") && err.message.contains("made before"), "{}", err.message);
    // Its changes can still be reviewed.
    second.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
}

#[test]
fn a_discarded_conversation_cannot_go_on_and_its_record_is_gone() {
    let (_repo, ws) = repository();
    let state = tempfile::tempdir().unwrap();
    let llm = ScriptedLlm::start(vec![Step::terminal("printf 'x\\n' > x.txt"), Step::finish("done")]);
    let mut server = session(&llm, &ws, state.path());
    let id = server.command("openhands.startTask", json!({"instruction": "Do x"})).unwrap().unwrap()["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_state(&server, &id, "finished");
    server.command("openhands.discardChanges", json!({"conversationId": id})).unwrap().unwrap();
    assert!(!state.path().join(format!("openhands-lsp/conversations/{id}/agent")).exists());
    server.shutdown_and_exit().unwrap();

    let mut second = session(&llm, &ws, state.path());
    let entry = listed(&mut second, &id);
    assert!(entry["cannotContinue"].as_str().unwrap().contains("discarded"), "{entry}");
    let err = second
        .command("openhands.sendMessage", json!({"conversationId": id, "text": "more"}))
        .unwrap()
        .expect_err("it cannot go on");
    assert!(err.message.contains("discarded"), "{}", err.message);
}

#[test]
fn a_record_the_agent_server_cannot_read_is_said_in_words() {
    let (_repo, ws) = repository();
    let state = tempfile::tempdir().unwrap();
    let llm = ScriptedLlm::start(vec![Step::finish("done")]);
    let id = finished_earlier(&llm, &ws, state.path(), "Do it");
    // As another agent-server version might have written it.
    let base = state.path().join(format!("openhands-lsp/conversations/{id}/agent/{id}/base_state.json"));
    std::fs::write(&base, r#"{"id": "not-a-uuid", "agent": {"kind": "AgentOfTheFuture"}}"#).unwrap();

    let mut second = session(&llm, &ws, state.path());
    second.command("openhands.sendMessage", json!({"conversationId": id, "text": "more"})).unwrap().unwrap();
    let failed = wait_state(&second, &id, "error");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("could not go on with this conversation from its record"), "{error}");
    assert!(error.contains("another agent-server version") && error.contains("start a new task"), "{error}");
}

/// The docker backend: the first container is gone with its server; the message goes on in a warm container of the
/// new one, which takes the conversation's copy and the agent-server's record.
#[test]
fn a_docker_conversation_goes_on_in_a_warm_container_after_its_container_is_gone() {
    use openhands_lsp_tests::agent::{start_task, wait_until};
    use openhands_lsp_tests::docker::{docker, docker_params, inspect, workspace};
    let (_dir, ws) = workspace();
    let state = tempfile::tempdir().unwrap();
    let llm = ScriptedLlm::start_for_containers(vec![
        Step::terminal("true"),
        Step::terminal("printf 'one\\n' > one.txt"),
        Step::finish("first turn done"),
        Step::terminal("printf 'two\\n' > two.txt; id -u"),
        Step::finish("second turn done"),
    ]);
    let opts =
        || Options { state_home: Some(state.path().to_path_buf()), ..Options::default() }.env("LLM_API_KEY", LLM_KEY);
    let label = |id: &str| format!("label=dev.openhands.lsp.conversation={id}");
    let (mut first, _) = Server::start(opts(), docker_params(&llm, &ws, json!({}))).unwrap();
    let id = start_task(&mut first, "Write one.txt");
    wait_state(&first, &id, "finished");
    first.shutdown_and_exit().unwrap();
    wait_until("the first container to be removed", std::time::Duration::from_secs(30), || {
        docker(&["ps", "-aq", "--filter", &label(&id)]).is_empty()
    });
    let requests_before = llm.requests().len();

    let (mut second, _) = Server::start(opts(), docker_params(&llm, &ws, json!({"warmPool": 1}))).unwrap();
    let pid = second.pid();
    wait_until("a warm container ready", RUN_TIMEOUT, || {
        second.command("openhands.status", json!({})).unwrap().unwrap()["warmPool"]["ready"] == 1
    });
    let pool_label = format!("label=dev.openhands.lsp.owner.pid={pid}");
    let warm =
        docker(&["ps", "-q", "--no-trunc", "--filter", "label=dev.openhands.lsp.role=pool", "--filter", &pool_label]);
    let warm = warm.lines().next().expect("a pooled container").to_owned();
    let entry = listed(&mut second, &id);
    assert_eq!(entry["cannotContinue"], Value::Null, "{entry}");
    second
        .command("openhands.sendMessage", json!({"conversationId": id, "text": "Now write two.txt"}))
        .unwrap()
        .unwrap();
    turn_ended(&second, &id, "second turn done");
    assert!(inspect(&warm)["Name"].as_str().unwrap().contains(&id[..12]), "the warm container took the conversation");

    let messages = llm.requests()[requests_before].body["messages"].to_string();
    assert!(messages.contains("Write one.txt") && messages.contains("> one.txt"), "the earlier history: {messages}");
    let root = std::path::PathBuf::from(entry["isolation"]["root"].as_str().unwrap());
    assert_eq!(std::fs::read_to_string(root.join("two.txt")).unwrap(), "two\n");
    let review = second.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
    let files: Vec<&str> = review["files"].as_array().unwrap().iter().filter_map(|f| f["path"].as_str()).collect();
    assert_eq!(files, ["one.txt", "two.txt"], "{review}");
    let checkpoints = second.command("openhands.listCheckpoints", json!({"conversationId": id})).unwrap().unwrap();
    let numbers: Vec<u64> =
        checkpoints["checkpoints"].as_array().unwrap().iter().filter_map(|c| c["number"].as_u64()).collect();
    assert_eq!(numbers, vec![1, 2], "{checkpoints}");
    second.shutdown_and_exit().unwrap();
    assert_secrets_absent(&second, &[LLM_KEY], &[]);
}

/// The terminal: `run` prints the conversation's id; `run --continue <id>` goes on with it in another process.
#[test]
fn a_terminal_run_goes_on_with_continue() {
    let (_repo, ws) = repository();
    let state = tempfile::tempdir().unwrap();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("printf 'one\\n' > one.txt"),
        Step::finish("first run done"),
        Step::terminal("printf 'two\\n' > two.txt"),
        Step::finish("second run done"),
    ]);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(openhands_lsp_tests::lsp_client::server_binary())
            .args(["run", "--model", "openai/stub", "--confirmation", "never", "--isolation", "worktree"])
            .args(["--workspace", ws.to_str().unwrap(), "--base-url", &llm.base_url()])
            .args(["--agent-server", &openhands_lsp_tests::agent::agent_server_command()])
            .args(args)
            .env("XDG_STATE_HOME", state.path())
            .env("LLM_API_KEY", LLM_KEY)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        stdout
    };
    let first = run(&["--task", "Write one.txt"]);
    let id = first.split_whitespace().nth(1).expect("the conversation's id").to_owned();
    assert!(first.contains("finished: first run done"), "{first}");
    let requests_before = llm.requests().len();
    let second = run(&["--continue", &id, "--task", "Now write two.txt"]);
    assert!(second.contains(&format!("conversation {id}")), "{second}");
    assert!(second.contains("finished: second run done"), "{second}");
    assert!(second.contains("two.txt"), "the changed files of the copy: {second}");
    let messages = llm.requests()[requests_before].body["messages"].to_string();
    assert!(messages.contains("Write one.txt") && messages.contains("> one.txt"), "{messages}");

    // One that cannot go on says why, and the run fails.
    let conversation = state.path().join(format!("openhands-lsp/conversations/{id}"));
    std::fs::remove_dir_all(conversation.join("agent")).unwrap();
    let out = std::process::Command::new(openhands_lsp_tests::lsp_client::server_binary())
        .args(["run", "--continue", &id, "--task", "More", "--agent-server", "/nowhere"])
        .env("XDG_STATE_HOME", state.path())
        .env("LLM_API_KEY", LLM_KEY)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("error: conversation") && said.contains("cannot go on") && said.contains("made before"),
        "{said}"
    );
}

/// Safety: an action that waited for the user's answer when the server exited never runs on its own when the
/// conversation goes on. The message is delivered, the user is asked again, and only their Allow runs it.
#[test]
fn an_action_waiting_for_an_answer_at_exit_is_asked_again_when_the_conversation_goes_on() {
    let (_repo, ws) = repository();
    let state = tempfile::tempdir().unwrap();
    let llm = ScriptedLlm::start(vec![Step::terminal("echo ran > ran.txt"), Step::finish("ran it when allowed")]);
    let confirming = |llm: &ScriptedLlm| {
        let mut params = init_params(llm, &ws, json!({"confirmation": "always"}));
        params["initializationOptions"].as_object_mut().unwrap().remove("isolation");
        let opts =
            Options { state_home: Some(state.path().to_path_buf()), ..Options::default() }.env("LLM_API_KEY", LLM_KEY);
        Server::start(opts, params).unwrap().0
    };
    let mut first = confirming(&llm);
    // Dismissed: the action waits.
    first.on_request("window/showMessageRequest", |_| Ok(Value::Null));
    let id = first.command("openhands.startTask", json!({"instruction": "Run it"})).unwrap().unwrap()["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_state(&first, &id, "waiting_for_confirmation");
    first.shutdown_and_exit().unwrap();

    let mut second = confirming(&llm);
    let (tx, rx) = std::sync::mpsc::channel();
    second.on_request("window/showMessageRequest", move |params| {
        let _ = tx.send(params.clone());
        Ok(Value::Null)
    });
    second.command("openhands.sendMessage", json!({"conversationId": id, "text": "Carry on"})).unwrap().unwrap();
    let asked = rx.recv_timeout(RUN_TIMEOUT).expect("asked again");
    assert!(asked["message"].as_str().unwrap().contains("echo ran > ran.txt"), "{asked}");
    wait_state(&second, &id, "waiting_for_confirmation");
    let root = std::path::PathBuf::from(listed(&mut second, &id)["isolation"]["root"].as_str().unwrap().to_owned());
    assert!(!root.join("ran.txt").exists(), "nothing ran without the user's answer");
    second
        .command("openhands.respondToConfirmation", json!({"conversationId": id, "decision": "allow"}))
        .unwrap()
        .unwrap();
    turn_ended(&second, &id, "ran it when allowed");
    assert_eq!(std::fs::read_to_string(root.join("ran.txt")).unwrap(), "ran\n");
    // The model got the message with the earlier turn.
    let last = llm.requests().last().unwrap().body["messages"].to_string();
    assert!(last.contains("Carry on") && last.contains("Run it"), "{last}");
}
