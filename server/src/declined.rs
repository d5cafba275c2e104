//! Hunks the user declined in a review: the agent is told which changes and why (so a follow-up message can build
//! on it), and on request they are taken out of its copy; across every folder of the conversation.

use serde::Serialize;

use crate::conversation::{ConversationError, Manager, Review};
use crate::git::FileChange;

#[derive(Debug, thiserror::Error)]
pub enum RejectError {
    #[error("no change {0} in the conversation's changes (the agent may have changed that part since: review again)")]
    UnknownHunk(String),
    #[error(transparent)]
    Conversation(#[from] ConversationError),
}

/// What rejecting hunks did.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rejected {
    /// The files the declined hunks are in.
    pub files: Vec<String>,
    /// They were taken out of the agent's copy too.
    pub reverted: bool,
}

/// The user declined the hunks `ids` (of `review`'s files): the agent is told which changes and why, so a
/// follow-up message can build on it; with `revert` they are taken out of its copy too.
pub async fn reject_hunks(
    manager: &Manager,
    id: &str,
    ids: &[String],
    reason: Option<&str>,
    revert: bool,
) -> Result<Rejected, RejectError> {
    let reviews = manager.reviews(id).await?;
    let mut found: Vec<(&Review, &FileChange, crate::hunks::Hunk)> = Vec::new();
    for review in &reviews {
        for change in &review.files {
            let (Some(original), Some(proposed)) = (&change.original, &change.proposed) else { continue };
            found.extend(
                crate::hunks::hunks(&review.shown(&change.path), original, proposed)
                    .into_iter()
                    .filter(|h| ids.contains(&h.id))
                    .map(|h| (review, change, h)),
            );
        }
    }
    if let Some(missing) = ids.iter().find(|i| !found.iter().any(|(_, _, h)| &h.id == *i)) {
        return Err(RejectError::UnknownHunk(missing.clone()));
    }
    let mut text = String::from("The user reviewed your changes and declined these:\n");
    for (review, change, h) in &found {
        let (path, lines) = (review.folder_path(&change.path), h.describe());
        text.push_str(&format!("- {path}, {lines} of your version:\n```\n{}```\n", h.proposed));
    }
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(reason) => text.push_str(&format!("Their reason: {reason}\n")),
        None => text.push_str("They gave no reason.\n"),
    }
    if revert {
        text.push_str("These changes were taken out of your copy of the files.\n");
    }
    let mut files: Vec<String> = found.iter().map(|(r, c, _)| r.shown(&c.path)).collect();
    files.dedup();
    // Told first: a conversation that cannot be told (not running in this session) keeps its copy as it is.
    manager.add_note(id, text).await?;
    if revert {
        for review in &reviews {
            for change in review.files.iter().filter(|c| files.contains(&review.shown(&c.path))) {
                let (Some(original), Some(proposed)) = (&change.original, &change.proposed) else { continue };
                let shown = review.shown(&change.path);
                let reverted = crate::hunks::revert(&shown, original, proposed, |h| ids.iter().any(|i| i == h));
                manager.write_in_copy(id, review.folder.as_deref(), change.path.clone(), reverted).await?;
            }
        }
    }
    Ok(Rejected { files, reverted: revert })
}
