//! Review before apply: `openhands.reviewChanges`, `openhands.applyChanges` (the core's plan, sent as one
//! `WorkspaceEdit` with `workspace/applyEdit`), `openhands.discardChanges`, `openhands.pushChanges`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tower_lsp_server::UriExt;
use tower_lsp_server::jsonrpc::Error;
use tower_lsp_server::lsp_types::request::ApplyWorkspaceEdit;
use tower_lsp_server::lsp_types::{ApplyWorkspaceEditParams, MessageType, Uri};

use super::args::{ApplyArgs, ConversationArgs, PushArgs, RejectHunksArgs};
use super::convert::uri_of;
use super::edit;
use super::state::Ctx;
use crate::git::{Entry, FileChange, WholeReason};
use crate::review::{self, Choice, EditorResult};

/// Every folder's changes in one list: an extra folder's paths start with its name, and its files say which folder
/// they are in.
pub async fn review(ctx: &Ctx, args: ConversationArgs) -> Result<Value, Error> {
    let reviews = ctx.manager()?.reviews(&args.conversation_id).await?;
    let mut files = Vec::new();
    let mut folders = Vec::new();
    for review in &reviews {
        if let Some(name) = &review.folder {
            folders.push(json!({"name": name, "uri": uri_of(&review.source)?.as_str()}));
        }
        for f in &review.files {
            files.push(file_entry(review, f)?);
        }
    }
    let title = reviews.first().map(|r| r.title.clone()).unwrap_or_default();
    let mut answer = json!({"conversationId": args.conversation_id, "title": title, "files": files});
    if !folders.is_empty() {
        answer["folders"] = json!(folders);
    }
    Ok(answer)
}

fn file_entry(review: &crate::conversation::Review, f: &FileChange) -> Result<Value, Error> {
    let mut entry = json!({
        "path": review.shown(&f.path),
        "uri": uri_of(&review.source.join(&f.path))?.as_str(),
        "status": f.status,
        "original": f.original,
        "proposed": f.proposed,
        "binary": f.binary,
    });
    if let Some(name) = &review.folder {
        entry["folder"] = json!(name);
    }
    if let Some(old) = &f.old_path {
        entry["oldPath"] = json!(review.shown(old));
        entry["oldUri"] = json!(uri_of(&review.source.join(old))?.as_str());
    }
    if f.involves_link() {
        let target = |e: &Option<Entry>| e.as_ref().and_then(|e| e.target().map(str::to_owned));
        entry["symlink"] = json!({"original": target(&f.before), "proposed": target(&f.after)});
    }
    if let Some(executable) = f.mode_change() {
        entry["executable"] = json!({"original": !executable, "proposed": executable});
    }
    if let Some(note) = f.note() {
        entry["note"] = json!(note);
    }
    if let Some(whole) = &f.whole {
        let reason = match whole.reason {
            WholeReason::Binary => "binary",
            WholeReason::NotUtf8 => "notUtf8",
            WholeReason::TooLarge => "tooLarge",
        };
        entry["whole"] = json!({"reason": reason, "size": whole.size});
    }
    if let Some(refusal) = f.refusal() {
        entry["refusal"] = json!(refusal);
    }
    // A text file the agent modified comes in hunks; anything else is applied whole.
    let hunks = match (&f.status, &f.original, &f.proposed, f.binary) {
        (crate::git::ChangeStatus::Modified, Some(original), Some(proposed), false) => {
            crate::hunks::hunks(&review.shown(&f.path), original, proposed)
        }
        _ => Vec::new(),
    };
    entry["hunks"] = json!(hunks);
    Ok(entry)
}

pub async fn push(ctx: &Ctx, args: PushArgs) -> Result<Value, Error> {
    let manager = ctx.manager()?;
    let (id, folder) = (&args.conversation_id, args.folder.as_deref());
    let url = manager.remote_url(id, folder, &args.remote)?;
    let auth = crate::providers::remote::push_auth(&url, &ctx.shared.secrets, &ctx.snap.providers_settings());
    let published = manager.publish(id, folder, &args.remote, args.branch, auth).await?;
    Ok(json!({"branch": published.branch, "commit": published.commit, "remote": published.remote}))
}

/// `openhands.rejectHunks`: the agent is told which changes the user declined, and why.
pub async fn reject_hunks(ctx: &Ctx, args: RejectHunksArgs) -> Result<Value, Error> {
    let manager = ctx.manager()?;
    let reason = args.reason.as_deref();
    let rejected =
        crate::declined::reject_hunks(&manager, &args.conversation_id, &args.hunks, reason, args.revert).await?;
    Ok(json!(rejected))
}

pub async fn discard(ctx: &Ctx, args: ConversationArgs) -> Result<Value, Error> {
    ctx.manager()?.discard(&args.conversation_id).await?;
    Ok(Value::Null)
}

pub async fn apply(ctx: &Ctx, args: ApplyArgs) -> Result<Value, Error> {
    let manager = ctx.manager()?;
    let reviews = manager.reviews(&args.conversation_id).await?;
    // Each folder's changes go in an edit of their own: each against its own repository's copy.
    let mut applied: Option<review::Applied> = None;
    for r in &reviews {
        let one = apply_folder(ctx, &args, r).await;
        one.settle(&manager, &args.conversation_id).await;
        applied = Some(match applied {
            Some(all) => all.join(one),
            None => one,
        });
    }
    let Some(mut applied) = applied else { return Ok(json!({"applied": false, "files": []})) };
    let title = reviews.first().map(|r| r.title.clone()).unwrap_or_default();
    if let Some(text) = applied.refused_message(&title) {
        ctx.client.show_message(MessageType::WARNING, text).await;
    }
    // A file named that the review does not list has no change waiting: applied before (what was applied is the base
    // now), or never changed by the agent.
    let listed: Vec<String> = reviews.iter().flat_map(|r| r.files.iter().map(|f| r.shown(&f.path))).collect();
    let roots: Vec<(String, Option<&str>)> = reviews
        .iter()
        .filter_map(|r| {
            Some((format!("{}/", Uri::from_file_path(&r.source)?.as_str().trim_end_matches('/')), r.folder.as_deref()))
        })
        .collect();
    for named in args.files.iter().flatten() {
        let path = roots
            .iter()
            .find_map(|(root, folder)| {
                let rest = named.strip_prefix(root.as_str())?;
                Some(folder.map_or_else(|| rest.to_owned(), |f| format!("{f}/{rest}")))
            })
            .unwrap_or_else(|| named.clone());
        if !listed.contains(&path) && !applied.files.iter().any(|f| f.path == path) {
            applied.files.push(review::FileOutcome {
                path,
                outcome: "unchanged",
                reason: Some("no change of the agent's waits for it (applied before, or never changed)".to_owned()),
                note: None,
                conflict: None,
            });
        }
    }
    let only_applied_before = applied.files.iter().all(|f| matches!(f.outcome, "unchanged" | "skipped"));
    if !applied.applied && only_applied_before && applied.files.iter().any(|f| f.outcome == "unchanged") {
        applied.failure_reason = Some("already applied: the files are as the agent proposed".into());
    }
    // Each file with where the user has it (a path of another folder starts with that folder's name).
    let uris: HashMap<String, String> = reviews
        .iter()
        .flat_map(|r| r.files.iter().filter_map(|f| Some((r.shown(&f.path), uri_of(&r.source.join(&f.path)).ok()?))))
        .map(|(path, uri)| (path, uri.as_str().to_owned()))
        .collect();
    let files: Vec<Value> = applied
        .files
        .iter()
        .map(|f| {
            let mut v = json!(f);
            if let Some(uri) = uris.get(&f.path) {
                v["uri"] = json!(uri);
            }
            v
        })
        .collect();
    Ok(json!({"applied": applied.applied, "failureReason": applied.failure_reason, "files": files}))
}

/// Applies what the user chose of one folder's changes, through the editor.
async fn apply_folder(ctx: &Ctx, args: &ApplyArgs, review: &crate::conversation::Review) -> review::Applied {
    let open = open_texts(ctx, review);
    let current = |p: &Path| -> Option<(String, Option<i32>)> {
        let abs = review.source.join(p);
        match open.get(&abs) {
            Some((text, version)) => Some((text.clone(), Some(*version))),
            None => std::fs::read_to_string(&abs).ok().map(|t| (t, None)),
        }
    };
    // Files named are applied whole; hunks are narrowed to each file's by the core.
    let choose = |f: &FileChange| {
        let path = review.shown(&f.path);
        let uri = Uri::from_file_path(review.source.join(&f.path)).map(|u| u.as_str().to_owned());
        let named = |list: &Vec<String>| list.iter().any(|x| *x == path || Some(x) == uri.as_ref());
        match (&args.files, &args.hunks) {
            (Some(list), _) if named(list) => Choice::Whole,
            (None, None) => Choice::Whole,
            (_, Some(ids)) => Choice::Hunks(ids.clone()),
            _ => Choice::Skip,
        }
    };
    let client = &ctx.snap.client;
    let plan = review::plan(review, choose, client.edit_support.abilities(), &current);
    let result = match plan.without_editor() {
        Some(result) => result,
        None => {
            let edit = edit::workspace_edit(&plan, &client.edit_support, client.utf8_positions, !args.reviewed);
            let params = ApplyWorkspaceEditParams { label: Some(plan.label.clone()), edit };
            match ctx.client.send_request::<ApplyWorkspaceEdit>(params).await {
                Ok(resp) if resp.applied => EditorResult::Applied,
                Ok(resp) => EditorResult::NotApplied(resp.failure_reason),
                Err(e) => EditorResult::NotApplied(Some(format!("the editor could not apply the edit: {}", e.message))),
            }
        }
    };
    plan.finish(result).await
}

/// The editor's text of the review's files that are open (unsaved edits count), with their versions.
fn open_texts(ctx: &Ctx, review: &crate::conversation::Review) -> HashMap<PathBuf, (String, i32)> {
    let session = ctx.shared.session();
    review
        .files
        .iter()
        .flat_map(|f| [Some(&f.path), f.old_path.as_ref()])
        .flatten()
        .filter_map(|p| {
            let abs = review.source.join(p);
            let doc = session.documents.get(&Uri::from_file_path(&abs)?)?;
            Some((abs, (doc.text.clone(), doc.version)))
        })
        .collect()
}
