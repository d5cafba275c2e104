//! `_session/steering`: a message into the running turn, the extension Claude's and Codex's ACP adapters serve
//! (announced as `_meta.steering.supported`). The agent reads it before its next step; the turn goes on.

use std::sync::Arc;

use agent_client_protocol_schema::v1::ContentBlock;
use serde::{Deserialize, Serialize};

use super::errors::RpcError;
use super::front::Front;
use crate::conversation::{GoOn, SendMode};

/// What `initialize` announces, at the top of its answer and in `agentCapabilities._meta` (clients read either).
pub fn announcement() -> agent_client_protocol_schema::v1::Meta {
    let mut meta = agent_client_protocol_schema::v1::Meta::new();
    meta.insert("steering".to_owned(), serde_json::json!({ "supported": true }));
    meta
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SteeringRequest {
    pub session_id: String,
    pub prompt: Vec<ContentBlock>,
}

/// The adapters' words: `injected` (the running turn has it), `promptRequired` (no turn runs: nothing was taken,
/// send it as `session/prompt`).
#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Injected,
    PromptRequired,
}

#[derive(Serialize)]
pub struct SteeringResponse {
    pub outcome: Outcome,
}

/// Into the running turn, or `promptRequired` when none runs: a turn nobody's prompt waits for would have no one
/// to give its end, its cost or its permission questions to.
pub async fn steer(front: &Arc<Front>, req: SteeringRequest) -> Result<SteeringResponse, RpcError> {
    let id = req.session_id;
    let instruction = super::turn::instruction_of(&req.prompt);
    if instruction.text.trim().is_empty() && instruction.images.is_empty() {
        return Err(RpcError::invalid_params("the steering message is empty: say what the agent should do"));
    }
    let (running, settings, mcp_servers) = front.with_session(&id, |s| {
        let running = s.turn.as_ref().is_some_and(|t| t.done.is_some() && !t.cancelled);
        (running, s.settings.clone(), s.mcp_servers.clone())
    })?;
    let manager = front.manager()?;
    if !running || !manager.get(&id).is_ok_and(|s| s.live) {
        return Ok(SteeringResponse { outcome: Outcome::PromptRequired });
    }
    let go_on = GoOn { settings: &settings, editor: crate::editor::Editor::AgentPanel, mcp_servers };
    manager.message(&id, (instruction.text, instruction.images, SendMode::Steer), go_on).await?;
    Ok(SteeringResponse { outcome: Outcome::Injected })
}
