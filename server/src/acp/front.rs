//! What the ACP front holds while it serves: the way to the client, the core's manager and backends, the settings,
//! the client's capabilities and the open sessions; and the router that turns the manager's updates into session
//! updates, ends turns and asks for permissions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use agent_client_protocol_schema::v1::{
    SessionNotification, SessionUpdate, ToolCall, ToolCallStatus, ToolCallUpdate, ToolCallUpdateFields, ToolKind,
};
use tokio::sync::mpsc;

use super::errors::RpcError;
use super::session::{Session, TurnEnd};
use super::settings::Loaded;
use super::transport::Peer;
use crate::conversation::{Manager, Observer, State, Update};

/// What the client said of itself at `initialize`.
#[derive(Debug, Clone, Default)]
pub struct ClientFacts {
    pub read_text_file: bool,
    pub write_text_file: bool,
}

pub struct Front {
    pub peer: Peer,
    pub manager: Result<Manager, String>,
    pub secrets: crate::secrets::SecretStore,
    pub loaded: Loaded,
    client: Mutex<ClientFacts>,
    sessions: Mutex<HashMap<String, Session>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Front {
    pub fn new(
        peer: Peer,
        manager: Result<Manager, String>,
        secrets: crate::secrets::SecretStore,
        loaded: Loaded,
    ) -> Self {
        Front {
            peer,
            manager,
            secrets,
            loaded,
            client: Mutex::default(),
            sessions: Mutex::default(),
        }
    }

    pub fn manager(&self) -> Result<&Manager, RpcError> {
        self.manager.as_ref().map_err(|why| RpcError::internal(format!("conversations are unavailable: {why}")))
    }

    pub fn client(&self) -> ClientFacts {
        lock(&self.client).clone()
    }

    pub fn set_client(&self, facts: ClientFacts) {
        *lock(&self.client) = facts;
    }

    /// Runs `f` on session `id` (never across an `.await`).
    pub fn with_session<T>(&self, id: &str, f: impl FnOnce(&mut Session) -> T) -> Result<T, RpcError> {
        let mut sessions = lock(&self.sessions);
        sessions.get_mut(id).map(f).ok_or_else(|| RpcError::unknown_session(id))
    }

    pub fn insert_session(&self, id: String, session: Session) {
        lock(&self.sessions).insert(id, session);
    }

    pub fn remove_session(&self, id: &str) -> Option<Session> {
        lock(&self.sessions).remove(id)
    }

    /// Sends `update` to the client as `session/update` of session `id`.
    pub fn send(&self, id: &str, update: SessionUpdate) {
        self.peer.notify("session/update", SessionNotification::new(id.to_owned(), update));
    }
}

/// The manager's observer: updates go to the router in order.
pub struct ChannelObserver(pub mpsc::UnboundedSender<Update>);

impl Observer for ChannelObserver {
    fn update(&self, update: Update) {
        let _ = self.0.send(update);
    }
}

/// Routes the manager's updates until the manager is gone.
pub async fn route(front: Arc<Front>, mut updates: mpsc::UnboundedReceiver<Update>) {
    while let Some(update) = updates.recv().await {
        match update {
            Update::Event(event, credit) => {
                let id = event.conversation_id.clone();
                let out = front.with_session(&id, |s| {
                    let mut out = Vec::new();
                    if let Some(call) = s.starting_call.take() {
                        out.push(start_call_done(&call, ToolCallStatus::Completed, None));
                    }
                    out.extend(s.mapper.map(&event, false));
                    out
                });
                for update in out.into_iter().flatten() {
                    front.send(&id, update);
                }
                // The event is on its way: the conversation may take the next.
                drop(credit);
            }
            Update::Progress { conversation_id, message } => {
                let call = front.with_session(&conversation_id, |s| s.starting_call.clone()).ok().flatten();
                if let Some(call) = call {
                    let fields = ToolCallUpdateFields::new().title(Some(message));
                    front.send(&conversation_id, SessionUpdate::ToolCallUpdate(ToolCallUpdate::new(call, fields)));
                }
            }
            Update::ConfirmationNeeded { conversation_id, actions } => {
                tokio::spawn(super::turn::ask_permission(front.clone(), conversation_id, actions));
            }
            Update::Settled { conversation_id, state, message } => {
                let failed_start = front
                    .with_session(&conversation_id, |s| {
                        let call = s.starting_call.take();
                        s.end_turn(TurnEnd::Settled { state, message: message.clone() });
                        call
                    })
                    .ok()
                    .flatten();
                if let Some(call) = failed_start {
                    let update = start_call_done(&call, ToolCallStatus::Failed, Some(message));
                    front.send(&conversation_id, update);
                }
            }
            Update::Changed(summary) => {
                let roots = crate::conversation::shown_roots(&summary.meta, crate::sandbox::docker::CONTAINER_WORKSPACE);
                let _ = front.with_session(&summary.meta.id, |s| {
                    s.mapper.set_roots(roots);
                    if summary.meta.state == State::Paused {
                        s.end_turn(TurnEnd::Paused);
                    }
                });
            }
            Update::Checkpoint { .. } => {}
        }
    }
}

/// The tool call that shows the sandbox starting (`Starting the agent…`), until the agent's first event.
pub fn start_call(id: &str, backend: &str) -> (String, SessionUpdate) {
    let call_id = format!("openhands-start-{id}");
    let call = ToolCall::new(call_id.clone(), format!("Starting the agent ({backend})"))
        .kind(ToolKind::Other)
        .status(ToolCallStatus::InProgress);
    (call_id, SessionUpdate::ToolCall(call))
}

fn start_call_done(call: &str, status: ToolCallStatus, why: Option<String>) -> SessionUpdate {
    let mut fields = ToolCallUpdateFields::new().status(status);
    if let Some(why) = why {
        fields = fields.title(Some(format!("The agent did not start: {why}")));
    } else {
        fields = fields.title(Some("Agent started".to_owned()));
    }
    SessionUpdate::ToolCallUpdate(ToolCallUpdate::new(call.to_owned(), fields))
}
