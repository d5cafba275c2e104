//! Requests that exist only when `OPENHANDS_LSP_TEST_HOOKS=1`, so the test suite can reach paths no real input
//! should (a panicking handler) and drive the progress helper on its own. Never advertised, never on by default.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::Result;

use super::server::Backend;

pub const ENV_VAR: &str = "OPENHANDS_LSP_TEST_HOOKS";
pub const PANIC: &str = "openhands/test/panic";
pub const PROGRESS: &str = "openhands/test/progress";
pub const RECONNECT_STREAM: &str = "openhands/test/reconnectStream";

pub fn enabled() -> bool {
    std::env::var(ENV_VAR).is_ok_and(|v| v == "1")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressParams {
    title: String,
    #[serde(default)]
    reports: u32,
    /// Wait (at most 30 s) for the client to cancel before ending.
    #[serde(default)]
    wait_for_cancel: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconnectParams {
    conversation_id: crate::conversation::ConversationId,
}

impl Backend {
    /// Cuts the conversation's event stream (the WebSocket), as a network failure would.
    pub async fn test_reconnect_stream(&self, params: ReconnectParams) -> Result<Value> {
        let manager = self.shared.manager.clone().map_err(tower_lsp_server::jsonrpc::Error::invalid_params)?;
        manager.reconnect_stream(&params.conversation_id)?;
        Ok(Value::Null)
    }

    pub async fn test_panic(&self, _: Value) -> Result<Value> {
        panic!("deliberate panic from {PANIC}");
    }

    pub async fn test_progress(&self, params: ProgressParams) -> Result<Value> {
        let handle = self.shared.progress.begin(params.title, None, true).await;
        for i in 1..=params.reports {
            handle.report(format!("step {i} of {}", params.reports));
            // Give the pump a chance to send each report rather than coalesce them all.
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let cancelled = if params.wait_for_cancel {
            tokio::time::timeout(Duration::from_secs(30), handle.cancellation().cancelled()).await.is_ok()
        } else {
            false
        };
        let visible = handle.is_visible();
        let token = handle.token().to_owned();
        handle.end(Some(if cancelled { "cancelled".into() } else { "done".into() }));
        Ok(json!({"token": token, "visible": visible, "cancelled": cancelled}))
    }
}
