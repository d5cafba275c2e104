//! Issues and pull requests: `openhands.fixIssue`, `openhands.createPullRequest`, `openhands.suggestedTasks`, the
//! "fix issue" code action on references in open documents, and what a finished issue conversation offers next.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use tower_lsp_server::jsonrpc::Error;
use tower_lsp_server::lsp_types::{CodeAction, CodeActionKind, CodeActionOrCommand, Command, MessageType, Range, Uri};

use super::args::{ApplyArgs, ConversationArgs, CreatePullRequestArgs, FixIssueArgs, SuggestedTasksArgs};
use super::names::{CREATE_PULL_REQUEST, FIX_ISSUE, SUGGESTED_TASKS};
use super::state::Ctx;
use super::{convert, errors, prompt, review, start};
use crate::conversation::{ConversationId, IssueLink};
use crate::issues;
use crate::providers::reference;
use crate::trackers::reference as tracker_reference;
use crate::trackers::{TrackerKind, Trackers};

const APPLY: &str = "Apply";
const OPEN_PR: &str = "Open pull request";
const DISCARD: &str = "Discard";
const COMMENT: &str = "Comment";
const NO_COMMENT: &str = "Not now";
/// How long a code action waits for a tracker issue's title before it is offered without one.
const TITLE_WAIT: Duration = Duration::from_millis(1500);

pub async fn fix_issue(ctx: &Ctx, args: FixIssueArgs) -> Result<Value, Error> {
    let file = args.uri.as_ref().and_then(convert::file_path);
    let sources = (&ctx.providers(), &ctx.trackers());
    let req = issues::fix_task(&args.reference, file.as_deref(), &ctx.snap.roots, sources)
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
    let commented = match &opened.tracker_issue {
        Some(link) => comment_on_tracker(ctx, link, url).await,
        None => opened.commented_on_issue,
    };
    Ok(json!({
        "url": url, "number": opened.pull.number, "draft": opened.pull.draft, "branch": opened.branch,
        "commit": opened.commit, "commentedOnIssue": commented,
    }))
}

/// Asks whether to put the pull request's link on the Jira or Linear issue, and does it on a yes. A failure is
/// said once; the pull request stands.
async fn comment_on_tracker(ctx: &Ctx, link: &IssueLink, url: &str) -> bool {
    let tracker = TrackerKind::from_id(&link.provider).map_or("the tracker", TrackerKind::name);
    let question = format!("Add a comment with the pull request's link to {} in {tracker}?", link.label());
    match prompt::ask(&ctx.client, MessageType::INFO, question, &[COMMENT, NO_COMMENT]).await {
        Ok(Some(answer)) if answer == COMMENT => {}
        _ => return false,
    }
    match issues::tracker::comment_with_pull(link, "pull request", url, &ctx.trackers()).await {
        Ok(()) => true,
        Err(e) => {
            let message = format!("OpenHands: the comment on {} failed: {e}", link.label());
            ctx.client.show_message(MessageType::ERROR, message).await;
            false
        }
    }
}

pub async fn suggested_tasks(ctx: &Ctx, args: SuggestedTasksArgs) -> Result<Value, Error> {
    let providers = ctx.providers();
    let file = args.uri.as_ref().and_then(convert::file_path);
    let here = issues::repository_at(file.as_deref(), &ctx.snap.roots, providers.settings());
    let (tasks, problems) = issues::suggested_tasks((&providers, &ctx.trackers()), &ctx.shared.secrets, here)
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
    let message = format!("OpenHands finished issue {} ({}). What next?", link.label(), link.title);
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

/// "Fix issue" actions for the references on the requested lines of an open document (quick fixes), and for the
/// issue the folder's branch or its latest commits name (a source action, which shows no light bulb).
pub async fn code_actions(
    ctx: &Ctx,
    uri: &Uri,
    range: Range,
    only: Option<&[CodeActionKind]>,
) -> Vec<CodeActionOrCommand> {
    let wants = |kind: &CodeActionKind| only.is_none_or(|o| o.iter().any(|k| kind.as_str().starts_with(k.as_str())));
    // Only the requested lines are copied out of the session (code actions are asked for on every cursor move).
    let (first, last) = (range.start.line as usize, range.end.line as usize);
    let lines: Vec<String> = {
        let session = ctx.shared.session();
        let Some(doc) = session.documents.get(uri) else { return Vec::new() };
        doc.text.lines().skip(first).take(last.saturating_sub(first) + 1).map(str::to_owned).collect()
    };
    let settings = ctx.snap.providers_settings();
    let trackers = ctx.trackers();
    if trackers.cached_keys().iter().any(|(_, _, stale)| *stale) {
        // Read in the background: this request does not wait, the next one has them.
        let refresh = trackers.clone();
        tokio::spawn(async move { refresh.refresh_keys().await });
    }
    let known = issues::tracker::known(&trackers);
    let mut seen = Vec::new();
    let mut actions = Vec::new();
    for line in lines.iter().filter(|_| wants(&CodeActionKind::QUICKFIX)) {
        for found in reference::find_in_line(line, &settings) {
            if !seen.contains(&found.text) {
                seen.push(found.text.clone());
                actions.push(fix_action(format!("OpenHands: fix issue {}", found.text), &found.text, uri, None));
            }
        }
        for found in tracker_reference::find_in_line(line, &known) {
            if !seen.contains(&found.key) {
                seen.push(found.key.clone());
                let title = titled(ctx, &trackers, found.kind, &found.key).await;
                actions.push(fix_action(title, &found.key, uri, None));
            }
        }
    }
    if wants(&CodeActionKind::SOURCE)
        && let Some(folder) =
            convert::file_path(uri).and_then(|f| crate::tasks::workspace_for(Some(&f), &ctx.snap.roots))
        && let Some(action) = branch_action(ctx, &trackers, folder, uri, &seen).await
    {
        actions.push(action);
    }
    actions
}

/// The action for the issue the branch or a latest commit names, unless a line's action names it already.
async fn branch_action(
    ctx: &Ctx,
    trackers: &Trackers,
    folder: PathBuf,
    uri: &Uri,
    seen: &[String],
) -> Option<CodeActionOrCommand> {
    if trackers.configured().is_empty() {
        return None;
    }
    let (key, source) =
        tokio::time::timeout(TITLE_WAIT, issues::tracker::from_branch(&folder, trackers)).await.ok()??;
    if seen.contains(&key) {
        return None;
    }
    let kind = trackers.tracker_of(&key).await.ok()??;
    let title = format!("{} (named by {source})", titled(ctx, trackers, kind, &key).await);
    Some(fix_action(title, &key, uri, Some(CodeActionKind::SOURCE)))
}

/// `OpenHands: fix PROJ-123 "title"`, the title read once and kept; without it when the tracker is slow (the read
/// goes on, for the next request) or fails (kept as failed: a tracker that is down is not asked on every cursor move).
async fn titled(ctx: &Ctx, trackers: &Trackers, kind: TrackerKind, key: &str) -> String {
    let cached = ctx.shared.tracker_titles.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned();
    let title = match cached {
        Some(t) => t,
        None => {
            let (shared, trackers, key_owned) = (ctx.shared.clone(), trackers.clone(), key.to_owned());
            let read = tokio::spawn(async move {
                let title = match trackers.issue(kind, &key_owned).await {
                    Ok(issue) => Some(issue.title),
                    Err(e) => {
                        tracing::info!("reading {key_owned} for its code action failed: {e}");
                        None
                    }
                };
                let mut titles = shared.tracker_titles.lock().unwrap_or_else(|p| p.into_inner());
                titles.insert(key_owned, title.clone());
                title
            });
            tokio::time::timeout(TITLE_WAIT, read).await.ok().and_then(Result::ok).flatten()
        }
    };
    match title {
        Some(t) => {
            let short: String = t.chars().take(60).collect();
            let ellipsis = if t.chars().count() > 60 { "…" } else { "" };
            format!("OpenHands: fix {key} \"{short}{ellipsis}\"")
        }
        None => format!("OpenHands: fix {key}"),
    }
}

fn fix_action(title: String, reference: &str, uri: &Uri, kind: Option<CodeActionKind>) -> CodeActionOrCommand {
    let command = Command {
        title: title.clone(),
        command: FIX_ISSUE.into(),
        arguments: Some(vec![json!({"reference": reference, "uri": uri})]),
    };
    CodeActionOrCommand::CodeAction(CodeAction {
        title,
        kind: Some(kind.unwrap_or(CodeActionKind::QUICKFIX)),
        command: Some(command),
        ..Default::default()
    })
}
