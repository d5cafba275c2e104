//! A scripted OpenAI-compatible LLM (`POST /v1/chat/completions`, JSON and SSE streaming) that drives the real
//! agent-server. It stands in for the one thing that cannot run here: the model.
//!
//! A script is a list of replies, one per request, in order: a tool call, a plain message, an HTTP error, or a
//! hang. Any reply can wait on a named gate the test opens, so a test can hold the agent mid-run. Every request
//! is recorded (body and headers) for assertions. When the script runs out, the reply is a `finish` tool call.
//!
//! Like a model, it answers the same conversation the same way: a request whose messages are those of the last one
//! it answered (the reply went out, then the agent cancelled the call, a pause's interrupt, and asks again) gets
//! the same reply, not the next step. A reply still held at its gate or delay when the call was cancelled was never
//! given, and errors and dropped replies are not repeated: the call after them gets the next step.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Notify;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Call this tool (`terminal`, `file_editor`, `finish`, `think`, `task_tracker`) with `args` (`{workdir}` in them
    /// becomes the agent's working directory).
    #[serde(default)]
    pub tool: Option<String>,
    #[serde(default)]
    pub args: Value,
    /// Assistant text: with `tool`, the thought before the call; alone, a plain reply (which ends the turn).
    #[serde(default)]
    pub text: Option<String>,
    /// Answer with this HTTP status and `text` as the error message instead.
    #[serde(default)]
    pub status: Option<u16>,
    /// Wait until the test opens this gate before answering.
    #[serde(default)]
    pub gate: Option<String>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Answer 200 with this body as it is (not JSON, or JSON that is no completion).
    #[serde(default)]
    pub raw: Option<String>,
    /// Send the headers, then drop the connection before the body.
    #[serde(default)]
    pub drop: bool,
}

impl Step {
    pub fn tool(name: &str, args: Value) -> Step {
        Step { tool: Some(name.into()), args, ..Step::blank() }
    }
    pub fn terminal(command: &str) -> Step {
        Step::tool("terminal", json!({"command": command, "security_risk": "LOW"}))
    }
    pub fn finish(message: &str) -> Step {
        Step::tool("finish", json!({"message": message}))
    }
    pub fn error(status: u16, message: &str) -> Step {
        Step { text: Some(message.into()), status: Some(status), ..Step::blank() }
    }
    fn blank() -> Step {
        Step {
            tool: None,
            args: Value::Null,
            text: None,
            status: None,
            gate: None,
            delay_ms: None,
            raw: None,
            drop: false,
        }
    }
    /// A 200 answer with `body` as it is.
    pub fn raw(body: &str) -> Step {
        Step { raw: Some(body.into()), ..Step::blank() }
    }
    /// The connection dropped mid-answer.
    pub fn dropped() -> Step {
        Step { drop: true, ..Step::blank() }
    }
    /// The agent's thought before its call (the assistant text beside the tool call).
    pub fn thinking(mut self, text: &str) -> Step {
        self.text = Some(text.into());
        self
    }
    /// A real answer (a message or a tool call), which a model would give again to the same messages.
    fn answers(&self) -> bool {
        self.status.is_none() && !self.drop && self.raw.is_none()
    }

    pub fn gated(mut self, gate: &str) -> Step {
        self.gate = Some(gate.into());
        self
    }
    pub fn risk(mut self, risk: &str) -> Step {
        self.args["security_risk"] = json!(risk);
        self
    }
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub body: Value,
    pub headers: HashMap<String, String>,
}

#[derive(Default)]
struct Shared {
    script: Mutex<Vec<Step>>,
    next: Mutex<usize>,
    /// The messages of the last request given a real answer, and its step.
    last_answered: Mutex<Option<(Value, usize)>>,
    requests: Mutex<Vec<Recorded>>,
    open_gates: Mutex<HashSet<String>>,
    /// Scripts per task (see [`ScriptedLlm::start_per_task`]).
    per_task: Vec<(String, Vec<Step>)>,
    gate_changed: Notify,
    request_arrived: Notify,
}

pub struct ScriptedLlm {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    _server: tokio::task::JoinHandle<()>,
    _runtime: Option<tokio::runtime::Runtime>,
}

impl ScriptedLlm {
    /// Starts on 127.0.0.1 with its own runtime (tests are synchronous).
    pub fn start(script: Vec<Step>) -> ScriptedLlm {
        Self::start_on("127.0.0.1", script)
    }

    /// Starts on every interface, so that agents in containers reach it through `host.docker.internal`
    /// ([`ScriptedLlm::container_base_url`]).
    pub fn start_for_containers(script: Vec<Step>) -> ScriptedLlm {
        Self::start_on("0.0.0.0", script)
    }

    /// Many conversations at once (a batch run), each answered from its own script: the one whose key (a marker
    /// in the task's text) is in the request's messages, at the step of how many answers those messages hold. The
    /// same messages get the same answer, whatever the order the conversations ask in.
    pub fn start_per_task(scripts: Vec<(String, Vec<Step>)>) -> ScriptedLlm {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let shared = Shared { per_task: scripts, ..Default::default() };
        let (addr, shared, server) = runtime.block_on(Self::serve("0.0.0.0", shared));
        ScriptedLlm { addr, shared, _server: server, _runtime: Some(runtime) }
    }

    fn start_on(host: &str, script: Vec<Step>) -> ScriptedLlm {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let shared = Shared { script: Mutex::new(script), ..Default::default() };
        let (addr, shared, server) = runtime.block_on(Self::serve(host, shared));
        ScriptedLlm { addr, shared, _server: server, _runtime: Some(runtime) }
    }

    async fn serve(host: &str, shared: Shared) -> (SocketAddr, Arc<Shared>, tokio::task::JoinHandle<()>) {
        let shared = Arc::new(shared);
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .route("/chat/completions", post(chat))
            // For a test driven from another process (the ACP client scenarios): opens a gate.
            .route("/test/gates/{gate}", post(open_gate))
            .route("/test/requests", axum::routing::get(request_count))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind((host, 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (addr, shared, server)
    }

    /// Starts with a script from `tests/fixtures/llm-scripts/<name>.json`; `{workspace}` in it becomes `workspace`.
    pub fn from_fixture(name: &str, workspace: &std::path::Path) -> ScriptedLlm {
        ScriptedLlm::start(load_script(name, workspace))
    }

    /// The base URL to give the agent (`openhands.llm.baseUrl`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The base URL for an agent in a container (started with [`ScriptedLlm::start_for_containers`]).
    pub fn container_base_url(&self) -> String {
        format!("http://host.docker.internal:{}/v1", self.addr.port())
    }

    pub fn open_gate(&self, gate: &str) {
        self.shared.open_gates.lock().unwrap().insert(gate.to_owned());
        self.shared.gate_changed.notify_waiters();
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// How many requests reached a reply so far (including ones waiting at a gate).
    pub fn served(&self) -> usize {
        *self.shared.next.lock().unwrap()
    }

    /// Blocks until at least `n` requests have arrived.
    pub fn wait_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while self.shared.requests.lock().unwrap().len() < n {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }
}

async fn request_count(State(shared): State<Arc<Shared>>) -> String {
    shared.requests.lock().unwrap().len().to_string()
}

async fn open_gate(
    State(shared): State<Arc<Shared>>,
    axum::extract::Path(gate): axum::extract::Path<String>,
) -> StatusCode {
    shared.open_gates.lock().unwrap().insert(gate);
    shared.gate_changed.notify_waiters();
    StatusCode::NO_CONTENT
}

/// A script from `tests/fixtures/llm-scripts/<name>.json`.
/// A task that goes past a budget of 25 tokens at its second call (each call is 15): two commands, then an answer
/// slower than the pause that follows (it is cancelled, or comes after the user raised the budget), then the finish.
pub fn past_25_tokens() -> Vec<Step> {
    vec![
        Step::terminal("true"),
        Step::terminal("echo fixed"),
        // The same finish either way: when the pause cancels the slow one, the call asked again gets the next.
        Step { delay_ms: Some(5000), ..Step::finish("Fixed both.") },
        Step::finish("Fixed both."),
    ]
}

pub fn load_script(name: &str, workspace: &std::path::Path) -> Vec<Step> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/llm-scripts/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = text.replace("{workspace}", &workspace.to_string_lossy());
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `{workdir}` in a step's arguments becomes the agent's working directory, as the agent-server tells the model in
/// the file editor's description ("Your current working directory is: …"): a conversation's copy is made at a path
/// no script can know in advance.
fn with_workdir(arguments: &str, body: &Value) -> String {
    const SAID: &str = "Your current working directory is: ";
    if !arguments.contains("{workdir}") {
        return arguments.to_owned();
    }
    let request = body.to_string();
    let Some(at) = request.find(SAID) else { return arguments.to_owned() };
    let rest = &request[at + SAID.len()..];
    let dir = rest.split(|c: char| c == '\\' || c == '"' || c.is_whitespace()).next().unwrap_or_default();
    arguments.replace("{workdir}", dir)
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let recorded_headers =
        headers.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned())).collect();
    shared.requests.lock().unwrap().push(Recorded { body: body.clone(), headers: recorded_headers });
    shared.request_arrived.notify_waiters();
    let (n, step, messages) = if !shared.per_task.is_empty() {
        let messages = body.get("messages").cloned().unwrap_or(Value::Null);
        let text = messages.to_string();
        let answered = messages.as_array().map_or(0, |m| m.iter().filter(|m| m["role"] == "assistant").count());
        let script = shared.per_task.iter().find(|(key, _)| text.contains(key.as_str())).map(|(_, s)| s);
        let step = script.and_then(|s| s.get(answered)).cloned().unwrap_or_else(|| Step::finish("Script finished."));
        *shared.next.lock().unwrap() += 1;
        (answered, step, messages)
    } else {
        let mut next = shared.next.lock().unwrap();
        let last = shared.last_answered.lock().unwrap();
        let messages = body.get("messages").cloned().unwrap_or(Value::Null);
        let n = match last.as_ref() {
            Some((asked, n)) if *asked == messages && !messages.is_null() => *n,
            _ => {
                *next += 1;
                *next - 1
            }
        };
        let step = shared.script.lock().unwrap().get(n).cloned().unwrap_or_else(|| Step::finish("Script finished."));
        (n, step, messages)
    };
    if let Some(gate) = &step.gate {
        loop {
            let notified = shared.gate_changed.notified();
            if shared.open_gates.lock().unwrap().contains(gate) {
                break;
            }
            notified.await;
        }
    }
    if let Some(ms) = step.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    // Answered now: a request cancelled while it waited above (the handler is dropped) was never answered, and the
    // call asked again gets the next step, as a held reply that never came.
    *shared.last_answered.lock().unwrap() = step.answers().then_some((messages, n));
    if let Some(raw) = step.raw {
        return (StatusCode::OK, [("content-type", "application/json")], raw).into_response();
    }
    if step.drop {
        let broken = futures::stream::once(async { Err::<Vec<u8>, _>(std::io::Error::other("dropped by the script")) });
        return Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(Body::from_stream(broken))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
    }
    if let Some(status) = step.status {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = step.text.clone().unwrap_or_else(|| "scripted failure".into());
        let err = json!({"error": {"message": message, "type": "server_error", "code": status}});
        return (code, [("content-type", "application/json")], err.to_string()).into_response();
    }
    let model = body.get("model").and_then(Value::as_str).unwrap_or("stub").to_owned();
    let streaming = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let call_id = format!("call_{n}");
    let arguments = with_workdir(&step.args.to_string(), &body);
    let tool_call = step
        .tool
        .as_ref()
        .map(|name| json!({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}));
    let usage = json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15});
    let finish_reason = if tool_call.is_some() { "tool_calls" } else { "stop" };
    if !streaming {
        let mut message = json!({"role": "assistant", "content": step.text});
        if let Some(tc) = &tool_call {
            message["tool_calls"] = json!([tc]);
        }
        let reply = json!({
            "id": format!("chatcmpl-{n}"), "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": usage,
        });
        return (StatusCode::OK, [("content-type", "application/json")], reply.to_string()).into_response();
    }
    let chunk = |delta: Value, finish: Option<&str>| {
        json!({"id": format!("chatcmpl-{n}"), "object": "chat.completion.chunk", "created": 0, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
    if let Some(text) = &step.text {
        events.push(chunk(json!({"content": text}), None));
    }
    if let Some(tc) = &tool_call {
        let mut indexed = tc.clone();
        indexed["index"] = json!(0);
        events.push(chunk(json!({"tool_calls": [indexed]}), None));
    }
    let mut last = chunk(json!({}), Some(finish_reason));
    last["usage"] = usage;
    events.push(last);
    let mut text: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    text.push_str("data: [DONE]\n\n");
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/event-stream")
        .body(Body::from(text))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the agent got for `messages`: the tool call's arguments, or the HTTP status of an error.
    async fn ask(llm: &ScriptedLlm, messages: Value) -> String {
        let url = format!("{}/chat/completions", llm.base_url());
        let body = json!({"model": "stub", "messages": messages});
        let resp = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
        let status = resp.status();
        let answer: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return status.as_u16().to_string();
        }
        answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"].as_str().unwrap_or("").to_owned()
    }

    #[test]
    fn the_same_messages_get_the_same_answer_and_errors_are_not_repeated() {
        let llm = ScriptedLlm::start(vec![
            Step::terminal("one"),
            Step::terminal("two"),
            Step::error(500, "flaky"),
            Step::terminal("three"),
        ]);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let first = json!([{"role": "user", "content": "go"}]);
        let second = json!([{"role": "user", "content": "go"}, {"role": "tool", "content": "one"}]);
        rt.block_on(async {
            assert!(ask(&llm, first.clone()).await.contains("one"));
            // Asked again (the agent cancelled the call it made): the same answer, not the next step.
            assert!(ask(&llm, first.clone()).await.contains("one"));
            assert!(ask(&llm, second.clone()).await.contains("two"));
            let third = json!([{"role": "user", "content": "go"}, {"role": "tool", "content": "two"}]);
            assert_eq!(ask(&llm, third.clone()).await, "500");
            // A retry after an error gets the next step.
            assert!(ask(&llm, third).await.contains("three"));
        });
    }
}
