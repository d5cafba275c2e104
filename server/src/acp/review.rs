//! Review before the user's files change, over ACP: at the end of a turn the agent's changes (in its own copy) are
//! shown as diffs and applied only when the user allows it; applying merges three-way with the user's current text
//! read through `fs/read_text_file` (unsaved buffers included) and writes through `fs/write_text_file` when the
//! client offers them (so the editor's own review of agent edits shows them), else on disk. Overlaps are refused
//! with the user's text kept, and the agent is told what did not land.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agent_client_protocol_schema::v1::{
    ContentBlock, ContentChunk, PermissionOption, PermissionOptionKind, ReadTextFileRequest, ReadTextFileResponse,
    RequestPermissionOutcome, RequestPermissionRequest, RequestPermissionResponse, SessionUpdate, TextContent,
    ToolCall, ToolCallContent, ToolCallStatus, ToolCallUpdate, ToolCallUpdateFields, ToolKind, WriteTextFileRequest,
};
use serde_json::Value;

use super::errors::RpcError;
use super::front::Front;
use crate::conversation::Review;
use crate::review::{self, Choice, EditorResult, FileAbilities, Step, TextChange};

pub fn message(text: impl Into<String>) -> SessionUpdate {
    SessionUpdate::AgentMessageChunk(ContentChunk::new(ContentBlock::Text(TextContent::new(text))))
}

pub fn text_content(text: impl Into<String>) -> ToolCallContent {
    ToolCallContent::Content(agent_client_protocol_schema::v1::Content::new(ContentBlock::Text(TextContent::new(text))))
}

/// Each changed file as a diff of the user's file (a file that is not text, or a link, as a line that says what
/// happens to it).
fn diffs(reviews: &[Review]) -> Vec<ToolCallContent> {
    reviews
        .iter()
        .flat_map(|review| review.files.iter().map(move |f| (review, f)))
        .map(|(review, f)| {
            let path = review.source.join(&f.path);
            match (&f.whole, f.involves_link(), &f.proposed) {
                (None, false, Some(proposed)) => ToolCallContent::Diff(
                    agent_client_protocol_schema::v1::Diff::new(path, proposed.clone()).old_text(f.original.clone()),
                ),
                (None, false, None) => text_content(format!("{}: deleted", review.shown(&f.path))),
                _ => text_content(format!(
                    "{}: {}",
                    review.shown(&f.path),
                    f.note().unwrap_or_else(|| review::status_word(f.status).to_owned())
                )),
            }
        })
        .collect()
}

/// The review as one unified diff (what is not text, as a comment line).
fn unified(reviews: &[Review]) -> String {
    let mut out = String::new();
    for (review, f) in reviews.iter().flat_map(|r| r.files.iter().map(move |f| (r, f))) {
        let path = review.shown(&f.path);
        let old_path = f.old_path.as_ref().map_or_else(|| path.clone(), |p| review.shown(p));
        match (&f.whole, f.involves_link(), &f.original, &f.proposed) {
            (None, false, original, proposed) if original.is_some() || proposed.is_some() => {
                let (a, b) = (original.as_deref().unwrap_or_default(), proposed.as_deref().unwrap_or_default());
                let from = if original.is_some() { format!("a/{old_path}") } else { "/dev/null".to_owned() };
                let to = if proposed.is_some() { format!("b/{path}") } else { "/dev/null".to_owned() };
                let diff = similar::TextDiff::from_lines(a, b);
                out.push_str(&diff.unified_diff().header(&from, &to).to_string());
                if !out.ends_with('\n') {
                    out.push('\n');
                }
            }
            _ => {
                let what = f.note().unwrap_or_else(|| review::status_word(f.status).to_owned());
                out.push_str(&format!("# {path}: {what}\n"));
            }
        }
    }
    out
}

fn review_call(id: &str, reviews: &[Review], status: ToolCallStatus) -> ToolCall {
    let n: usize = reviews.iter().map(|r| r.files.len()).sum();
    ToolCall::new(
        format!("openhands-review-{id}-{}", crate::conversation::now_ms()),
        format!("{n} file{} changed in the agent's copy", if n == 1 { "" } else { "s" }),
    )
    .kind(ToolKind::Edit)
    .status(status)
    .content(diffs(reviews))
    .locations(
        reviews
            .iter()
            .flat_map(|r| r.files.iter().map(|f| r.source.join(&f.path)))
            .map(agent_client_protocol_schema::v1::ToolCallLocation::new)
            .collect(),
    )
}

/// The agent's changes in each of its folders, if it worked in its own copies: `None` when there is nothing to
/// review.
async fn changes(front: &Front, id: &str) -> Result<Option<Vec<Review>>, RpcError> {
    match front.manager()?.reviews(id).await {
        Ok(reviews) if reviews.iter().all(|r| r.files.is_empty()) => Ok(None),
        Ok(reviews) => Ok(Some(reviews.into_iter().filter(|r| !r.files.is_empty()).collect())),
        Err(crate::conversation::ConversationError::NotIsolated(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Each folder's review as the user sees it (see [`against_user`]), the folders left with no change dropped.
async fn against_users(front: &Front, id: &str, reviews: Vec<Review>) -> Vec<Review> {
    let mut shown = Vec::new();
    for review in reviews {
        let review = against_user(front, id, review).await;
        if !review.files.is_empty() {
            shown.push(review);
        }
    }
    shown
}

/// A fingerprint of each file's change, to tell the changes already offered from new ones.
fn fingerprints(reviews: &[Review]) -> Vec<u64> {
    use std::hash::{Hash, Hasher};
    reviews
        .iter()
        .flat_map(|r| r.files.iter().map(move |f| (r, f)))
        .map(|(r, f)| {
            let mut hasher = std::hash::DefaultHasher::new();
            (&r.folder, &f.path, &f.proposed, f.whole.as_ref().map(|w| &w.proposed)).hash(&mut hasher);
            hasher.finish()
        })
        .collect()
}

/// End of a turn: the changes not in the user's files yet, as diffs, and the question whether to apply them now
/// (not asked again for the same changes).
pub async fn offer(front: &Arc<Front>, id: &str) {
    let reviews = match changes(front, id).await {
        Ok(Some(reviews)) => reviews,
        Ok(None) => return,
        Err(e) => {
            front.send(id, message(format!("\n\nThe agent's changes cannot be shown: {}", e.message)));
            return;
        }
    };
    let fingerprints = fingerprints(&reviews);
    let reviews = against_users(front, id, reviews).await;
    // Asked again only when a change is new (not when one of the files asked about has been applied since).
    let asked = front
        .with_session(id, |s| {
            let new = fingerprints.iter().any(|f| !s.offered.contains(f));
            s.offered.extend(fingerprints.iter().copied());
            !new
        })
        .unwrap_or(true);
    if reviews.is_empty() || asked {
        return;
    }
    let call = review_call(id, &reviews, ToolCallStatus::Pending);
    let call_id = call.tool_call_id.clone();
    front.send(id, SessionUpdate::ToolCall(call));
    let options = vec![
        PermissionOption::new("apply", "Apply to my files", PermissionOptionKind::AllowOnce),
        PermissionOption::new("keep", "Not now (/apply later)", PermissionOptionKind::RejectOnce),
    ];
    let req = RequestPermissionRequest::new(
        id.to_owned(),
        ToolCallUpdate::new(
            call_id.clone(),
            ToolCallUpdateFields::new().title(Some("Apply the agent's changes to your files?".to_owned())),
        ),
        options,
    );
    let answer: Result<RequestPermissionResponse, RpcError> =
        front.peer.request("session/request_permission", req).await;
    let apply =
        matches!(answer.map(|a| a.outcome), Ok(RequestPermissionOutcome::Selected(s)) if &*s.option_id.0 == "apply");
    // Short titles (panels cut them); the sentence goes in the content.
    let (status, title, text) = if !apply {
        let text = "/review shows them, /apply applies them, /discard drops them.";
        (ToolCallStatus::Completed, "Changes kept in the agent's copy", text.to_owned())
    } else {
        match apply_all(front, id).await {
            Ok((text, true)) => (ToolCallStatus::Completed, "Applied to your files", text),
            Ok((text, false)) => (ToolCallStatus::Failed, "Not applied", text),
            Err(e) => (ToolCallStatus::Failed, "Not applied", e.message),
        }
    };
    // The diffs stay, the outcome under them (an update's content replaces the call's).
    let mut content = diffs(&reviews);
    content.push(text_content(text));
    let fields = ToolCallUpdateFields::new().status(status).title(Some(title.to_owned())).content(Some(content));
    front.send(id, SessionUpdate::ToolCallUpdate(ToolCallUpdate::new(call_id, fields)));
}

/// The review as the user sees it: each modified text file against the user's current text (the editor's, unsaved
/// edits included), turning into what an apply makes of it (the three-way merge), and a file the merge leaves as it
/// is dropped. A file whose edits overlap the user's keeps the agent's change against its base (the apply will refuse
/// it and say so). For showing only: the apply works from the review itself.
async fn against_user(front: &Front, id: &str, mut review: Review) -> Review {
    let texts = current_texts(front, id, &review).await;
    let source = review.source.clone();
    review.files.retain_mut(|f| {
        let (Some(original), Some(proposed), Some(user)) =
            (f.original.as_ref(), f.proposed.as_ref(), texts.get(&source.join(&f.path)))
        else {
            return true;
        };
        let more_than_text = f.whole.is_some() || f.involves_link() || f.mode_change().is_some();
        if f.status != crate::git::ChangeStatus::Modified || more_than_text {
            return true;
        }
        match crate::git::merge3(original, user, proposed) {
            Ok(crate::git::Merged::Clean(merged)) if merged == *user => false,
            Ok(crate::git::Merged::Clean(merged)) => {
                f.original = Some(user.clone());
                f.proposed = Some(merged);
                true
            }
            _ => true,
        }
    });
    review
}

/// `/review`: the changes as diffs.
pub async fn show(front: &Arc<Front>, id: &str) -> Result<String, RpcError> {
    match changes(front, id).await? {
        None => {
            Ok("No changes to review: the agent has changed nothing in its copy (or they were applied or discarded)."
                .into())
        }
        Some(reviews) => {
            let reviews = against_users(front, id, reviews).await;
            if reviews.is_empty() {
                return Ok("No changes to review: your files hold the agent's changes already.".into());
            }
            front.send(id, SessionUpdate::ToolCall(review_call(id, &reviews, ToolCallStatus::Completed)));
            // Also as text: some panels show a completed tool call as one line, its diffs out of sight.
            front.send(id, message(format!("```diff\n{}```\n", unified(&reviews))));
            Ok("/apply applies them to your files (merged with your own edits), /discard drops them.".into())
        }
    }
}

/// The user's current text of each file the apply touches: the editor's (unsaved edits included) when it reads
/// files for agents, else the disk's; `None` for a file that does not exist.
async fn current_texts(front: &Front, id: &str, review: &Review) -> HashMap<PathBuf, String> {
    let from_editor = front.client().read_text_file;
    let mut texts = HashMap::new();
    let paths: Vec<PathBuf> =
        review.files.iter().flat_map(|f| [Some(f.path.clone()), f.old_path.clone()]).flatten().collect();
    for rel in paths {
        let abs = review.source.join(rel);
        let on_disk = abs.is_file();
        let text = if from_editor && on_disk {
            let req = ReadTextFileRequest::new(id.to_owned(), abs.clone());
            match front.peer.request::<ReadTextFileResponse>("fs/read_text_file", req).await {
                Ok(r) => Some(r.content),
                Err(e) => {
                    tracing::info!(
                        "fs/read_text_file {} failed ({}): the file on disk is used",
                        abs.display(),
                        e.message
                    );
                    std::fs::read_to_string(&abs).ok()
                }
            }
        } else {
            std::fs::read_to_string(&abs).ok()
        };
        if let Some(text) = text {
            texts.insert(abs, text);
        }
    }
    texts
}

/// `/apply` (and "Apply to my files"): every file, merged with the user's text; a sentence that says what happened,
/// and whether any file landed.
pub async fn apply_all(front: &Arc<Front>, id: &str) -> Result<(String, bool), RpcError> {
    let manager = front.manager()?;
    let Some(reviews) = changes(front, id).await? else {
        return Ok(("Nothing to apply.".into(), false));
    };
    let (mut landed, mut refused) = (Vec::new(), Vec::new());
    // Each folder against its own repository's copy.
    for review in &reviews {
        let texts = current_texts(front, id, review).await;
        let current = |p: &Path| texts.get(&review.source.join(p)).map(|t| (t.clone(), None));
        let abilities = FileAbilities { create: true, rename: true, delete: true };
        let plan = review::plan(review, |_| Choice::Whole, abilities, &current);
        let result = match plan.without_editor() {
            Some(result) => result,
            None => write(front, id, &review.source, &plan).await,
        };
        let applied = plan.finish(result).await;
        applied.settle(manager, id).await;
        landed.extend(applied.files.iter().filter(|f| f.outcome == "applied").map(|f| f.path.clone()));
        refused.extend(applied.refused());
    }
    let mut text =
        if landed.is_empty() { "Nothing was applied.".to_owned() } else { format!("Applied: {}.", landed.join(", ")) };
    if !refused.is_empty() {
        text.push_str(&format!(" Not applied: {}. The agent was told.", refused.join("; ")));
    }
    Ok((text, !landed.is_empty()))
}

/// The plan's text changes: through the editor when it writes files for agents, else on disk (never through a link
/// out of the folder); creating, removing and renaming files on disk.
async fn write(front: &Front, id: &str, root: &Path, plan: &review::ApplyPlan) -> EditorResult {
    let through_editor = front.client().write_text_file;
    for file in &plan.files {
        let Step::Apply { changes, .. } = &file.step else { continue };
        for change in changes {
            let done = match change {
                TextChange::Edit { path, new, .. } if through_editor => {
                    let req = WriteTextFileRequest::new(id.to_owned(), path.clone(), new.clone());
                    front.peer.request::<Value>("fs/write_text_file", req).await.map(|_| ()).map_err(|e| e.message)
                }
                TextChange::Edit { path, new, .. } => on_disk(root, path, Some(new.as_bytes())),
                TextChange::Create { .. } => Ok(()),
                TextChange::Delete { path } => on_disk(root, path, None),
                TextChange::Rename { from, to } => {
                    let content = std::fs::read(from).map_err(|e| e.to_string());
                    content.and_then(|c| on_disk(root, to, Some(&c))).and_then(|()| on_disk(root, from, None))
                }
            };
            if let Err(why) = done {
                return EditorResult::NotApplied(Some(format!("{}: {why}", file.path)));
            }
        }
    }
    EditorResult::Applied
}

fn on_disk(root: &Path, path: &Path, content: Option<&[u8]>) -> Result<(), String> {
    let rel = path.strip_prefix(root).map_err(|_| "outside the folder".to_owned())?;
    let place = crate::git::entry::place_inside(root, rel).map_err(|e| e.to_string())?;
    // An edit keeps what the file is (its mode); a new file is a plain one.
    let file = crate::git::entry::read(&place)
        .ok()
        .flatten()
        .map(|(entry, _)| entry)
        .filter(|entry| !entry.is_symlink())
        .unwrap_or(crate::git::Entry::File { executable: false });
    crate::git::entry::replace(&place, content.map(|_| &file), content).map_err(|e| e.to_string())
}
