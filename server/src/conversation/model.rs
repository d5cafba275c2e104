//! What conversations are to the rest of the program: a conversation as listed, what the manager reports to its
//! observer, what a new one starts from, and the user's answer to a confirmation.

use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::store::{IssueLink, Meta, QueuedMessage, State};
use crate::agent_server::events::NormalizedEvent;
use crate::config::ConfirmationMode;

/// What a message does when the agent is working. When it is not, both start a turn now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SendMode {
    /// Into the running turn: the agent reads it before its next step.
    #[default]
    Steer,
    /// After the running turn: it starts the next one.
    Queue,
}

/// What became of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    /// It went to the agent.
    Sent,
    /// It waits for the running turn to end.
    Queued(QueuedMessage),
}

/// A conversation as listed for editors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    #[serde(flatten)]
    pub meta: Meta,
    /// A runner is attached to a live sandbox (false for history from an earlier session).
    pub live: bool,
    /// Another openhands-lsp (another editor on this machine) runs it now: look, but act on it there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub running_elsewhere: bool,
    /// Why a message cannot make it go on, when it cannot (`None`: it runs here, or a message starts it again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cannot_continue: Option<String>,
}

/// An action the agent wants to take and is waiting for the user to confirm.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PendingAction {
    pub id: String,
    pub tool: String,
    pub summary: String,
    pub detail: String,
}

/// What the user answered to a confirmation request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", tag = "decision")]
pub enum Decision {
    /// Run the pending actions.
    Allow,
    /// Run them, and stop asking for the rest of this conversation.
    AllowAll,
    Reject {
        reason: Option<String>,
    },
    /// Do not run them, and stop the turn there (the user cancelled the question): the agent is paused, as by
    /// `pause`, and goes on only when the user sends a message or resumes.
    Cancel,
}

/// How much of a conversation's events (KiB of their JSON) may be on its way to the editor at once. The runner
/// waits for credit before it takes the next event from the agent, so an editor that reads slower than an agent
/// streams slows the agent's stream (and then the agent-server) instead of growing queues here. Counted in bytes,
/// not events: a burst of small events flows freely, 64 KiB chunks of terminal output are held to a few MB.
pub(crate) const KIB_IN_FLIGHT: u32 = 4096;

/// One event's place in its conversation's budget, given back when the last holder drops it (once the event is on
/// its way to the editor).
#[derive(Clone, Default)]
pub struct Credit(#[allow(dead_code)] Option<Arc<tokio::sync::OwnedSemaphorePermit>>);

impl Credit {
    pub(super) fn new(permit: Option<tokio::sync::OwnedSemaphorePermit>) -> Self {
        Credit(permit.map(Arc::new))
    }
}

impl std::fmt::Debug for Credit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credit")
    }
}

/// What the manager tells its observer. Sent in order per conversation.
#[derive(Debug, Clone)]
pub enum Update {
    /// Created, or its state, title or outcome changed.
    Changed(Box<Summary>),
    /// An event, with its credit: hold it until the event is handed on.
    Event(Arc<NormalizedEvent>, Credit),
    /// The agent waits for the user; answer with [`Manager::confirm`].
    ConfirmationNeeded { conversation_id: String, actions: Vec<PendingAction> },
    /// The conversation spent its budget and is paused: go on with [`Manager::raise_budget`] or stop it.
    /// `spent`: `has spent $0.02 and 60 tokens of its budget of $0.01`; `raise`: the answer that goes on, in words.
    BudgetReached { conversation_id: String, spent: String, raise: String },
    /// What a slow start is doing (pulling an image, building one, booting a container).
    Progress { conversation_id: String, message: String },
    /// Something the user should read once, in words (what a dev container asks that is not applied).
    Notice { conversation_id: String, message: String },
    /// The agent stopped working: finished, failed, stuck or stopped.
    Settled { conversation_id: String, state: State, message: String },
    /// A step changed files: they were recorded as a checkpoint.
    Checkpoint { conversation_id: String, checkpoint: crate::git::checkpoint::Checkpoint },
}

pub trait Observer: Send + Sync {
    /// Must not block: called from conversation runners.
    fn update(&self, update: Update);
}

/// A new conversation.
#[derive(Debug, Clone, Default)]
pub struct StartRequest {
    pub instruction: String,
    pub title: String,
    pub workspace: PathBuf,
    pub issue: Option<IssueLink>,
    /// Follow this existing OpenHands Cloud conversation instead of starting one.
    pub attach: Option<String>,
    /// A front's own choices for this one conversation, over the settings.
    pub options: StartOptions,
    /// Images with the instruction (URLs, `data:` URLs included).
    pub images: Vec<String>,
    /// Folders the task spans besides `workspace` (absolute paths), each with its own copy in the sandbox.
    pub folders: Vec<PathBuf>,
}

/// What a front may choose for one conversation beyond the settings (an ACP session's id, backend and MCP servers).
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// The id the conversation gets (an ACP session's, known before its first prompt); a new one when `None`.
    pub id: Option<super::store::ConversationId>,
    /// Run on this backend instead of the selected one.
    pub backend: Option<crate::config::Backend>,
    /// The agent's MCP servers beside those of the settings (an ACP session's). May hold secrets (headers,
    /// environment): they go to the agent-server only, never to meta.json or the log.
    pub mcp_servers: crate::mcp::McpServers,
}

/// Settings a conversation starts with.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    pub llm_model: String,
    pub llm_base_url: Option<String>,
    pub llm_num_retries: Option<u32>,
    pub llm_timeout_seconds: u32,
    pub llm_stream: bool,
    pub isolation: crate::config::Isolation,
    pub confirmation: ConfirmationMode,
    pub max_iterations: u32,
    /// Where the user is: instructions (how to set the key) name what they type there.
    pub editor: crate::editor::Editor,
    /// The agent's MCP servers as the agent-server's `mcp_config`, secrets filled in (the settings' and a front's).
    pub mcp_config: Option<serde_json::Value>,
    /// The stdio MCP servers' commands by server name: looked up in a container before the agent starts.
    pub mcp_commands: Vec<(String, String)>,
    pub budget: super::Budget,
}

impl AgentSettings {
    /// Settings as a conversation starts with them, for a user in `editor`.
    pub fn from_settings(settings: &crate::config::Settings, editor: crate::editor::Editor) -> Self {
        AgentSettings {
            llm_model: settings.llm.model.clone(),
            llm_base_url: settings.llm.base_url.clone(),
            llm_num_retries: settings.llm.num_retries,
            llm_timeout_seconds: settings.llm.timeout_seconds,
            llm_stream: settings.llm.stream,
            isolation: settings.isolation,
            confirmation: settings.confirmation,
            max_iterations: settings.max_iterations,
            editor,
            mcp_config: None,
            mcp_commands: Vec::new(),
            budget: super::Budget::new(settings.max_budget_per_task, settings.max_tokens_per_task),
        }
    }
}

/// What `review` returns: the files the agent changed in one of the conversation's folders, relative to `source`
/// (the user's folder).
#[derive(Debug, Clone)]
pub struct Review {
    pub title: String,
    pub source: PathBuf,
    pub files: Vec<crate::git::FileChange>,
    /// The extra folder's name (`None`: the workspace).
    pub folder: Option<String>,
}

impl Review {
    /// A file's path as a review of several folders shows it: an extra folder's prefixed with its name, so that
    /// paths (and the hunk ids made from them) are told apart across folders.
    pub fn shown(&self, path: &std::path::Path) -> String {
        match &self.folder {
            Some(name) => format!("{name}/{}", path.display()),
            None => path.display().to_string(),
        }
    }

    /// A file's path as the agent knows it: an extra folder's under the folder's name, so that the agent can tell
    /// which repository's file is meant.
    pub fn folder_path(&self, path: &std::path::Path) -> String {
        match &self.folder {
            Some(name) => format!("{} (in the folder {name})", path.display()),
            None => path.display().to_string(),
        }
    }
}

/// What the user asked of a conversation while its sandbox was starting (taken in `start.rs`): a pause (a cancelled
/// turn) holds the task until the next message or resume, instead of letting it run seconds later with nobody
/// waiting for it; messages wait for the agent-server and go with the task.
#[derive(Debug, Default)]
pub(super) struct Held {
    pub paused: bool,
    pub messages: Vec<(String, Vec<String>)>,
}
