//! Starting a conversation, whichever command asked for it: the question before a cloud start, then the manager.

use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::Error;

use super::state::Ctx;
use super::{cloud_question, wire};
use crate::config::Backend;
use crate::conversation::StartRequest;

/// Starts a conversation with the session's settings; the result every starting command returns.
pub async fn conversation(ctx: &Ctx, req: StartRequest) -> Result<Value, Error> {
    if ctx.snap.settings.backend == Backend::Cloud && req.attach.is_none() {
        cloud_question::before_start(ctx, &req.workspace).await?;
    }
    let summary = ctx.manager()?.start(req, &ctx.snap.settings, ctx.snap.editor())?;
    let id = summary.meta.id.clone();
    Ok(json!({"conversationId": id, "conversation": wire::Conversation::from(summary)}))
}
