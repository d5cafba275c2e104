//! Conversations end to end: the real openhands-lsp binary, the real OpenHands agent-server (process backend),
//! a scripted LLM.

use std::time::Duration;

use openhands_lsp_tests::agent::{
    RUN_TIMEOUT, assert_secrets_absent, file_uri, init_params, options, wait_event, wait_state,
};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::repo::files_under;
use openhands_lsp_tests::{Options, Server};
use serde_json::{Value, json};

fn events_of(server: &Server, id: &str) -> Vec<Value> {
    server.notifications("openhands/event").into_iter().filter(|e| e["conversationId"] == id).collect()
}

#[test]
fn a_task_runs_to_the_end_with_progress_events_and_a_log() {
    let workspace = tempfile::tempdir().unwrap();
    let ws = workspace.path().canonicalize().unwrap();
    let notes = ws.join("notes.txt");
    let llm = ScriptedLlm::from_fixture("write-notes", &ws);
    let (mut server, _) =
        Server::start(Options::default().env("LLM_API_KEY", "sk-test-key-abc123"), init_params(&llm, &ws, json!({})))
            .unwrap();

    let started = std::time::Instant::now();
    let result = server
        .command(
            "openhands.startTask",
            json!({"instruction": "Write notes.txt", "uri": file_uri(&ws.join("src/lib.rs"))}),
        )
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "startTask returns at once, not after the run");
    let id = result["conversationId"].as_str().unwrap().to_owned();
    assert_eq!(result["conversation"]["state"], "starting");

    let done = wait_state(&server, &id, "finished");
    assert_eq!(done["finalMessage"], "All done: notes.txt says second line.");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "second line\n");

    // Progress: create, begin with the task's title, reports of what the agent did, one end with the outcome.
    let token = server.server_requests("window/workDoneProgress/create")[0]["token"].clone();
    let end = server.wait_notification("$/progress", |p| p["token"] == token && p["value"]["kind"] == "end").unwrap();
    assert!(end["value"]["message"].as_str().unwrap().starts_with("finished: All done"), "{end}");
    let progress: Vec<Value> = server
        .notifications("$/progress")
        .into_iter()
        .filter(|p| p["token"] == token)
        .map(|p| p["value"].clone())
        .collect();
    assert_eq!(progress[0]["kind"], "begin");
    assert_eq!(progress[0]["title"], "OpenHands: Write notes.txt");
    let reports: Vec<&str> =
        progress.iter().filter(|v| v["kind"] == "report").filter_map(|v| v["message"].as_str()).collect();
    assert!(reports.iter().any(|r| r.starts_with("$ echo hello from the agent")), "{reports:?}");
    assert!(reports.iter().any(|r| r.starts_with("edit ") && r.ends_with("notes.txt")), "{reports:?}");

    // The LLM really was called with the key from the environment.
    let auth = &llm.requests()[0].headers["authorization"];
    assert_eq!(auth, "Bearer sk-test-key-abc123");

    // Events: in order, each once, the terminal output among them, the same as the log on disk (compared once the
    // session is over, so that no event is still on its way).
    server.shutdown_and_exit().unwrap();
    let events = events_of(&server, &id);
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..events.len() as u64).collect::<Vec<_>>(), "seq runs 0..n without gaps or repeats");
    let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "no event twice");
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "ObservationEvent" && e["detail"].as_str().unwrap().contains("hello from the agent"))
    );
    let log = std::fs::read_to_string(server.state_home.join(format!("openhands-lsp/conversations/{id}/events.jsonl")))
        .unwrap();
    let logged: Vec<Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(logged.len(), events.len());
    assert_eq!(
        logged.iter().map(|e| e["id"].clone()).collect::<Vec<_>>(),
        events.iter().map(|e| e["id"].clone()).collect::<Vec<_>>()
    );

    // The LLM really was called with the key from the environment.
    let auth = &llm.requests()[0].headers["authorization"];
    assert_eq!(auth, "Bearer sk-test-key-abc123");
}

/// Starts a session and a task; returns the server and the conversation id.
fn start(
    llm: &ScriptedLlm,
    ws: &std::path::Path,
    overrides: Value,
    opts: Options,
    instruction: &str,
) -> (Server, String) {
    let (mut server, _) = Server::start(opts, init_params(llm, ws, overrides)).unwrap();
    let result = server.command("openhands.startTask", json!({"instruction": instruction})).unwrap().unwrap();
    let id = result["conversationId"].as_str().unwrap().to_owned();
    (server, id)
}

fn workspace() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().canonicalize().unwrap();
    (dir, path)
}

/// Waits for an event of the conversation matching `pred`.
fn is_status_event(e: &Value, status: &str) -> bool {
    e["kind"] == "ConversationStateUpdateEvent" && e["raw"]["key"] == "execution_status" && e["raw"]["value"] == status
}

#[test]
fn pause_then_resume_mid_run() {
    let (_dir, ws) = workspace();
    // Pause interrupts the LLM call held at the gate; whether or not that reply is used, the agent goes on to
    // write two.txt after resuming.
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo one"),
        Step::terminal("echo one-b").gated("go"),
        Step::terminal("echo two > two.txt"),
        Step::finish("resumed and done"),
    ]);
    let (mut server, id) = start(&llm, &ws, json!({}), options(), "Count to two");
    wait_event(&server, &id, "first command's output", |e| e["kind"] == "ObservationEvent");
    assert!(llm.wait_requests(2, RUN_TIMEOUT), "the agent is waiting on its second LLM call");

    server.command("openhands.pause", json!({"conversationId": id})).unwrap().unwrap();
    wait_state(&server, &id, "paused");
    wait_event(&server, &id, "the agent-server's own paused status", |e| is_status_event(e, "paused"));
    // Nothing works while paused: the progress ends (no spinner), and a new one begins on resume.
    let progress = |msgs: &[Value], kind: &str| -> Vec<Value> {
        msgs.iter()
            .filter(|m| m["method"] == "$/progress" && m["params"]["value"]["kind"] == kind)
            .map(|m| m["params"]["value"].clone())
            .collect()
    };
    server
        .wait_for("the progress to end as paused", RUN_TIMEOUT, |msgs| {
            progress(msgs, "end").into_iter().find(|v| v["message"] == "paused")
        })
        .unwrap();
    let begun = progress(&server.messages(), "begin").len();

    llm.open_gate("go");
    server.command("openhands.resume", json!({"conversationId": id})).unwrap().unwrap();
    let done = wait_state(&server, &id, "finished");
    assert_eq!(done["finalMessage"], "resumed and done");
    assert_eq!(progress(&server.messages(), "begin").len(), begun + 1, "a progress again after resuming");
    assert_eq!(std::fs::read_to_string(ws.join("two.txt")).unwrap(), "two\n");
    let states: Vec<String> = server
        .notifications("openhands/conversationChanged")
        .iter()
        .filter(|c| c["id"] == id)
        .map(|c| c["state"].as_str().unwrap().to_owned())
        .collect();
    let paused_at = states.iter().position(|s| s == "paused").unwrap();
    assert!(states[paused_at..].contains(&"running".to_owned()), "{states:?}");
}

/// A pause while the sandbox starts holds the task: paused at once, nothing of the task runs once the agent-server
/// is up (it used to run seconds later, the pause refused as "is starting"), and resume runs it.
#[test]
fn a_pause_during_the_start_holds_the_task_until_resume() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start(vec![Step::terminal("echo held > held.txt"), Step::finish("ran after resume")]);
    let (mut server, id) = start(&llm, &ws, json!({}), options(), "Write held.txt");
    server.command("openhands.pause", json!({"conversationId": id})).unwrap().unwrap();
    wait_state(&server, &id, "paused");
    // The agent-server is up and has the task (its message event), and the model was never asked.
    wait_event(&server, &id, "the task's message", |e| e["kind"] == "MessageEvent" && e["source"] == "user");
    assert_eq!(llm.requests().len(), 0, "nothing of the task ran while paused");
    assert!(!ws.join("held.txt").exists());
    server.command("openhands.resume", json!({"conversationId": id})).unwrap().unwrap();
    let done = wait_state(&server, &id, "finished");
    assert_eq!(done["finalMessage"], "ran after resume");
    assert_eq!(std::fs::read_to_string(ws.join("held.txt")).unwrap(), "held\n");
}

fn port_of(url: &str) -> u16 {
    url.rsplit(':').next().unwrap().parse().unwrap()
}

fn wait_port_closed(port: u16) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(std::time::Instant::now() < deadline, "the agent-server on port {port} is still alive");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sandbox_url(server: &Server, id: &str) -> String {
    server
        .wait_for("sandbox url", RUN_TIMEOUT, |msgs| {
            msgs.iter()
                .filter(|m| m["method"] == "openhands/conversationChanged" && m["params"]["id"] == id)
                .find_map(|m| m["params"]["sandboxUrl"].as_str().map(str::to_owned))
        })
        .unwrap()
}

#[test]
fn stop_mid_run_ends_progress_and_the_agent_server() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start(vec![Step::terminal("echo started"), Step::finish("never reached").gated("never")]);
    let (mut server, id) = start(&llm, &ws, json!({}), options(), "Run forever");
    wait_event(&server, &id, "first output", |e| e["kind"] == "ObservationEvent");
    let port = port_of(&sandbox_url(&server, &id));

    // The agent's terminal runs in tmux, which daemonizes out of the agent-server's process group.
    let tmux_dir = std::env::temp_dir().join(format!("ohlsp-{}", &id[..16]));
    let sockets: Vec<_> = files_under(&tmux_dir);
    assert!(!sockets.is_empty(), "the agent's tmux sockets are in {}", tmux_dir.display());

    server.command("openhands.stop", json!({"conversationId": id})).unwrap().unwrap();
    wait_state(&server, &id, "stopped");
    let token = server.server_requests("window/workDoneProgress/create")[0]["token"].clone();
    let end = server.wait_notification("$/progress", |p| p["token"] == token && p["value"]["kind"] == "end").unwrap();
    assert!(end["value"]["message"].as_str().unwrap().starts_with("stopped"), "{end}");
    wait_port_closed(port);
    let err =
        server.command("openhands.sendMessage", json!({"conversationId": id, "text": "more"})).unwrap().unwrap_err();
    assert!(err.message.contains("stopped") || err.message.contains("not running"), "{}", err.message);
}

#[test]
fn cancelling_the_progress_stops_the_agent() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start(vec![Step::terminal("echo started"), Step::finish("never reached").gated("never")]);
    let (server, id) = start(&llm, &ws, json!({}), options(), "Cancel me");
    wait_event(&server, &id, "first output", |e| e["kind"] == "ObservationEvent");
    let begin = server.wait_notification("$/progress", |p| p["value"]["kind"] == "begin").unwrap();
    server.notify("window/workDoneProgress/cancel", json!({"token": begin["token"]})).unwrap();
    wait_state(&server, &id, "stopped");
}

fn confirm_with(answer: &'static str) -> (Server, String, tempfile::TempDir, std::path::PathBuf, ScriptedLlm) {
    let (dir, ws) = workspace();
    let llm = ScriptedLlm::start(vec![Step::terminal("echo confirmed > c.txt"), Step::finish("finished after asking")]);
    let (mut server, _) = Server::start(options(), init_params(&llm, &ws, json!({"confirmation": "always"}))).unwrap();
    server.on_request("window/showMessageRequest", move |_| Ok(json!({"title": answer})));
    let result = server.command("openhands.startTask", json!({"instruction": "Ask first"})).unwrap().unwrap();
    let id = result["conversationId"].as_str().unwrap().to_owned();
    (server, id, dir, ws, llm)
}

#[test]
fn confirmation_accepted_runs_the_action() {
    let (server, id, _dir, ws, _llm) = confirm_with("Allow");
    wait_state(&server, &id, "finished");
    let asked = server.server_requests("window/showMessageRequest");
    assert_eq!(asked.len(), 1, "asked for the command, not for `finish`: {asked:?}");
    assert!(asked[0]["message"].as_str().unwrap().contains("$ echo confirmed > c.txt"), "{}", asked[0]);
    let titles: Vec<&str> =
        asked[0]["actions"].as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Allow", "Allow for this conversation", "Reject"]);
    assert_eq!(std::fs::read_to_string(ws.join("c.txt")).unwrap(), "confirmed\n");
    let states: Vec<Value> =
        server.notifications("openhands/conversationChanged").iter().map(|c| c["state"].clone()).collect();
    assert!(states.contains(&json!("waiting_for_confirmation")), "{states:?}");
}

#[test]
fn confirmation_rejected_skips_the_action_and_tells_the_agent() {
    let (server, id, _dir, ws, llm) = confirm_with("Reject");
    wait_state(&server, &id, "finished");
    assert!(!ws.join("c.txt").exists(), "the rejected command did not run");
    let second = llm.requests()[1].body.to_string();
    assert!(second.contains("The user chose Reject in the editor."), "the agent was told why: {second}");
}

#[test]
fn a_cut_event_stream_loses_and_repeats_nothing() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo a"),
        Step::terminal("echo b").gated("b"),
        Step::terminal("echo c"),
        Step::terminal("echo d").gated("d"),
        Step::finish("all four"),
    ]);
    let (mut server, id) = start(&llm, &ws, json!({}), options().test_hooks(), "Four echoes");
    wait_event(&server, &id, "first output", |e| e["kind"] == "ObservationEvent");
    // Cut while idle, then let events flow during the reconnect.
    server.request("openhands/test/reconnectStream", json!({"conversationId": id})).unwrap().unwrap();
    llm.open_gate("b");
    assert!(llm.wait_requests(4, RUN_TIMEOUT));
    server.request("openhands/test/reconnectStream", json!({"conversationId": id})).unwrap().unwrap();
    llm.open_gate("d");
    wait_state(&server, &id, "finished");

    let events = events_of(&server, &id);
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (0..events.len() as u64).collect::<Vec<_>>());
    let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), events.len(), "no duplicates");
    let commands: Vec<&str> =
        events.iter().filter(|e| e["kind"] == "ActionEvent").map(|e| e["summary"].as_str().unwrap()).collect();
    assert_eq!(commands, ["$ echo a", "$ echo b", "$ echo c", "$ echo d", "finish: all four"]);
    // Every action got its observation: nothing fell into the gap.
    for action in events.iter().filter(|e| e["kind"] == "ActionEvent") {
        assert!(
            events.iter().any(|e| e["kind"] == "ObservationEvent" && e["raw"]["action_id"] == action["id"]),
            "{action}"
        );
    }
    assert_eq!(
        events.iter().filter(|e| e["raw"]["key"] == "full_state").count(),
        1,
        "one snapshot, not one per connection"
    );
}

#[test]
fn a_restarted_server_lists_and_replays_earlier_conversations() {
    let (_dir, ws) = workspace();
    let state = tempfile::tempdir().unwrap();
    let llm = ScriptedLlm::start(vec![Step::terminal("echo remembered"), Step::finish("first session done")]);
    let opts = Options { state_home: Some(state.path().to_path_buf()), ..options() };
    let (mut first, id) = start(&llm, &ws, json!({}), opts.clone(), "Remember me");
    wait_state(&first, &id, "finished");
    first.shutdown_and_exit().unwrap();
    let seen = events_of(&first, &id);

    let (mut second, _) = Server::start(opts, init_params(&llm, &ws, json!({}))).unwrap();
    let list = second.command("openhands.listConversations", json!({})).unwrap().unwrap();
    let entry = list["conversations"].as_array().unwrap().iter().find(|c| c["id"] == id).cloned().expect("listed");
    assert_eq!(entry["state"], "finished");
    assert_eq!(entry["live"], false);
    assert_eq!(entry["finalMessage"], "first session done");

    let page = second.command("openhands.getEvents", json!({"conversationId": id})).unwrap().unwrap();
    let replayed = page["events"].as_array().unwrap();
    assert_eq!(
        replayed.iter().map(|e| e["id"].clone()).collect::<Vec<_>>(),
        seen.iter().map(|e| e["id"].clone()).collect::<Vec<_>>()
    );
    assert_eq!(
        replayed.iter().map(|e| e["summary"].clone()).collect::<Vec<_>>(),
        seen.iter().map(|e| e["summary"].clone()).collect::<Vec<_>>()
    );
    // Paging with the cursor.
    let tail =
        second.command("openhands.getEvents", json!({"conversationId": id, "after": 3, "limit": 2})).unwrap().unwrap();
    assert_eq!(tail["events"][0]["seq"], 3);
    assert_eq!(tail["events"].as_array().unwrap().len(), 2);
    assert_eq!(tail["next"], 5);
    assert_eq!(tail["total"], seen.len());
    let err = second.command("openhands.pause", json!({"conversationId": id})).unwrap().unwrap_err();
    assert!(err.message.contains("not running in this session"), "{}", err.message);
    let err = second.command("openhands.getEvents", json!({"conversationId": "nope"})).unwrap().unwrap_err();
    assert_eq!(err.code, -32602);
}

#[test]
fn an_llm_error_becomes_a_conversation_error_with_its_message() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start(vec![Step::error(500, "upstream model exploded")]);
    let (server, id) = start(&llm, &ws, json!({}), options(), "Fail please");
    let failed = wait_state(&server, &id, "error");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("upstream model exploded"), "the agent-server's detail reaches the editor: {error}");
    let shown = server.wait_notification("window/showMessage", |m| m["type"] == 1).unwrap();
    assert!(shown["message"].as_str().unwrap().contains("Fail please"), "{shown}");
}

#[test]
fn a_missing_agent_server_command_is_a_clear_error() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start(vec![]);
    // Its own memory-backed folder, to see what the server leaves there.
    let memory = tempfile::tempdir().unwrap();
    let opts = options().env("XDG_RUNTIME_DIR", memory.path().to_str().unwrap());
    let (server, id) = start(&llm, &ws, json!({"process": {"command": "/nonexistent/agent-server"}}), opts, "Nothing");
    let failed = wait_state(&server, &id, "error");
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("/nonexistent/agent-server") && error.contains("pip install --require-hashes"), "{error}");
    // The agent-server's record, made in memory for the sandbox that never started, went with it.
    let left: Vec<std::path::PathBuf> = std::fs::read_dir(memory.path())
        .unwrap()
        .flatten()
        .flat_map(|user| std::fs::read_dir(user.path()).into_iter().flatten().flatten().map(|e| e.path()))
        .filter(|p| p.ends_with(&id))
        .collect();
    assert!(left.is_empty(), "left in memory: {left:?}");
}

/// An agent-server whose install is broken answers 500 to creating a conversation, with its own reason (1.58.0 with
/// cryptography 51 did, for most keys). The editor is told that reason and how to install a working one, once.
#[test]
fn a_broken_agent_server_install_is_named_with_its_reason_and_the_fix() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start(vec![]);
    let reason = "Fernet key must be 32 url-safe base64-encoded bytes.";
    let fake = env!("CARGO_BIN_EXE_fake-agent-server");
    let (server, id) =
        start(&llm, &ws, json!({"process": {"command": fake}}), options().env("FAKE_CREATE_FAILS", reason), "Nothing");
    let failed = wait_state(&server, &id, "error");
    let error = failed["error"].as_str().unwrap();
    let reason_said = reason.trim_end_matches('.');
    assert!(
        error.starts_with(&format!("the agent-server could not create the conversation: {reason_said}. The")),
        "{error}"
    );
    assert!(
        error.contains(&format!("installed at {fake:?} looks broken")) && error.contains("locks/agent-server.txt"),
        "{error}"
    );
    assert!(
        !error.contains("error_id") && !error.contains("Internal Server Error"),
        "its reason, not the wrapper: {error}"
    );
    let shown = server.wait_notification("window/showMessage", |m| m["type"] == 1).unwrap();
    assert!(shown["message"].as_str().unwrap().contains(reason), "{shown}");
    let popups = server
        .notifications("window/showMessage")
        .iter()
        .filter(|m| m["message"].as_str().unwrap_or("").contains(reason))
        .count();
    assert_eq!(popups, 1, "said once");
}

#[test]
fn secrets_never_leak_into_logs_notifications_or_files() {
    const KEY: &str = "sk-leak-canary-7f3a9c";
    const TOKEN: &str = "ghp_leakcanary_55aa77";
    let (_dir, ws) = workspace();
    // The first command in a new terminal can return the shell's set-up text instead of its output: warm up first.
    let llm = ScriptedLlm::start(vec![
        Step::terminal("true"),
        Step::terminal("echo token=$GITHUB_TOKEN"),
        Step::finish("checked"),
    ]);
    let opts = Options::default().env("LLM_API_KEY", KEY).arg("--log-level").arg("trace");
    let (mut server, _) = Server::start(opts, init_params(&llm, &ws, json!({}))).unwrap();
    server.command("openhands.setSecret", json!({"name": "github_token", "value": TOKEN})).unwrap().unwrap();
    let id = server.command("openhands.startTask", json!({"instruction": "Use the token"})).unwrap().unwrap()["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_state(&server, &id, "finished");

    // They did reach the agent: the key in the LLM call, the token in the agent's shell.
    assert_eq!(llm.requests()[0].headers["authorization"], format!("Bearer {KEY}"));
    let output = wait_event(&server, &id, "echo output", |e| {
        e["kind"] == "ObservationEvent" && e["raw"]["observation"]["command"] == "echo token=$GITHUB_TOKEN"
    });
    assert!(output["detail"].as_str().unwrap().contains("token="), "{output}");
    let status = server.command("openhands.status", json!({})).unwrap().unwrap();
    server.shutdown_and_exit().unwrap();

    assert_secrets_absent(&server, &[KEY, TOKEN], &[&status]);
}

#[test]
fn sigkill_of_openhands_lsp_takes_its_agent_servers_with_it() {
    let (_dir, ws) = workspace();
    let state = tempfile::tempdir().unwrap();
    let opts = Options { state_home: Some(state.path().to_path_buf()), ..options() };
    let llm = ScriptedLlm::start(vec![Step::terminal("echo alive"), Step::finish("never").gated("never")]);
    let (mut server, id) = start(&llm, &ws, json!({}), opts.clone(), "Outlive me");
    wait_event(&server, &id, "first output", |e| e["kind"] == "ObservationEvent");
    let port = port_of(&sandbox_url(&server, &id));
    let sockets = files_under(&std::env::temp_dir().join(format!("ohlsp-{}", &id[..16])));
    server.kill(); // SIGKILL: no chance to clean up
    wait_port_closed(port);

    // The next session clears what was left (the agent's tmux servers) and keeps the history.
    let (mut next, _) = Server::start(opts, init_params(&llm, &ws, json!({}))).unwrap();
    for socket in &sockets {
        let alive = std::process::Command::new("tmux").arg("-S").arg(socket).arg("list-sessions").output().unwrap();
        assert!(!alive.status.success(), "tmux server {} survived", socket.display());
    }
    let list = next.command("openhands.listConversations", json!({})).unwrap().unwrap();
    let entry = list["conversations"].as_array().unwrap().iter().find(|c| c["id"] == id).cloned().unwrap();
    assert_eq!(entry["state"], "stopped");
    assert!(entry["error"].as_str().unwrap().contains("sandbox is gone"), "{entry}");
    let events = next.command("openhands.getEvents", json!({"conversationId": id})).unwrap().unwrap();
    assert!(events["events"].as_array().unwrap().iter().any(|e| e["summary"] == "$ echo alive"));
}

/// `openhands-lsp run` on `ws` with the scripted model and `args`; its stdout, once it succeeded.
fn headless_run(ws: &std::path::Path, llm: &ScriptedLlm, state: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(openhands_lsp_tests::lsp_client::server_binary())
        .args(["run", "--model", "openai/stub", "--confirmation", "never"])
        .args(["--workspace", ws.to_str().unwrap(), "--base-url", &llm.base_url()])
        .args(["--agent-server", &openhands_lsp_tests::agent::agent_server_command()])
        .args(args)
        .env("XDG_STATE_HOME", state)
        .env("LLM_API_KEY", "sk-headless")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[test]
fn headless_run_prints_steps_the_final_message_and_changed_files() {
    let (_dir, ws) = workspace();
    let state = tempfile::tempdir().unwrap();
    let llm = ScriptedLlm::start(vec![
        Step::tool(
            "file_editor",
            json!({"command": "create", "path": ws.join("made.txt"), "file_text": "made\n", "security_risk": "LOW"}),
        ),
        Step::finish("made made.txt"),
    ]);
    let stdout = headless_run(
        &ws,
        &llm,
        state.path(),
        &["--task", "Make a file", "--settings", r#"{"llm": {"numRetries": 0}}"#],
    );
    assert!(stdout.contains("create ") && stdout.contains("made.txt"), "{stdout}");
    assert!(stdout.contains("finished: made made.txt"), "{stdout}");
    assert!(stdout.contains("changed files:") && stdout.contains("added    made.txt"), "{stdout}");
    // openai/stub has no price: the cost is unknown, not $0 (two calls of 10 tokens in and 5 out).
    assert!(stdout.contains("LLM use: cost unknown, 20 tokens in, 10 out"), "{stdout}");
}

#[test]
fn headless_run_in_its_own_copy_prints_each_checkpoint() {
    let (_dir, ws) = workspace();
    std::fs::write(ws.join("a.txt"), "a\n").unwrap();
    let state = tempfile::tempdir().unwrap();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("printf 'one\\n' > a.txt"),
        Step::terminal("printf 'two\\n' > b.txt"),
        Step::finish("wrote two files"),
    ]);
    let stdout = headless_run(&ws, &llm, state.path(), &["--task", "Write two files", "--isolation", "worktree"]);
    assert!(
        stdout.contains("  checkpoint 1 (step 1): a.txt\n") && stdout.contains("  checkpoint 2 (step 2): b.txt\n"),
        "each step's checkpoint is printed with its id: {stdout}"
    );
    assert_eq!(std::fs::read_to_string(ws.join("a.txt")).unwrap(), "a\n", "the user's folder is untouched");
}

#[test]
fn headless_run_exits_non_zero_on_error() {
    let (_dir, ws) = workspace();
    let state = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(openhands_lsp_tests::lsp_client::server_binary())
        .args([
            "run",
            "--task",
            "x",
            "--workspace",
            ws.to_str().unwrap(),
            "--agent-server",
            "/nonexistent/agent-server",
        ])
        .env("XDG_STATE_HOME", state.path())
        .env("LLM_API_KEY", "sk-test")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("/nonexistent/agent-server"));
    // Said once, as the last line: not also as a log line on stderr, nor again by the command line's own error.
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(said.matches("cannot start the agent-server command").count(), 1, "{said}");
}

#[test]
fn headless_run_without_an_llm_key_says_which_variable_to_set_and_starts_nothing() {
    let (_dir, ws) = workspace();
    let state = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(openhands_lsp_tests::lsp_client::server_binary())
        .args(["run", "--task", "x", "--workspace", ws.to_str().unwrap(), "--model", "anthropic/claude-sonnet-4-5"])
        .env("XDG_STATE_HOME", state.path())
        .env_remove("LLM_API_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(
        said.contains(
            "no LLM API key is set for anthropic/claude-sonnet-4-5: set the LLM_API_KEY environment variable"
        ),
        "{said}"
    );
    let conversations = state.path().join("openhands-lsp/conversations");
    assert_eq!(std::fs::read_dir(&conversations).map(|d| d.count()).unwrap_or(0), 0, "nothing was started");
}

#[test]
fn a_follow_up_message_runs_another_turn_with_its_own_progress() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start(vec![
        Step::finish("first turn"),
        Step::terminal("echo again > again.txt"),
        Step::finish("second turn"),
    ]);
    let (mut server, id) = start(&llm, &ws, json!({}), options(), "Two turns");
    wait_state(&server, &id, "finished");
    server
        .command("openhands.sendMessage", json!({"conversationId": id, "text": "Now write again.txt"}))
        .unwrap()
        .unwrap();
    server
        .wait_for("second turn", RUN_TIMEOUT, |msgs| {
            msgs.iter()
                .filter(|m| m["method"] == "openhands/conversationChanged" && m["params"]["id"] == id.as_str())
                .find(|m| m["params"]["finalMessage"] == "second turn")
                .cloned()
        })
        .unwrap();
    assert_eq!(std::fs::read_to_string(ws.join("again.txt")).unwrap(), "again\n");
    let second_request = llm.requests()[1].body.to_string();
    assert!(second_request.contains("Now write again.txt"), "the agent got the follow-up");
    // Each turn has its own progress, and each ended.
    let creates = server.server_requests("window/workDoneProgress/create");
    assert_eq!(creates.len(), 2, "{creates:?}");
    for create in creates {
        let token = create["token"].clone();
        server.wait_notification("$/progress", |p| p["token"] == token && p["value"]["kind"] == "end").unwrap();
    }
}

#[test]
fn allow_for_this_conversation_stops_asking() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo 1 > one.txt"),
        Step::terminal("echo 2 > two.txt"),
        Step::finish("both"),
    ]);
    let (mut server, _) = Server::start(options(), init_params(&llm, &ws, json!({"confirmation": "always"}))).unwrap();
    server.on_request("window/showMessageRequest", |_| Ok(json!({"title": "Allow for this conversation"})));
    let id = server.command("openhands.startTask", json!({"instruction": "Two commands"})).unwrap().unwrap()["conversationId"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_state(&server, &id, "finished");
    assert!(ws.join("one.txt").exists() && ws.join("two.txt").exists());
    assert_eq!(server.server_requests("window/showMessageRequest").len(), 1, "asked once for the whole conversation");
}

#[test]
fn streaming_sends_deltas_before_the_action() {
    let (_dir, ws) = workspace();
    let mut step = Step::terminal("echo streamed");
    step.text = Some("Thinking out loud before the command.".into());
    let llm = ScriptedLlm::start(vec![Step::terminal("true"), step, Step::finish("streamed run done")]);
    let (server, id) = start(&llm, &ws, json!({"llm": {"stream": true}}), options(), "Stream it");
    wait_state(&server, &id, "finished");
    assert_eq!(llm.requests()[0].body["stream"], true, "the agent asked for a stream");
    let events = events_of(&server, &id);
    let delta = events.iter().position(|e| e["kind"] == "StreamingDeltaEvent").expect("deltas reached the editor");
    let action = events.iter().position(|e| e["kind"] == "ActionEvent").unwrap();
    assert!(delta < action, "deltas come while the model writes, before its action");
    assert!(
        events.iter().any(|e| e["kind"] == "ObservationEvent" && e["detail"].as_str().unwrap().contains("streamed"))
    );
}

#[test]
fn exit_with_a_live_conversation_is_prompt_and_leaves_nothing_running() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start(vec![Step::terminal("echo busy"), Step::finish("never").gated("never")]);
    let (mut server, id) = start(&llm, &ws, json!({}), options(), "Busy at exit");
    wait_event(&server, &id, "first output", |e| e["kind"] == "ObservationEvent");
    let port = port_of(&sandbox_url(&server, &id));
    server.request("shutdown", Value::Null).unwrap().unwrap();
    let sent = std::time::Instant::now();
    server.notify("exit", Value::Null).unwrap();
    let status = server.wait_exit(Duration::from_secs(10)).unwrap().expect("exited");
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_secs(1), "exit took {took:?} with a live conversation");
    wait_port_closed(port);
    let meta =
        std::fs::read_to_string(server.state_home.join(format!("openhands-lsp/conversations/{id}/meta.json"))).unwrap();
    assert!(meta.contains("\"state\": \"stopped\""), "{meta}");
}

/// The process whose command line asks for `--port <port>`.
fn pid_serving(port: u16) -> u32 {
    let wanted = format!("--port\0{port}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.windows(wanted.len()).any(|w| w == wanted.as_bytes()))
        })
        .unwrap_or_else(|| panic!("no process serves port {port}"))
}

#[test]
fn the_agent_server_boots_with_the_start_up_hook_and_the_agents_commands_do_not_see_it() {
    let (_dir, ws) = workspace();
    let probe =
        "echo pythonpath=[$PYTHONPATH]; python3 -c 'import gc; print(\"full-gc-after\", gc.get_threshold()[2])'";
    let llm =
        ScriptedLlm::start(vec![Step::terminal("true"), Step::terminal(probe), Step::finish("probed").gated("end")]);
    let (mut server, id) = start(&llm, &ws, json!({}), options(), "Probe the environment");

    // The agent-server's environment as it was started: the hook's folder first on PYTHONPATH.
    let pid = pid_serving(port_of(&sandbox_url(&server, &id)));
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let python_path = environ
        .split(|b| *b == 0)
        .find_map(|v| v.strip_prefix(b"PYTHONPATH="))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .expect("PYTHONPATH in the agent-server's environment");
    let hook_dir = std::path::PathBuf::from(&python_path);
    assert!(hook_dir.join("sitecustomize.py").is_file(), "the hook is in {python_path}");
    // What it does under the agent-server's own Python: the collector set, and its folder gone from PYTHONPATH.
    let python = std::path::Path::new(&openhands_lsp_tests::agent::agent_server_command()).with_file_name("python");
    let out = std::process::Command::new(python)
        .env("PYTHONPATH", &python_path)
        .args(["-c", "import gc, os; print(gc.get_threshold()[2], os.environ.get('PYTHONPATH'))"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1000 None", "{}", String::from_utf8_lossy(&out.stderr));

    // The agent's own commands: no PYTHONPATH of ours, the collector's defaults.
    let output = wait_event(&server, &id, "the probe's output", |e| {
        e["kind"] == "ObservationEvent" && e["raw"]["observation"]["command"] == probe
    });
    let text = output["detail"].as_str().unwrap();
    assert!(text.contains("pythonpath=[]"), "{text}");
    assert!(text.contains("full-gc-after ") && !text.contains("full-gc-after 1000"), "{text}");
    llm.open_gate("end");
    wait_state(&server, &id, "finished");
    server.shutdown_and_exit().unwrap();
}

/// LiteLLM's prices as the agent-server has them: (input, output) US dollars per token and the context window.
fn litellm_price(model: &str) -> (f64, f64, u64) {
    let site =
        std::path::Path::new(&openhands_lsp_tests::agent::agent_server_command()).with_file_name("..").join("lib");
    let python =
        std::fs::read_dir(&site).unwrap().flatten().find(|e| e.file_name().to_string_lossy().starts_with("python"));
    let file = python.unwrap().path().join("site-packages/litellm/model_prices_and_context_window_backup.json");
    let prices: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let m = &prices[model];
    (
        m["input_cost_per_token"].as_f64().unwrap(),
        m["output_cost_per_token"].as_f64().unwrap(),
        m["max_input_tokens"].as_u64().unwrap(),
    )
}

#[test]
fn llm_use_is_kept_with_what_litellm_prices_it_at_and_survives_a_restart() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start(vec![Step::terminal("echo counted"), Step::finish("Counted.")]);
    let params = init_params(&llm, &ws, json!({"llm": {"model": "openai/gpt-4o"}}));
    let (mut server, _) = Server::start(options(), params.clone()).unwrap();
    let started = server.command("openhands.startTask", json!({"instruction": "Count"})).unwrap().unwrap();
    let id = started["conversationId"].as_str().unwrap().to_owned();
    let done = wait_state(&server, &id, "finished");
    // The usage a finished conversation reports (the stats come with the last step, before or after the finish).
    let usage = server
        .wait_for("the usage of both calls, with the time they took", RUN_TIMEOUT, |msgs| {
            msgs.iter()
                .filter(|m| m["method"] == "openhands/conversationChanged" && m["params"]["id"] == id)
                .map(|m| m["params"]["usage"].clone())
                .find(|u| u["tokensIn"] == 20 && u["llmSeconds"].as_f64().is_some_and(|s| s > 0.0))
        })
        .unwrap();
    let (price_in, price_out, window) = litellm_price("gpt-4o");
    let cost = usage["costUsd"].as_f64().unwrap();
    let want = 20.0 * price_in + 10.0 * price_out;
    assert!((cost - want).abs() < 1e-12, "{cost} = 20 x {price_in} + 10 x {price_out}: {usage}");
    assert_eq!(usage["tokensOut"], 10);
    assert_eq!(usage["contextWindow"], window);
    assert_eq!(usage["contextUsed"], 15, "the last call's 10 in and 5 out");
    let waited = usage["llmSeconds"].as_f64().unwrap();
    assert!(waited > 0.0 && waited < 60.0, "the time spent waiting for the model, from the full stats: {usage}");
    let status = server.command("openhands.status", json!({})).unwrap().unwrap();
    assert_eq!(status["usage"]["conversations"], 1, "{status}");
    assert_eq!(status["usage"]["costUsd"], usage["costUsd"]);
    assert_eq!(done["state"], "finished");
    server.shutdown_and_exit().unwrap();

    // After a restart, the history has it.
    let mut opts = options();
    opts.state_home = Some(server.state_home.clone());
    let (mut again, _) = Server::start(opts, params).unwrap();
    let listed = again.command("openhands.listConversations", json!({})).unwrap().unwrap();
    let kept = listed["conversations"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap()["usage"].clone();
    assert_eq!(kept, usage, "kept with the conversation");
    again.shutdown_and_exit().unwrap();
}

/// While the agent works: a steered message reaches its next LLM request within the same turn; a queued one waits
/// for the turn's end (shown as queued meanwhile) and starts the next turn; one taken back never reaches it.
#[test]
fn a_steered_message_joins_the_running_turn_and_a_queued_one_starts_the_next() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo one").gated("first-step"),
        Step::finish("first turn"),
        Step::finish("second turn"),
    ]);
    let (mut server, id) = start(&llm, &ws, json!({}), options(), "Work for a while");
    wait_state(&server, &id, "running");
    assert!(llm.wait_requests(1, RUN_TIMEOUT), "the agent waits on its first LLM call");
    let message = |text: &str, mode: Option<&str>| {
        let mut args = json!({"conversationId": id, "text": text});
        if let Some(mode) = mode {
            args["mode"] = json!(mode);
        }
        json!({"command": "openhands.sendMessage", "arguments": [args]})
    };

    // Steering is the default while it runs; its answer comes once the agent-server took it (the step ended).
    let steer = server.send_request("workspace/executeCommand", message("Also mention STEERED-DOCS", None)).unwrap();
    let queued = server.request("workspace/executeCommand", message("Then do QUEUED-NEXT", Some("queue"))).unwrap();
    let queued = queued.unwrap();
    assert_eq!(queued["delivery"], "queued", "{queued}");
    let taken = server.request("workspace/executeCommand", message("TAKEN-BACK text", Some("queue"))).unwrap().unwrap();
    let taken_id = taken["queued"]["id"].as_str().unwrap().to_owned();
    let shown = server
        .wait_for("both queued messages shown", RUN_TIMEOUT, |msgs| {
            msgs.iter()
                .filter(|m| m["method"] == "openhands/conversationChanged" && m["params"]["id"] == id.as_str())
                .map(|m| m["params"]["queued"].clone())
                .find(|q| q.as_array().is_some_and(|q| q.len() == 2))
        })
        .unwrap();
    assert_eq!(shown[0]["text"], "Then do QUEUED-NEXT");
    let back = server.command("openhands.unqueueMessage", json!({"conversationId": id, "messageId": taken_id}));
    assert_eq!(back.unwrap().unwrap()["message"]["text"], "TAKEN-BACK text");
    let again = server.command("openhands.unqueueMessage", json!({"conversationId": id, "messageId": taken_id}));
    let refused = again.unwrap().unwrap_err();
    assert!(refused.message.contains("no longer queued"), "{}", refused.message);

    llm.open_gate("first-step");
    let steered = server.response(steer, RUN_TIMEOUT).unwrap().unwrap();
    assert_eq!(steered["delivery"], "sent", "{steered}");
    server
        .wait_for("the queued message's turn", RUN_TIMEOUT, |msgs| {
            msgs.iter()
                .filter(|m| m["method"] == "openhands/conversationChanged" && m["params"]["id"] == id.as_str())
                .find(|m| m["params"]["finalMessage"] == "second turn" && m["params"]["state"] == "finished")
                .cloned()
        })
        .unwrap();
    let requests: Vec<String> = llm.requests().iter().map(|r| r.body.to_string()).collect();
    assert_eq!(requests.len(), 3, "one turn with two steps, then the queued message's turn");
    assert!(requests[1].contains("STEERED-DOCS"), "the steered message is in the turn's next request");
    assert!(requests[1].contains("echo one"), "that request goes on from the first step: the same turn");
    assert!(!requests[1].contains("QUEUED-NEXT"), "the queued message waits for the turn's end");
    assert!(requests[2].contains("QUEUED-NEXT"), "the queued message starts the next turn");
    assert!(requests.iter().all(|r| !r.contains("TAKEN-BACK")), "a message taken back never reaches the agent");
    let changes: Vec<Value> =
        server.notifications("openhands/conversationChanged").into_iter().filter(|c| c["id"] == id).collect();
    let first_end = changes.iter().position(|c| c["finalMessage"] == "first turn" && c["state"] == "finished");
    assert!(first_end.is_some(), "the first turn ended on its own");
    assert!(changes.last().unwrap().get("queued").is_none(), "nothing is left queued: {:?}", changes.last());
}

/// In a terminal, a question of the headless run rings the bell (tmux marks the window, as terminals mark a tab the
/// user is not looking at); `--no-bell` keeps it quiet. The answer typed there is taken.
#[test]
fn headless_run_rings_the_terminal_bell_when_the_agent_waits_for_an_answer() {
    for (bell, test) in [(true, "headless-bell"), (false, "headless-no-bell")] {
        let (_dir, ws) = workspace();
        let llm = ScriptedLlm::start(vec![Step::terminal("echo asked-first"), Step::finish("answered and done")]);
        let state = tempfile::tempdir().unwrap();
        let mut run = vec![
            openhands_lsp_tests::lsp_client::server_binary().display().to_string(),
            "run".into(),
            "--task".into(),
            "Say something".into(),
            "--model".into(),
            "openai/stub".into(),
            "--base-url".into(),
            llm.base_url(),
            "--agent-server".into(),
            openhands_lsp_tests::agent::agent_server_command(),
            "--confirmation".into(),
            "always".into(),
        ];
        if !bell {
            run.push("--no-bell".into());
        }
        // The terminal stays once the run ended, with its exit status, until Enter.
        let quoted: Vec<String> = run.iter().map(|a| format!("'{a}'")).collect();
        let script = format!("{}; echo \"[exit $?]\"; read _", quoted.join(" "));
        let env = [("LLM_API_KEY", "sk-headless".to_owned()), ("XDG_STATE_HOME", state.path().display().to_string())];
        let screen =
            openhands_lsp_tests::screen::Screen::start(test, &ws, &env, &["bash".into(), "-c".into(), script], 110, 30);
        screen.wait_for("asked", RUN_TIMEOUT, |s| s.contains("Allow? [y]es"));
        assert_eq!(screen.bell_rang(), bell, "the bell (--no-bell: {})", !bell);
        screen.type_text("y");
        screen.keys(&["Enter"]);
        let done = screen.wait_for("done", RUN_TIMEOUT, |s| s.contains("[exit "));
        assert!(done.contains("answered and done") && done.contains("[exit 0]"), "{done}");
        assert!(done.contains("asked-first"), "the allowed command ran: {done}");
    }
}

/// A message steered while the step under way ends by asking to run a command never answers that question: it is
/// added without a run of its own (a run there would run the command unasked), the user is asked, and what the user
/// answers (Reject) is what happens; the agent then reads the steered message.
#[test]
fn a_steered_message_never_confirms_the_action_the_step_under_way_asks_about() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo unasked > ran.txt").gated("first-step"),
        Step::finish("done after the answer"),
    ]);
    let (mut server, _) = Server::start(options(), init_params(&llm, &ws, json!({"confirmation": "always"}))).unwrap();
    server.on_request("window/showMessageRequest", |_| Ok(json!({"title": "Reject"})));
    let result = server.command("openhands.startTask", json!({"instruction": "Write ran.txt"})).unwrap().unwrap();
    let id = result["conversationId"].as_str().unwrap().to_owned();
    wait_state(&server, &id, "running");
    assert!(llm.wait_requests(1, RUN_TIMEOUT), "the agent waits on its first LLM call");
    let args = json!({"conversationId": id, "text": "Also STEERED while it asks"});
    let steer = server
        .send_request("workspace/executeCommand", json!({"command": "openhands.sendMessage", "arguments": [args]}))
        .unwrap();
    llm.open_gate("first-step");
    let steered = server.response(steer, RUN_TIMEOUT).unwrap().unwrap();
    assert_eq!(steered["delivery"], "sent", "{steered}");
    wait_state(&server, &id, "finished");
    assert!(!ws.join("ran.txt").exists(), "the command the user rejected never ran");
    let asked = server.server_requests("window/showMessageRequest");
    assert_eq!(asked.len(), 1, "asked once: {asked:?}");
    let second = llm.requests()[1].body.to_string();
    assert!(second.contains("STEERED while it asks"), "the agent read the steered message");
    assert!(second.contains("The user chose Reject in the editor."), "and the user's answer");
}
