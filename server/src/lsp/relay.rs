//! Carries conversation updates to the editor: `openhands/event`, `openhands/conversationChanged`, one work-done
//! progress per active turn (cancel stops the agent), confirmation prompts, and the busy flag of `openhands/status`.
//!
//! One task per conversation keeps its messages in order; conversations never wait on each other.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tower_lsp_server::Client;
use tower_lsp_server::lsp_types::MessageType;

use super::ext::{
    CheckpointParams, CheckpointTaken, ConversationChanged, EventNotification, Status, StatusKind, StatusParams,
};
use super::progress::{Progress, ProgressHandle};
use super::status::StillIdle;
use super::{prompt, wire};
use crate::conversation::{Decision, Manager, Observer, PendingAction, State, Update};

/// The observer the manager writes to; never blocks.
pub struct RelayObserver {
    tx: mpsc::UnboundedSender<Update>,
}

impl Observer for RelayObserver {
    fn update(&self, update: Update) {
        let _ = self.tx.send(update);
    }
}

/// What the manager's observer sends, for the relay to take once it starts.
pub struct Updates(mpsc::UnboundedReceiver<Update>);

/// The observer for the manager, and the updates it will carry.
pub fn channel() -> (Arc<RelayObserver>, Updates) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Arc::new(RelayObserver { tx }), Updates(rx))
}

/// What the relay calls besides the client.
pub struct Hooks {
    /// With the id of a conversation that finished.
    pub finished: Box<dyn Fn(String) + Send + Sync>,
    /// When no conversation is running any more: publishes what the server's status is when idle (its health and
    /// its settings, not merely "Ready": a start that failed because Docker hung leaves Docker down). It is handed a
    /// check of whether the server is still idle, for the moment it publishes (the checks take a while, and a
    /// conversation may have started meanwhile).
    pub idle: Box<dyn Fn(StillIdle) + Send + Sync>,
}

struct Relay {
    client: Client,
    progress: Progress,
    /// To stop a conversation whose progress was cancelled and answer confirmations (none without a state dir).
    manager: Option<Manager>,
    hooks: Hooks,
    /// How many conversations are starting or running, as last counted.
    busy_now: Arc<std::sync::atomic::AtomicUsize>,
}

/// Starts carrying `updates` to the client.
pub fn start(client: Client, progress: Progress, manager: Option<Manager>, hooks: Hooks, updates: Updates) {
    let relay = Arc::new(Relay { client, progress, manager, hooks, busy_now: Arc::default() });
    tokio::spawn(dispatch(relay, updates.0));
}

fn conversation_of(update: &Update) -> &str {
    match update {
        Update::Changed(s) => &s.meta.id,
        Update::Event(e, _) => &e.conversation_id,
        Update::ConfirmationNeeded { conversation_id, .. }
        | Update::BudgetReached { conversation_id, .. }
        | Update::Settled { conversation_id, .. }
        | Update::Progress { conversation_id, .. }
        | Update::Notice { conversation_id, .. }
        | Update::Checkpoint { conversation_id, .. } => conversation_id,
    }
}

async fn dispatch(relay: Arc<Relay>, mut rx: mpsc::UnboundedReceiver<Update>) {
    let mut lanes: HashMap<String, mpsc::UnboundedSender<Update>> = HashMap::new();
    let mut active: HashMap<String, State> = HashMap::new();
    let mut last_busy: Option<usize> = None;
    while let Some(update) = rx.recv().await {
        // Said at once, in no conversation's order.
        if let Update::Notice { message, .. } = &update {
            relay.client.show_message(MessageType::WARNING, format!("OpenHands: {message}")).await;
            continue;
        }
        if let Update::Changed(summary) = &update {
            active.insert(summary.meta.id.clone(), summary.meta.state);
            let busy = active.values().filter(|s| matches!(s, State::Starting | State::Running)).count();
            if last_busy != Some(busy) {
                last_busy = Some(busy);
                relay.busy_now.store(busy, std::sync::atomic::Ordering::SeqCst);
                if busy == 0 {
                    let busy_now = relay.busy_now.clone();
                    (relay.hooks.idle)(Arc::new(move || busy_now.load(std::sync::atomic::Ordering::SeqCst) == 0));
                } else {
                    let message = if busy == 1 {
                        "1 conversation running".to_owned()
                    } else {
                        format!("{busy} conversations running")
                    };
                    let params = StatusParams { busy: true, message, kind: StatusKind::Normal };
                    relay.client.send_notification::<Status>(params).await;
                }
            }
        }
        let id = conversation_of(&update).to_owned();
        let lane = lanes.entry(id.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(conversation_lane(relay.clone(), id, rx));
            tx
        });
        let _ = lane.send(update);
    }
}

async fn conversation_lane(relay: Arc<Relay>, id: String, mut rx: mpsc::UnboundedReceiver<Update>) {
    let mut progress: Option<ProgressHandle> = None;
    let mut cancel = tokio_util::sync::CancellationToken::new();
    let mut title = String::new();
    loop {
        let update = tokio::select! {
            update = rx.recv() => match update { Some(u) => u, None => return },
            _ = cancel.cancelled() => {
                cancel = tokio_util::sync::CancellationToken::new();
                if let Some(manager) = relay.manager.clone() {
                    let id = id.clone();
                    tokio::spawn(async move {
                        if let Err(e) = manager.stop(&id).await {
                            tracing::warn!(conversation = %id, "stop after progress cancel: {e}");
                        }
                    });
                }
                continue;
            }
        };
        match update {
            Update::Changed(summary) => {
                title = summary.meta.title.clone();
                if let Some(handle) = follow_state(&relay, &mut progress, &title, summary.meta.state).await {
                    cancel = handle;
                }
                let conversation = wire::Conversation::from(*summary);
                relay.client.send_notification::<ConversationChanged>(conversation).await;
            }
            // The credit is given back when this arm ends: once the event is handed to the transport.
            Update::Event(event, _credit) => {
                if let Some(p) = &progress
                    && is_step(&event.kind)
                {
                    p.report(event.summary.clone());
                }
                // Usually the only holder by now: no deep copy of the event.
                let event = Arc::try_unwrap(event).unwrap_or_else(|shared| (*shared).clone());
                relay.client.send_notification::<EventNotification>(event).await;
            }
            Update::Progress { message, .. } => {
                if let Some(p) = &progress {
                    p.report(message);
                } else {
                    // No turn in progress (paused): said once, as a message.
                    relay.client.show_message(MessageType::INFO, format!("OpenHands: {title}: {message}")).await;
                }
            }
            Update::ConfirmationNeeded { conversation_id, actions } => {
                if let Some(p) = &progress {
                    p.report("waiting for your confirmation");
                }
                if let Some(manager) = relay.manager.clone() {
                    tokio::spawn(ask_confirmation(
                        relay.client.clone(),
                        manager,
                        conversation_id,
                        title.clone(),
                        actions,
                    ));
                }
            }
            Update::BudgetReached { conversation_id, spent, raise } => {
                if let Some(manager) = relay.manager.clone() {
                    let question = format!("OpenHands ({title}) {spent}. The agent is paused.");
                    tokio::spawn(ask_budget(relay.client.clone(), manager, conversation_id, question, raise));
                }
            }
            Update::Settled { state, message, conversation_id } => {
                settled(&relay, progress.take(), &title, conversation_id, state, message).await;
            }
            // Said by `dispatch`, at once.
            Update::Notice { .. } => {}
            Update::Checkpoint { conversation_id, checkpoint } => {
                let params = CheckpointParams { conversation_id, checkpoint: checkpoint.into() };
                relay.client.send_notification::<CheckpointTaken>(params).await;
            }
        }
    }
}

/// A conversation's new state: a turn that starts begins a progress (its cancellation token returned), a pause
/// ends it (nothing works while paused: no spinner; resuming begins a progress again).
async fn follow_state(
    relay: &Relay,
    progress: &mut Option<ProgressHandle>,
    title: &str,
    state: State,
) -> Option<tokio_util::sync::CancellationToken> {
    if progress.is_none() && matches!(state, State::Starting | State::Running) {
        let message = if state == State::Starting { "starting the agent…" } else { "working…" };
        let handle = relay.progress.begin(format!("OpenHands: {title}"), Some(message.to_owned()), true).await;
        let cancel = handle.cancellation();
        *progress = Some(handle);
        return Some(cancel);
    }
    if state == State::Paused {
        if let Some(p) = progress.take() {
            p.end(Some("paused".to_owned()));
        }
    } else if let Some(p) = progress.as_ref()
        && state == State::Running
    {
        p.report("working…");
    }
    None
}

/// The agent stopped working: the progress ends with the outcome, a failure is said, a finish runs its hook.
async fn settled(
    relay: &Relay,
    progress: Option<ProgressHandle>,
    title: &str,
    conversation_id: String,
    state: State,
    message: String,
) {
    if state == State::Finished {
        (relay.hooks.finished)(conversation_id);
    }
    if let Some(p) = progress {
        let outcome = match state {
            State::Finished => "finished",
            State::Error => "failed",
            State::Stuck => "stuck",
            State::Stopped => "stopped",
            _ => state.as_str(),
        };
        let text = if message.is_empty() { outcome.to_owned() } else { format!("{outcome}: {message}") };
        p.end(Some(crate::agent_server::events::cap(&text, 2000)));
    }
    if state == State::Error {
        let text = format!("OpenHands: {title} failed: {message}");
        relay.client.show_message(MessageType::ERROR, text).await;
    }
}

/// Events worth a progress line: what the agent does and says, and what goes wrong.
fn is_step(kind: &str) -> bool {
    matches!(
        kind,
        "ActionEvent" | "MessageEvent" | "AgentErrorEvent" | "ConversationErrorEvent" | "UserRejectObservation"
    )
}

pub const ALLOW: &str = "Allow";
pub const ALLOW_ALL: &str = "Allow for this conversation";
pub const REJECT: &str = "Reject";

pub const STOP: &str = "Stop";

/// The budget is spent: raise it and go on, or stop. Dismissed, the agent stays paused (a resume asks again).
async fn ask_budget(client: Client, manager: Manager, id: String, question: String, raise: String) {
    let answer = prompt::ask(&client, MessageType::WARNING, question, &[raise.as_str(), STOP]).await;
    let result = match answer.as_ref().map(|a| a.as_deref()) {
        Ok(Some(STOP)) => manager.stop(&id).await,
        Ok(Some(chosen)) if chosen == raise => manager.raise_budget(&id).await,
        Ok(_) => {
            tracing::info!(conversation = %id, "budget question dismissed; still paused");
            return;
        }
        Err(e) => {
            tracing::warn!(conversation = %id, "showMessageRequest failed: {e}");
            return;
        }
    };
    if let Err(e) = result {
        tracing::warn!(conversation = %id, "answering the budget question failed: {e}");
    }
}

async fn ask_confirmation(client: Client, manager: Manager, id: String, title: String, actions: Vec<PendingAction>) {
    let list: Vec<String> = actions.iter().map(|a| format!("• {}", a.summary)).collect();
    let message = format!(
        "OpenHands ({title}) wants to:\n{}",
        if list.is_empty() { "• continue".to_owned() } else { list.join("\n") }
    );
    let answer = prompt::ask(&client, MessageType::WARNING, message, &[ALLOW, ALLOW_ALL, REJECT]).await;
    let decision = match answer.as_ref().map(|a| a.as_deref()) {
        Ok(Some(ALLOW)) => Decision::Allow,
        Ok(Some(ALLOW_ALL)) => Decision::AllowAll,
        Ok(Some(REJECT)) => Decision::Reject { reason: Some("The user chose Reject in the editor.".into()) },
        Ok(_) => {
            // Dismissed: the agent keeps waiting; `openhands.respondToConfirmation` can still answer.
            tracing::info!(conversation = %id, "confirmation dismissed; still waiting");
            return;
        }
        Err(e) => {
            tracing::warn!(conversation = %id, "showMessageRequest failed: {e}");
            return;
        }
    };
    if let Err(e) = manager.confirm(&id, decision).await {
        tracing::warn!(conversation = %id, "answering the confirmation failed: {e}");
    }
}
