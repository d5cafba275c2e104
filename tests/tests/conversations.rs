//! Conversations end to end: the real openhands-lsp binary, the real OpenHands agent-server (process backend),
//! a scripted LLM.

use std::time::Duration;

use openhands_lsp_tests::agent::{file_uri, init_params};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::{Options, Server};
use serde_json::{Value, json};

const RUN_TIMEOUT: Duration = Duration::from_secs(240);

fn events_of(server: &Server, id: &str) -> Vec<Value> {
    server.notifications("openhands/event").into_iter().filter(|e| e["conversationId"] == id).collect()
}

fn wait_state(server: &Server, id: &str, state: &str) -> Value {
    server
        .wait_for(&format!("conversation {id} to be {state}"), RUN_TIMEOUT, |msgs| {
            msgs.iter()
                .filter(|m| m["method"] == "openhands/conversationChanged")
                .map(|m| &m["params"])
                .find(|p| p["id"] == id && p["state"] == state)
                .cloned()
        })
        .unwrap()
}

#[test]
fn a_task_runs_to_the_end_with_progress_events_and_a_log() {
    let workspace = tempfile::tempdir().unwrap();
    let ws = workspace.path().canonicalize().unwrap();
    let notes = ws.join("notes.txt");
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo hello from the agent && ls"),
        Step::tool(
            "file_editor",
            json!({"command": "create", "path": notes, "file_text": "first line\n", "security_risk": "LOW"}),
        ),
        Step::tool(
            "file_editor",
            json!({"command": "str_replace", "path": notes, "old_str": "first", "new_str": "second", "security_risk": "LOW"}),
        ),
        Step::finish("All done: notes.txt says second line."),
    ]);
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

    // Events: in order, each once, the terminal output among them, the same as the log on disk.
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
