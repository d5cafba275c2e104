//! History over ACP: `session/list` (the conversations of every front, filtered by folder), `session/load` (the
//! history replayed as updates, then live ones), `session/resume` (no replay), `session/close`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use agent_client_protocol_schema::v1::{
    CloseSessionRequest, CloseSessionResponse, ListSessionsRequest, ListSessionsResponse, LoadSessionRequest,
    LoadSessionResponse, ResumeSessionRequest, ResumeSessionResponse, SessionInfo,
};

use super::errors::RpcError;
use super::front::Front;
use super::session::{Session, config_options};
use crate::conversation::Summary;
use crate::conversation::store::rfc3339;

/// Conversations per page of `session/list`.
const PAGE: usize = 100;

pub async fn list(front: &Front, req: ListSessionsRequest) -> Result<ListSessionsResponse, RpcError> {
    let all = front.manager()?.list().await?;
    let start: usize = match req.cursor.as_deref() {
        None => 0,
        Some(c) => {
            c.parse().map_err(|_| RpcError::invalid_params(format!("cursor {c:?} is not one this agent gave")))?
        }
    };
    let wanted = req.cwd.as_deref().map(canonical);
    let matching: Vec<&Summary> =
        all.iter().filter(|s| wanted.as_ref().is_none_or(|w| canonical(&s.meta.workspace) == *w)).collect();
    let sessions = matching
        .iter()
        .skip(start)
        .take(PAGE)
        .map(|s| {
            SessionInfo::new(s.meta.id.clone(), s.meta.workspace.clone())
                .additional_directories(s.meta.folders.iter().map(|f| f.workspace.clone()).collect())
                .title(Some(s.meta.title.clone()))
                .updated_at(Some(rfc3339(s.meta.updated_at)))
        })
        .collect();
    let next = (start + PAGE < matching.len()).then(|| (start + PAGE).to_string());
    Ok(ListSessionsResponse::new(sessions).next_cursor(next))
}

fn canonical(path: &Path) -> PathBuf {
    path.canonicalize().unwrap_or_else(|_| path.to_owned())
}

/// Opens session `id` on an existing conversation: its settings are the conversation's.
fn open(front: &Front, id: &str, cwd: PathBuf) -> Result<Summary, RpcError> {
    let summary = front.manager()?.get(id)?;
    let roots = crate::conversation::shown_roots(&summary.meta, crate::sandbox::docker::CONTAINER_WORKSPACE);
    let mut settings = front.loaded.settings.clone();
    if let Some(backend) = super::session::named(&summary.meta.backend) {
        settings.backend = backend;
    }
    let mut session = Session::new(cwd, settings, roots.clone());
    session.mapper.set_roots(roots, crate::conversation::folder_roots(&summary.meta));
    session.additional_directories = summary.meta.folders.iter().map(|f| f.workspace.clone()).collect();
    session.started = true;
    front.insert_session(id.to_owned(), session);
    Ok(summary)
}

/// `session/load`: the conversation's history as updates (the user's messages too), then whatever comes.
pub async fn load(front: &Arc<Front>, req: LoadSessionRequest) -> Result<LoadSessionResponse, RpcError> {
    let id = req.session_id.0.to_string();
    let summary = open(front, &id, req.cwd)?;
    let manager = front.manager()?;
    let mut after = 0;
    loop {
        let (events, next, total) = manager.events(&id, after, 500).await?;
        let updates =
            front.with_session(&id, |s| events.iter().flat_map(|e| s.mapper.map(e, true)).collect::<Vec<_>>())?;
        for update in updates {
            front.send(&id, update);
        }
        if next >= total || next == after {
            break;
        }
        after = next;
    }
    front.send(&id, super::slash::available());
    let (settings, cwd) = front.with_session(&id, |s| (s.settings.clone(), s.cwd.clone()))?;
    not_live_note(front, &id, &summary);
    Ok(LoadSessionResponse::new().config_options(Some(config_options(&settings, &cwd))))
}

/// `session/resume`: the session again, without its history.
pub async fn resume(front: &Arc<Front>, req: ResumeSessionRequest) -> Result<ResumeSessionResponse, RpcError> {
    let id = req.session_id.0.to_string();
    let summary = open(front, &id, req.cwd)?;
    front.send(&id, super::slash::available());
    let (settings, cwd) = front.with_session(&id, |s| (s.settings.clone(), s.cwd.clone()))?;
    not_live_note(front, &id, &summary);
    Ok(ResumeSessionResponse::new().config_options(Some(config_options(&settings, &cwd))))
}

/// A conversation whose agent is gone (an earlier session's) says what can still be done with it.
fn not_live_note(front: &Front, id: &str, summary: &Summary) {
    if summary.live {
        return;
    }
    let owner = summary.meta.owner.as_ref().map_or(0, |o| o.pid);
    let text = if summary.running_elsewhere {
        format!(
            "This conversation is running in another openhands-lsp process on this machine (pid {owner}): each \
             agent chat and each editor window runs its own, and only the one that started it can send it messages. \
             Follow it in the chat or window that started it, or stop it there and load it here again. Its changes \
             can be reviewed here (/review)."
        )
    } else if let Some(why) = &summary.cannot_continue {
        format!(
            "This conversation cannot go on: {why}. Its history is here, and what is left of its changes (/review, \
             /apply, /discard, /pr)."
        )
    } else {
        "This conversation's agent ended with the session it ran in. Write to go on: it starts again where it left \
         off, with what it did before. Its changes are here too (/review, /apply, /discard, /pr)."
            .to_owned()
    };
    front.send(id, super::review::message(text));
}

/// `session/close`: the session ends here; a conversation still working is stopped (its history and changes
/// stay).
pub async fn close(front: &Arc<Front>, req: CloseSessionRequest) -> Result<CloseSessionResponse, RpcError> {
    let id = req.session_id.0.to_string();
    let Some(mut session) = front.remove_session(&id) else {
        return Err(RpcError::unknown_session(&id));
    };
    session.end_turn(super::session::TurnEnd::Paused);
    if session.started
        && let Ok(manager) = front.manager()
        && manager.get(&id).is_ok_and(|s| s.live && !s.meta.state.is_settled())
        && let Err(e) = manager.stop(&id).await
    {
        tracing::info!(conversation = %id, "closing: stopping failed: {e}");
    }
    Ok(CloseSessionResponse::new())
}
