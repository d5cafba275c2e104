//! What can go wrong with a conversation, in words that say what to do.

use std::path::PathBuf;

use super::store::{BadId, StoreError};
use crate::agent_server::AgentServerError;
use crate::sandbox::SandboxError;

#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error("no conversation {0}")]
    Unknown(String),
    #[error(transparent)]
    BadId(#[from] BadId),
    #[error(
        "conversation {0} is not running in this session (its sandbox is gone): send it a message to go on where it \
         left off"
    )]
    NotLive(String),
    #[error("conversation {id} is {state}: {action} is not possible now")]
    WrongState { id: String, state: &'static str, action: &'static str },
    #[error("no LLM API key is set for {model}: {how}, then start the task again")]
    NoLlmKey { model: String, how: String },
    #[error("the workspace {0} does not exist or is not a directory")]
    BadWorkspace(PathBuf),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    AgentServer(#[from] AgentServerError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The agent-server failed with an error of its own where it should work (creating a conversation): its
    /// install is broken. The hint says how to get a working one.
    #[error("the agent-server could not create the conversation: {}. {hint}", reason.trim_end_matches('.'))]
    AgentServerBroken { reason: String, hint: String },
    #[error("the conversation's runner stopped")]
    RunnerGone,
    #[error(
        "conversation {0} has no isolated copy to review (it ran with openhands.isolation = \"none\", or its changes were discarded)"
    )]
    NotIsolated(String),
    #[error("the conversation's isolated copy: {0}")]
    Isolation(String),
    #[error("a background task failed ({0}); see the log, and try again")]
    Worker(String),
    #[error(
        "conversation {id} is running in another openhands-lsp process on this machine (pid {pid}; each editor \
         window and each agent chat runs its own): pause, stop or discard it from the window or chat that started \
         it; it can be reviewed here"
    )]
    Elsewhere { id: String, pid: u32 },
    #[error("{0}")]
    Mcp(String),
    #[error("conversation {id} cannot go on: {why}")]
    CannotContinue { id: String, why: String },
    /// The agent-server could not take the conversation up again from its record.
    #[error(
        "the agent-server could not go on with this conversation from its record ({0}); the record may come from \
         another agent-server version. Its changes can still be reviewed and applied; start a new task to go on"
    )]
    NotResumed(String),
    #[error(
        "that message to conversation {id} is no longer queued ({message}): it was sent to the agent, or taken back"
    )]
    NotQueued { id: String, message: String },
    #[error(
        "{} is inside {} (or holds it): a task works in each folder once; give only the outer one",
        one.display(),
        other.display()
    )]
    NestedFolders { one: PathBuf, other: PathBuf },
    #[error("conversation {id} has no folder {folder:?}; its folders: {known}")]
    UnknownFolder { id: String, folder: String, known: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("a conversation {0} exists already")]
    AlreadyExists(String),
    #[error("the cloud conversation {cloud} is already followed by conversation {local}")]
    AlreadyAttached { cloud: String, local: String },
}

impl ConversationError {
    /// Creating a conversation, with no model call yet, fails with an error of the agent-server's own (a 500 with
    /// its reason) only when the agent-server itself is broken: say so, with what to do (`hint`, the backend's),
    /// rather than pass its error along.
    pub fn creating(error: AgentServerError, hint: Option<String>) -> Self {
        match (error, hint) {
            (AgentServerError::Failed { reason, .. }, Some(hint)) => {
                ConversationError::AgentServerBroken { reason, hint }
            }
            (error, _) => error.into(),
        }
    }
}

impl From<StoreError> for ConversationError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unknown(id) => ConversationError::Unknown(id),
            StoreError::BadId(bad) => ConversationError::BadId(bad),
            other => ConversationError::Store(other),
        }
    }
}
