//! Test support for openhands-lsp's end-to-end tests: everything here drives real processes.

pub mod acp;
pub mod agent;
pub mod cloud_mock;
pub mod docker;
pub mod git_http;
pub mod llm;
pub mod lsp_client;
pub mod openapi;
pub mod process;
pub mod provider_mock;
pub mod release;
pub mod remote_engine;
pub mod repo;
pub mod screen;
pub mod stdio_peer;
pub mod tracker_answers;
pub mod vscode;
pub mod workspace_edit;

pub use lsp_client::{Options, RpcError, Server};

/// `value` as pretty JSON with every object's keys sorted, for snapshots: serde_json keeps insertion order in this
/// build (the ACP schema crate turns on its `preserve_order`), which a snapshot should not depend on.
pub fn sorted_json(value: &serde_json::Value) -> String {
    fn sorted(value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                serde_json::Value::Object(keys.into_iter().map(|k| (k.clone(), sorted(&map[k]))).collect())
            }
            serde_json::Value::Array(items) => serde_json::Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string_pretty(&sorted(value)).unwrap_or_default()
}

/// Serves `app` on a free port of 127.0.0.1 from a runtime of its own (tests are synchronous); the server lives as
/// long as the returned runtime.
pub fn serve_router(app: axum::Router, worker_threads: usize) -> (tokio::runtime::Runtime, std::net::SocketAddr) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads)
        .enable_all()
        .build()
        .expect("runtime");
    let addr = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        addr
    });
    (runtime, addr)
}
pub mod structure;
