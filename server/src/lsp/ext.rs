//! The LSP extensions of openhands-lsp (documented in docs/protocol.md).

use serde::{Deserialize, Serialize};
use tower_lsp_server::lsp_types::notification::Notification;

/// `openhands/status`: what the server is doing, for a status bar item.
pub enum Status {}

impl Notification for Status {
    type Params = StatusParams;
    const METHOD: &'static str = "openhands/status";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusParams {
    pub busy: bool,
    pub message: String,
    pub kind: StatusKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusKind {
    Normal,
    Warning,
    Error,
}

/// `openhands/event`: one agent event, normalised (see docs/protocol.md).
pub enum EventNotification {}

impl Notification for EventNotification {
    type Params = crate::agent_server::events::NormalizedEvent;
    const METHOD: &'static str = "openhands/event";
}

/// `openhands/checkpoint`: a step changed files, recorded as a checkpoint.
pub enum CheckpointTaken {}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckpointParams {
    pub conversation_id: String,
    pub checkpoint: super::wire::Checkpoint,
}

impl Notification for CheckpointTaken {
    type Params = CheckpointParams;
    const METHOD: &'static str = "openhands/checkpoint";
}

/// `openhands/conversationChanged`: a conversation was created or its state, title or outcome changed.
pub enum ConversationChanged {}

impl Notification for ConversationChanged {
    type Params = super::wire::Conversation;
    const METHOD: &'static str = "openhands/conversationChanged";
}
