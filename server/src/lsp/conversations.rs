//! The conversation commands: start a task (from an instruction, or a diagnostic), message, pause, resume, stop,
//! list, read the events, answer a confirmation, set a secret.

use crate::secrets::SecretName;
use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::Error;

use super::args::{
    ConfirmationArgs, ConversationArgs, FixDiagnosticArgs, GetEventsArgs, ListArgs, SendMessageArgs, SetSecretArgs,
    StartTaskArgs, UnqueueMessageArgs,
};
use super::errors::bad_argument;
use super::names::{FIX_DIAGNOSTIC, START_TASK};
use super::state::Ctx;
use super::{cloud, convert, start, wire};
use crate::conversation::{Delivery, GoOn, StartRequest};
use crate::tasks;

pub async fn start_task(ctx: &Ctx, args: StartTaskArgs) -> Result<Value, Error> {
    if args.instruction.trim().is_empty() {
        return Err(bad_argument(START_TASK, "arguments[0].instruction: must not be empty"));
    }
    let selection = args.selected_text.clone().or_else(|| {
        let (uri, range) = (args.uri.as_ref()?, args.range?);
        let session = ctx.shared.session();
        let doc = session.documents.get(uri)?;
        Some(super::documents::slice(&doc.text, range, ctx.snap.client.utf8_positions))
    });
    let file = args.uri.as_ref().and_then(convert::file_path);
    let folders = args.folders.iter().flatten().map(|f| folder_path(f)).collect::<Result<Vec<_>, _>>()?;
    // The file's folder among those given, else the first given, else the file's workspace folder.
    let workspace = file
        .as_deref()
        .and_then(|f| folders.iter().find(|d| f.starts_with(d)).cloned())
        .or_else(|| folders.first().cloned())
        .or_else(|| tasks::workspace_for(file.as_deref(), &ctx.snap.roots))
        .ok_or_else(|| {
            bad_argument(START_TASK, "no workspace folder to work in: open a folder, or pass a `uri` inside one")
        })?;
    let lines = args.range.map(convert::lines);
    let problems: Vec<tasks::Problem> = args.diagnostics.iter().flatten().map(convert::problem).collect();
    let instruction = tasks::compose_instruction(
        &args.instruction,
        file.as_deref(),
        &workspace,
        lines,
        selection.as_deref(),
        &problems,
    );
    let title = args.title.filter(|t| !t.trim().is_empty()).unwrap_or_else(|| tasks::title_from(&args.instruction));
    let folders = folders.into_iter().filter(|f| *f != workspace).collect();
    start::conversation(ctx, StartRequest { instruction, title, workspace, folders, ..Default::default() }).await
}

/// A folder of `startTask {folders}`: a file URI or an absolute path.
fn folder_path(given: &str) -> Result<std::path::PathBuf, Error> {
    let path = match given.parse::<tower_lsp_server::lsp_types::Uri>() {
        Ok(uri) if uri.scheme().is_some_and(|s| s.as_str() == "file") => convert::file_path(&uri),
        _ => Some(std::path::PathBuf::from(given)),
    };
    path.filter(|p| p.is_absolute())
        .ok_or_else(|| bad_argument(START_TASK, format!("folders: {given:?} is not a file URI or an absolute path")))
}

pub async fn fix_diagnostic(ctx: &Ctx, args: FixDiagnosticArgs) -> Result<Value, Error> {
    let Some(file) = convert::file_path(&args.uri) else {
        return Err(bad_argument(FIX_DIAGNOSTIC, "arguments[0].uri: not a file URI"));
    };
    // Whole lines are quoted, so the position encoding does not matter here. The editor's text when the document
    // is open (unsaved edits included), else the file on disk.
    let open_text = ctx.shared.session().documents.get(&args.uri).map(|d| d.text.clone());
    let text = match open_text {
        Some(t) => Some(t),
        None => tokio::fs::read_to_string(&file).await.ok(),
    };
    let workspace = tasks::workspace_for(Some(&file), &ctx.snap.roots)
        .ok_or_else(|| bad_argument(FIX_DIAGNOSTIC, format!("no workspace folder holds {}", file.display())))?;
    let shown = file.strip_prefix(&workspace).unwrap_or(&file).display().to_string();
    let problem = convert::problem(&args.diagnostic);
    let instruction = tasks::problem_instruction(&problem, &shown, text.as_deref());
    let title = tasks::problem_title(&problem);
    start::conversation(
        ctx,
        StartRequest { instruction, title, workspace, issue: None, attach: None, ..Default::default() },
    )
    .await
}

pub async fn send_message(ctx: &Ctx, args: SendMessageArgs) -> Result<Value, Error> {
    // A conversation whose sandbox is gone (an earlier session's) goes on with the session's settings.
    let go_on = GoOn { settings: &ctx.snap.settings, editor: ctx.snap.editor(), mcp_servers: Default::default() };
    let message = (args.text, Vec::new(), args.mode);
    Ok(match ctx.manager()?.message(&args.conversation_id, message, go_on).await? {
        Delivery::Sent => json!({ "delivery": "sent" }),
        Delivery::Queued(queued) => json!({ "delivery": "queued", "queued": wire::Queued::from(queued) }),
    })
}

/// A queued message taken back: it is given back, for the editor to put where the user types.
pub async fn unqueue_message(ctx: &Ctx, args: UnqueueMessageArgs) -> Result<Value, Error> {
    let message = ctx.manager()?.unqueue(&args.conversation_id, &args.message_id).await?;
    Ok(json!({ "message": wire::Queued::from(message) }))
}

pub async fn pause(ctx: &Ctx, args: ConversationArgs) -> Result<Value, Error> {
    ctx.manager()?.pause(&args.conversation_id).await?;
    Ok(Value::Null)
}

pub async fn resume(ctx: &Ctx, args: ConversationArgs) -> Result<Value, Error> {
    ctx.manager()?.resume(&args.conversation_id).await?;
    Ok(Value::Null)
}

pub async fn stop(ctx: &Ctx, args: ConversationArgs) -> Result<Value, Error> {
    ctx.manager()?.stop(&args.conversation_id).await?;
    Ok(Value::Null)
}

/// This machine's conversations, and the cloud's when asked for (or when the backend is the cloud).
pub async fn list(ctx: &Ctx, args: ListArgs) -> Result<Value, Error> {
    let local = ctx.manager()?.list().await?;
    let mut result = cloud::conversations(ctx, args.cloud, &local).await;
    result["conversations"] = json!(wire::conversations(local));
    Ok(result)
}

pub async fn events(ctx: &Ctx, args: GetEventsArgs) -> Result<Value, Error> {
    let manager = ctx.manager()?;
    let (events, next, total) = manager.events(&args.conversation_id, args.after, args.limit.clamp(1, 5000)).await?;
    Ok(json!({"events": events, "next": next, "total": total}))
}

pub async fn confirm(ctx: &Ctx, args: ConfirmationArgs) -> Result<Value, Error> {
    let id = args.conversation_id.clone();
    ctx.manager()?.confirm(&id, args.decision()).await?;
    Ok(Value::Null)
}

pub fn set_secret(ctx: &Ctx, args: SetSecretArgs) -> Result<Value, Error> {
    let secrets = &ctx.shared.secrets;
    match SecretName::ALL.into_iter().find(|n| n.as_str() == args.name) {
        Some(known) => secrets.set(known, &args.value),
        None if crate::mcp::is_secret_name(&args.name) => secrets.set_named(&args.name, &args.value),
        None => {
            return Err(crate::lsp::errors::invalid_params(format!(
                "openhands.setSecret: {:?} is not a secret name: llm_api_key, github_token, gitlab_token, \
                 bitbucket_token, cloud_api_key, jira_token, linear_api_key, or a name of your own for MCP servers \
                 (letters, digits and _)",
                args.name
            )));
        }
    }
    tracing::info!("secret {} {}", args.name, if args.value.is_empty() { "cleared" } else { "set" });
    if matches!(args.name.as_str(), "jira_token" | "linear_api_key") {
        // Another token may see other projects, and read the titles that failed.
        ctx.shared.forget_tracker_reads();
    }
    Ok(json!({"name": args.name, "set": !args.value.is_empty()}))
}
