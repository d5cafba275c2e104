//! Issues and pull requests: `openhands.fixIssue`, `openhands.createPullRequest`, `openhands.suggestedTasks`, the
//! "fix issue" code action on references in open documents, and what a finished issue conversation offers next.

use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::Error;
use tower_lsp_server::lsp_types::{CodeAction, CodeActionKind, CodeActionOrCommand, Command, MessageType, Range, Uri};

use super::args::{ApplyArgs, ConversationArgs, CreatePullRequestArgs, FixIssueArgs, SuggestedTasksArgs};
use super::names::{CREATE_PULL_REQUEST, FIX_ISSUE, SUGGESTED_TASKS};
use super::state::{Ctx, Shared};
use super::{convert, errors, prompt, review, start};
use crate::conversation::ConversationId;
use crate::issues;
use crate::providers::ProvidersSettings;
use crate::providers::reference;

const APPLY: &str = "Apply";
const OPEN_PR: &str = "Open pull request";
const DISCARD: &str = "Discard";

pub async fn fix_issue(ctx: &Ctx, args: FixIssueArgs) -> Result<Value, Error> {
    let file = args.uri.as_ref().and_then(convert::file_path);
    let req = issues::fix_task(&args.reference, file.as_deref(), &ctx.snap.roots, &ctx.providers())
        .await
        .map_err(|e| errors::issue(FIX_ISSUE, e))?;
    start::conversation(ctx, req).await
}

pub async fn create_pull_request(ctx: &Ctx, args: CreatePullRequestArgs) -> Result<Value, Error> {
    let manager = ctx.manager()?;
    let conversation = (args.conversation_id.as_str(), args.folder.as_deref());
    let opened = issues::open_pull_request(&manager, conversation, &ctx.providers(), &ctx.shared.secrets, args.draft)
        .await
        .map_err(|e| errors::issue(CREATE_PULL_REQUEST, e))?;
    let url = &opened.pull.url;
    prompt::show_url(&ctx.client, ctx.snap.client.show_document, url, "pull request opened").await;
    Ok(json!({
        "url": url, "number": opened.pull.number, "draft": opened.pull.draft, "branch": opened.branch,
        "commit": opened.commit, "commentedOnIssue": opened.commented_on_issue,
    }))
}

pub async fn suggested_tasks(ctx: &Ctx, args: SuggestedTasksArgs) -> Result<Value, Error> {
    let providers = ctx.providers();
    let file = args.uri.as_ref().and_then(convert::file_path);
    let here = issues::repository_at(file.as_deref(), &ctx.snap.roots, providers.settings());
    let (tasks, problems) = issues::suggested_tasks(&providers, &ctx.shared.secrets, here)
        .await
        .map_err(|e| errors::issue(SUGGESTED_TASKS, e))?;
    Ok(json!({"tasks": tasks, "problems": problems}))
}

/// A finished conversation on an issue: Apply, Open pull request, or Discard.
pub async fn offer_outcome(ctx: Ctx, id: String) {
    let Ok(manager) = ctx.manager() else { return };
    let Ok(summary) = manager.get(&id) else { return };
    let Some(link) = summary.meta.issue.clone() else { return };
    let isolated = summary.meta.isolation.is_some();
    let mut actions = Vec::new();
    if isolated {
        actions.push(APPLY);
    }
    actions.push(OPEN_PR);
    if isolated {
        actions.push(DISCARD);
    }
    let message = format!("OpenHands finished issue #{} ({}). What next?", link.number, link.title);
    let choice = match prompt::ask(&ctx.client, MessageType::INFO, message, &actions).await {
        Ok(Some(title)) => title,
        Ok(None) => return,
        Err(e) => {
            tracing::info!(conversation = %id, "the next-step question failed: {e}");
            return;
        }
    };
    let Ok(conversation_id) = ConversationId::parse(&id) else { return };
    let outcome = match choice.as_str() {
        APPLY => review::apply(&ctx, ApplyArgs { conversation_id, files: None, hunks: None, reviewed: false }).await,
        OPEN_PR => {
            create_pull_request(&ctx, CreatePullRequestArgs { conversation_id, draft: true, folder: None }).await
        }
        DISCARD => review::discard(&ctx, ConversationArgs { conversation_id }).await,
        _ => Ok(Value::Null),
    };
    if let Err(e) = outcome {
        ctx.client.show_message(MessageType::ERROR, format!("OpenHands: {choice} failed: {}", e.message)).await;
    }
}

/// "Fix issue" actions for the references on the requested lines of an open document.
pub fn code_actions(shared: &Shared, uri: &Uri, range: Range) -> Vec<CodeActionOrCommand> {
    // Only the requested lines are copied out of the session (code actions are asked for on every cursor move).
    let (first, last) = (range.start.line as usize, range.end.line as usize);
    let (lines, settings): (Vec<String>, ProvidersSettings) = {
        let session = shared.session();
        let Some(doc) = session.documents.get(uri) else { return Vec::new() };
        let lines = doc.text.lines().skip(first).take(last.saturating_sub(first) + 1).map(str::to_owned).collect();
        (lines, ProvidersSettings::from_settings(&session.settings))
    };
    let mut seen = Vec::new();
    let mut actions = Vec::new();
    for line in &lines {
        for found in reference::find_in_line(line, &settings) {
            if seen.contains(&found.text) {
                continue;
            }
            seen.push(found.text.clone());
            let title = format!("OpenHands: fix issue {}", found.text);
            let command = Command {
                title: title.clone(),
                command: FIX_ISSUE.into(),
                arguments: Some(vec![json!({"reference": found.text, "uri": uri})]),
            };
            actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                title,
                kind: Some(CodeActionKind::QUICKFIX),
                command: Some(command),
                ..Default::default()
            }));
        }
    }
    actions
}
