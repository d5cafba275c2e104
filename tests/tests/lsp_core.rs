//! The LSP core against the real binary: initialize, settings, progress, commands, and robustness.

use std::time::{Duration, Instant};

use expect_test::expect;
use openhands_lsp_tests::{Options, Server};
use serde_json::{Value, json};

/// Initialize params for a session where everything required is available (an agent-server command that
/// exists), merged with `params`.
fn ready(params: Value) -> Value {
    let mut base = json!({"initializationOptions": {"process": {"command": "/bin/sh"}}});
    openhands_lsp_tests::lsp_client::merge(&mut base, params);
    base
}

fn progress_caps() -> Value {
    json!({"capabilities": {"window": {"workDoneProgress": true}}})
}

#[test]
fn initialize_result_snapshot() {
    let (_server, mut result) = Server::start(Options::default(), ready(json!({}))).unwrap();
    assert_eq!(result["serverInfo"]["version"], openhands_lsp::VERSION);
    result["serverInfo"]["version"] = json!("<version>");
    expect![[r#"
        {
          "capabilities": {
            "codeActionProvider": {
              "codeActionKinds": [
                "quickfix",
                "refactor",
                "source"
              ],
              "resolveProvider": false
            },
            "executeCommandProvider": {
              "commands": [
                "openhands.status",
                "openhands.startTask",
                "openhands.sendMessage",
                "openhands.unqueueMessage",
                "openhands.pause",
                "openhands.resume",
                "openhands.stop",
                "openhands.listConversations",
                "openhands.getEvents",
                "openhands.respondToConfirmation",
                "openhands.setSecret",
                "openhands.reviewChanges",
                "openhands.applyChanges",
                "openhands.discardChanges",
                "openhands.rejectHunks",
                "openhands.pushChanges",
                "openhands.listCheckpoints",
                "openhands.restoreCheckpoint",
                "openhands.fixDiagnostic",
                "openhands.fixIssue",
                "openhands.createPullRequest",
                "openhands.suggestedTasks",
                "openhands.attachConversation",
                "openhands.storeProviderTokensInCloud"
              ]
            },
            "positionEncoding": "utf-16",
            "textDocumentSync": {
              "change": 1,
              "openClose": true
            },
            "workspace": {
              "workspaceFolders": {
                "changeNotifications": true,
                "supported": true
              }
            }
          },
          "serverInfo": {
            "name": "openhands-lsp",
            "version": "<version>"
          }
        }"#]]
    .assert_eq(&openhands_lsp_tests::sorted_json(&result));
}

#[test]
fn utf8_positions_when_offered() {
    let caps = json!({"capabilities": {"general": {"positionEncodings": ["utf-8", "utf-16"]}}});
    let (_server, result) = Server::start(Options::default(), ready(caps)).unwrap();
    assert_eq!(result["capabilities"]["positionEncoding"], "utf-8");
}

#[test]
fn status_command_reports_doctor_facts_and_workspace() {
    let init = json!({"workspaceFolders": [{"uri": "file:///tmp/a", "name": "a"}]});
    let (mut server, _) = Server::start(Options::default(), ready(init)).unwrap();
    server
        .notify(
            "workspace/didChangeWorkspaceFolders",
            json!({"event": {"added": [{"uri": "file:///tmp/b", "name": "b"}], "removed": [{"uri": "file:///tmp/a", "name": "a"}]}}),
        )
        .unwrap();
    server
        .notify("textDocument/didOpen", json!({"textDocument": {"uri": "file:///tmp/b/x.rs", "languageId": "rust", "version": 1, "text": "fn main() {}"}}))
        .unwrap();
    let status = server.command("openhands.status", json!({})).unwrap().unwrap();
    assert_eq!(status["ok"], true, "{status}");
    assert_eq!(status["backend"], "docker", "the default backend");
    assert_eq!(status["workspaceFolders"], json!([{"uri": "file:///tmp/b", "name": "b"}]));
    assert_eq!(status["openDocuments"], 1);
    let state_row = status["checks"].as_array().unwrap().iter().find(|c| c["name"] == "state directory").unwrap();
    assert_eq!(state_row["status"], "ok");
    assert!(state_row["detail"].as_str().unwrap().contains(server.state_home.to_str().unwrap()));
}

#[test]
fn status_notification_after_initialized() {
    let (server, _) = Server::start(Options::default(), ready(json!({}))).unwrap();
    let status = server.wait_notification("openhands/status", |_| true).unwrap();
    assert_eq!(status, json!({"busy": false, "message": "Ready", "kind": "normal"}));
}

#[test]
fn bad_initialization_option_is_shown_once_and_default_used() {
    let (mut server, _) =
        Server::start(Options::default(), ready(json!({"initializationOptions": {"backend": "dockr", "colour": 1}})))
            .unwrap();
    let shown = server.wait_notification("window/showMessage", |_| true).unwrap();
    let text = shown["message"].as_str().unwrap();
    assert!(text.contains("openhands.backend") && text.contains("dockr"), "{text}");
    assert!(!text.contains("colour"), "unknown keys are logged, not shown: {text}");
    let status = server.command("openhands.status", json!({})).unwrap().unwrap();
    assert_eq!(status["backend"], "docker", "the default replaces the bad value");
    assert_eq!(status["settingsProblems"].as_array().unwrap().len(), 1);
    server.wait_notification("openhands/status", |s| s["kind"] == "warning").unwrap();
    assert_eq!(server.notifications("window/showMessage").len(), 1);
}

#[test]
fn did_change_configuration_pulls_settings_and_reports_each_distinct_problem_once() {
    let caps = json!({"capabilities": {"workspace": {"configuration": true}}});
    let (mut server, _) = Server::start(Options::default(), ready(caps)).unwrap();
    let config = std::sync::Arc::new(std::sync::Mutex::new(json!({"backend": "cloudy"})));
    let served = config.clone();
    server.on_request("workspace/configuration", move |p| {
        assert_eq!(p["items"][0]["section"], "openhands");
        Ok(json!([served.lock().unwrap().clone()]))
    });
    for _ in 0..2 {
        server.notify("workspace/didChangeConfiguration", json!({"settings": null})).unwrap();
        server.command("openhands.status", json!({})).unwrap().unwrap();
    }
    let messages = server.notifications("window/showMessage");
    assert_eq!(messages.len(), 1, "the same problem is shown once: {messages:?}");
    assert!(messages[0]["message"].as_str().unwrap().contains("openhands.backend"));

    *config.lock().unwrap() = json!({"backend": "process"});
    server.notify("workspace/didChangeConfiguration", json!({"settings": null})).unwrap();
    server.wait_for("settings fixed", Duration::from_secs(10), |_| Some(())).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = server.command("openhands.status", json!({})).unwrap().unwrap();
        if status["settingsProblems"] == json!([]) {
            break;
        }
        assert!(Instant::now() < deadline, "settings never became valid: {status}");
    }
    assert_eq!(server.server_requests("workspace/configuration").len(), 3);
}

#[test]
fn did_change_configuration_without_pull_uses_pushed_settings() {
    let (mut server, _) = Server::start(Options::default(), ready(json!({}))).unwrap();
    server.notify("workspace/didChangeConfiguration", json!({"settings": {"openhands": {"backend": 7}}})).unwrap();
    let shown = server.wait_notification("window/showMessage", |_| true).unwrap();
    assert!(shown["message"].as_str().unwrap().contains("openhands.backend"), "{shown}");
    assert!(server.server_requests("workspace/configuration").is_empty());
    let status = server.command("openhands.status", json!({})).unwrap().unwrap();
    assert_eq!(status["backend"], "docker", "the default replaces the bad value");
}

/// `$/progress` notifications for one token, as their `value` objects, in arrival order.
fn progress_values(server: &Server, token: &str) -> Vec<Value> {
    server.notifications("$/progress").into_iter().filter(|p| p["token"] == token).map(|p| p["value"].clone()).collect()
}

#[test]
fn progress_sequence_create_begin_report_end() {
    let (mut server, _) = Server::start(Options::default().test_hooks(), ready(progress_caps())).unwrap();
    let result = server.request("openhands/test/progress", json!({"title": "Working", "reports": 3})).unwrap().unwrap();
    assert_eq!(result["visible"], true);
    let token = result["token"].as_str().unwrap().to_owned();
    server
        .wait_for("progress end", Duration::from_secs(10), |msgs| {
            msgs.iter()
                .any(|m| {
                    m["method"] == "$/progress"
                        && m["params"]["token"] == token.as_str()
                        && m["params"]["value"]["kind"] == "end"
                })
                .then_some(())
        })
        .unwrap();
    let creates = server.server_requests("window/workDoneProgress/create");
    assert_eq!(creates, vec![json!({"token": token})]);
    let values = progress_values(&server, &token);
    assert_eq!(values.first().unwrap()["kind"], "begin");
    assert_eq!(values.first().unwrap()["title"], "Working");
    assert_eq!(values.first().unwrap()["cancellable"], true);
    assert_eq!(values.last().unwrap()["kind"], "end");
    assert_eq!(values.iter().filter(|v| v["kind"] == "end").count(), 1);
    let reports: Vec<&Value> = values.iter().filter(|v| v["kind"] == "report").collect();
    assert!(!reports.is_empty() && reports.len() <= 3, "{values:?}");
    assert_eq!(reports.last().unwrap()["message"], "step 3 of 3", "the latest report is never dropped");
    // The create request came before the first $/progress for the token.
    let msgs = server.messages();
    let create_at = msgs.iter().position(|m| m["method"] == "window/workDoneProgress/create").unwrap();
    let begin_at = msgs.iter().position(|m| m["method"] == "$/progress").unwrap();
    assert!(create_at < begin_at);
}

#[test]
fn progress_cancel_reaches_the_owner_and_ends() {
    let (mut server, _) = Server::start(Options::default().test_hooks(), ready(progress_caps())).unwrap();
    let id = server.send_request("openhands/test/progress", json!({"title": "Long", "waitForCancel": true})).unwrap();
    let begin = server.wait_notification("$/progress", |p| p["value"]["kind"] == "begin").unwrap();
    server.notify("window/workDoneProgress/cancel", json!({"token": begin["token"]})).unwrap();
    let result = server.response(id, Duration::from_secs(10)).unwrap().unwrap();
    assert_eq!(result["cancelled"], true);
    let token = begin["token"].clone();
    let end = server.wait_notification("$/progress", |p| p["token"] == token && p["value"]["kind"] == "end").unwrap();
    assert_eq!(end["value"]["message"], "cancelled");
}

#[test]
fn no_progress_without_client_support() {
    let (mut server, _) = Server::start(Options::default().test_hooks(), ready(json!({}))).unwrap();
    let result = server.request("openhands/test/progress", json!({"title": "Quiet", "reports": 2})).unwrap().unwrap();
    assert_eq!(result["visible"], false);
    // A later request's response proves everything before it was written.
    server.command("openhands.status", json!({})).unwrap().unwrap();
    assert!(server.server_requests("window/workDoneProgress/create").is_empty());
    assert!(server.notifications("$/progress").is_empty());
}

#[test]
fn progress_refused_by_client_degrades_quietly() {
    let (mut server, _) = Server::start(Options::default().test_hooks(), ready(progress_caps())).unwrap();
    server.on_request("window/workDoneProgress/create", |_| Err(json!({"code": -32603, "message": "no"})));
    let result = server.request("openhands/test/progress", json!({"title": "Refused", "reports": 1})).unwrap().unwrap();
    assert_eq!(result["visible"], false);
    server.command("openhands.status", json!({})).unwrap().unwrap();
    assert!(server.notifications("$/progress").is_empty());
}

#[test]
fn malformed_json_gets_parse_error_and_the_server_keeps_serving() {
    let (mut server, _) = Server::start(Options::default(), ready(json!({}))).unwrap();
    server.send_raw(b"{\"jsonrpc\": \"2.0\", \"id\": 99, \"method\": ").unwrap();
    let err = server
        .wait_for("parse error", Duration::from_secs(10), |msgs| {
            msgs.iter().find(|m| m["error"]["code"] == -32700).cloned()
        })
        .unwrap();
    assert_eq!(err["id"], Value::Null);
    // Garbage in the framing itself.
    server.send_bytes(b"Content-Lenght: 5\r\n\r\nhello").unwrap();
    server
        .wait_for("second parse error", Duration::from_secs(10), |msgs| {
            (msgs.iter().filter(|m| m["error"]["code"] == -32700).count() == 2).then_some(())
        })
        .unwrap();
    let status = server.command("openhands.status", json!({})).unwrap().unwrap();
    assert_eq!(status["ok"], true);
}

#[test]
fn invalid_json_rpc_gets_invalid_request_with_its_id() {
    let (mut server, _) = Server::start(Options::default(), ready(json!({}))).unwrap();
    server.send_raw(br#"{"jsonrpc":"1.0","id":41,"method":"workspace/executeCommand"}"#).unwrap();
    server.send_raw(br#"[{"jsonrpc":"2.0","id":42,"method":"shutdown"}]"#).unwrap();
    let err = server.response(41, Duration::from_secs(10)).unwrap().unwrap_err();
    assert_eq!(err.code, -32600);
    assert!(err.message.contains("jsonrpc"), "{}", err.message);
    server
        .wait_for("batch rejected", Duration::from_secs(10), |msgs| {
            msgs.iter()
                .find(|m| {
                    m["error"]["code"] == -32600 && m["error"]["message"].as_str().unwrap_or("").contains("batch")
                })
                .cloned()
        })
        .unwrap();
    assert!(server.command("openhands.status", json!({})).unwrap().is_ok());
}

#[test]
fn unknown_method_is_method_not_found() {
    let (mut server, _) = Server::start(Options::default(), ready(json!({}))).unwrap();
    let err = server.request("openhands/noSuchThing", json!({})).unwrap().unwrap_err();
    assert_eq!(err.code, -32601);
}

#[test]
fn unknown_command_is_method_not_found_naming_it() {
    let (mut server, _) = Server::start(Options::default(), ready(json!({}))).unwrap();
    let err = server.command("openhands.frobnicate", json!({})).unwrap().unwrap_err();
    assert_eq!(err.code, -32601);
    assert!(err.message.contains("openhands.frobnicate"), "{}", err.message);
}

#[test]
fn bad_params_are_invalid_params_naming_the_field() {
    let (mut server, _) = Server::start(Options::default(), ready(json!({}))).unwrap();
    let err = server.command("openhands.status", json!({"verbose": true})).unwrap().unwrap_err();
    assert_eq!(err.code, -32602);
    assert!(err.message.contains("verbose"), "{}", err.message);
    let err = server
        .request("workspace/executeCommand", json!({"command": "openhands.status", "arguments": [1, 2]}))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code, -32602);
    let err = server
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": "file:///x"}, "context": {"diagnostics": []}}),
        )
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code, -32602);
    assert!(err.message.contains("range"), "{}", err.message);
}

#[test]
fn panic_in_a_handler_is_internal_error_and_serving_continues() {
    let (mut server, _) = Server::start(Options::default().test_hooks(), ready(json!({}))).unwrap();
    let err = server.request("openhands/test/panic", json!({})).unwrap().unwrap_err();
    assert_eq!(err.code, -32603);
    assert!(err.message.contains("deliberate panic"), "{}", err.message);
    server.wait_stderr("the panic in the log", Duration::from_secs(10), |e| e.contains("panicked")).unwrap();
    // Twice, to be sure nothing was left poisoned or stuck.
    assert_eq!(server.request("openhands/test/panic", json!({})).unwrap().unwrap_err().code, -32603);
    assert_eq!(server.command("openhands.status", json!({})).unwrap().unwrap()["ok"], true);
}

#[test]
fn test_hooks_are_absent_by_default() {
    let (mut server, _) = Server::start(Options::default(), ready(json!({}))).unwrap();
    assert_eq!(server.request("openhands/test/panic", json!({})).unwrap().unwrap_err().code, -32601);
}

#[test]
fn requests_after_shutdown_are_invalid_request() {
    let (mut server, _) = Server::start(Options::default(), ready(json!({}))).unwrap();
    server.request("shutdown", Value::Null).unwrap().unwrap();
    let err = server.command("openhands.status", json!({})).unwrap().unwrap_err();
    assert_eq!(err.code, -32600);
    server.notify("exit", Value::Null).unwrap();
    let status = server.wait_exit(Duration::from_secs(5)).unwrap().expect("exited");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn exit_after_shutdown_ends_with_0_quickly_while_stdin_stays_open() {
    let (mut server, _) = Server::start(Options::default(), ready(json!({}))).unwrap();
    server.request("shutdown", Value::Null).unwrap().unwrap();
    let sent = Instant::now();
    server.notify("exit", Value::Null).unwrap();
    // stdin stays open: the harness holds it until drop.
    let status = server.wait_exit(Duration::from_secs(5)).unwrap().expect("server exited");
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(0));
    assert!(took < Duration::from_millis(100), "exit took {took:?}");
}

#[test]
fn exit_without_shutdown_ends_with_1() {
    let (mut server, _) = Server::start(Options::default(), ready(json!({}))).unwrap();
    server.notify("exit", Value::Null).unwrap();
    let status = server.wait_exit(Duration::from_secs(5)).unwrap().expect("server exited");
    assert_eq!(status.code(), Some(1));
}

#[test]
fn end_of_stdin_ends_the_process_cleanly() {
    let (mut server, _) = Server::start(Options::default(), ready(json!({}))).unwrap();
    server.close_stdin();
    let status = server.wait_exit(Duration::from_secs(5)).unwrap().expect("server exited on EOF");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn end_of_stdin_before_initialize_is_clean_too() {
    let mut server = Server::spawn(Options::default()).unwrap();
    server.close_stdin();
    let status = server.wait_exit(Duration::from_secs(5)).unwrap().expect("server exited on EOF");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn trace_logging_never_touches_stdout() {
    // The harness fails on any non-protocol byte on stdout; trace level logs the most.
    let (mut server, _) =
        Server::start(Options::default().arg("--log-level").arg("trace"), ready(progress_caps())).unwrap();
    server.command("openhands.status", json!({})).unwrap().unwrap();
    // (Debug and trace lines reach the editor as `window/logMessage` of type Log.)
    server.wait_stderr("trace lines", Duration::from_secs(10), |e| e.contains("\nLOG ")).unwrap();
    let status = server.shutdown_and_exit().unwrap();
    assert!(status.success());
}

#[test]
fn log_file_and_json_format() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let opts = Options::default().arg("--log-file").arg(log.to_str().unwrap()).arg("--log-format").arg("json");
    let (mut server, _) = Server::start(opts, ready(json!({}))).unwrap();
    server.shutdown_and_exit().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(!lines.is_empty());
    for line in lines {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v.get("level").is_some());
    }
    let stderr = server.stderr_complete();
    assert!(stderr.trim().is_empty(), "with --log-file nothing goes to stderr: {stderr}");
}

#[test]
fn the_servers_log_reaches_the_editor_at_each_lines_level_and_not_as_stderr() {
    // A bad setting logs a warning once the editor is there; shutting down logs at info.
    let (mut server, _) =
        Server::start(Options::default(), ready(json!({"initializationOptions": {"maxIterations": "lots"}}))).unwrap();
    let warning = server
        .wait_for("the warning as a log message", Duration::from_secs(10), |msgs| {
            msgs.iter().find(|m| m["method"] == "window/logMessage" && m["params"]["type"] == 2).cloned()
        })
        .unwrap();
    assert!(warning["params"]["message"].as_str().unwrap().contains("maxIterations"), "{warning}");
    server.shutdown_and_exit().unwrap();
    let info = server.messages().into_iter().find(|m| {
        m["method"] == "window/logMessage"
            && m["params"]["type"] == 3
            && m["params"]["message"].as_str().is_some_and(|t| t.contains("shutdown requested"))
    });
    let text = info.expect("an info line as a log message")["params"]["message"].as_str().unwrap().to_owned();
    assert_eq!(text, "openhands_lsp::lsp::server: shutdown requested", "the editor shows its own time and level");
    // What was logged before `initialized` waited for it; only what comes after the session (the cleanup once
    // the editor has gone) is on stderr.
    let stderr = server.raw_stderr();
    assert!(!stderr.contains("shutdown requested") && !stderr.contains("maxIterations"), "{stderr}");
    assert!(!stderr.contains("initialize client"), "{stderr}");
    assert!(server.stderr().contains("INFO openhands_lsp::lsp::server: initialize client="), "{}", server.stderr());
    assert!(stderr.contains("server stopped"), "{stderr}");
}

#[test]
fn several_problems_in_a_range_are_one_code_action_carrying_them_all() {
    let (mut server, _) = Server::start(Options::default(), ready(json!({}))).unwrap();
    let diagnostic = |line: u32, message: &str| {
        json!({"range": {"start": {"line": line, "character": 0}, "end": {"line": line, "character": 3}},
               "severity": 1, "source": "rustc", "message": message})
    };
    let diagnostics = json!([diagnostic(1, "mismatched types"), diagnostic(3, "unused variable")]);
    let range = json!({"start": {"line": 0, "character": 0}, "end": {"line": 4, "character": 0}});
    let actions = server
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": "file:///w/a.rs"}, "range": range, "context": {"diagnostics": diagnostics}}),
        )
        .unwrap()
        .unwrap();
    let titles: Vec<&str> = actions.as_array().unwrap().iter().map(|a| a["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles,
        [
            "OpenHands: fix the 2 problems here",
            "OpenHands: fix \"mismatched types\"",
            "OpenHands: fix \"unused variable\""
        ]
    );
    let all = &actions[0]["command"];
    assert_eq!(all["command"], "openhands.startTask");
    assert_eq!(all["arguments"][0]["diagnostics"], diagnostics, "{all}");
    assert_eq!(all["arguments"][0]["uri"], "file:///w/a.rs");
    // One problem: its own fix only.
    let one = server
        .request(
            "textDocument/codeAction",
            json!({"textDocument": {"uri": "file:///w/a.rs"}, "range": range,
                   "context": {"diagnostics": [diagnostic(1, "mismatched types")]}}),
        )
        .unwrap()
        .unwrap();
    assert_eq!(one.as_array().unwrap().len(), 1, "{one}");
}
