//! The agent's MCP servers from `openhands.mcpServers`: a stdio server and an http one whose tools the scripted LLM
//! calls through the agent, their answers in the next LLM request; secrets given by name (`${secret:NAME}`, from
//! `openhands.setSecret` and the environment) reach the servers and nothing else; a bad entry is a settings problem
//! naming its key; a missing command (here, and in the docker image) fails the start naming it. The real binary and
//! agent-server, real MCP servers (fastmcp, in the agent-server's environment).

use std::path::{Path, PathBuf};

use openhands_lsp_tests::Server;
use openhands_lsp_tests::agent::{
    RUN_TIMEOUT, assert_secrets_absent, init_params, on_docker, options, wait_state, wait_until,
};
use openhands_lsp_tests::llm::{ScriptedLlm, Step};
use serde_json::{Value, json};

const STDIO_CANARY: &str = "mcp-stdio-canary-5b1e";
const HTTP_CANARY: &str = "mcp-http-canary-9d02";

fn workspace() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().canonicalize().unwrap();
    (dir, ws)
}

fn python() -> PathBuf {
    Path::new(&openhands_lsp_tests::agent::agent_server_command()).with_file_name("python")
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/mcp/shout_server.py")
}

/// The http MCP server on a free port, expecting `Authorization: Bearer <token>`; killed when dropped.
struct HttpMcp {
    child: std::process::Child,
    port: u16,
}

impl HttpMcp {
    fn start(token: &str) -> HttpMcp {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new(python())
            .arg(script())
            .args(["--http", &port.to_string()])
            .env("EXPECTED_TOKEN", token)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_until("the http MCP server to listen", RUN_TIMEOUT, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        HttpMcp { child, port }
    }
}

impl Drop for HttpMcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mcp_check(status: &Value) -> String {
    status["checks"].as_array().unwrap().iter().find(|c| c["name"] == "MCP servers").unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn stdio_and_http_servers_tools_reach_the_model_with_secrets_by_name_that_never_leak() {
    let (_dir, ws) = workspace();
    let http = HttpMcp::start(HTTP_CANARY);
    let llm = ScriptedLlm::start(vec![
        // With more than one server the agent-server names each tool after its server too.
        Step::tool("shout_shout", json!({"text": "hello mcp"})),
        Step::tool("whisper_whisper", json!({"text": "HELLO HTTP"})),
        Step::finish("Both answered."),
    ]);
    let servers = json!({
        "shout": {"command": python(), "args": [script()], "env": {"SHOUT_TOKEN": "${secret:SHOUT_TOKEN}"}},
        "whisper": {"url": format!("http://127.0.0.1:{}/mcp", http.port), "type": "http",
                    "headers": {"Authorization": "Bearer ${secret:WHISPER_TOKEN}"}},
        "broken": {"comand": "typo"},
    });
    let params = init_params(&llm, &ws, json!({"mcpServers": servers}));
    // One secret from the environment, the other set from the editor below.
    let (mut server, _) = Server::start(options().env("WHISPER_TOKEN", HTTP_CANARY), params).unwrap();
    let problem = server
        .wait_for("the settings problem", RUN_TIMEOUT, |msgs| {
            msgs.iter().find(|m| m["method"] == "window/showMessage" && m.to_string().contains("mcpServers")).cloned()
        })
        .unwrap();
    let said = problem["params"]["message"].as_str().unwrap();
    assert!(said.contains("openhands.mcpServers.broken: expected") && said.contains("left out"), "{said}");

    let status = server.command("openhands.status", json!({})).unwrap().unwrap();
    let listed = mcp_check(&status);
    assert!(listed.contains("shout (stdio: ") && listed.contains("secret SHOUT_TOKEN NOT set"), "{listed}");
    assert!(
        listed.contains("whisper (http: http://127.0.0.1:") && listed.contains("secret WHISPER_TOKEN set"),
        "{listed}"
    );
    assert!(!listed.contains("broken"), "{listed}");
    // A secret not set: the start fails at once, naming it and how to set it.
    let refused = server.command("openhands.startTask", json!({"instruction": "Shout"})).unwrap().unwrap_err();
    let why = refused.message.as_str();
    assert!(why.contains("SHOUT_TOKEN") && why.contains("openhands.setSecret"), "{why}");

    server.command("openhands.setSecret", json!({"name": "SHOUT_TOKEN", "value": STDIO_CANARY})).unwrap().unwrap();
    let status = server.command("openhands.status", json!({})).unwrap().unwrap();
    assert!(mcp_check(&status).contains("secret SHOUT_TOKEN set"), "{status}");
    let started = server.command("openhands.startTask", json!({"instruction": "Shout and whisper"})).unwrap().unwrap();
    let id = started["conversationId"].as_str().unwrap().to_owned();
    wait_state(&server, &id, "finished");
    let requests = llm.requests();
    let tools = requests[0].body["tools"].to_string();
    assert!(tools.contains("shout") && tools.contains("whisper"), "both servers' tools are offered: {tools}");
    let messages = requests[1].body["messages"].as_array().unwrap();
    let second = messages[messages.len().saturating_sub(2)..].iter().map(ToString::to_string).collect::<String>();
    assert!(second.contains("HELLO MCP! (with its token)"), "the stdio tool's answer: {second}");
    let third = requests[2].body["messages"].as_array().unwrap().last().unwrap().to_string();
    assert!(third.contains("hello http... (with its header)"), "the http tool's answer: {third}");
    server.shutdown_and_exit().unwrap();
    assert_secrets_absent(&server, &[STDIO_CANARY, HTTP_CANARY], &[]);
}

#[test]
fn a_missing_command_fails_the_start_naming_it_here_and_in_the_container() {
    let (_dir, ws) = workspace();
    let llm = ScriptedLlm::start(vec![Step::finish("Never reached.")]);
    let servers = json!({"gone": {"command": "no-such-mcp-server", "args": ["--x"]}});
    // The process backend: looked up on this machine before anything starts.
    let (mut server, _) = Server::start(options(), init_params(&llm, &ws, json!({"mcpServers": servers}))).unwrap();
    let status = server.command("openhands.status", json!({})).unwrap().unwrap();
    assert!(mcp_check(&status).contains("gone (stdio: no-such-mcp-server --x), its command is not found"), "{status}");
    let refused = server.command("openhands.startTask", json!({"instruction": "Go"})).unwrap().unwrap_err();
    let why = refused.message.as_str();
    assert!(why.contains("\"gone\"") && why.contains("no-such-mcp-server") && why.contains("not found"), "{why}");
    server.shutdown_and_exit().unwrap();

    // The docker backend: looked up in the container, before the agent starts.
    let mut params = init_params(&llm, &ws, json!({"mcpServers": servers}));
    on_docker(&mut params, &llm, json!({}));
    let (mut server, _) = Server::start(options(), params).unwrap();
    let started = server.command("openhands.startTask", json!({"instruction": "Go"})).unwrap().unwrap();
    let id = started["conversationId"].as_str().unwrap().to_owned();
    let failed = wait_state(&server, &id, "error");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("\"gone\"")
            && error.contains("no-such-mcp-server")
            && error.contains("not in the agent's container"),
        "{error}"
    );
    assert_eq!(llm.served(), 0, "the agent never started");
    server.shutdown_and_exit().unwrap();
}
