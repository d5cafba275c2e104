//! The ACP front (`openhands-lsp acp`) end to end: the official ACP TypeScript SDK as the editor
//! (`tests/acp-client/`), the real agent-server, a scripted LLM.

use openhands_lsp_tests::acp::{RawAgent, Setup, updates};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use openhands_lsp_tests::repo::{git, repositories};
use serde_json::json;

/// A 1x1 PNG.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

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
    let result = setup.drive(
        "turn",
        &[
            ("WORKSPACE", ws.display().to_string()),
            ("A_BUFFER", a_buffer.clone()),
            ("B_BUFFER", b_buffer.to_owned()),
            ("IMAGE_PNG", PNG.to_owned()),
        ],
    );

    // initialize: version 1, what the agent does.
    let init = &result["initialize"];
    assert_eq!(init["protocolVersion"], 1);
    assert_eq!(init["agentCapabilities"]["loadSession"], true);
    assert_eq!(init["agentCapabilities"]["promptCapabilities"]["embeddedContext"], true);
    assert_eq!(init["agentCapabilities"]["promptCapabilities"]["image"], true);
    assert_eq!(init["agentCapabilities"]["mcpCapabilities"], json!({"http": true, "sse": true}));
    for cap in ["list", "resume", "close"] {
        assert!(init["agentCapabilities"]["sessionCapabilities"][cap].is_object(), "{cap}: {init}");
    }
    assert_eq!(init["authMethods"][0]["id"], "llm-api-key");

    // session/new: at once, with config options clients show as pickers.
    let session = &result["session"];
    let id = session["sessionId"].as_str().unwrap();
    let options: Vec<&str> =
        session["configOptions"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(options, ["model", "confirmation", "backend"]);
    assert_eq!(session["configOptions"][0]["currentValue"], "openai/gpt-4o");
    assert_eq!(session["configOptions"][2]["currentValue"], "process");
    assert!(result["newMs"].as_u64().unwrap() < 1000, "session/new boots nothing: {}", result["newMs"]);

    // The turn: its stop reason, and every kind of update.
    assert_eq!(result["prompt"]["stopReason"], "end_turn");
    let commands = updates(&result, "available_commands_update");
    let names: Vec<&str> =
        commands[0]["availableCommands"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    for name in ["review", "apply", "discard", "pr", "comment-issue", "fix-issue", "pause", "resume"] {
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
    let edit_call =
        calls.iter().find(|c| c["kind"] == "edit" && c["title"].as_str().unwrap().contains("a.txt")).expect("an edit");
    assert_eq!(edit_call["content"][0]["type"], "diff");
    assert_eq!(
        edit_call["content"][0]["path"],
        ws.join("a.txt").display().to_string(),
        "the user's file, not the copy"
    );
    let plan = updates(&result, "plan");
    assert_eq!(plan[0]["entries"][0]["content"], "Change a.txt");
    assert_eq!(plan[0]["entries"][0]["status"], "in_progress");
    let messages: String =
        updates(&result, "agent_message_chunk").iter().filter_map(|m| m["content"]["text"].as_str()).collect();
    assert!(messages.contains("Changed a.txt and b.txt."), "{messages}");
    let usage = updates(&result, "usage_update");
    assert!(!usage.is_empty(), "usage from the agent-server's stats");
    assert!(usage.last().unwrap()["size"].as_u64().unwrap() > 0);

    // Review: the diffs, and the question; allowed: a.txt merged with the unsaved edit and written through the
    // editor; b.txt overlaps the user's unsaved edit: refused, nothing written, the user's text kept.
    let review = calls
        .iter()
        .find(|c| c["title"].as_str().unwrap().contains("changed in the agent's copy"))
        .expect("the review");
    assert_eq!(review["content"].as_array().unwrap().len(), 2);
    // Each diff against the user's text (the unsaved buffer), showing what the apply makes of it.
    let a_diff = &review["content"][0];
    assert_eq!(a_diff["oldText"], a_buffer.as_str(), "{a_diff}");
    assert_eq!(a_diff["newText"], a_buffer.replace("line 2\n", "line 2 by the agent\n").as_str(), "{a_diff}");
    let permissions = result["permissions"].as_array().unwrap();
    let asked =
        permissions.iter().find(|p| p["toolCall"]["toolCallId"] == review["toolCallId"]).expect("asked to apply");
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
    let outcome = call_updates
        .iter()
        .find(|u| u["toolCallId"] == review["toolCallId"] && u["status"] == "completed")
        .expect("outcome");
    // A short title (panels cut long ones); what happened after the diffs.
    assert_eq!(outcome["title"], "Applied to your files", "{outcome}");
    let contents = outcome["content"].as_array().unwrap();
    assert_eq!(contents[0]["type"], "diff", "the diffs stay: {outcome}");
    let said = contents.last().unwrap()["content"]["text"].as_str().unwrap();
    assert!(said.starts_with("Applied: a.txt. Not applied: b.txt (your edits and the agent's overlap"), "{said}");
    assert!(said.ends_with("The agent was told."), "{said}");
    assert_eq!(permissions.len(), 1, "the same changes are not asked about again after the next turn");

    // The next turn: the agent was told what did not land.
    assert_eq!(result["second"]["stopReason"], "end_turn");
    let last = llm.requests().last().unwrap().body.to_string();
    assert!(last.contains("Not applied: b.txt"), "the agent is told: {last}");
    // The session is listed for its folder.
    let listed = result["listed"]["sessions"].as_array().unwrap();
    assert!(listed.iter().any(|s| s["sessionId"] == id && s["title"] == "Improve a.txt and b.txt"), "{listed:?}");
    // The instruction had the file context, and the image reached the model (gpt-4o takes images).
    let first = llm.requests()[0].body.to_string();
    assert!(first.contains("Context from") && first.contains("b.txt"), "{first}");
    assert!(first.contains(&format!("data:image/png;base64,{PNG}")), "the image reached the model: {first}");
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
    let e = agent.next_message();
    assert_eq!(e["error"]["code"], -32700, "{e}");
    agent.send_line("[1, 2]");
    assert_eq!(agent.next_message()["error"]["code"], -32600);
    agent.send_line(r#"{"jsonrpc": "2.0", "id": 7}"#);
    assert_eq!(agent.next_message()["error"]["code"], -32600);
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
    assert!(message.contains("openhands-lsp login"), "the sign-in is named: {message}");
    agent.finish();

    let bad = setup.state.path().join("bad.json");
    std::fs::write(&bad, r#"{"openhands": {"backend": "moon"}}"#).unwrap();
    let mut agent = RawAgent::start(&setup, &[], Some(&bad));
    agent.request(1, "initialize", json!({"protocolVersion": 1}));
    let e = agent.request(2, "session/new", json!({"cwd": ws.path(), "mcpServers": []}));
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains("openhands.backend") && message.contains("bad.json"), "{message}");
    // The session fails: it does not also say a default is used.
    assert!(!message.contains("default is used") && message.contains("fix the file"), "{message}");
    agent.finish();
}

#[test]
fn permissions_are_asked_and_answered_once_always_or_no_and_a_cancel_stops_the_turn_at_once() {
    let (_dir, ws) = repo_with_files();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo one"),
        Step::terminal("echo two"),
        Step::terminal("echo three"),
        Step::terminal("echo four"),
        Step::finish("ran them"),
        Step::terminal("echo before-cancel"),
        Step::terminal("echo after-cancel").gated("held"),
        Step::finish("going on"),
    ]);
    let setup = Setup::new(&llm, json!({}));
    let result = setup.drive("permissions", &[("WORKSPACE", ws.display().to_string()), ("HELD_REQUEST", "7".into())]);

    assert_eq!(result["configured"]["configOptions"][1]["currentValue"], "always");
    assert_eq!(result["first"]["stopReason"], "end_turn");
    assert_eq!(result["unexpected"], json!([]), "only the three commands were asked about");
    let asked: Vec<String> = result["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["toolCall"]["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        asked,
        ["$ echo one", "$ echo two", "$ echo three"],
        "four ran without asking (allowed for the session)"
    );
    let p = &result["permissions"][0];
    let kinds: Vec<&str> = p["options"].as_array().unwrap().iter().map(|o| o["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["allow_once", "allow_always", "reject_once", "reject_always"]);
    assert_eq!(p["toolCall"]["status"], "pending");
    // Its kind, so a panel labels it "Execute"; the command is its title, not repeated as its content.
    assert_eq!(p["toolCall"]["kind"], "execute", "{p}");
    assert!(p["toolCall"]["content"].is_null(), "{p}");
    // What ran: one, three, four; two was rejected and its call failed, and the agent was told.
    let first_turn: Vec<&serde_json::Value> =
        result["updates"].as_array().unwrap()[..result["afterFirst"].as_u64().unwrap() as usize].iter().collect();
    let outputs: String = first_turn
        .iter()
        .filter(|u| u["update"]["sessionUpdate"] == "tool_call_update" && u["update"]["status"] == "completed")
        .map(|u| u["update"].to_string())
        .collect();
    for ran in ["one", "three", "four"] {
        assert!(outputs.contains(&format!("```console\\n{ran}")), "echo {ran} ran: {outputs}");
    }
    assert!(!outputs.contains("```console\\ntwo"), "echo two did not run");
    assert!(
        first_turn.iter().any(|u| u["update"]["status"] == "failed" && u["update"].to_string().contains("Rejected")),
        "the rejected call failed, saying so"
    );
    assert!(llm.requests()[2].body.to_string().contains("The user rejected this action."), "the agent is told");

    // The cancel: answered `cancelled` at once; the held model's answer never ran; the next turn goes on.
    assert_eq!(result["second"]["stopReason"], "cancelled");
    assert!(result["cancelMs"].as_u64().unwrap() < 5000, "promptly: {} ms", result["cancelMs"]);
    assert_eq!(result["third"]["stopReason"], "end_turn");
    let all = result["updates"].to_string();
    assert!(!all.contains("after-cancel"), "nothing ran after the cancel");
    assert!(all.contains("going on"));
}

/// Starts a conversation over LSP in `ws` with state in `state_home`, waits for it to finish; its id.
fn lsp_conversation(llm: &ScriptedLlm, ws: &std::path::Path, state_home: &std::path::Path) -> String {
    use openhands_lsp_tests::agent::{init_params, options, wait_state};
    let mut opts = options();
    opts.state_home = Some(state_home.to_owned());
    let mut params = init_params(llm, ws, json!({}));
    // Its own copy, so that there is something to apply.
    params["initializationOptions"].as_object_mut().unwrap().remove("isolation");
    let (mut server, _) = openhands_lsp_tests::Server::start(opts, params).unwrap();
    server.on_request("workspace/applyEdit", |_| Ok(json!({"applied": true})));
    let started =
        server.command("openhands.startTask", json!({"instruction": "Write notes from VS Code"})).unwrap().unwrap();
    let id = started["conversationId"].as_str().unwrap().to_owned();
    wait_state(&server, &id, "finished");
    // Only a.txt is applied: the agent gets a note saying so (a message in the agent-server's history).
    let applied = server.command("openhands.applyChanges", json!({"conversationId": id, "files": ["a.txt"]}));
    assert_eq!(applied.unwrap().unwrap()["applied"], true);
    server
        .wait_notification("openhands/event", |e| e["source"] == "openhands-lsp" && e["kind"] == "MessageEvent")
        .unwrap();
    server.shutdown_and_exit().unwrap();
    id
}

#[test]
fn sessions_are_listed_loaded_and_resumed_after_a_restart_with_the_conversations_of_lsp_editors() {
    let (_dir, ws) = repo_with_files();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("printf 'notes\\n' >> a.txt && printf 'more notes\\n' >> b.txt"),
        Step::finish("Notes written."),
        Step::finish("Hello there."),
        Step::finish("More, as asked."),
    ]);
    let setup = Setup::new(&llm, json!({}));
    let state_home = setup.state.path().join("state");
    let from_lsp = lsp_conversation(&llm, &ws, &state_home);
    // As a conversation of an earlier openhands-lsp has it: no record of the agent-server's.
    std::fs::remove_dir_all(state_home.join(format!("openhands-lsp/conversations/{from_lsp}/agent"))).unwrap();

    let result =
        setup.drive("history", &[("WORKSPACE", ws.display().to_string()), ("LSP_CONVERSATION", from_lsp.clone())]);
    let id = result["id"].as_str().unwrap();
    assert_eq!(result["prompt"]["stopReason"], "end_turn");
    let ids = |list: &serde_json::Value| -> Vec<String> {
        list["sessions"].as_array().unwrap().iter().map(|s| s["sessionId"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(ids(&result["listedBefore"]), [id.to_owned(), from_lsp.clone()], "newest first, both fronts'");
    assert_eq!(ids(&result["elsewhere"]), Vec::<String>::new(), "filtered by folder");
    let listed = &result["listedBefore"]["sessions"][1];
    assert_eq!(listed["title"], "Write notes from VS Code");
    assert_eq!(listed["cwd"], ws.display().to_string());
    assert!(listed["updatedAt"].as_str().unwrap().ends_with('Z'));

    // The LSP conversation replayed: the user's message and the agent's.
    let replay = result["lspReplay"].to_string();
    assert!(replay.contains("user_message_chunk") && replay.contains("Write notes from VS Code"), "{replay}");
    assert!(replay.contains("Notes written."), "{replay}");
    // The note the editor gave the agent about the partial apply is not the user's message.
    assert!(!replay.contains("The user reviewed your changes"), "a note is not replayed as the user's words: {replay}");

    // After the restart.
    assert_eq!(ids(&result["listedAfter"]), [id.to_owned(), from_lsp.clone()]);
    let resumed_updates = result["afterResume"].to_string();
    assert!(!resumed_updates.contains("Say hello"), "resume replays nothing: {resumed_updates}");
    assert!(result["resumed"]["configOptions"].is_array());
    let replay = result["replay"].to_string();
    assert!(replay.contains("Say hello") && replay.contains("Hello there."), "load replays: {replay}");
    // A prompt to the loaded session goes on where it was: the agent starts again (shown as a tool call) and the model
    // gets the earlier turn's messages.
    assert_eq!(result["more"]["stopReason"], "end_turn", "{}", result["more"]);
    let went_on = result["wentOn"].to_string();
    assert!(went_on.contains("Starting the agent") && went_on.contains("More, as asked."), "{went_on}");
    let last = llm.requests().last().unwrap().body["messages"].to_string();
    assert!(last.contains("Say hello") && last.contains("Hello there.") && last.contains("More"), "{last}");
    assert_eq!(result["closed"], json!({}));
    let note = result["oldNote"].to_string();
    assert!(note.contains("cannot go on") && note.contains("made before"), "{note}");
    // A prompt to it is answered in the chat, not as an agent that failed to run.
    assert_eq!(result["oldPrompt"]["stopReason"], "end_turn");
    let answer = result["oldAnswer"].to_string();
    assert!(answer.contains("cannot go on") && answer.contains("made before"), "{answer}");

    // And the other way: an LSP editor lists the conversation the agent panel started.
    use openhands_lsp_tests::agent::{init_params, options};
    let mut opts = options();
    opts.state_home = Some(state_home);
    let (mut server, _) = openhands_lsp_tests::Server::start(opts, init_params(&llm, &ws, json!({}))).unwrap();
    let listed = server.command("openhands.listConversations", json!({})).unwrap().unwrap();
    assert!(
        listed["conversations"].as_array().unwrap().iter().any(|c| c["id"] == id && c["title"] == "Say hello"),
        "{listed}"
    );
    server.shutdown_and_exit().unwrap();
}

#[test]
fn mcp_servers_from_session_new_reach_the_agent_and_their_secrets_stay_out_of_logs_and_files() {
    let (_dir, ws) = repo_with_files();
    let llm = ScriptedLlm::start(vec![Step::tool("shout", json!({"text": "hello mcp"})), Step::finish("Shouted.")]);
    let setup = Setup::new(&llm, json!({}));
    let python = std::path::Path::new(&openhands_lsp_tests::agent::agent_server_command()).with_file_name("python");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mcp/shout_server.py");
    let token = "mcp-canary-7f3a9c";
    let result = setup.drive(
        "mcp",
        &[
            ("WORKSPACE", ws.display().to_string()),
            ("MCP_PYTHON", python.display().to_string()),
            ("MCP_SCRIPT", script.display().to_string()),
            ("MCP_TOKEN", token.to_owned()),
        ],
    );
    assert_eq!(result["prompt"]["stopReason"], "end_turn");
    // The agent offered the model the server's tool, and its answer (with the token it got) came back.
    let tools = llm.requests()[0].body["tools"].to_string();
    assert!(tools.contains("shout"), "the MCP tool is offered: {tools}");
    let second = llm.requests()[1].body.to_string();
    assert!(second.contains("HELLO MCP! (with its token)"), "the tool's answer reached the model: {second}");
    let calls = updates(&result, "tool_call");
    assert!(calls.iter().any(|c| c["title"].as_str().unwrap().contains("shout")), "{calls:?}");
    // A server whose command is missing: a clear error naming it.
    let missing = result["missing"]["message"].as_str().unwrap();
    assert!(missing.contains("no-such-mcp-server") && missing.contains("not found"), "{missing}");
    // The token is in no update, log line or file this server wrote.
    let shown = result["updates"].to_string() + result["stderr"].as_str().unwrap();
    assert!(!shown.contains(token), "the MCP token leaked into the updates or the log");
    for file in openhands_lsp_tests::repo::files_under(&setup.state_dir().join("conversations")) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&bytes).contains(token), "{} holds the MCP token", file.display());
    }
}

fn prompts(texts: &[&str]) -> String {
    serde_json::to_string(texts).unwrap()
}

#[test]
fn a_streaming_model_arrives_as_deltas_and_the_iteration_limit_ends_the_turn_as_max_turn_requests() {
    let (_dir, ws) = repo_with_files();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo a").thinking("Let me look at the folder."),
        Step::finish("Done, streamed."),
        Step::terminal("echo 1"),
        Step::terminal("echo 2"),
        Step::terminal("echo 3"),
    ]);
    let setup = Setup::new(&llm, json!({"llm": {"stream": true}, "maxIterations": 2, "isolation": "none"}));
    let result = setup.drive(
        "prompts",
        &[("WORKSPACE", ws.display().to_string()), ("PROMPTS", prompts(&["Look around", "Count to three"]))],
    );
    let first = &result["answers"][0];
    assert_eq!(first["stopReason"], "end_turn", "{first}");
    let chunks: Vec<&str> = first["updates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["sessionUpdate"] == "agent_message_chunk")
        .filter_map(|u| u["content"]["text"].as_str())
        .collect();
    assert!(chunks.len() > 1, "streamed in pieces: {chunks:?}");
    let said: String = chunks.concat();
    assert_eq!(said.matches("Let me look at the folder.").count(), 1, "each text once: {said}");
    assert!(said.contains("Done, streamed."), "{said}");
    assert_eq!(result["answers"][1]["stopReason"], "max_turn_requests", "{}", result["answers"][1]);
}

#[test]
fn slash_commands_review_apply_and_discard_the_agents_changes() {
    let (_dir, ws) = repo_with_files();
    let llm =
        ScriptedLlm::start(vec![edit("a.txt", "line 2\n", "line 2 by the agent\n"), Step::finish("Changed a.txt.")]);
    let setup = Setup::new(&llm, json!({}));
    let result = setup.drive(
        "prompts",
        &[
            ("WORKSPACE", ws.display().to_string()),
            (
                "PROMPTS",
                prompts(&["/review", "Change a.txt", "/review", "/apply", "/discard", "/review", "/fix-issue", "More"]),
            ),
            ("ANSWER", "keep".into()),
        ],
    );
    let answers = result["answers"].as_array().unwrap();
    assert!(answers[0]["error"]["message"].as_str().unwrap().contains("needs a conversation"), "{}", answers[0]);
    assert_eq!(answers[1]["stopReason"], "end_turn");
    // "Not now": the way to do it later is said (and the apply below is the first write).
    assert!(answers[1]["updates"].to_string().contains("/apply applies them"), "{}", answers[1]);
    let review = answers[2]["updates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["sessionUpdate"] == "tool_call")
        .expect("the diffs");
    assert_eq!(review["content"][0]["type"], "diff");
    assert_eq!(review["content"][0]["newText"], A.replace("line 2\n", "line 2 by the agent\n"));
    // And as a fenced diff, for panels that show a completed tool call as one line.
    let as_text = answers[2]["updates"].to_string();
    assert!(as_text.contains("```diff\\n--- a/a.txt\\n+++ b/a.txt\\n@@"), "{as_text}");
    assert!(as_text.contains("\\n-line 2\\n+line 2 by the agent\\n"), "{as_text}");
    assert!(answers[3]["updates"].to_string().contains("Applied: a.txt."), "{}", answers[3]);
    let writes = result["writes"].as_array().unwrap();
    assert_eq!(writes.len(), 1, "one write, by /apply, through the editor: {writes:?}");
    assert_eq!(std::fs::read_to_string(ws.join("a.txt")).unwrap(), A.replace("line 2\n", "line 2 by the agent\n"));
    assert!(answers[4]["updates"].to_string().contains("changes and its copy are gone"), "{}", answers[4]);
    assert!(answers[5]["updates"].to_string().contains("No changes to review"), "{}", answers[5]);
    // `/fix-issue` alone takes the branch's issue, for a new session only.
    let refused = answers[6]["error"]["message"].as_str().unwrap();
    assert!(refused.contains("has a conversation already: start a new session"), "{}", answers[6]);
    // A prompt after /discard: what to do, not an internal error.
    assert_eq!(answers[7]["stopReason"], "end_turn", "{}", answers[7]);
    assert!(answers[7]["updates"].to_string().contains("start a new session"), "{}", answers[7]);
    assert_eq!(llm.requests().len(), 2, "no slash command reached the model");
}

/// A panel that answers a permission with `cancelled` (CodeCompanion's Cancel, the SDK's own cancel path): the
/// action does not run, its tool call fails, the prompt answers `cancelled` (it used to stay unanswered for good),
/// and the next prompt goes on.
#[test]
fn a_permission_answered_cancelled_runs_nothing_and_ends_the_turn_cancelled() {
    let (_dir, ws) = repo_with_files();
    let llm = ScriptedLlm::start(vec![Step::terminal("touch ran.txt"), Step::finish("Stopped, as you asked.")]);
    let setup = Setup::new(&llm, json!({"confirmation": "always"}));
    let result = setup.drive(
        "prompts",
        &[
            ("WORKSPACE", ws.display().to_string()),
            ("PROMPTS", prompts(&["Touch a file", "Never mind, go on"])),
            ("ANSWER", "cancelled".into()),
        ],
    );
    let answers = result["answers"].as_array().unwrap();
    assert_eq!(answers[0]["stopReason"], "cancelled", "{}", answers[0]);
    let failed = answers[0]["updates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["sessionUpdate"] == "tool_call_update" && u["status"] == "failed")
        .cloned();
    assert!(failed.is_some(), "the asked-about call failed: {}", answers[0]["updates"]);
    assert!(!ws.join("ran.txt").exists(), "the cancelled action did not run");
    assert_eq!(answers[1]["stopReason"], "end_turn", "{}", answers[1]);
    assert!(answers[1]["updates"].to_string().contains("Stopped, as you asked."), "{}", answers[1]);
    assert!(!ws.join("ran.txt").exists());
}

/// Two chats of one editor, each with its own agent process: the second, loading the first's session while it
/// works, is told what is true (another openhands-lsp process, which one, and from where to drive it), not that
/// "another editor" runs it.
#[test]
fn a_second_chat_loading_a_running_session_is_told_which_process_runs_it() {
    let (_dir, ws) = repo_with_files();
    let llm = ScriptedLlm::start(vec![Step::finish("Done.").gated("held")]);
    let setup = Setup::new(&llm, json!({}));
    let result = setup.drive("two_chats", &[("WORKSPACE", ws.display().to_string())]);
    let told = result["told"].to_string();
    let pid = result["firstPid"].as_u64().unwrap();
    assert!(told.contains(&format!("running in another openhands-lsp process on this machine (pid {pid})")), "{told}");
    assert!(told.contains("each agent chat and each editor window runs its own"), "{told}");
    assert!(!told.contains("another editor"), "{told}");
    let error = result["promptError"]["message"].as_str().unwrap_or_default();
    assert!(error.contains(&format!("pid {pid}")) && error.contains("the window or chat that started it"), "{error}");
    assert_eq!(result["done"]["stopReason"], "end_turn");
}

/// A start the agent-server refuses with a 500 carrying pydantic's internals (as its handler of unexpected errors
/// answers): the panel gets a short title, the reason in words in the content and the prompt's error, the raw text
/// in `rawOutput` only.
#[test]
fn a_failed_start_is_said_in_words_with_a_short_title_and_the_raw_text_aside() {
    let (_dir, ws) = repo_with_files();
    let llm = ScriptedLlm::start(vec![]);
    let fake = env!("CARGO_BIN_EXE_fake-agent-server");
    let setup = Setup::new(&llm, json!({"process": {"command": fake}}));
    let raw = "1 validation error for LLM\nmodel\n  Field required [type=missing, input_value={'api_key': '***'}, \
               input_type=dict]\n    For further information visit https://errors.pydantic.dev/2.11/v/missing";
    let result = setup.drive(
        "prompts",
        &[
            ("WORKSPACE", ws.display().to_string()),
            ("PROMPTS", prompts(&["Start"])),
            ("FAKE_CREATE_FAILS", raw.to_owned()),
        ],
    );
    let answer = &result["answers"][0];
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("LLM not accepted: model: Field required"), "{answer}");
    assert!(!message.contains("[type=") && !message.contains("errors.pydantic.dev"), "{message}");
    let done = answer["updates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["sessionUpdate"] == "tool_call_update" && u["status"] == "failed")
        .cloned()
        .expect("the start's call failed");
    assert_eq!(done["title"], "The agent did not start", "{done}");
    let content = done["content"][0]["content"]["text"].as_str().unwrap_or_default();
    assert!(content.contains("LLM not accepted: model: Field required") && !content.contains("[type="), "{done}");
    assert!(done["rawOutput"]["error"].is_string(), "{done}");
}

/// `session/cancel` while the sandbox starts: the prompt answers `cancelled` and the task is held (it used to run
/// seconds later with no prompt waiting); the next prompt, sent at once, is taken (it used to fail "is starting")
/// and the agent's first call sees the task and that prompt together.
#[test]
fn a_cancel_during_the_start_holds_the_task_until_the_next_prompt() {
    let (_dir, ws) = repo_with_files();
    let llm = ScriptedLlm::start(vec![Step::finish("Going on with both.")]);
    let setup = Setup::new(&llm, json!({"confirmation": "always"}));
    let result = setup.drive("cancel_start", &[("WORKSPACE", ws.display().to_string())]);
    assert_eq!(result["first"]["stopReason"], "cancelled", "{}", result["first"]);
    assert_eq!(result["llmCallsAtCancel"], 0);
    assert_eq!(result["second"]["stopReason"], "end_turn", "{}", result["second"]);
    let requests = llm.requests();
    assert!(!requests.is_empty());
    let first_call = requests[0].body.to_string();
    assert!(
        first_call.contains("Task one") && first_call.contains("Go on after all"),
        "the held task ran only with the next prompt: {first_call}"
    );
    assert_eq!(result["permissions"], json!([]), "nothing of the cancelled turn asked anything");
}

/// An apply that lands nothing (every file overlaps the user's unsaved edits) ends the question's tool call
/// `failed`, titled `Not applied`, with why in its content: not `completed`, and not a long sentence as its title.
#[test]
fn an_apply_that_lands_nothing_fails_with_a_short_title() {
    let (_dir, ws) = repo_with_files();
    let llm = ScriptedLlm::start(vec![
        edit("a.txt", "line 2\n", "line 2 by the agent\n"),
        edit("b.txt", "beta\n", "beta by the agent\n"),
        Step::finish("Changed a.txt and b.txt."),
        Step::finish("You are welcome."),
    ]);
    let setup = Setup::new(&llm, json!({}));
    let result = setup.drive(
        "turn",
        &[
            ("WORKSPACE", ws.display().to_string()),
            ("A_BUFFER", A.replace("line 2\n", "line 2 changed by the user\n")),
            ("B_BUFFER", "alpha\nbeta changed by the user\ngamma\n".to_owned()),
            ("IMAGE_PNG", PNG.to_owned()),
        ],
    );
    let outcome = updates(&result, "tool_call_update")
        .into_iter()
        .find(|u| u["title"] == "Not applied")
        .expect("the apply's outcome");
    assert_eq!(outcome["status"], "failed", "{outcome}");
    let said = outcome["content"].as_array().unwrap().last().unwrap()["content"]["text"].as_str().unwrap().to_owned();
    assert!(said.starts_with("Nothing was applied. Not applied: a.txt (your edits and the agent's overlap"), "{said}");
    assert!(result["writes"].as_array().unwrap().is_empty(), "nothing written");
}

/// Iterate and apply: the agent edits a line, `/apply` applies it; asked for more, the agent edits the same line
/// again, and the second `/apply` applies it too (it used to be refused as an overlap with the user's edits). What
/// was applied is no longer listed, and each diff's old side is the user's text.
#[test]
fn the_same_lines_apply_again_after_another_prompt_and_review_lists_only_what_is_not_applied() {
    let (_dir, ws) = repo_with_files();
    let llm = ScriptedLlm::start(vec![
        edit("a.txt", "line 2\n", "line 2 by the agent\n"),
        Step::finish("Changed a.txt."),
        edit("a.txt", "line 2 by the agent\n", "line 2 by the agent, again\n"),
        edit("b.txt", "beta\n", "beta by the agent\n"),
        Step::tool(
            "file_editor",
            json!({"command": "create", "path": "{workdir}/c.txt", "file_text": "new\n", "security_risk": "LOW"}),
        ),
        Step::finish("Changed a.txt again, and b.txt."),
    ]);
    let setup = Setup::new(&llm, json!({}));
    let result = setup.drive(
        "prompts",
        &[
            ("WORKSPACE", ws.display().to_string()),
            ("PROMPTS", prompts(&["Change a.txt", "/apply", "/review", "Again", "/review", "/apply"])),
            ("ANSWER", "keep".into()),
        ],
    );
    let answers = result["answers"].as_array().unwrap();
    let said = |i: usize| answers[i]["updates"].to_string();
    assert!(said(1).contains("Applied: a.txt."), "{}", said(1));
    assert!(said(2).contains("No changes to review"), "what was applied is no change any more: {}", said(2));
    // Without streaming, the next prompt says at once that the model is being asked.
    let first_update = &answers[3]["updates"][0];
    assert_eq!(first_update["sessionUpdate"], "agent_thought_chunk", "{}", said(3));
    assert!(first_update["content"]["text"].as_str().unwrap().starts_with("Asking the model (openai/gpt-4o)"));
    let review = answers[4]["updates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["sessionUpdate"] == "tool_call")
        .expect("the diffs");
    let diffs = review["content"].as_array().unwrap();
    assert_eq!(diffs.len(), 3, "{review}");
    // A new file's diff has `"oldText": null` (a client opens its diff review only with the key there).
    assert!(diffs[2].as_object().unwrap().get("oldText").is_some_and(serde_json::Value::is_null), "{}", diffs[2]);
    let once = A.replace("line 2\n", "line 2 by the agent\n");
    assert_eq!(diffs[0]["oldText"], once.as_str(), "against the user's text, not the conversation's start");
    assert_eq!(diffs[0]["newText"], A.replace("line 2\n", "line 2 by the agent, again\n"));
    assert!(said(5).contains("Applied: a.txt, b.txt, c.txt."), "the same line applies again: {}", said(5));
    assert!(!said(5).contains("overlap"), "{}", said(5));
    assert_eq!(
        std::fs::read_to_string(ws.join("a.txt")).unwrap(),
        A.replace("line 2\n", "line 2 by the agent, again\n")
    );
    assert_eq!(std::fs::read_to_string(ws.join("b.txt")).unwrap(), "alpha\nbeta by the agent\ngamma\n");
}

#[test]
fn with_the_docker_backend_a_prompt_runs_in_a_container_and_no_secret_reaches_an_update_the_log_or_a_file() {
    // The user opened a subfolder of a repository: the container has the copy of the whole repository, the agent
    // works in the same subfolder, and its edits are shown as edits of the user's files there.
    let (_dir, repo) = repo_with_files();
    let ws = repo.join("sub");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("seed.txt"), "seeded by the user\n").unwrap();
    let llm = ScriptedLlm::start_for_containers(vec![
        Step::terminal("echo made in docker > made.txt && echo $GITHUB_TOKEN | wc -c"),
        Step::tool(
            "file_editor",
            json!({"command": "create", "path": "{workdir}/notes.md", "file_text": "hello\n", "security_risk": "LOW"}),
        ),
        Step::finish("Made made.txt."),
    ]);
    let image = std::env::var("OPENHANDS_TEST_IMAGE").expect("OPENHANDS_TEST_IMAGE: run scripts/test");
    let mut setup = Setup::new(
        &llm,
        json!({
            "backend": "docker",
            "llm": {"baseUrl": llm.container_base_url()},
            "docker": {"image": image, "warmPool": 1, "startupTimeoutSeconds": 180},
        }),
    );
    let (key, token) = ("sk-acp-canary-5b2e81d4", "ghp_acpcanary0123456789abcdefABCDEF0123");
    setup.env.retain(|(k, _)| k != "LLM_API_KEY");
    setup.env.push(("LLM_API_KEY".into(), key.into()));
    setup.env.push(("GITHUB_TOKEN".into(), token.into()));
    let result = setup.drive(
        "prompts",
        &[("WORKSPACE", ws.display().to_string()), ("PROMPTS", prompts(&["Make a file"])), ("ANSWER", "apply".into())],
    );
    let answer = &result["answers"][0];
    assert_eq!(answer["stopReason"], "end_turn", "{answer}");
    let calls = answer["updates"].as_array().unwrap();
    assert!(calls.iter().any(|u| u["title"] == "Starting the agent (docker)"), "{calls:?}");
    assert_eq!(std::fs::read_to_string(ws.join("made.txt")).unwrap(), "made in docker\n", "applied after review");
    assert_eq!(result["writes"][0]["path"], ws.join("made.txt").display().to_string(), "through the editor");
    let create = calls.iter().find(|u| u["sessionUpdate"] == "tool_call" && u["kind"] == "edit").expect("the edit");
    assert_eq!(create["content"][0]["path"], ws.join("notes.md").display().to_string(), "the user's file: {create}");
    assert_eq!(std::fs::read_to_string(ws.join("notes.md")).unwrap(), "hello\n");
    // The agent had both secrets (the model's key reached the model; the token the agent's shell).
    assert_eq!(llm.requests()[0].headers["authorization"], format!("Bearer {key}"));
    assert!(llm.requests()[1].body.to_string().contains(&(token.len() + 1).to_string()), "the token reached the shell");
    // ...and neither is in an update, the log, or a file the server wrote.
    let shown = result["updates"].to_string() + &result["permissions"].to_string() + result["stderr"].as_str().unwrap();
    for secret in [key, token] {
        assert!(!shown.contains(secret), "a secret reached the editor or the log");
        for file in openhands_lsp_tests::repo::files_under(&setup.state_dir()) {
            if std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file()) {
                let bytes = std::fs::read(&file).unwrap_or_default();
                assert!(!String::from_utf8_lossy(&bytes).contains(secret), "{} holds a secret", file.display());
            }
        }
    }
}

#[test]
fn for_an_editor_that_writes_no_files_the_apply_writes_to_disk_and_the_think_tool_shows() {
    let (_dir, ws) = repo_with_files();
    let llm = ScriptedLlm::start(vec![
        Step::tool("think", json!({"thought": "a.txt first, then done."})),
        edit("a.txt", "line 2\n", "line 2 by the agent\n"),
        Step::finish("Changed a.txt."),
    ]);
    let setup = Setup::new(&llm, json!({}));
    let result = setup.drive(
        "prompts",
        &[
            ("WORKSPACE", ws.display().to_string()),
            ("PROMPTS", prompts(&["Change a.txt"])),
            ("ANSWER", "apply".into()),
            ("FS", "off".into()),
        ],
    );
    assert_eq!(result["answers"][0]["stopReason"], "end_turn");
    let think = updates(&result, "tool_call").into_iter().find(|c| c["kind"] == "think").expect("a think call");
    assert_eq!(think["content"][0]["content"]["text"], "a.txt first, then done.");
    assert_eq!(result["writes"], json!([]), "nothing through the editor");
    assert_eq!(std::fs::read_to_string(ws.join("a.txt")).unwrap(), A.replace("line 2\n", "line 2 by the agent\n"));
}

#[test]
fn fix_issue_and_pr_from_the_panel_start_on_the_issue_and_open_its_pull_request() {
    use openhands_lsp_tests::git_http::GitHttpServer;
    use openhands_lsp_tests::provider_mock::ProviderMock;
    const TOKEN: &str = "ghp_acp_issue_flow_token_41";
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let (_git_server, bare, ws) = GitHttpServer::with_octo_hello(&root, TOKEN, &[("greeting.txt", "hi\n")]);
    let mock = ProviderMock::github();
    mock.on_fixture("GET", "/repos/octo/hello/issues/12", "github/issue_12.json");
    mock.on_fixture("GET", "/repos/octo/hello/issues/12/comments", "github/issue_12_comments.json");
    let llm = ScriptedLlm::start(vec![
        Step::terminal("printf 'Hello, world\\n' > greeting.txt"),
        Step::finish("Changed the greeting to Hello, world."),
    ]);
    let mut setup = Setup::new(&llm, json!({"github": {"host": "127.0.0.1", "apiUrl": mock.url()}}));
    setup.env.push(("GITHUB_TOKEN".into(), TOKEN.into()));
    let result = setup.drive(
        "prompts",
        &[
            ("WORKSPACE", ws.display().to_string()),
            ("PROMPTS", prompts(&["/fix-issue #12", "/pr"])),
            ("ANSWER", "keep".into()),
        ],
    );
    let answers = result["answers"].as_array().unwrap();
    assert_eq!(answers[0]["stopReason"], "end_turn", "{}", answers[0]);
    assert!(answers[0]["updates"].to_string().contains("Working on Fix issue #12: Greeting is not polite"));
    assert!(llm.requests()[0].body.to_string().contains("zebra-kiwi-42"), "the issue reached the agent");
    let said = answers[1]["updates"].to_string();
    assert!(said.contains("Opened pull request #"), "{}", answers[1]);
    let created = mock.requests_to("POST", "/repos/octo/hello/pulls");
    assert_eq!(created.len(), 1, "{:?}", mock.recorded());
    assert_eq!(created[0].body["title"], "Fix issue #12: Greeting is not polite");
    let branch = created[0].body["head"].as_str().unwrap().to_owned();
    assert_eq!(git(&bare, &["show", &format!("{branch}:greeting.txt")]), "Hello, world\n", "the branch was pushed");
    assert_eq!(mock.violations(), Vec::<String>::new());
    assert_eq!(std::fs::read_to_string(ws.join("greeting.txt")).unwrap(), "hi\n", "the user's folder untouched");
    assert!(!result.to_string().contains(TOKEN), "the token reached the editor or the log");
}

/// `/fix-issue ENG-42` in the panel starts on the Linear issue (every request checked against Linear's schema),
/// `/pr` opens the pull request naming it and says `/comment-issue` is there, and `/comment-issue` (the user's yes)
/// puts the link on the issue.
#[test]
fn a_linear_issue_from_the_panel_gets_its_pull_request_and_on_the_users_word_a_comment() {
    use openhands_lsp_tests::git_http::GitHttpServer;
    use openhands_lsp_tests::provider_mock::ProviderMock;
    const TOKEN: &str = "ghp_acp_linear_flow_token_43";
    const KEY: &str = "lin_api_acp_canary_key_44";
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let (_git_server, _bare, ws) = GitHttpServer::with_octo_hello(&root, TOKEN, &[("greeting.txt", "hi\n")]);
    let github = ProviderMock::github();
    let linear = ProviderMock::linear();
    openhands_lsp_tests::tracker_answers::linear_issue(&linear);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("printf 'Hello, world\\n' > greeting.txt"),
        Step::finish("Changed the greeting to Hello, world."),
    ]);
    let overrides = json!({
        "github": {"host": "127.0.0.1", "apiUrl": github.url()},
        "linear": {"apiUrl": format!("{}/graphql", linear.url())},
    });
    let mut setup = Setup::new(&llm, overrides);
    setup.env.push(("GITHUB_TOKEN".into(), TOKEN.into()));
    setup.env.push(("LINEAR_API_KEY".into(), KEY.into()));
    let result = setup.drive(
        "prompts",
        &[
            ("WORKSPACE", ws.display().to_string()),
            ("PROMPTS", prompts(&["/fix-issue eng-42", "/pr", "/comment-issue"])),
            ("ANSWER", "keep".into()),
        ],
    );
    let answers = result["answers"].as_array().unwrap();
    assert_eq!(answers[0]["stopReason"], "end_turn", "{}", answers[0]);
    assert!(
        answers[0]["updates"].to_string().contains("Working on Fix ENG-42: Login fails with spaces"),
        "{}",
        answers[0]
    );
    assert!(llm.requests()[0].body.to_string().contains("Fix Linear issue ENG-42"), "the issue reached the agent");
    let said = answers[1]["updates"].to_string();
    assert!(
        said.contains("Opened pull request #") && said.contains("/comment-issue puts its link on ENG-42 too."),
        "{said}"
    );
    let created = github.requests_to("POST", "/repos/octo/hello/pulls");
    assert_eq!(created[0].body["title"], "Fix ENG-42: Login fails with spaces");
    assert!(
        answers[2]["updates"].to_string().contains("Commented on ENG-42 with the pull request's link."),
        "{}",
        answers[2]
    );
    let comment = linear
        .recorded()
        .into_iter()
        .find(|r| r.body["query"].as_str().is_some_and(|q| q.contains("commentCreate")))
        .expect("a comment on ENG-42");
    assert_eq!(comment.body["variables"]["input"]["issueId"], "2f7c9e0a-1111-4c4c-9c9c-42aa42aa42aa");
    assert!(comment.body["variables"]["input"]["body"].as_str().unwrap().contains("/pull/"), "{}", comment.body);
    assert_eq!(linear.violations(), Vec::<String>::new());
    assert!(!result.to_string().contains(KEY), "the key reached the editor or the log");
}

#[test]
fn pause_and_resume_from_the_panel_stop_the_agent_and_let_it_go_on() {
    let (_dir, ws) = repo_with_files();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo first"),
        Step::terminal("echo held").gated("never"),
        Step::terminal("echo after the pause"),
        Step::finish("Done after the pause."),
    ]);
    let setup = Setup::new(&llm, json!({"isolation": "none"}));
    let result = setup.drive("pause", &[("WORKSPACE", ws.display().to_string())]);
    assert_eq!(result["paused"]["stopReason"], "end_turn");
    assert_eq!(result["turn"]["stopReason"], "cancelled", "the turn the agent was on ends when it is paused");
    assert_eq!(result["resumed"]["stopReason"], "end_turn");
    let all = result["updates"].to_string();
    assert!(all.contains("Paused. /resume goes on.") && all.contains("Resumed."), "{all}");
    assert!(all.contains("after the pause"), "the agent went on after /resume");
    assert!(!all.contains("```console\\nheld"), "the held step never ran");
}

#[test]
fn past_its_dollar_budget_the_turn_asks_raises_once_and_stops_as_max_tokens() {
    let (_dir, ws) = repo_with_files();
    // openai/gpt-4o through the stand-in: 10 tokens in and 5 out cost $0.000075 a call by LiteLLM's prices.
    let llm = ScriptedLlm::start(vec![
        Step::terminal("touch one"),
        Step::terminal("touch two"),
        Step::terminal("touch three"),
        // Held: the step after the one that crosses the raised limit (a real model takes longer than the pause).
        Step::terminal("touch four").gated("never"),
        Step::finish("Done."),
    ]);
    let setup = Setup::new(&llm, json!({"maxBudgetPerTask": 0.0001, "isolation": "none"}));
    let result = setup.drive("budget", &[("WORKSPACE", ws.display().to_string())]);
    assert_eq!(result["prompt"]["stopReason"], "max_tokens", "{}", result["prompt"]);
    assert_eq!(result["left"], json!([]), "asked twice: raised, then stopped");
    let asked: Vec<&serde_json::Value> = result["permissions"].as_array().unwrap().iter().collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    let title = asked[0]["toolCall"]["title"].as_str().unwrap();
    assert!(
        title.starts_with("The agent has spent $0.00015 and 30 tokens") && title.ends_with("of its budget of $0.0001"),
        "{title}"
    );
    let options: Vec<&str> =
        asked[0]["options"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(options, ["Raise by $0.0001 and go on", "Stop"]);
    assert!(asked[1]["toolCall"]["title"].as_str().unwrap().contains("of its budget of $0.0002"), "{asked:?}");
    // The budget's tool calls end as the answers went: the first completed (raised), the second failed (stopped).
    let ends: Vec<String> = updates(&result, "tool_call_update")
        .iter()
        .filter(|u| u["toolCallId"].as_str().is_some_and(|c| c.starts_with("openhands-budget-")))
        .map(|u| u["status"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ends, ["completed", "failed"]);
    assert!(ws.join("three").exists() || ws.join("two").exists(), "raised, the agent went on");
    assert!(!ws.join("four").exists(), "stopped at the raised limit");
}

/// As panels do it while a turn runs: `_session/steering` (announced as Claude's and Codex's adapters announce it)
/// reaches the running turn's next LLM request; a second `session/prompt` waits for the turn and runs next, never
/// refused or lost; steering with no turn running answers `promptRequired`; a cancel also cancels the prompt
/// queued behind the turn, which never reaches the agent.
#[test]
fn steering_joins_the_running_turn_and_a_second_prompt_waits_its_turn() {
    let (_dir, ws) = repo_with_files();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo one").gated("first-step"),
        Step::finish("Turn one done."),
        Step::finish("Turn two done."),
        Step::terminal("echo long").gated("never"),
    ]);
    let setup = Setup::new(&llm, json!({"isolation": "none"}));
    let result = setup.drive("steer", &[("WORKSPACE", ws.display().to_string())]);
    for place in [&result["init"]["_meta"], &result["init"]["agentCapabilities"]["_meta"]] {
        assert_eq!(place["steering"]["supported"], true, "{}", result["init"]);
    }
    assert_eq!(result["steerAnswer"]["outcome"], "injected");
    assert_eq!(result["first"]["stopReason"], "end_turn");
    assert_eq!(result["second"]["stopReason"], "end_turn");
    assert_eq!(result["order"], json!(["first", "queued"]), "the second prompt ran after the first");
    assert_eq!(result["idle"]["outcome"], "promptRequired");
    assert_eq!(result["cancelled"]["stopReason"], "cancelled");
    assert_eq!(result["cancelledBehind"]["stopReason"], "cancelled");
    let requests: Vec<String> = llm.requests().iter().map(|r| r.body.to_string()).collect();
    assert_eq!(requests.len(), 4, "two steps, the queued prompt's turn, the held one");
    assert!(requests[1].contains("STEERED-DOCS") && requests[1].contains("echo one"), "steered into the same turn");
    assert!(!requests[1].contains("QUEUED-NEXT"), "the queued prompt waited");
    assert!(requests[2].contains("QUEUED-NEXT"), "the queued prompt is the next turn");
    assert!(requests.iter().all(|r| !r.contains("NEVER-SENT")), "the prompt cancelled in the queue never ran");
    assert!(requests.iter().all(|r| !r.contains("Nothing runs now")), "promptRequired took nothing");
}

/// A session across two folders (`additionalDirectories`, announced in `sessionCapabilities`): each folder gets its
/// own copy, the agent is told where the other one is, and the review at the end of the turn shows and applies each
/// folder's changes in that folder, through the editor.
#[test]
fn a_session_with_additional_directories_works_in_each_and_applies_each_in_its_own_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let [app, api] =
        <[_; 2]>::try_from(repositories(&root, &[("app", "app.txt", "v1\n"), ("api", "api.txt", "v1\n")])).unwrap();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo v2 > app.txt && cd ../folders/api && echo v2 > api.txt"),
        Step::finish("Both bumped."),
    ]);
    let setup = Setup::new(&llm, json!({}));
    let result = setup.drive("folders", &[("APP", app.display().to_string()), ("API", api.display().to_string())]);
    assert_eq!(
        result["init"]["agentCapabilities"]["sessionCapabilities"]["additionalDirectories"],
        json!({}),
        "{}",
        result["init"]
    );
    assert_eq!(result["missing"]["code"], -32602, "{}", result["missing"]);
    assert!(result["missing"]["message"].as_str().unwrap().contains("no-such-folder"), "{}", result["missing"]);
    assert_eq!(result["prompt"]["stopReason"], "end_turn");
    // The agent was told where the other folder is.
    let system = llm.requests()[0].body["messages"][0].to_string();
    assert!(system.contains("This task spans several folders") && system.contains("folders/api"), "{system}");
    // One review of both, each file where the user has it.
    let review = updates(&result, "tool_call")
        .into_iter()
        .find(|u| u["toolCallId"].as_str().is_some_and(|i| i.starts_with("openhands-review-")))
        .cloned()
        .expect("the review");
    let mut diffs: Vec<String> = review["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] == "diff")
        .map(|c| c["path"].as_str().unwrap().to_owned())
        .collect();
    diffs.sort();
    assert_eq!(diffs, [api.join("api.txt").display().to_string(), app.join("app.txt").display().to_string()]);
    // Applied through the editor, each in its own folder.
    let mut written: Vec<String> =
        result["writes"].as_array().unwrap().iter().map(|w| w["path"].as_str().unwrap().to_owned()).collect();
    written.sort();
    assert_eq!(written, diffs);
    assert_eq!(std::fs::read_to_string(app.join("app.txt")).unwrap(), "v2\n");
    assert_eq!(std::fs::read_to_string(api.join("api.txt")).unwrap(), "v2\n");
    let listed = &result["listed"]["sessions"][0];
    assert_eq!(listed["additionalDirectories"], json!([api]), "{listed}");
}
