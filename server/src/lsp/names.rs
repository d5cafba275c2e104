//! The names of the commands, as `executeCommandProvider` announces them and docs/protocol.md documents them.

pub const STATUS: &str = "openhands.status";
pub const START_TASK: &str = "openhands.startTask";
pub const SEND_MESSAGE: &str = "openhands.sendMessage";
pub const UNQUEUE_MESSAGE: &str = "openhands.unqueueMessage";
pub const PAUSE: &str = "openhands.pause";
pub const RESUME: &str = "openhands.resume";
pub const STOP: &str = "openhands.stop";
pub const LIST_CONVERSATIONS: &str = "openhands.listConversations";
pub const GET_EVENTS: &str = "openhands.getEvents";
pub const RESPOND_TO_CONFIRMATION: &str = "openhands.respondToConfirmation";
pub const SET_SECRET: &str = "openhands.setSecret";
pub const REVIEW_CHANGES: &str = "openhands.reviewChanges";
pub const APPLY_CHANGES: &str = "openhands.applyChanges";
pub const DISCARD_CHANGES: &str = "openhands.discardChanges";
pub const REJECT_HUNKS: &str = "openhands.rejectHunks";
pub const PUSH_CHANGES: &str = "openhands.pushChanges";
pub const LIST_CHECKPOINTS: &str = "openhands.listCheckpoints";
pub const RESTORE_CHECKPOINT: &str = "openhands.restoreCheckpoint";
pub const FIX_DIAGNOSTIC: &str = "openhands.fixDiagnostic";
pub const FIX_ISSUE: &str = "openhands.fixIssue";
pub const CREATE_PULL_REQUEST: &str = "openhands.createPullRequest";
pub const SUGGESTED_TASKS: &str = "openhands.suggestedTasks";
pub const ATTACH_CONVERSATION: &str = "openhands.attachConversation";
pub const STORE_PROVIDER_TOKENS_IN_CLOUD: &str = "openhands.storeProviderTokensInCloud";

/// Exactly the commands this server implements; advertised in `executeCommandProvider`.
pub const ALL: &[&str] = &[
    STATUS,
    START_TASK,
    SEND_MESSAGE,
    UNQUEUE_MESSAGE,
    PAUSE,
    RESUME,
    STOP,
    LIST_CONVERSATIONS,
    GET_EVENTS,
    RESPOND_TO_CONFIRMATION,
    SET_SECRET,
    REVIEW_CHANGES,
    APPLY_CHANGES,
    DISCARD_CHANGES,
    REJECT_HUNKS,
    PUSH_CHANGES,
    LIST_CHECKPOINTS,
    RESTORE_CHECKPOINT,
    FIX_DIAGNOSTIC,
    FIX_ISSUE,
    CREATE_PULL_REQUEST,
    SUGGESTED_TASKS,
    ATTACH_CONVERSATION,
    STORE_PROVIDER_TOKENS_IN_CLOUD,
];
