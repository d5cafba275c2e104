//! The cloud backend's commands: attaching to a cloud conversation, the cloud half of `listConversations`, and
//! storing provider tokens in the cloud account.

use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::Error;

use super::args::{AttachArgs, NoArgs};
use super::errors::{bad_argument, invalid_params};
use super::names::ATTACH_CONVERSATION;
use super::state::Ctx;
use super::{convert, start};
use crate::config::Backend;
use crate::conversation::{StartRequest, Summary};

/// How many cloud conversations `openhands.listConversations` shows.
const CLOUD_LIST_LIMIT: u32 = 50;

/// `openhands.attachConversation`: follow a conversation started elsewhere (the web UI, the API).
pub async fn attach(ctx: &Ctx, args: AttachArgs) -> Result<Value, Error> {
    let id = args.cloud_conversation_id.trim().to_owned();
    if id.is_empty() {
        return Err(bad_argument(ATTACH_CONVERSATION, "arguments[0].cloudConversationId: must not be empty"));
    }
    let cloud = ctx.shared.backends.cloud.clone();
    let conversation = cloud.conversation(&id).await?.ok_or_else(|| {
        invalid_params(format!("OpenHands Cloud ({}) has no conversation {id} that this API key can see", cloud.url()))
    })?;
    let file = args.uri.as_ref().and_then(convert::file_path);
    let workspace = crate::tasks::workspace_for(file.as_deref(), &ctx.snap.roots).ok_or_else(|| {
        bad_argument(ATTACH_CONVERSATION, "no workspace folder for the changes to come back to: open a folder")
    })?;
    let title = conversation.title.clone().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| format!("Cloud {id}"));
    let req = StartRequest {
        instruction: format!("(attached to the OpenHands Cloud conversation {id})"),
        title,
        workspace,
        issue: None,
        attach: Some(id),
        ..Default::default()
    };
    start::conversation(ctx, req).await
}

/// The cloud half of `openhands.listConversations`: the user's cloud conversations, each marked with the local
/// conversation following it (if any).
pub async fn conversations(ctx: &Ctx, wanted: Option<bool>, local: &[Summary]) -> Value {
    let cloud = ctx.shared.backends.cloud.clone();
    let selected = ctx.snap.settings.backend == Backend::Cloud;
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
pub async fn store_provider_tokens(ctx: &Ctx, _: NoArgs) -> Result<Value, Error> {
    let stored = ctx.shared.backends.cloud.store_provider_tokens().await?;
    if stored.is_empty() {
        return Err(invalid_params(
            "no provider token is set: set github_token, gitlab_token or bitbucket_token with openhands.setSecret first"
                .into(),
        ));
    }
    Ok(json!({"stored": stored}))
}
