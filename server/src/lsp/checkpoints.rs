//! Handlers: `openhands.listCheckpoints`, `openhands.restoreCheckpoint`.

use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::Error;

use super::args::{ConversationArgs, RestoreArgs};
use super::state::Ctx;
use super::wire;

pub async fn list(ctx: &Ctx, args: ConversationArgs) -> Result<Value, Error> {
    let (all, current) = ctx.manager()?.checkpoints(&args.conversation_id).await?;
    let checkpoints: Vec<wire::Checkpoint> = all.into_iter().map(wire::Checkpoint::from).collect();
    Ok(json!({"conversationId": args.conversation_id, "current": current, "checkpoints": checkpoints}))
}

pub async fn restore(ctx: &Ctx, args: RestoreArgs) -> Result<Value, Error> {
    let manager = ctx.manager()?;
    let earlier = manager.restore(&args.conversation_id, args.checkpoint).await?;
    let conversation = wire::Conversation::from(manager.get(&args.conversation_id)?);
    Ok(json!({"conversation": conversation, "earlierBranch": earlier}))
}
