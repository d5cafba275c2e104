//! What the agent's LLM use takes: the key OpenHands' own models are called with, and the budget a conversation keeps (`openhands.maxBudgetPerTask`, `openhands.maxTokensPerTask`): past it the agent
//! is paused before its next step and the user asked; "raise" goes on, "stop" stops, a resume or a dismissed question
//! never goes on by itself; the headless run stops and exits non-zero with the figures. The real binary and
//! agent-server, the scripted LLM (each call: 10 tokens in, 5 out).

use std::sync::{Arc, Mutex};

use openhands_lsp_tests::Server;
use openhands_lsp_tests::agent::{RUN_TIMEOUT, init_params, options, start_task, wait_state, wait_until};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use serde_json::{Value, json};

fn workspace() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().canonicalize().unwrap();
    (dir, ws)
}

/// The budget questions asked so far (their params).
fn budget_questions(server: &Server) -> Vec<Value> {
    server
        .server_requests("window/showMessageRequest")
        .into_iter()
        .filter(|q| q["message"].as_str().is_some_and(|m| m.contains("of its budget")))
        .collect()
}

fn wait_questions(server: &Server, n: usize) -> Value {
    wait_until(&format!("budget question #{n}"), RUN_TIMEOUT, || budget_questions(server).len() >= n);
    budget_questions(server)[n - 1].clone()
}

fn last_changed(server: &Server, id: &str) -> Value {
    server
        .notifications("openhands/conversationChanged")
        .into_iter()
        .rev()
        .find(|c| c["id"] == id)
        .unwrap_or(Value::Null)
}

#[test]
fn past_its_tokens_the_agent_pauses_and_only_the_users_raise_goes_on_and_stop_stops() {
    let (_dir, ws) = workspace();
    // The second call is held until the test opens its gate: nothing after the first step can run before the pause
    // (if it was asked, the interrupt cancels it and the next call takes the third step, the same command).
    let llm = ScriptedLlm::start(vec![
        Step::terminal("touch one"),
        Step::terminal("touch two").gated("second"),
        Step::terminal("touch two"),
        // Held: the step after the one that crosses the raised limit (a model answers in seconds, not at once as
        // this stand-in does: the pause comes before it asks for the next step).
        Step::terminal("touch three").gated("third"),
        Step::finish("Done."),
    ]);
    let params = init_params(&llm, &ws, json!({"maxTokensPerTask": 10}));
    let (mut server, _) = Server::start(options(), params).unwrap();
    // The user: dismisses the first two questions, then raises, then stops.
    let answers: Arc<Mutex<Vec<&'static str>>> = Arc::new(Mutex::new(vec!["", "", "raise", "stop"]));
    let queue = answers.clone();
    server.on_request("window/showMessageRequest", move |params| {
        if !params["message"].as_str().is_some_and(|m| m.contains("of its budget")) {
            return Ok(Value::Null);
        }
        let next = {
            let mut queue = queue.lock().unwrap();
            if queue.is_empty() { "" } else { queue.remove(0) }
        };
        Ok(match next {
            "raise" => params["actions"][0].clone(),
            "stop" => params["actions"][1].clone(),
            _ => Value::Null,
        })
    });
    let id = start_task(&mut server, "Touch the files");

    let first = wait_questions(&server, 1);
    let message = first["message"].as_str().unwrap();
    assert!(
        message.contains("has spent an unknown cost and 15 tokens of its budget of 10 tokens")
            && message.contains("The agent is paused"),
        "{message}"
    );
    let actions: Vec<&str> =
        first["actions"].as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap()).collect();
    assert_eq!(actions, ["Raise by 10 tokens and go on", "Stop"]);
    let paused = wait_state(&server, &id, "paused");
    assert!(paused["budgetReached"].as_str().unwrap().contains("15 tokens"), "{paused}");
    // (The step whose call crossed the limit may or may not have run: the pause can come before its action.)
    assert!(!ws.join("two").exists(), "paused before its next step");

    // Resume is no answer: the question comes again, the agent stays paused.
    server.command("openhands.resume", json!({"conversationId": id})).unwrap().unwrap();
    wait_questions(&server, 2);
    assert_eq!(last_changed(&server, &id)["state"], "paused");
    assert!(!ws.join("two").exists(), "a resume does not go past the budget");

    // Asked again, the user raises: the agent goes on, and stops at the raised limit (30 tokens of 20).
    llm.open_gate("second");
    server.command("openhands.resume", json!({"conversationId": id})).unwrap().unwrap();
    let fourth = wait_questions(&server, 4);
    assert!(fourth["message"].as_str().unwrap().contains("30 tokens of its budget of 20 tokens"), "{fourth}");
    let stopped = wait_state(&server, &id, "stopped");
    // Raised, the agent went on: another call, counted in the second question (whether that call's own step ran
    // before the pause depends on timing, as with the first).
    assert!(llm.served() >= 2, "raised, the agent went on");
    assert!(!ws.join("three").exists(), "stopped at the raised limit");
    assert!(stopped["finalMessage"].as_str().unwrap().starts_with("stopped on its budget: it has spent"), "{stopped}");
    assert!(stopped["usage"]["tokensIn"].as_u64().unwrap() >= 20, "{stopped}");
    assert!(answers.lock().unwrap().is_empty(), "every answer was used");
    server.shutdown_and_exit().unwrap();
}

#[test]
fn headless_run_stops_on_the_budget_and_exits_non_zero_with_the_figures() {
    let (_dir, ws) = workspace();
    let state = tempfile::tempdir().unwrap();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("touch one"),
        Step::terminal("touch two").gated("never"),
        Step::finish("Done."),
    ]);
    let out = std::process::Command::new(openhands_lsp_tests::lsp_client::server_binary())
        .args(["run", "--model", "openai/stub", "--confirmation", "never", "--isolation", "none"])
        .args(["--workspace", ws.to_str().unwrap(), "--base-url", &llm.base_url()])
        .args(["--agent-server", &openhands_lsp_tests::agent::agent_server_command()])
        .args(["--task", "Touch the files", "--settings", r#"{"maxTokensPerTask": 10}"#])
        .env("XDG_STATE_HOME", state.path())
        .env("LLM_API_KEY", "sk-headless")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "stopped on the budget is a failure for scripts: {stdout}");
    assert!(stderr.contains("has spent an unknown cost and 15 tokens of its budget of 10 tokens"), "{stderr}");
    assert!(stderr.contains("No terminal to ask on: stopped."), "{stderr}");
    assert!(stdout.contains("stopped: stopped on its budget: it has spent"), "{stdout}");
    assert!(stdout.contains("LLM use: cost unknown, 10 tokens in, 5 out"), "{stdout}");
    assert!(!ws.join("two").exists(), "{stdout}");
}

#[test]
fn openhands_models_take_the_openhands_key_when_no_llm_key_is_set_and_say_both_ways_without_one() {
    let (_dir, ws) = workspace();
    let key = "ohk-canary-31c7";
    let llm = ScriptedLlm::start(vec![Step::finish("Done.")]);
    // openhands/<name> is called through OpenHands' LLM proxy; here its base URL is the stand-in's.
    let params = init_params(&llm, &ws, json!({"llm": {"model": "openhands/claude-sonnet-4-5-20250929"}}));
    let opts = openhands_lsp_tests::Options { env_remove: vec!["LLM_API_KEY".into()], ..Default::default() }
        .env("OPENHANDS_API_KEY", key);
    let (mut server, _) = Server::start(opts.clone(), params.clone()).unwrap();
    let status = server.command("openhands.status", json!({})).unwrap().unwrap();
    let llm_check = status["checks"].as_array().unwrap().iter().find(|c| c["name"] == "LLM").unwrap().clone();
    assert_eq!(llm_check["status"], "ok", "{llm_check}");
    let detail = llm_check["detail"].as_str().unwrap();
    assert!(detail.contains("your OpenHands API key cloud_api_key (set from the environment)"), "{detail}");
    let id = start_task(&mut server, "Say done");
    wait_state(&server, &id, "finished");
    let sent = llm.requests()[0].headers.get("authorization").cloned().unwrap_or_default();
    assert_eq!(sent, format!("Bearer {key}"), "the OpenHands key went to the proxy");
    server.shutdown_and_exit().unwrap();
    openhands_lsp_tests::agent::assert_secrets_absent(&server, &[key], &[]);

    // Neither key: the start says both ways to give one.
    let none = openhands_lsp_tests::Options {
        env: Vec::new(),
        env_remove: vec!["LLM_API_KEY".into(), "OPENHANDS_API_KEY".into()],
        ..opts
    };
    let (mut server, _) = Server::start(none, params).unwrap();
    let refused = server.command("openhands.startTask", json!({"instruction": "Go"})).unwrap().unwrap_err();
    assert!(
        refused.message.contains("llm_api_key") && refused.message.contains("OpenHands API key"),
        "{}",
        refused.message
    );
    server.shutdown_and_exit().unwrap();
}

#[test]
fn a_budget_spent_while_the_agent_waits_for_a_confirmation_is_asked_about_once_the_user_allows() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start(vec![
        Step::terminal("touch one"),
        Step::terminal("touch two").gated("never"),
        Step::finish("Done."),
    ]);
    let params = init_params(&llm, &ws, json!({"maxTokensPerTask": 10, "confirmation": "always"}));
    let (mut server, _) = Server::start(options(), params).unwrap();
    // The user allows the command; to the budget question, no answer (dismissed).
    server.on_request("window/showMessageRequest", |params| {
        let allow = params["actions"].as_array().and_then(|a| a.iter().find(|a| a["title"] == "Allow").cloned());
        Ok(allow.unwrap_or(Value::Null))
    });
    let id = start_task(&mut server, "Touch one");
    let question = wait_questions(&server, 1);
    assert!(question["message"].as_str().unwrap().contains("15 tokens of its budget of 10 tokens"), "{question}");
    // The command is asked about too (before or after the budget, as the agent-server's events come), and allowed.
    wait_until("the command's question", RUN_TIMEOUT, || {
        server
            .server_requests("window/showMessageRequest")
            .iter()
            .any(|q| q["message"].to_string().contains("touch one"))
    });
    wait_until("the allowed command to run", RUN_TIMEOUT, || ws.join("one").exists());
    // Allowed, the command ran; the agent did not go on: paused, the budget's question standing.
    wait_until("the conversation to be paused after the allowed command", RUN_TIMEOUT, || {
        last_changed(&server, &id)["state"] == "paused"
    });
    assert!(last_changed(&server, &id)["budgetReached"].is_string());
    assert!(llm.served() <= 2, "no call after the budget's pause but the held one");
    assert!(!ws.join("two").exists());
    assert_eq!(budget_questions(&server).len(), 1, "asked once");
    server.shutdown_and_exit().unwrap();
}

/// A restore forks the agent's conversation; the fork's model is given again with the next message, so its calls
/// count on top of what was spent before (given before the agent was set up, they would count nowhere: the budget
/// would never be reached again), and the budget holds the next turn.
#[test]
fn after_a_restore_the_forks_calls_count_and_the_budget_still_holds() {
    let (_dir, ws) = workspace();
    openhands_lsp_tests::repo::git(&ws, &["init", "-q"]);
    std::fs::write(ws.join("seed.txt"), "seed\n").unwrap();
    openhands_lsp_tests::repo::git(&ws, &["add", "-A"]);
    openhands_lsp_tests::repo::git(&ws, &["commit", "-qm", "init"]);
    let llm = ScriptedLlm::start(vec![
        Step::terminal("echo one > one.txt"),
        Step::finish("One done."),
        // After the restore: 60 tokens of 50 by the end of this turn.
        Step::terminal("echo two > two.txt"),
        Step::finish("Two done."),
        Step::finish("Never: past the budget."),
    ]);
    let mut params = init_params(&llm, &ws, json!({"maxTokensPerTask": 50}));
    params["initializationOptions"].as_object_mut().unwrap().remove("isolation");
    let (mut server, _) = Server::start(options(), params).unwrap();
    server.on_request("window/showMessageRequest", |_| Ok(Value::Null));
    let id = start_task(&mut server, "Write one");
    let done = wait_state(&server, &id, "finished");
    assert_eq!(done["usage"]["tokensIn"], 20, "{done}");
    let restored =
        server.command("openhands.restoreCheckpoint", json!({"conversationId": id, "checkpoint": 1})).unwrap().unwrap();
    assert_eq!(restored["conversation"]["state"], "paused", "{restored}");
    server.command("openhands.sendMessage", json!({"conversationId": id, "text": "Now two"})).unwrap().unwrap();
    wait_until("the fork's turn counted", RUN_TIMEOUT, || {
        let c = last_changed(&server, &id);
        c["state"] == "finished" && c["finalMessage"] == "Two done." && c["usage"]["tokensIn"] == 40
    });
    // Past the budget now: the next message asks first, and the model is not called.
    server.command("openhands.sendMessage", json!({"conversationId": id, "text": "And three"})).unwrap().unwrap();
    let question = wait_questions(&server, 1);
    assert!(question["message"].as_str().unwrap().contains("60 tokens of its budget of 50 tokens"), "{question}");
    assert_eq!(llm.served(), 4, "no call past the budget");
    server.shutdown_and_exit().unwrap();
}
