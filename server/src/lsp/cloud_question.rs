//! The question before a cloud start: the cloud clones the remote branch, so what is not pushed would be missing.
//! Push and start, start anyway, or cancel (an error that starts nothing).

use std::path::Path;

use tower_lsp_server::jsonrpc::Error;
use tower_lsp_server::lsp_types::MessageType;

use super::errors::{cancelled, invalid_params, request_failed};
use super::prompt;
use super::state::Ctx;

pub const PUSH_AND_START: &str = "Push and start";
pub const START_ANYWAY: &str = "Start anyway";
pub const CANCEL: &str = "Cancel";

pub async fn before_start(ctx: &Ctx, workspace: &Path) -> Result<(), Error> {
    // Without a key nothing can start: say so now rather than through a conversation that fails at once.
    if let Err(e) = ctx.shared.backends.cloud.api() {
        return Err(invalid_params(e.to_string()));
    }
    let Some(unsynced) = crate::cloud_start::check(workspace).await else { return Ok(()) };
    let actions: &[&str] =
        if unsynced.can_push { &[PUSH_AND_START, START_ANYWAY, CANCEL] } else { &[START_ANYWAY, CANCEL] };
    let choice = match prompt::ask(&ctx.client, MessageType::WARNING, unsynced.message.clone(), actions).await {
        Ok(choice) => choice,
        Err(e) => {
            // A client that cannot ask still gets told.
            tracing::info!("the cloud start question failed: {e}");
            let text = format!("OpenHands: {}", unsynced.message);
            ctx.client.show_message(MessageType::WARNING, text).await;
            return Ok(());
        }
    };
    match choice.as_deref() {
        Some(START_ANYWAY) => Ok(()),
        Some(PUSH_AND_START) => {
            unsynced.push(&ctx.shared.secrets, &ctx.snap.providers_settings()).await.map_err(request_failed)?;
            Ok(())
        }
        _ => Err(cancelled("not started: cancelled (the cloud would not see the local changes)".into())),
    }
}
