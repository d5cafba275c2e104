//! The cloud backend's commands: the check before a cloud start (the cloud sees only what is pushed), attaching
//! to a cloud conversation, listing cloud conversations, and storing provider tokens in the cloud account.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};
use tower_lsp_server::UriExt;
use tower_lsp_server::jsonrpc::{Error, ErrorCode};
use tower_lsp_server::lsp_types::{MessageType, Uri};

use super::commands::{self, invalid_params, request_failed};
use super::server::Backend;
use crate::cloud::CloudError;
use crate::config::Settings;
use crate::conversation::{StartRequest, Summary};

pub const PUSH_AND_START: &str = "Push and start";
pub const START_ANYWAY: &str = "Start anyway";
pub const CANCEL: &str = "Cancel";

/// How many cloud conversations `openhands.listConversations` shows.
const CLOUD_LIST_LIMIT: u32 = 50;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AttachArgs {
    pub cloud_conversation_id: String,
    /// A document or folder in the workspace folder the changes come back to (default: the first folder).
    #[serde(default)]
    pub uri: Option<Uri>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListArgs {
    /// Also list the cloud's conversations. Default: when the backend is `cloud` and its API key is set.
    #[serde(default)]
    pub cloud: Option<bool>,
}

/// A cloud error as the editor gets it: a failed request whose message says what to do.
fn to_rpc(e: CloudError) -> Error {
    request_failed(e.to_string())
}

impl Backend {
    /// Before a cloud start: the cloud clones the remote branch, so local commits that are not pushed and
    /// uncommitted changes would be missing. Says so and offers to push first; Cancel is an error that starts
    /// nothing.
    pub(super) async fn before_cloud_start(&self, workspace: &Path, settings: &Settings) -> Result<(), Error> {
        // Without a key nothing can start: say so now rather than through a conversation that fails at once.
        if let Err(e) = self.shared.backends.cloud.api() {
            return Err(invalid_params(e.to_string()));
        }
        let folder = workspace.to_owned();
        let state = tokio::task::spawn_blocking(move || crate::git::sync_state(&folder)).await.ok().flatten();
        let Some(state) = state else { return Ok(()) };
        if state.in_sync() {
            return Ok(());
        }
        let mut parts = Vec::new();
        if !state.on_remote {
            parts.push(format!("branch {} is not on {}", state.branch, state.remote));
        } else if state.ahead > 0 {
            parts.push(format!("{} local commit{} not pushed", state.ahead, plural(state.ahead, " is", "s are")));
        }
        if state.dirty > 0 {
            parts.push(format!("{} file{} uncommitted changes", state.dirty, plural(state.dirty, " has", "s have")));
        }
        let message = format!(
            "OpenHands Cloud works from {}/{} as it is on the remote: {}. The agent will not see {}.",
            state.remote,
            state.branch,
            parts.join(", and "),
            if parts.len() > 1 { "them" } else { "it" }
        );
        let can_push = !state.on_remote || state.ahead > 0;
        let actions: &[&str] = if can_push { &[PUSH_AND_START, START_ANYWAY, CANCEL] } else { &[START_ANYWAY, CANCEL] };
        let choice = match self.ask(MessageType::WARNING, message.clone(), actions).await {
            Ok(choice) => choice,
            Err(e) => {
                // A client that cannot ask still gets told.
                tracing::info!("the cloud start question failed: {e}");
                self.client.show_message(MessageType::WARNING, format!("OpenHands: {message}")).await;
                return Ok(());
            }
        };
        match choice.as_deref() {
            Some(START_ANYWAY) => Ok(()),
            Some(PUSH_AND_START) => {
                let url = crate::git::remote_url(workspace, &state.remote).unwrap_or_default();
                let providers = crate::providers::ProvidersSettings::from_settings(settings);
                let auth = super::review::https_auth_for(&url, &self.shared.secrets, &providers);
                let (folder, remote) = (workspace.to_owned(), state.remote.clone());
                let pushed =
                    tokio::task::spawn_blocking(move || crate::git::push::push_current(&folder, &remote, &auth))
                        .await
                        .map_err(|e| request_failed(format!("pushing before the cloud start: {e}")))?;
                let published =
                    pushed.map_err(|e| request_failed(format!("not started: pushing before the cloud start: {e}")))?;
                tracing::info!(branch = %published.branch, "pushed before the cloud start");
                Ok(())
            }
            _ => Err(Error {
                code: ErrorCode::RequestCancelled,
                message: "not started: cancelled (the cloud would not see the local changes)".into(),
                data: None,
            }),
        }
    }

    /// `openhands.attachConversation`: follow a conversation started elsewhere (the web UI, the API).
    pub(super) async fn attach_conversation(&self, args: AttachArgs) -> Result<Value, Error> {
        let id = args.cloud_conversation_id.trim().to_owned();
        if id.is_empty() {
            return Err(invalid_params(format!(
                "{}: arguments[0].cloudConversationId: must not be empty",
                commands::ATTACH_CONVERSATION
            )));
        }
        let cloud = self.shared.backends.cloud.clone();
        let found = cloud.conversation(&id).await.map_err(to_rpc)?;
        let conversation = found.ok_or_else(|| {
            invalid_params(format!(
                "OpenHands Cloud ({}) has no conversation {id} that this API key can see",
                cloud.url()
            ))
        })?;
        let (settings, folders) = {
            let session = self.shared.session();
            (session.settings.clone(), session.workspace_folders.clone())
        };
        let roots: Vec<PathBuf> = folders.iter().filter_map(|f| f.uri.to_file_path().map(|p| p.into_owned())).collect();
        let file = args.uri.as_ref().and_then(|u| u.to_file_path()).map(|p| p.into_owned());
        let workspace = super::conversations::workspace_for(file.as_deref(), &roots)
            .or_else(|| roots.first().cloned())
            .ok_or_else(|| {
                invalid_params(format!(
                    "{}: no workspace folder for the changes to come back to: open a folder",
                    commands::ATTACH_CONVERSATION
                ))
            })?;
        let title =
            conversation.title.clone().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| format!("Cloud {id}"));
        let req = StartRequest {
            instruction: format!("(attached to the OpenHands Cloud conversation {id})"),
            title,
            workspace,
            issue: None,
            attach: Some(id),
        };
        self.start_conversation(req, &settings).await
    }

    /// The cloud half of `openhands.listConversations`: the user's cloud conversations, each marked with the
    /// local conversation following it (if any).
    pub(super) async fn cloud_conversations(&self, wanted: Option<bool>, local: &[Summary]) -> Value {
        let cloud = self.shared.backends.cloud.clone();
        let selected = self.shared.session().settings.backend == crate::config::Backend::Cloud;
        if !wanted.unwrap_or_else(|| selected && cloud.has_key()) {
            return json!({});
        }
        match cloud.list(CLOUD_LIST_LIMIT).await {
            Ok(list) => {
                let items: Vec<Value> = list
                    .into_iter()
                    .map(|c| {
                        let following = local
                            .iter()
                            .find(|l| l.meta.cloud.as_ref().is_some_and(|link| link.conversation_id == c.id))
                            .map(|l| l.meta.id.clone());
                        json!({
                            "origin": "cloud",
                            "id": c.id,
                            "title": c.title,
                            "url": format!("{}/conversations/{}", cloud.url(), c.id),
                            "sandboxStatus": c.sandbox_status,
                            "executionStatus": c.execution_status,
                            "repository": c.selected_repository,
                            "branch": c.selected_branch,
                            "pullRequests": c.pr_number,
                            "createdAt": c.created_at,
                            "updatedAt": c.updated_at,
                            "attachedAs": following,
                        })
                    })
                    .collect();
                json!({"cloudConversations": items})
            }
            Err(e) => json!({"cloudConversations": [], "cloudError": e.to_string()}),
        }
    }

    /// `openhands.storeProviderTokensInCloud`: keeps the provider tokens set in the editor in the cloud account.
    pub(super) async fn store_provider_tokens(&self) -> Result<Value, Error> {
        let stored = self.shared.backends.cloud.store_provider_tokens().await.map_err(to_rpc)?;
        if stored.is_empty() {
            return Err(invalid_params(
                "no provider token is set: set github_token, gitlab_token or bitbucket_token with openhands.setSecret first"
                    .into(),
            ));
        }
        Ok(json!({"stored": stored}))
    }
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}
