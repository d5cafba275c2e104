//! A prompt turn: the prompt's content as the agent's instruction, the conversation started (first prompt) or
//! messaged, the turn awaited to its stop reason; `session/cancel`; the agent's confirmations as
//! `session/request_permission`.

use std::sync::Arc;
use std::time::Duration;

use agent_client_protocol_schema::v1::{
    ContentBlock, EmbeddedResourceResource, PermissionOption, PermissionOptionKind, PromptResponse,
    RequestPermissionOutcome, RequestPermissionRequest, RequestPermissionResponse, SessionUpdate, StopReason, ToolCall,
    ToolCallStatus, ToolCallUpdate, ToolCallUpdateFields, ToolKind,
};
use tokio::sync::oneshot;

use super::errors::RpcError;
use super::front::Front;
use super::session::{Turn, TurnEnd};
use crate::conversation::{BUDGET_STOPPED, Decision, GoOn, PendingAction, SendMode, StartOptions, StartRequest, State};

/// What a prompt gives the agent: its text, and its images as URLs (`data:` URLs for inline ones).
pub struct Instruction {
    pub text: String,
    pub images: Vec<String>,
}

/// The prompt as the agent's instruction: text as it is, files linked or embedded as context it can read, images
/// passed on (the agent's LLM gets them when its model takes images).
pub fn instruction_of(prompt: &[ContentBlock]) -> Instruction {
    let mut parts = Vec::new();
    let mut images = Vec::new();
    for block in prompt {
        match block {
            ContentBlock::Text(t) => parts.push(t.text.clone()),
            ContentBlock::ResourceLink(link) => {
                parts.push(format!("(The user points at {}: {})", link.name, path_of(&link.uri)));
            }
            ContentBlock::Resource(embedded) => match &embedded.resource {
                EmbeddedResourceResource::TextResourceContents(r) => {
                    parts.push(format!("Context from {}:\n```\n{}\n```", path_of(&r.uri), r.text.trim_end()));
                }
                EmbeddedResourceResource::BlobResourceContents(r) => {
                    parts.push(format!("(The user attached {}, which is not text.)", path_of(&r.uri)));
                }
                _ => {}
            },
            ContentBlock::Image(image) => images.push(match &image.uri {
                Some(uri) if uri.starts_with("http://") || uri.starts_with("https://") => uri.clone(),
                _ => format!("data:{};base64,{}", image.mime_type, image.data),
            }),
            _ => {}
        }
    }
    Instruction { text: parts.join("\n\n"), images }
}

fn path_of(uri: &str) -> String {
    uri.strip_prefix("file://").unwrap_or(uri).to_owned()
}

/// `session/prompt` (not a slash command): runs the turn to its end.
pub async fn prompt(
    front: Arc<Front>,
    id: String,
    instruction: Instruction,
    arrived: u64,
) -> Result<PromptResponse, RpcError> {
    let Instruction { text, images } = instruction;
    let (started, (cwd, folders), settings, discarded) = front.with_session(&id, |s| {
        (s.started, (s.cwd.clone(), s.additional_directories.clone()), s.settings.clone(), s.discarded)
    })?;
    if discarded {
        front.send(&id, super::review::message(super::session::DISCARDED));
        return Ok(PromptResponse::new(StopReason::EndTurn));
    }
    if started {
        // Said in the chat, as its answer: a panel shows a failed prompt as an agent that failed to run.
        let summary = front.manager()?.get(&id).ok();
        if let Some(why) = summary.and_then(|s| s.cannot_continue.filter(|_| !s.live && !s.running_elsewhere)) {
            front.send(&id, super::review::message(format!("This conversation cannot go on: {why}.")));
            return Ok(PromptResponse::new(StopReason::EndTurn));
        }
        // Without streaming nothing shows while the model thinks: say that it is being asked.
        if !settings.llm.stream {
            let asking = format!("Asking the model ({})…\n", settings.llm.model);
            front.send(&id, SessionUpdate::AgentThoughtChunk(super::updates::text_chunk(asking)));
        }
        return run_turn(&front, &id, arrived, message(&front, &id, text, images)).await;
    }
    let req = StartRequest {
        title: crate::tasks::title_from(&text),
        instruction: text,
        workspace: cwd,
        folders,
        images,
        ..StartRequest::default()
    };
    run_turn(&front, &id, arrived, async { start(&front, &id, req, &settings) }).await
}

/// Registers the turn (once the one under way ended: `arrived` is the prompt's place in the order messages came
/// in), sends what starts it (`send`), and waits for its end: the stop reason.
pub async fn run_turn(
    front: &Arc<Front>,
    id: &str,
    arrived: u64,
    send: impl std::future::Future<Output = Result<(), RpcError>>,
) -> Result<PromptResponse, RpcError> {
    let Some(rx) = take_turn(front, id, arrived).await? else {
        return Ok(PromptResponse::new(StopReason::Cancelled));
    };
    if let Err(e) = send.await {
        let _ = front.with_session(id, |s| {
            s.turn = None;
            s.wake_queued();
        });
        return Err(e);
    }
    let end = rx.await.unwrap_or(TurnEnd::Paused);
    let (cancelled, limit) = front.with_session(id, |s| {
        let cancelled = s.turn.take().is_some_and(|t| t.cancelled);
        s.wake_queued();
        (cancelled, std::mem::take(&mut s.mapper.hit_iteration_limit))
    })?;
    match end {
        TurnEnd::Paused => Ok(PromptResponse::new(StopReason::Cancelled)),
        TurnEnd::Settled { state: State::Finished, .. } => {
            super::review::offer(front, id).await;
            Ok(PromptResponse::new(StopReason::EndTurn))
        }
        // The user chose to stop at the budget: the turn reached its limit.
        TurnEnd::Settled { state: State::Stopped, message } if message.starts_with(BUDGET_STOPPED) => {
            Ok(PromptResponse::new(StopReason::MaxTokens))
        }
        TurnEnd::Settled { state: State::Stopped, .. } => Ok(PromptResponse::new(StopReason::Cancelled)),
        TurnEnd::Settled { .. } if cancelled => Ok(PromptResponse::new(StopReason::Cancelled)),
        TurnEnd::Settled { state: State::Error, .. } if limit => Ok(PromptResponse::new(StopReason::MaxTurnRequests)),
        TurnEnd::Settled { state: State::Stuck, message } => {
            front.send(id, super::review::message(format!("The agent is stuck: {message}")));
            Ok(PromptResponse::new(StopReason::EndTurn))
        }
        TurnEnd::Settled { message, .. } => Err(RpcError::internal(message)),
    }
}

/// The session's turn slot, once free: a prompt sent while a turn runs waits for it (panels send the next prompt
/// before the last one ends), in order. `None`: a `session/cancel` came after it, and it never ran.
async fn take_turn(front: &Arc<Front>, id: &str, arrived: u64) -> Result<Option<oneshot::Receiver<TurnEnd>>, RpcError> {
    let mut free = front.with_session(id, |s| s.turn_free.subscribe())?;
    loop {
        let taken = front.with_session(id, |s| {
            if arrived < s.cancelled_before {
                return Some(None);
            }
            if s.turn.is_some() {
                return None;
            }
            let (tx, rx) = oneshot::channel();
            s.turns += 1;
            s.turn = Some(Turn { done: Some(tx), cancelled: false, number: s.turns });
            Some(Some(rx))
        })?;
        if let Some(taken) = taken {
            return Ok(taken);
        }
        if free.changed().await.is_err() {
            return Err(RpcError::internal("the session was closed"));
        }
    }
}

/// The session's first turn starts its conversation: `req` with the session's id, backend and MCP servers.
pub fn start(
    front: &Front,
    id: &str,
    mut req: StartRequest,
    settings: &crate::config::Settings,
) -> Result<(), RpcError> {
    let manager = front.manager()?;
    let mcp_servers = front.with_session(id, |s| s.mcp_servers.clone())?;
    let conversation_id =
        crate::conversation::ConversationId::parse(id).map_err(|e| RpcError::invalid_params(e.to_string()))?;
    req.options = StartOptions { id: Some(conversation_id), backend: Some(settings.backend), mcp_servers };
    let summary = manager.start(req, settings, crate::editor::Editor::AgentPanel)?;
    let (call, update) = start_call(id, &summary.meta.backend);
    front.with_session(id, |s| {
        s.started = true;
        s.starting_call = Some(call);
    })?;
    front.send(id, update);
    Ok(())
}

/// A prompt to a started session: to its agent, or, when that is gone (an earlier process's session, loaded or
/// resumed), the conversation goes on in a new sandbox with the session's settings, shown as the agent starting.
async fn message(front: &Arc<Front>, id: &str, text: String, images: Vec<String>) -> Result<(), RpcError> {
    let manager = front.manager()?;
    let (settings, mcp_servers) = front.with_session(id, |s| (s.settings.clone(), s.mcp_servers.clone()))?;
    let going_on = manager.get(id).is_ok_and(|s| !s.live);
    let go_on = GoOn { settings: &settings, editor: crate::editor::Editor::AgentPanel, mcp_servers };
    manager.message(id, (text, images, SendMode::Steer), go_on).await?;
    if going_on {
        let (call, update) = start_call(id, settings.backend.as_str());
        front.with_session(id, |s| s.starting_call = Some(call))?;
        front.send(id, update);
    }
    Ok(())
}

/// `session/cancel`: the agent is paused at once; the prompt answers `cancelled` when it is (or after two seconds,
/// whatever the agent-server still does: nothing is confirmed for it meanwhile).
pub async fn cancel(front: Arc<Front>, id: String, arrived: u64) {
    let running = front.with_session(&id, |s| {
        // Prompts queued behind the turn are cancelled with it: they never ran.
        s.cancelled_before = s.cancelled_before.max(arrived);
        s.wake_queued();
        s.turn.as_mut().map(|turn| {
            turn.cancelled = true;
            turn.number
        })
    });
    let Ok(Some(number)) = running else { return };
    if let Ok(manager) = front.manager()
        && let Err(e) = manager.pause(&id).await
    {
        tracing::info!(conversation = %id, "cancel: pausing failed: {e}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // That turn, if it still waits: a prompt sent since is another turn.
    let _ = front.with_session(&id, |s| {
        if s.turn.as_ref().is_some_and(|t| t.number == number) {
            s.end_turn(TurnEnd::Paused);
        }
    });
}

const ALLOW_ONCE: &str = "allow_once";
const ALLOW_ALWAYS: &str = "allow_always";
const REJECT_ONCE: &str = "reject_once";
const REJECT_ALWAYS: &str = "reject_always";

/// The agent waits for the user: one `session/request_permission` for what it asks, the answer given to it. An
/// answer the client does not give (an error, a cancelled turn) confirms nothing.
pub async fn ask_permission(front: Arc<Front>, id: String, actions: Vec<PendingAction>) {
    let Ok((reject_always, call)) = front.with_session(&id, |s| {
        let call = actions.first().and_then(|a| s.mapper.tool_call_of(&a.id).map(str::to_owned));
        (s.reject_always, call)
    }) else {
        return;
    };
    let Ok(manager) = front.manager() else { return };
    if reject_always {
        let reason = Some("The user declines such actions for the rest of this session.".to_owned());
        let _ = manager.confirm(&id, Decision::Reject { reason }).await;
        return;
    }
    let title = actions.iter().map(|a| a.summary.as_str()).collect::<Vec<_>>().join("; ");
    // What the title does not already say (a long command's whole text, an edit's details): panels show both.
    let detail = actions
        .iter()
        .map(|a| a.detail.trim())
        .filter(|d| !d.is_empty() && !title.contains(d))
        .collect::<Vec<_>>()
        .join("\n\n");
    // The kind, so a panel says "Execute" or "Edit" rather than a bare "Permission".
    let kind = actions.first().map(|a| super::updates::kind_of_tool(&a.tool)).unwrap_or(ToolKind::Other);
    let mut fields = ToolCallUpdateFields::new().status(ToolCallStatus::Pending).title(Some(title)).kind(Some(kind));
    if !detail.is_empty() {
        fields = fields.content(Some(vec![super::review::text_content(detail)]));
    }
    let call = call.or_else(|| actions.first().map(|a| a.id.clone())).unwrap_or_default();
    let options = vec![
        PermissionOption::new(ALLOW_ONCE, "Allow", PermissionOptionKind::AllowOnce),
        PermissionOption::new(ALLOW_ALWAYS, "Allow for this session", PermissionOptionKind::AllowAlways),
        PermissionOption::new(REJECT_ONCE, "Reject", PermissionOptionKind::RejectOnce),
        PermissionOption::new(REJECT_ALWAYS, "Reject for this session", PermissionOptionKind::RejectAlways),
    ];
    let req = RequestPermissionRequest::new(id.clone(), ToolCallUpdate::new(call, fields), options);
    let answer: Result<RequestPermissionResponse, RpcError> =
        front.peer.request("session/request_permission", req).await;
    let decision = match answer.map(|a| a.outcome) {
        Ok(RequestPermissionOutcome::Selected(chosen)) => match &*chosen.option_id.0 {
            ALLOW_ONCE => Decision::Allow,
            ALLOW_ALWAYS => Decision::AllowAll,
            REJECT_ALWAYS => {
                let _ = front.with_session(&id, |s| s.reject_always = true);
                Decision::Reject {
                    reason: Some("The user rejected this action, and such actions for this session.".into()),
                }
            }
            _ => Decision::Reject { reason: Some("The user rejected this action.".into()) },
        },
        // Cancelled (the panel's Cancel, or its answer to a pending question once the user cancelled the turn):
        // the action does not run and the turn ends there, `cancelled`.
        Ok(_) => {
            let _ = front.with_session(&id, |s| s.turn.as_mut().map(|t| t.cancelled = true));
            Decision::Cancel
        }
        Err(e) => {
            tracing::warn!(conversation = %id, "the editor did not answer the permission request: {}", e.message);
            Decision::Reject { reason: Some("The editor could not ask the user, so nothing was allowed.".into()) }
        }
    };
    if let Err(e) = manager.confirm(&id, decision).await {
        tracing::info!(conversation = %id, "answering the agent failed: {e}");
    }
}

const RAISE: &str = "raise_budget";
const STOP: &str = "stop";

/// The budget is spent and the agent paused: within the turn that spent it, a tool call saying so and one
/// `session/request_permission`: raise it and go on, or stop. No answer raises nothing: the turn ends, paused.
pub async fn ask_budget(front: Arc<Front>, id: String, spent: String, raise: String) {
    let Ok(manager) = front.manager() else { return };
    let call = format!("openhands-budget-{id}-{}", crate::conversation::store::now_ms());
    let title = format!("The agent {spent}");
    let pending = ToolCall::new(call.clone(), title.clone()).kind(ToolKind::Other).status(ToolCallStatus::Pending);
    front.send(&id, SessionUpdate::ToolCall(pending));
    let options = vec![
        PermissionOption::new(RAISE, raise, PermissionOptionKind::AllowOnce),
        PermissionOption::new(STOP, "Stop", PermissionOptionKind::RejectOnce),
    ];
    let asked = ToolCallUpdate::new(call.clone(), ToolCallUpdateFields::new().title(Some(title)));
    let req = RequestPermissionRequest::new(id.clone(), asked, options);
    let answer: Result<RequestPermissionResponse, RpcError> =
        front.peer.request("session/request_permission", req).await;
    let (result, status) = match answer.map(|a| a.outcome) {
        Ok(RequestPermissionOutcome::Selected(chosen)) if &*chosen.option_id.0 == RAISE => {
            (manager.raise_budget(&id).await, ToolCallStatus::Completed)
        }
        Ok(RequestPermissionOutcome::Selected(_)) => (manager.stop(&id).await, ToolCallStatus::Failed),
        other => {
            if let Err(e) = other {
                tracing::warn!(conversation = %id, "the editor did not answer the budget question: {}", e.message);
            }
            let _ = front.with_session(&id, |s| s.end_turn(TurnEnd::Paused));
            return;
        }
    };
    if let Err(e) = result {
        tracing::info!(conversation = %id, "answering the budget question failed: {e}");
    }
    let done = ToolCallUpdateFields::new().status(status);
    front.send(&id, SessionUpdate::ToolCallUpdate(ToolCallUpdate::new(call, done)));
}

/// The tool call that shows the sandbox starting (`Starting the agent…`), until the agent's first event.
pub fn start_call(id: &str, backend: &str) -> (String, SessionUpdate) {
    let call_id = format!("openhands-start-{id}");
    let call = ToolCall::new(call_id.clone(), format!("Starting the agent ({backend})"))
        .kind(ToolKind::Other)
        .status(ToolCallStatus::InProgress);
    (call_id, SessionUpdate::ToolCall(call))
}
