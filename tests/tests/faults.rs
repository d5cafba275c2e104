//! Faults the way real machines leave them: a history torn by a crash or a full disk, a damaged `meta.json`, a
//! missing log. The real binary; the events are the ones captured from a real agent-server run.

use std::path::{Path, PathBuf};

use openhands_lsp_tests::agent::{init_params, options, wait_state};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::repo::git;
use openhands_lsp_tests::{Options, Server};
use serde_json::{Value, json};

const ID: &str = "0123456789abcdef0123456789abcdef";

/// The events of a real agent-server run, one JSON line each.
fn captured_lines() -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/agent-server-1.58.0/events_nostream.json");
    let capture: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    capture["search"]["items"].as_array().unwrap().iter().map(|e| e.to_string()).collect()
}

fn meta(ws: &Path, state: &str) -> Value {
    json!({"id": ID, "title": "Torn", "instruction": "i", "workspace": ws, "backend": "process", "state": state,
           "createdAt": 1, "updatedAt": 1, "eventCount": 0})
}

/// A state directory holding one conversation with this `meta.json` and `events.jsonl` (bytes as given).
fn state_with(meta: Option<&[u8]>, log: Option<&[u8]>) -> (tempfile::TempDir, PathBuf) {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().join("openhands-lsp/conversations").join(ID);
    std::fs::create_dir_all(&dir).unwrap();
    if let Some(m) = meta {
        std::fs::write(dir.join("meta.json"), m).unwrap();
    }
    if let Some(l) = log {
        std::fs::write(dir.join("events.jsonl"), l).unwrap();
    }
    (state, dir)
}

fn server_on(state: &Path, ws: &Path) -> Server {
    let llm = ScriptedLlm::start(vec![]);
    let opts = Options { state_home: Some(state.to_path_buf()), ..options() };
    Server::start(opts, init_params(&llm, ws, json!({}))).unwrap().0
}

/// Pages through the history as both clients do (`after = next` while `next < total`), with a bound: a loop that
/// does not end is the failure.
fn page_through(server: &mut Server, limit: u64) -> (Vec<Value>, u64) {
    let (mut after, mut events, mut total) = (0, Vec::new(), 0);
    for _ in 0..100 {
        let page = server
            .command("openhands.getEvents", json!({"conversationId": ID, "after": after, "limit": limit}))
            .unwrap()
            .unwrap();
        events.extend(page["events"].as_array().unwrap().iter().cloned());
        total = page["total"].as_u64().unwrap();
        let next = page["next"].as_u64().unwrap();
        assert!(next > after || next >= total, "paging does not move: {page}");
        if next >= total {
            return (events, total);
        }
        after = next;
    }
    panic!("paging never ended ({} events so far, total {total})", events.len());
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

#[test]
fn a_log_cut_mid_line_pages_to_its_end_without_the_torn_tail() {
    let ws = tempfile::tempdir().unwrap();
    let lines = captured_lines();
    let mut log = lines.join("\n") + "\n";
    log.push_str(&lines[4][..lines[4].len() / 2]); // a crash in the middle of writing the twelfth event
    let (state, _) = state_with(Some(meta(ws.path(), "finished").to_string().as_bytes()), Some(log.as_bytes()));
    let mut server = server_on(state.path(), ws.path());
    for limit in [1, 3, 500] {
        let (events, total) = page_through(&mut server, limit);
        assert_eq!(total, lines.len() as u64, "the torn tail is not an event");
        assert_eq!(seqs(&events), (0..lines.len() as u64).collect::<Vec<_>>(), "limit {limit}");
    }
    server.shutdown_and_exit().unwrap();
}

#[test]
fn a_bad_line_in_the_middle_is_skipped_and_every_other_event_keeps_its_seq() {
    let ws = tempfile::tempdir().unwrap();
    let mut lines = captured_lines();
    let kinds: Vec<Value> = lines.iter().map(|l| serde_json::from_str::<Value>(l).unwrap()["kind"].clone()).collect();
    lines[5] = "{\"kind\": \"Observ".to_owned(); // garbage where an event was
    let (state, _) = state_with(
        Some(meta(ws.path(), "finished").to_string().as_bytes()),
        Some((lines.join("\n") + "\n").as_bytes()),
    );
    let mut server = server_on(state.path(), ws.path());
    for limit in [1, 2, 500] {
        let (events, total) = page_through(&mut server, limit);
        assert_eq!(total, lines.len() as u64);
        let expected: Vec<u64> = (0..lines.len() as u64).filter(|s| *s != 5).collect();
        assert_eq!(seqs(&events), expected, "limit {limit}: positions kept, nothing twice");
        for e in &events {
            assert_eq!(e["kind"], kinds[e["seq"].as_u64().unwrap() as usize], "{e}");
        }
    }
    server.shutdown_and_exit().unwrap();
}

#[test]
fn one_invalid_utf8_byte_spoils_one_event_not_the_history() {
    let ws = tempfile::tempdir().unwrap();
    let lines = captured_lines();
    let mut log = (lines.join("\n") + "\n").into_bytes();
    let at = log.windows(5).position(|w| w == b"hello").expect("the agent's output in the capture");
    log[at] = 0xff;
    let (state, _) = state_with(Some(meta(ws.path(), "finished").to_string().as_bytes()), Some(&log));
    let mut server = server_on(state.path(), ws.path());
    let (events, total) = page_through(&mut server, 500);
    assert_eq!(total, lines.len() as u64);
    assert_eq!(events.len(), lines.len(), "every event readable");
    assert!(events.iter().any(|e| e.to_string().contains("\u{fffd}ello")), "the bad byte shows as a replacement");
    server.shutdown_and_exit().unwrap();
}

#[test]
fn a_missing_log_is_an_empty_history_and_a_stale_count_is_corrected() {
    let ws = tempfile::tempdir().unwrap();
    let (state, _) = state_with(Some(meta(ws.path(), "finished").to_string().as_bytes()), None);
    let mut server = server_on(state.path(), ws.path());
    let page = server.command("openhands.getEvents", json!({"conversationId": ID})).unwrap().unwrap();
    assert_eq!(page, json!({"events": [], "next": 0, "total": 0}));
    server.shutdown_and_exit().unwrap();

    // A session killed while the conversation ran: meta.json still says 0 events, the log holds 11.
    let log = captured_lines().join("\n") + "\n";
    let (state, _) = state_with(Some(meta(ws.path(), "running").to_string().as_bytes()), Some(log.as_bytes()));
    let mut server = server_on(state.path(), ws.path());
    let listed = server.command("openhands.listConversations", json!({})).unwrap().unwrap();
    let c = &listed["conversations"][0];
    assert_eq!(c["eventCount"], 11, "{c}");
    assert_eq!(c["state"], "stopped");
    server.shutdown_and_exit().unwrap();
}

/// A real conversation in its own worktree, finished with a change; returns its id, the state dir and the folder.
fn finished_in_a_worktree(ws: &Path, state: &Path) -> String {
    let llm = ScriptedLlm::start(vec![Step::terminal("printf 'changed\\n' > a.txt"), Step::finish("changed")]);
    let mut params = init_params(&llm, ws, json!({}));
    params["initializationOptions"].as_object_mut().unwrap().remove("isolation");
    let opts = Options { state_home: Some(state.to_path_buf()), ..options() };
    let (mut server, _) = Server::start(opts, params).unwrap();
    let id =
        server.command("openhands.startTask", json!({"instruction": "Change a"})).unwrap().unwrap()["conversationId"]
            .as_str()
            .unwrap()
            .to_owned();
    wait_state(&server, &id, "finished");
    server.shutdown_and_exit().unwrap();
    id
}

#[test]
fn a_damaged_meta_json_keeps_the_conversation_listed_reviewable_and_discardable() {
    for damage in [&b""[..], b"{\"id\": \"0123", b"not json at all", b"STATE"] {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().canonicalize().unwrap();
        git(&ws, &["init", "-q"]);
        std::fs::write(ws.join("a.txt"), "original\n").unwrap();
        git(&ws, &["add", "-A"]);
        git(&ws, &["commit", "-qm", "init"]);
        let state = tempfile::tempdir().unwrap();
        let id = finished_in_a_worktree(&ws, state.path());
        let conv = state.path().join("openhands-lsp/conversations").join(&id);
        let meta_path = conv.join("meta.json");
        if damage == b"STATE" {
            // Readable, but with a state this build does not know.
            let text = std::fs::read_to_string(&meta_path).unwrap().replace("\"finished\"", "\"exploded\"");
            std::fs::write(&meta_path, text).unwrap();
        } else {
            std::fs::write(&meta_path, damage).unwrap();
        }

        let llm = ScriptedLlm::start(vec![]);
        let opts = Options { state_home: Some(state.path().to_path_buf()), ..options() };
        let (mut server, _) = Server::start(opts, init_params(&llm, &ws, json!({}))).unwrap();
        let listed = server.command("openhands.listConversations", json!({})).unwrap().unwrap();
        let c = listed["conversations"].as_array().unwrap().iter().find(|c| c["id"] == id.as_str()).cloned();
        let c = c.unwrap_or_else(|| panic!("a damaged conversation is still listed: {listed}"));
        assert_eq!(c["state"], "damaged", "{c}");
        let error = c["error"].as_str().unwrap();
        assert!(error.contains(&meta_path.display().to_string()) && error.contains("is damaged"), "{error}");
        if damage == b"STATE" {
            assert_eq!(c["title"], "Change a", "everything else kept");
        }
        // Its copy is still reachable: review shows the agent's change, discard removes it.
        let review = server.command("openhands.reviewChanges", json!({"conversationId": id})).unwrap().unwrap();
        let a = review["files"].as_array().unwrap().iter().find(|f| f["path"] == "a.txt").cloned().unwrap();
        assert_eq!(a["proposed"], "changed\n", "{review}");
        server.command("openhands.discardChanges", json!({"conversationId": id})).unwrap().unwrap();
        assert!(!conv.join("worktree").exists(), "the copy was removed");
        assert!(!git(&ws, &["branch", "--list", "openhands/*"]).contains("openhands/"), "its branch was removed");
        assert_eq!(std::fs::read_to_string(ws.join("a.txt")).unwrap(), "original\n", "the user's file untouched");
        server.shutdown_and_exit().unwrap();
    }
}
