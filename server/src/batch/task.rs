//! One task of a batch run, start to line: a checkout of its repository at its base commit, the conversation (its
//! own copy made from that checkout, as in the editors), what it changed as a patch, its cost, and everything it made
//! removed again (sandbox, copy, checkout). A failing task gives its line and never stops the others.

use std::path::Path;
use std::time::Instant;

use super::predictions::Prediction;
use super::tasks::{Task, What};
use super::{Ctx, Halt};
use crate::conversation::{ConversationId, Decision, StartRequest, State, Update, Usage};
use crate::editor::Editor;

/// How the conversation part of a task ended.
enum Ended {
    Settled {
        id: String,
        state: State,
        message: String,
        budget: bool,
    },
    /// Before a conversation ran (no repository, no issue, a start refused).
    Failed(String),
}

/// The run was stopped while conversation `0` ran: no line, the next run does the task again.
struct Stopped(String);

/// The task's line; `None` when it did not run to its end (the run was stopped first).
pub(super) async fn run(ctx: &Ctx, task: Task) -> Option<Prediction> {
    if ctx.halted() != Halt::No {
        ctx.progress.dropped();
        return None;
    }
    ctx.progress.started();
    let began = Instant::now();
    let name = checkout_name(&task.instance_id);
    let dest = ctx.work.join(&name);
    let mirror = match ctx.mirrors.get(&task.repo) {
        Some(Ok(m)) => m.clone(),
        Some(Err(e)) => {
            let why = Ended::Failed(format!("cannot fetch {}: {e}", task.repo));
            return Some(line(ctx, &task, began, why).await);
        }
        None => return Some(line(ctx, &task, began, Ended::Failed("no repository".into())).await),
    };
    let checked_out = {
        let (mirror, dest, name, base) = (mirror.clone(), dest.clone(), name.clone(), task.base_commit.clone());
        let cloud = ctx.settings.backend == crate::config::Backend::Cloud;
        tokio::task::spawn_blocking(move || {
            let commit = crate::git::base::resolve(&mirror, base.as_deref())
                .map_err(|e| format!("base commit {}: {e}", base.as_deref().unwrap_or("HEAD")))?;
            if !cloud {
                return crate::git::base::checkout(&mirror, commit, &dest, &name).map_err(|e| e.to_string());
            }
            // The cloud clones a branch of the forge: the base must be one's tip.
            let branch = crate::git::base::branch_at(&mirror, commit).map_err(|e| e.to_string())?.ok_or_else(|| {
                format!(
                    "OpenHands Cloud starts from a branch, and no branch has base commit {} as its tip: run this \
                         task with --backend docker",
                    base.as_deref().unwrap_or("HEAD")
                )
            })?;
            crate::git::base::clone_on(&mirror, &branch, &dest).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r)
    };
    let outcome = match checked_out {
        Ok(()) => converse(ctx, &task, &dest).await,
        Err(e) => Ok(Ended::Failed(e)),
    };
    // The line first: the conversation's copy may be a worktree of the checkout, read through it.
    let line = match outcome {
        Err(Stopped(id)) => {
            discard(ctx, &id).await;
            ctx.progress.task(&task.instance_id, "stopped (runs again next time)");
            ctx.progress.interrupted();
            None
        }
        Ok(ended) => Some(line(ctx, &task, began, ended).await),
    };
    let removed = tokio::task::spawn_blocking(move || crate::git::base::remove_checkout(&mirror, &dest, &name)).await;
    if let Ok(Err(e)) = removed {
        tracing::warn!("removing the checkout of {}: {e}", task.instance_id);
    }
    line
}

/// A task's checkout and branch name: its id made safe for a folder and a ref, with a random part (two runs may share
/// a mirror).
fn checkout_name(instance_id: &str) -> String {
    let safe: String = instance_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' })
        .take(60)
        .collect();
    format!("{}-{}", safe.trim_start_matches('.'), &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// Starts the conversation and follows it to its end.
async fn converse(ctx: &Ctx, task: &Task, dest: &Path) -> Result<Ended, Stopped> {
    let mut halt = ctx.halt.subscribe();
    let mut request = match request(ctx, task, dest).await {
        Ok(r) => r,
        Err(e) => return Ok(Ended::Failed(e)),
    };
    let id = ConversationId::new_random();
    request.options.id = Some(id.clone());
    let id = id.as_str().to_owned();
    let mut updates = ctx.router.add(&id);
    if let Err(e) = ctx.manager.start(request, &ctx.settings, Editor::Terminal) {
        ctx.router.remove(&id);
        return Ok(Ended::Failed(e.to_string()));
    }
    ctx.progress.task(&task.instance_id, &format!("started (conversation {id})"));
    let mut budget = false;
    let mut said_running = false;
    let ended = loop {
        let update = tokio::select! {
            u = updates.recv() => u,
            _ = halt.wait_for(|h| *h != Halt::No) => {
                let _ = ctx.manager.stop(&id).await;
                break Err(Stopped(id.clone()));
            }
        };
        match update {
            None => break Ok(Ended::Failed("the conversation's runner went away".into())),
            Some(Update::Changed(s)) => {
                if let Some(cost) = s.meta.usage.and_then(|u| u.cost_usd).filter(|c| *c > 0.0) {
                    ctx.spent(&task.instance_id, cost);
                }
                if s.meta.state == State::Running && !said_running {
                    said_running = true;
                    ctx.progress.task(&task.instance_id, "running");
                }
            }
            Some(Update::ConfirmationNeeded { actions, .. }) => {
                let what: Vec<String> = actions.iter().map(|a| a.summary.clone()).collect();
                ctx.progress.task(&task.instance_id, &format!("refused (nobody to confirm): {}", what.join("; ")));
                let reason = "Nobody can confirm actions in a batch run: this action was not done. Find another way, \
                              or finish and say what you could not do.";
                let _ = ctx.manager.confirm(&id, Decision::Reject { reason: Some(reason.into()) }).await;
            }
            Some(Update::BudgetReached { spent, .. }) => {
                budget = true;
                ctx.progress.task(&task.instance_id, &format!("stopping: the task {spent}"));
                let _ = ctx.manager.stop(&id).await;
            }
            Some(Update::Settled { state, message, .. }) => {
                break Ok(Ended::Settled { id: id.clone(), state, message, budget });
            }
            Some(_) => {}
        }
    };
    ctx.router.remove(&id);
    ended
}

/// The conversation's start: the problem statement as it is, or the issue made into a task as `fixIssue` makes it.
async fn request(ctx: &Ctx, task: &Task, dest: &Path) -> Result<StartRequest, String> {
    match &task.what {
        What::Statement(text) => Ok(StartRequest {
            instruction: text.clone(),
            title: crate::tasks::title_from(&format!("{}: {text}", task.instance_id)),
            workspace: dest.to_owned(),
            ..Default::default()
        }),
        What::Issue(reference) => {
            let roots = [dest.to_owned()];
            let mut request = crate::issues::fix_task(reference, None, &roots, (&ctx.providers, &ctx.trackers))
                .await
                .map_err(|e| format!("issue {reference}: {e}"))?;
            request.workspace = dest.to_owned();
            Ok(request)
        }
    }
}

/// Stops the conversation's sandbox and removes its copy.
async fn discard(ctx: &Ctx, id: &str) {
    if let Err(e) = ctx.manager.discard(id).await {
        tracing::warn!("removing conversation {id}'s copy: {e}");
    }
}

/// The task's prediction: the patch and the usage read from the conversation, then the conversation discarded.
async fn line(ctx: &Ctx, task: &Task, began: Instant, outcome: Ended) -> Prediction {
    let (status, error, patch, usage, id) = match outcome {
        Ended::Settled { id, state, message, budget } => {
            let patch = ctx.manager.patch(&id).await;
            let usage = ctx.manager.get(&id).ok().and_then(|s| s.meta.usage);
            discard(ctx, &id).await;
            let status = match state {
                State::Stopped if budget => "budget",
                other => other.as_str(),
            };
            let error = (state != State::Finished).then_some(message);
            let (patch, error) = match patch {
                Ok(p) => (p, error),
                Err(e) => (String::new(), Some(format!("cannot read the changes: {e}"))),
            };
            (status.to_owned(), error, patch, usage, Some(id))
        }
        Ended::Failed(e) => ("error".to_owned(), Some(e), String::new(), None, None),
    };
    let usage = usage.unwrap_or_default();
    let wall = began.elapsed().as_secs_f64();
    say_end(ctx, &task.instance_id, (&status, error.as_deref()), &patch, (&usage, wall));
    ctx.progress.ended(status == "finished");
    Prediction {
        instance_id: task.instance_id.clone(),
        model_name_or_path: ctx.settings.llm.model.clone(),
        model_patch: patch,
        status,
        error,
        cost_usd: usage.cost_usd,
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
        llm_seconds: usage.llm_seconds,
        wall_seconds: (wall * 1000.0).round() / 1000.0,
        conversation_id: id,
    }
}

/// `t03  finished in 12 s: 2 files changed, $0.0012` or `t03  error: <why>`.
fn say_end(ctx: &Ctx, id: &str, (status, error): (&str, Option<&str>), patch: &str, (usage, wall): (&Usage, f64)) {
    let files = patch.lines().filter(|l| l.starts_with("diff --git ")).count();
    let cost = usage.cost_usd.map(|c| format!(", ${c:.4}")).unwrap_or_default();
    let took = super::progress::duration(wall);
    let line = match error {
        None => format!("{status} in {took}: {files} file{} changed{cost}", if files == 1 { "" } else { "s" }),
        Some(e) => format!("{status} after {took}: {}", e.lines().next().unwrap_or_default()),
    };
    ctx.progress.task(id, &line);
}
