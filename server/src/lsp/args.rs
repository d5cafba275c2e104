//! The argument of each command (one JSON object), as documented in docs/protocol.md. Unknown fields are refused so
//! that a misspelt one is named rather than ignored.

use serde::Deserialize;
use tower_lsp_server::lsp_types::{Diagnostic, Range, Uri};

use crate::conversation::{ConversationId, Decision, SendMode};

/// For commands without arguments: `{}` or nothing, and no stray fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoArgs {}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusArgs {
    /// Also boot the agent-server and create a conversation with it (seconds): `doctor`'s smoke check.
    #[serde(default)]
    pub smoke_check: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartTaskArgs {
    pub instruction: String,
    /// The document the task is about.
    #[serde(default)]
    pub uri: Option<Uri>,
    #[serde(default)]
    pub range: Option<Range>,
    /// The selected text (clients send it; else it is read from the open document and `range`).
    #[serde(default)]
    pub selected_text: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// The problems the editor reports in the file or range (a code action's `context.diagnostics`, or those the
    /// client sends), said in the instruction.
    #[serde(default)]
    pub diagnostics: Option<Vec<Diagnostic>>,
    /// The folders the task works in (file URIs or absolute paths), each with its own copy: the one holding `uri`
    /// (else the first) is its workspace. Left out: the workspace folder of `uri`, or the first one.
    #[serde(default)]
    pub folders: Option<Vec<String>>,
}

/// `openhands.fixDiagnostic`: what the code action carries.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixDiagnosticArgs {
    pub uri: Uri,
    pub diagnostic: Diagnostic,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConversationArgs {
    pub conversation_id: ConversationId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendMessageArgs {
    pub conversation_id: ConversationId,
    pub text: String,
    /// While the agent works: into its running turn (`steer`, the default) or after it (`queue`).
    #[serde(default)]
    pub mode: SendMode,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnqueueMessageArgs {
    pub conversation_id: ConversationId,
    pub message_id: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListArgs {
    /// Also list the cloud's conversations. Default: when the backend is `cloud` and its API key is set.
    #[serde(default)]
    pub cloud: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GetEventsArgs {
    pub conversation_id: ConversationId,
    /// Return events from this position on (0-based; `next` of the previous page).
    #[serde(default)]
    pub after: u64,
    #[serde(default = "default_limit")]
    pub limit: usize,
}

fn default_limit() -> usize {
    500
}

/// `deny_unknown_fields` does not work with `#[serde(flatten)]` (every field of the flattened part counts as
/// unknown), so the decision's fields are spelled out here.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfirmationArgs {
    pub conversation_id: ConversationId,
    pub decision: DecisionKind,
    /// With `reject`: told to the agent.
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
pub enum DecisionKind {
    Allow,
    AllowAll,
    Reject,
}

impl ConfirmationArgs {
    pub fn decision(self) -> Decision {
        match self.decision {
            DecisionKind::Allow => Decision::Allow,
            DecisionKind::AllowAll => Decision::AllowAll,
            DecisionKind::Reject => Decision::Reject { reason: self.reason },
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetSecretArgs {
    /// One of ours (`llm_api_key`, `github_token`, …), or a name MCP servers' settings use (`${secret:NAME}`).
    pub name: String,
    /// An empty string clears the secret.
    pub value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApplyArgs {
    pub conversation_id: ConversationId,
    /// Paths relative to the workspace folder, or file URIs, applied whole; all changed files when neither this nor
    /// `hunks` is given.
    #[serde(default)]
    pub files: Option<Vec<String>>,
    /// Ids of hunks (from `openhands.reviewChanges`) to apply; the other hunks of their files stay in the agent's copy.
    #[serde(default)]
    pub hunks: Option<Vec<String>>,
    /// The user already reviewed the changes and chose these files in the editor's own interface: the edit asks
    /// for no second confirmation (VS Code's refactor preview would open with every change unticked).
    #[serde(default)]
    pub reviewed: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RejectHunksArgs {
    pub conversation_id: ConversationId,
    pub hunks: Vec<String>,
    /// Told to the agent.
    #[serde(default)]
    pub reason: Option<String>,
    /// Also take the declined hunks out of the agent's copy.
    #[serde(default)]
    pub revert: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RestoreArgs {
    pub conversation_id: ConversationId,
    /// Its number, as `openhands.listCheckpoints` gives it.
    pub checkpoint: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushArgs {
    pub conversation_id: ConversationId,
    /// One of the conversation's extra folders (its name, or its path), for its own repository; the workspace's
    /// when left out.
    #[serde(default)]
    pub folder: Option<String>,
    /// The remote branch to create (default `openhands/<slug of the title>`; `-tryK` is added when taken).
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default = "origin")]
    pub remote: String,
}

fn origin() -> String {
    "origin".into()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixIssueArgs {
    /// `#12`, `owner/repo#12`, or an issue URL.
    pub reference: String,
    /// The document the reference was found in: its workspace folder's remote resolves `#12`.
    #[serde(default)]
    pub uri: Option<Uri>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreatePullRequestArgs {
    pub conversation_id: ConversationId,
    /// One of the conversation's extra folders (its name, or its path): a pull request on its own repository.
    #[serde(default)]
    pub folder: Option<String>,
    /// Draft by default, where the provider has drafts.
    #[serde(default = "yes")]
    pub draft: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SuggestedTasksArgs {
    /// A document of the repository at hand (for providers that list issues per repository).
    #[serde(default)]
    pub uri: Option<Uri>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttachArgs {
    pub cloud_conversation_id: String,
    /// A document or folder in the workspace folder the changes come back to (default: the first folder).
    #[serde(default)]
    pub uri: Option<Uri>,
}
