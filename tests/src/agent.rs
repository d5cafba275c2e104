//! Helpers for tests that run real conversations: the agent-server command, a workspace, the init params.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::Server;
use crate::llm::ScriptedLlm;

/// How long a test waits for a conversation to reach a state (agent-servers boot slowly on a loaded machine).
pub const RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Waits for `openhands/conversationChanged` to report conversation `id` in `state`; returns that conversation.
pub fn wait_state(server: &Server, id: &str, state: &str) -> Value {
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

/// Waits for an `openhands/event` of conversation `id` matching `pred`; returns it.
pub fn wait_event(server: &Server, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    server
        .wait_for(what, RUN_TIMEOUT, |msgs| {
            msgs.iter()
                .filter(|m| m["method"] == "openhands/event" && m["params"]["conversationId"] == id)
                .map(|m| &m["params"])
                .find(|e| pred(e))
                .cloned()
        })
        .unwrap()
}

/// The real agent-server installed by scripts/test (`.venv-agent-server`), or `OPENHANDS_AGENT_SERVER`.
pub fn agent_server_command() -> String {
    if let Ok(cmd) = std::env::var("OPENHANDS_AGENT_SERVER") {
        return cmd;
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv-agent-server/bin/agent-server");
    assert!(
        path.exists(),
        "the agent-server is not installed at {}: run scripts/test (it installs it), or set OPENHANDS_AGENT_SERVER",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

/// Polls `cond` until it holds; fails with `what` after `timeout`. Returns how long it took. (For conditions outside
/// the protocol, such as processes and containers; the protocol's own are waited for with `Server::wait_for`.)
pub fn wait_until(what: &str, timeout: std::time::Duration, mut cond: impl FnMut() -> bool) -> std::time::Duration {
    let started = std::time::Instant::now();
    while !cond() {
        assert!(started.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    started.elapsed()
}

/// `initialize` params switched to the docker backend with the image scripts/test builds (`OPENHANDS_TEST_IMAGE`),
/// no warm pool unless `docker` says otherwise, and the LLM reached from the container.
pub fn on_docker(params: &mut Value, llm: &ScriptedLlm, docker: Value) {
    let image = std::env::var("OPENHANDS_TEST_IMAGE").expect(
        "OPENHANDS_TEST_IMAGE is not set: run scripts/test (it starts Docker and builds the agent-server image)",
    );
    let opts = &mut params["initializationOptions"];
    opts["backend"] = json!("docker");
    opts["llm"]["baseUrl"] = json!(llm.container_base_url());
    let mut settings = json!({"image": image, "warmPool": 0, "startupTimeoutSeconds": 180});
    crate::lsp_client::merge(&mut settings, docker);
    opts["docker"] = settings;
}

/// Session options for conversation tests: the scripted LLM still wants a key, as a real provider does.
pub fn options() -> crate::Options {
    crate::Options::default().env("LLM_API_KEY", "sk-scripted-test-key")
}

/// `openhands.reviewChanges` of conversation `id`: each file's path and status, sorted, and the whole answer.
pub fn reviewed_files(server: &mut crate::Server, id: &str) -> (Vec<(String, String)>, serde_json::Value) {
    let review = server.command("openhands.reviewChanges", serde_json::json!({"conversationId": id})).unwrap().unwrap();
    let mut files: Vec<(String, String)> = review["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_owned(), f["status"].as_str().unwrap().to_owned()))
        .collect();
    files.sort();
    (files, review)
}

/// A file URI for a path.
pub fn file_uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// `initialize` params for a process-backend session against `llm`, working in `workspace`.
pub fn init_params(llm: &ScriptedLlm, workspace: &Path, overrides: Value) -> Value {
    let mut options = json!({
        "backend": "process",
        "llm": {"model": "openai/stub", "baseUrl": llm.base_url(), "numRetries": 0},
        "process": {"command": agent_server_command(), "startupTimeoutSeconds": 180},
        "confirmation": "never",
        // These tests look at the workspace folder itself; review-before-apply has its own tests.
        "isolation": "none",
    });
    crate::lsp_client::merge(&mut options, overrides);
    json!({
        "capabilities": {"window": {"workDoneProgress": true, "showMessage": {"messageActionItem": {"additionalPropertiesSupport": false}}}},
        "workspaceFolders": [{"uri": file_uri(workspace), "name": "ws"}],
        "initializationOptions": options,
    })
}

/// After the session ended: none of `secrets` is in the server's log, in any message to or from the editor, in
/// `extra` (answers the test kept), or in any file under the server's state directory.
pub fn assert_secrets_absent(server: &Server, secrets: &[&str], extra: &[&serde_json::Value]) {
    let stderr = server.stderr_complete();
    let messages = server.messages();
    for secret in secrets {
        assert!(!stderr.contains(secret), "{secret} in the log");
        for msg in messages.iter().chain(extra.iter().copied()) {
            assert!(!msg.to_string().contains(secret), "{secret} in a message to the editor: {msg}");
        }
        for file in crate::repo::files_under(&server.state_home) {
            // A link is not a file the server wrote through (and may point anywhere).
            if !std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file()) {
                continue;
            }
            let bytes = std::fs::read(&file).unwrap_or_default();
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{secret} written to {}", file.display());
        }
    }
}

/// Starts a task (`openhands.startTask` with only an instruction) and returns its conversation's id.
pub fn start_task(server: &mut Server, instruction: &str) -> String {
    let result = server.command("openhands.startTask", json!({"instruction": instruction})).unwrap().unwrap();
    result["conversationId"].as_str().unwrap().to_owned()
}
