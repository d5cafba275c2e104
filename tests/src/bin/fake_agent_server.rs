//! A stand-in agent-server for the relay benchmarks: the same REST routes and WebSocket event stream as
//! `openhands-agent-server` 1.58.0 (event shapes copied from the captures in `../shared/fixtures/agent-server-1.58.0`),
//! but instead of an agent it pushes a scripted burst of events as fast as the socket takes them, so what is measured
//! is openhands-lsp's relay, not an LLM.
//!
//!   fake-agent-server --host 127.0.0.1 --port N        (what openhands-lsp's process backend runs)
//!
//! Environment: `FAKE_EVENTS` (events per conversation, default 1000), `FAKE_RATE` (events per second per
//! conversation; 0, the default, sends them as fast as the socket takes them). A task whose text contains
//! `FAKE_OUTPUT_BYTES=<n>` streams that much terminal output instead, in 64 KiB observations. Each event's `id` is
//! `bench-<seq>-<unix nanos when sent>`, so a client can measure the latency to the editor.
//!
//! `FAKE_CREATE_FAILS=<reason>` makes it a broken install instead: creating a conversation answers 500 the way the
//! real server's handler of unexpected errors does (`{"detail", "exception", "error_id"}`), as 1.58.0 did with
//! `cryptography` 51 (`Fernet key must be 32 url-safe base64-encoded bytes.`).
#![allow(clippy::print_stderr)] // usage errors

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::{any, get, post};
use serde_json::{Value, json};
use tokio::sync::Notify;

#[derive(Default)]
struct Shared {
    /// Conversations whose run was asked for (a user message with `run: true`).
    started: Mutex<HashMap<String, Arc<Notify>>>,
    /// Conversations that stream output instead of steps, and how much.
    output: Mutex<HashMap<String, usize>>,
    events: usize,
    rate: f64,
}

impl Shared {
    fn gate(&self, id: &str) -> Arc<Notify> {
        self.started.lock().unwrap().entry(id.to_owned()).or_default().clone()
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let (Some(host), Some(port)) = (value("--host"), value("--port")) else {
        eprintln!("usage: fake-agent-server --host HOST --port PORT");
        std::process::exit(2);
    };
    let shared = Arc::new(Shared {
        events: std::env::var("FAKE_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000),
        rate: std::env::var("FAKE_RATE").ok().and_then(|v| v.parse().ok()).unwrap_or(0.0),
        ..Default::default()
    });
    let app = Router::new()
        .route("/health", get(|| async { Json(json!("OK")) }))
        .route(
            "/server_info",
            get(|| async { Json(json!({"uptime": 1.0, "idle_time": 1.0, "version": "fake", "sdk_version": "fake"})) }),
        )
        .route("/api/conversations", post(create))
        .route("/api/conversations/{id}", get(conversation).delete(|| async { Json(json!({"success": true})) }))
        .route("/api/conversations/{id}/events", post(message))
        .route(
            "/api/conversations/{id}/events/search",
            get(|| async { Json(json!({"items": [], "next_page_id": null})) }),
        )
        .route("/api/conversations/{id}/agent_final_response", get(|| async { Json(json!({"response": "done"})) }))
        .route("/api/conversations/{id}/{verb}", post(|| async { Json(json!({"success": true})) }))
        .route("/sockets/events/{id}", any(socket))
        .with_state(shared);
    let listener = match tokio::net::TcpListener::bind(format!("{host}:{port}")).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("fake-agent-server: {host}:{port}: {e}");
            std::process::exit(1);
        }
    };
    // As the real server (uvicorn on asyncio, which sets TCP_NODELAY): no Nagle delay on small frames.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let _ = axum::serve(listener, app).await;
}

async fn create(Json(body): Json<Value>) -> axum::response::Response {
    if let Ok(reason) = std::env::var("FAKE_CREATE_FAILS") {
        let body = json!({"detail": "Internal Server Error", "exception": reason, "error_id": "0123abcd"});
        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
    }
    let id = body["conversation_id"].as_str().unwrap_or("c").to_owned();
    Json(json!({"id": id, "execution_status": "idle"})).into_response()
}

async fn conversation(Path(id): Path<String>) -> impl IntoResponse {
    Json(json!({"id": id, "execution_status": "running"}))
}

async fn message(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    let text = body["content"][0]["text"].as_str().unwrap_or_default();
    if let Some(n) = text.split("FAKE_OUTPUT_BYTES=").nth(1).and_then(|r| r.split_whitespace().next()?.parse().ok()) {
        shared.output.lock().unwrap().insert(id.clone(), n);
    }
    if body["run"] == true {
        shared.gate(&id).notify_one();
    }
    Json(json!({"success": true}))
}

async fn socket(State(shared): State<Arc<Shared>>, Path(id): Path<String>, ws: WebSocketUpgrade) -> impl IntoResponse {
    ws.max_message_size(64 << 20).on_upgrade(move |socket| stream(shared, id, socket))
}

fn now_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

fn timestamp() -> String {
    openhands_lsp_tests::process::dates::agent_server_timestamp()
}

fn state_event(seq: usize, status: &str) -> Value {
    json!({"id": format!("bench-{seq}-{}", now_nanos()), "timestamp": timestamp(), "source": "environment",
           "key": "execution_status", "value": status, "kind": "ConversationStateUpdateEvent"})
}

fn action_event(seq: usize) -> Value {
    let command = format!("echo step-{seq}");
    json!({"id": format!("bench-{seq}-{}", now_nanos()), "timestamp": timestamp(), "source": "agent",
           "thought": [], "reasoning_content": null, "thinking_blocks": [],
           "action": {"command": command, "is_input": false, "timeout": null, "reset": false, "kind": "TerminalAction"},
           "tool_name": "terminal", "tool_call_id": format!("call_{seq}"),
           "tool_call": {"id": format!("call_{seq}"), "name": "terminal", "arguments": json!({"command": command}).to_string(), "origin": "completion"},
           "llm_response_id": format!("chatcmpl-{seq}"), "security_risk": "LOW", "summary": null, "kind": "ActionEvent"})
}

fn observation_event(seq: usize, text: &str) -> Value {
    json!({"id": format!("bench-{seq}-{}", now_nanos()), "timestamp": timestamp(), "source": "environment",
           "tool_name": "terminal", "tool_call_id": format!("call_{seq}"),
           "observation": {"content": [{"cache_prompt": false, "type": "text", "text": text}], "is_error": false,
                           "command": format!("echo step-{seq}"), "exit_code": 0, "timeout": false,
                           "metadata": {"exit_code": 0, "pid": -1, "working_dir": "/workspace/project",
                                        "suffix": "\n[The command completed with exit code 0.]"},
                           "kind": "TerminalObservation"},
           "action_id": format!("a{seq}"), "extended_content": [], "kind": "ObservationEvent"})
}

async fn stream(shared: Arc<Shared>, id: String, mut socket: WebSocket) {
    // First frame: {"type": "auth", "session_api_key": ...}.
    let _ = socket.recv().await;
    // Wait for the run, then push everything.
    shared.gate(&id).notified().await;
    let msg = |v: Value| Message::text(v.to_string());
    if socket.send(msg(state_event(0, "running"))).await.is_err() {
        return;
    }
    let mut seq = 1;
    let output = shared.output.lock().unwrap().get(&id).copied();
    match output {
        Some(total) => {
            let block = ("x".repeat(127) + "\n").repeat(512); // 64 KiB
            let mut sent = 0;
            while sent < total {
                if socket.send(msg(action_event(seq))).await.is_err()
                    || socket.send(msg(observation_event(seq + 1, &block))).await.is_err()
                {
                    return;
                }
                seq += 2;
                sent += block.len();
            }
        }
        None => {
            let start = tokio::time::Instant::now();
            for i in 0..shared.events {
                if shared.rate > 0.0 {
                    tokio::time::sleep_until(start + std::time::Duration::from_secs_f64(i as f64 / shared.rate)).await;
                }
                let event = if i % 2 == 0 { action_event(seq) } else { observation_event(seq, "step output") };
                if socket.send(msg(event)).await.is_err() {
                    return;
                }
                seq += 1;
            }
        }
    }
    let _ = socket.send(msg(state_event(seq, "finished"))).await;
    // Stay open as a real server does, until the client goes.
    while let Some(Ok(_)) = socket.recv().await {}
}
