//! Warming a just-booted agent-server before anyone waits for it.
//!
//! An agent-server's first conversation spends about half a second between the agent starting and its first LLM
//! request (litellm's lazy imports, the HTTP client's set-up), which later conversations do not pay. A throwaway
//! conversation whose "LLM" is the agent-server itself pays it ahead of time: the request gets an immediate 404, so
//! no model is called, no key is used and nothing is written to a workspace.

use std::time::Duration;

use serde_json::Value;

use super::{AgentServerClient, Endpoint, NewConversation};

/// Longer than a warm-up takes on a loaded machine; a warm-up that takes longer is abandoned, not waited for.
const WARM_UP_LIMIT: Duration = Duration::from_secs(20);

/// Runs one throwaway turn on the agent-server at `endpoint`. `self_url` is the agent-server as seen from inside
/// its sandbox (for a container, its own port on 127.0.0.1). Best effort: a failure only loses the head start.
pub async fn warm_up(endpoint: &Endpoint, self_url: &str) {
    let started = std::time::Instant::now();
    let client = AgentServerClient::new(endpoint.clone());
    let base_url = format!("{}/warm-up", self_url.trim_end_matches('/'));
    let request = NewConversation::throwaway("/tmp", "openai/warm-up", base_url);
    let id = request.conversation_id.clone();
    let outcome = tokio::time::timeout(WARM_UP_LIMIT, async {
        client.create_conversation(&request).await?;
        client.send_message(&id, "warm-up", true).await?;
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let info = client.get_conversation(&id).await?;
            let status = info.get("execution_status").and_then(Value::as_str).unwrap_or_default();
            if matches!(status, "error" | "finished" | "stuck" | "idle") {
                return Ok::<_, super::AgentServerError>(status.to_owned());
            }
        }
    })
    .await;
    if let Err(e) = client.delete(&id).await {
        tracing::debug!("warm-up: deleting the throwaway conversation: {e}");
    }
    match outcome {
        Ok(Ok(status)) => tracing::debug!("warm-up done in {:?} ({status})", started.elapsed()),
        Ok(Err(e)) => tracing::info!("warm-up failed: {e}"),
        Err(_) => tracing::info!("warm-up abandoned after {WARM_UP_LIMIT:?}"),
    }
}
