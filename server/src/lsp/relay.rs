//! Carries conversation updates to the editor: `openhands/event`, `openhands/conversationChanged`, one work-done
//! progress per active turn (cancel stops the agent), confirmation prompts, and the busy flag of `openhands/status`.
//!
//! One task per conversation keeps its messages in order; conversations never wait on each other.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;
use tower_lsp_server::Client;
use tower_lsp_server::lsp_types::MessageType;

use super::ext::{ConversationChanged, EventNotification, Status, StatusKind, StatusParams};
use super::progress::{Progress, ProgressHandle};
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

/// Called with the id of a conversation that finished.
pub type FinishedHook = Box<dyn Fn(String) + Send + Sync>;

/// Called when no conversation is running any more: publishes what the server's status is when idle (its health
/// and its settings, not merely "Ready": a start that failed because Docker hung leaves Docker down).
/// It is handed a check of whether the server is still idle, for the moment it publishes (the checks take a while, and
/// a conversation may have started meanwhile).
pub type IdleHook = Box<dyn Fn(StillIdle) + Send + Sync>;

pub type StillIdle = Arc<dyn Fn() -> bool + Send + Sync>;

pub struct Relay {
    client: Client,
    progress: Progress,
    manager: OnceLock<Manager>,
    finished: OnceLock<FinishedHook>,
    idle: OnceLock<IdleHook>,
    /// How many conversations are starting or running, as last counted.
    busy_now: Arc<std::sync::atomic::AtomicUsize>,
}

impl Relay {
    /// Starts the dispatcher; returns the relay (to hand the manager to) and the observer for the manager.
    pub fn start(client: Client, progress: Progress) -> (Arc<Relay>, Arc<RelayObserver>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let relay = Arc::new(Relay {
            client,
            progress,
            manager: OnceLock::new(),
            finished: OnceLock::new(),
            idle: OnceLock::new(),
            busy_now: Arc::default(),
        });
        tokio::spawn(dispatch(relay.clone(), rx));
        (relay, Arc::new(RelayObserver { tx }))
    }

    pub fn set_manager(&self, manager: Manager) {
        let _ = self.manager.set(manager);
    }

    pub fn set_finished_hook(&self, hook: FinishedHook) {
        let _ = self.finished.set(hook);
    }

    pub fn set_idle_hook(&self, hook: IdleHook) {
        let _ = self.idle.set(hook);
    }
}

fn conversation_of(update: &Update) -> &str {
    match update {
        Update::Changed(s) => &s.meta.id,
        Update::Event(e, _) => &e.conversation_id,
        Update::ConfirmationNeeded { conversation_id, .. }
        | Update::Settled { conversation_id, .. }
        | Update::Progress { conversation_id, .. } => conversation_id,
    }
}

async fn dispatch(relay: Arc<Relay>, mut rx: mpsc::UnboundedReceiver<Update>) {
    let mut lanes: HashMap<String, mpsc::UnboundedSender<Update>> = HashMap::new();
    let mut active: HashMap<String, State> = HashMap::new();
    let mut last_busy: Option<usize> = None;
    while let Some(update) = rx.recv().await {
        if let Update::Changed(summary) = &update {
            active.insert(summary.meta.id.clone(), summary.meta.state);
            let busy = active.values().filter(|s| matches!(s, State::Starting | State::Running)).count();
            if last_busy != Some(busy) {
                last_busy = Some(busy);
                relay.busy_now.store(busy, std::sync::atomic::Ordering::SeqCst);
                match (busy, relay.idle.get()) {
                    (0, Some(idle)) => {
                        let busy_now = relay.busy_now.clone();
                        idle(Arc::new(move || busy_now.load(std::sync::atomic::Ordering::SeqCst) == 0));
                    }
                    _ => {
                        let message = match busy {
                            0 => "Ready".to_owned(),
                            1 => "1 conversation running".to_owned(),
                            n => format!("{n} conversations running"),
                        };
                        let params = StatusParams { busy: busy > 0, message, kind: StatusKind::Normal };
                        relay.client.send_notification::<Status>(params).await;
                    }
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
                if let Some(manager) = relay.manager.get().cloned() {
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
                let state = summary.meta.state;
                if progress.is_none() && matches!(state, State::Starting | State::Running) {
                    let message = if state == State::Starting { "starting the agent…" } else { "working…" };
                    let handle =
                        relay.progress.begin(format!("OpenHands: {title}"), Some(message.to_owned()), true).await;
                    cancel = handle.cancellation();
                    progress = Some(handle);
                } else if state == State::Paused {
                    // Nothing works while paused: no spinner. Resuming begins a progress again.
                    if let Some(p) = progress.take() {
                        p.end(Some("paused".to_owned()));
                    }
                } else if let Some(p) = &progress
                    && state == State::Running
                {
                    p.report("working…");
                }
                relay.client.send_notification::<ConversationChanged>(*summary).await;
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
                if let Some(manager) = relay.manager.get().cloned() {
                    tokio::spawn(ask_confirmation(
                        relay.client.clone(),
                        manager,
                        conversation_id,
                        title.clone(),
                        actions,
                    ));
                }
            }
            Update::Settled { state, message, conversation_id } => {
                if state == State::Finished
                    && let Some(hook) = relay.finished.get()
                {
                    hook(conversation_id.clone());
                }
                if let Some(p) = progress.take() {
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
        }
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

async fn ask_confirmation(client: Client, manager: Manager, id: String, title: String, actions: Vec<PendingAction>) {
    let list: Vec<String> = actions.iter().map(|a| format!("• {}", a.summary)).collect();
    let message = format!(
        "OpenHands ({title}) wants to:\n{}",
        if list.is_empty() { "• continue".to_owned() } else { list.join("\n") }
    );
    let answer = super::server::ask(&client, MessageType::WARNING, message, &[ALLOW, ALLOW_ALL, REJECT]).await;
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
