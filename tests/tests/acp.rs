//! The ACP front (`openhands-lsp acp`) end to end: the official ACP TypeScript SDK as the editor
//! (`tests/acp-client/`), the real agent-server, a scripted LLM.

use openhands_lsp_tests::acp::{RawAgent, Setup, updates};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::repo::git;
use serde_json::json;

const A: &str = "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\n";

fn repo_with_files() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().canonicalize().unwrap();
    git(&ws, &["init", "-q", "-b", "main"]);
    std::fs::write(ws.join("a.txt"), A).unwrap();
    std::fs::write(ws.join("b.txt"), "alpha\nbeta\ngamma\n").unwrap();
    git(&ws, &["add", "."]);
    git(&ws, &["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "start"]);
    (dir, ws)
}

fn edit(path: &str, old: &str, new: &str) -> Step {
    Step::tool(
        "file_editor",
        json!({"command": "str_replace", "path": format!("{{workdir}}/{path}"), "old_str": old, "new_str": new, "security_risk": "LOW"}),
    )
}

#[test]
fn a_turn_streams_every_kind_of_update_and_the_changes_are_applied_through_the_editor() {
    let (_dir, ws) = repo_with_files();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo hello from the agent").thinking("Looking around first."),
        Step::tool(
            "task_tracker",
            json!({"command": "plan", "task_list": [
                {"title": "Change a.txt", "notes": "", "status": "in_progress"},
                {"title": "Change b.txt", "notes": "", "status": "todo"}]}),
        ),
        edit("a.txt", "line 2\n", "line 2 by the agent\n"),
        edit("b.txt", "beta\n", "beta by the agent\n"),
        Step::finish("Changed a.txt and b.txt."),
        Step::finish("You are welcome."),
    ]);
    let setup = Setup::new(&llm, json!({}));
    let a_buffer = A.replace("line 9\n", "line 9 edited by the user, not saved\n");
    let b_buffer = "alpha\nbeta changed by the user\ngamma\n";
    let result = setup.drive("turn", &[
        ("WORKSPACE", ws.display().to_string()),
        ("A_BUFFER", a_buffer.clone()),
        ("B_BUFFER", b_buffer.to_owned()),
    ]);

    // initialize: version 1, what the agent does.
    let init = &result["initialize"];
    assert_eq!(init["protocolVersion"], 1);
    assert_eq!(init["agentCapabilities"]["loadSession"], true);
    assert_eq!(init["agentCapabilities"]["promptCapabilities"]["embeddedContext"], true);
    assert_eq!(init["agentCapabilities"]["mcpCapabilities"], json!({"http": true, "sse": true}));
    for cap in ["list", "resume", "close"] {
        assert!(init["agentCapabilities"]["sessionCapabilities"][cap].is_object(), "{cap}: {init}");
    }
    assert_eq!(init["authMethods"][0]["id"], "llm-api-key");

    // session/new: at once, with config options clients show as pickers.
    let session = &result["session"];
    let id = session["sessionId"].as_str().unwrap();
    let options: Vec<&str> = session["configOptions"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(options, ["model", "confirmation", "backend"]);
    assert_eq!(session["configOptions"][0]["currentValue"], "openai/gpt-4o");
    assert_eq!(session["configOptions"][2]["currentValue"], "process");
    assert!(result["newMs"].as_u64().unwrap() < 1000, "session/new boots nothing: {}", result["newMs"]);

    // The turn: its stop reason, and every kind of update.
    assert_eq!(result["prompt"]["stopReason"], "end_turn");
    let commands = updates(&result, "available_commands_update");
    let names: Vec<&str> = commands[0]["availableCommands"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    for name in ["review", "apply", "discard", "pr", "fix-issue", "pause", "resume"] {
        assert!(names.contains(&name), "/{name} in {names:?}");
    }
    let thoughts = updates(&result, "agent_thought_chunk");
    assert!(thoughts.iter().any(|t| t["content"]["text"] == "Looking around first."), "{thoughts:?}");
    let calls = updates(&result, "tool_call");
    let execute = calls.iter().find(|c| c["kind"] == "execute").expect("an execute tool call");
    assert_eq!(execute["title"], "$ echo hello from the agent");
    let call_updates = updates(&result, "tool_call_update");
    let done = call_updates
        .iter()
        .find(|u| u["toolCallId"] == execute["toolCallId"] && u["status"] == "completed")
        .expect("the command completed");
    assert!(done["content"][0]["content"]["text"].as_str().unwrap().contains("hello from the agent"), "{done}");
    let edit_call = calls.iter().find(|c| c["kind"] == "edit" && c["title"].as_str().unwrap().contains("a.txt")).expect("an edit");
    assert_eq!(edit_call["content"][0]["type"], "diff");
    assert_eq!(edit_call["content"][0]["path"], ws.join("a.txt").display().to_string(), "the user's file, not the copy");
    let plan = updates(&result, "plan");
    assert_eq!(plan[0]["entries"][0]["content"], "Change a.txt");
    assert_eq!(plan[0]["entries"][0]["status"], "in_progress");
    let messages: String = updates(&result, "agent_message_chunk").iter().filter_map(|m| m["content"]["text"].as_str()).collect();
    assert!(messages.contains("Changed a.txt and b.txt."), "{messages}");
    let usage = updates(&result, "usage_update");
    assert!(!usage.is_empty(), "usage from the agent-server's stats");
    assert!(usage.last().unwrap()["size"].as_u64().unwrap() > 0);

    // Review: the diffs, and the question; allowed: a.txt merged with the unsaved edit and written through the
    // editor; b.txt overlaps the user's unsaved edit: refused, nothing written, the user's text kept.
    let review = calls.iter().find(|c| c["title"].as_str().unwrap().contains("changed in the agent's copy")).expect("the review");
    assert_eq!(review["content"].as_array().unwrap().len(), 2);
    let permissions = result["permissions"].as_array().unwrap();
    let asked = permissions.iter().find(|p| p["toolCall"]["toolCallId"] == review["toolCallId"]).expect("asked to apply");
    let choices: Vec<&str> = asked["options"].as_array().unwrap().iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(choices, ["allow_once", "reject_once"]);
    let writes = result["writes"].as_array().unwrap();
    assert_eq!(writes.len(), 1, "only a.txt is written: {writes:?}");
    assert_eq!(writes[0]["path"], ws.join("a.txt").display().to_string());
    let merged = a_buffer.replace("line 2\n", "line 2 by the agent\n");
    assert_eq!(writes[0]["content"], merged);
    assert_eq!(std::fs::read_to_string(ws.join("a.txt")).unwrap(), merged);
    assert_eq!(std::fs::read_to_string(ws.join("b.txt")).unwrap(), "alpha\nbeta\ngamma\n", "b.txt untouched");
    assert!(result["reads"].as_array().unwrap().iter().any(|r| *r == ws.join("a.txt").display().to_string()));
    let outcome = call_updates.iter().find(|u| u["toolCallId"] == review["toolCallId"] && u["status"] == "completed").expect("outcome");
    let said = outcome["title"].as_str().unwrap();
    assert!(said.contains("Applied: a.txt") && said.contains("b.txt"), "{said}");

    // The next turn: the agent was told what did not land.
    assert_eq!(result["second"]["stopReason"], "end_turn");
    let last = llm.requests().last().unwrap().body.to_string();
    assert!(last.contains("Not applied: b.txt"), "the agent is told: {last}");
    // The session is listed for its folder.
    let listed = result["listed"]["sessions"].as_array().unwrap();
    assert!(listed.iter().any(|s| s["sessionId"] == id && s["title"] == "Improve a.txt and b.txt"), "{listed:?}");
    // The instruction had the file context.
    let first = llm.requests()[0].body.to_string();
    assert!(first.contains("Context from") && first.contains("b.txt"), "{first}");
}

fn raw_setup() -> (ScriptedLlm, Setup, tempfile::TempDir) {
    let llm = ScriptedLlm::start(vec![]);
    let setup = Setup::new(&llm, json!({}));
    (llm, setup, tempfile::tempdir().unwrap())
}

#[test]
fn bad_input_is_answered_with_the_right_errors_and_the_agent_keeps_serving() {
    let (_llm, setup, ws) = raw_setup();
    let mut agent = RawAgent::start(&setup, &[], None);
    agent.send_line("this is not json");
    let e = agent.next();
    assert_eq!(e["error"]["code"], -32700, "{e}");
    agent.send_line("[1, 2]");
    assert_eq!(agent.next()["error"]["code"], -32600);
    agent.send_line(r#"{"jsonrpc": "2.0", "id": 7}"#);
    assert_eq!(agent.next()["error"]["code"], -32600);
    let init = agent.request(1, "initialize", json!({"protocolVersion": 99, "clientCapabilities": {}}));
    assert_eq!(init["result"]["protocolVersion"], 1, "a version it speaks: {init}");
    let bad = agent.request(2, "initialize", json!({"protocolVersion": "one"}));
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    assert!(bad["error"]["message"].as_str().unwrap().contains("protocolVersion"), "names the field: {bad}");
    let unknown = agent.request(3, "session/fly", json!({}));
    assert_eq!(unknown["error"]["code"], -32601);
    for (n, method) in ["session/prompt", "session/load", "session/resume", "session/close"].iter().enumerate() {
        let params = json!({"sessionId": "0123456789abcdef0123456789abcdef", "cwd": ws.path(), "mcpServers": [],
            "prompt": [{"type": "text", "text": "hi"}]});
        let e = agent.request(10 + n as u64, method, params);
        assert_eq!(e["error"]["code"], -32002, "{method}: {e}");
    }
    let e = agent.request(20, "session/new", json!({"cwd": "relative/path", "mcpServers": []}));
    assert_eq!(e["error"]["code"], -32602);
    // Still serving.
    let ok = agent.request(21, "session/new", json!({"cwd": ws.path(), "mcpServers": []}));
    assert!(ok["result"]["sessionId"].is_string(), "{ok}");
    assert_eq!(agent.finish(), Some(0));
}

#[test]
fn without_a_key_or_with_bad_settings_session_new_says_what_to_do() {
    let (_llm, setup, ws) = raw_setup();
    let mut agent = RawAgent::start(&setup, &[("LLM_API_KEY", "")], None);
    agent.request(1, "initialize", json!({"protocolVersion": 1}));
    let e = agent.request(2, "session/new", json!({"cwd": ws.path(), "mcpServers": []}));
    assert_eq!(e["error"]["code"], -32000, "auth required: {e}");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains("LLM_API_KEY") && message.contains("agent_servers"), "{message}");
    agent.finish();

    let bad = setup.state.path().join("bad.json");
    std::fs::write(&bad, r#"{"openhands": {"backend": "moon"}}"#).unwrap();
    let mut agent = RawAgent::start(&setup, &[], Some(&bad));
    agent.request(1, "initialize", json!({"protocolVersion": 1}));
    let e = agent.request(2, "session/new", json!({"cwd": ws.path(), "mcpServers": []}));
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains("openhands.backend") && message.contains("bad.json"), "{message}");
    agent.finish();
}

