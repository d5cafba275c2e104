//! What the ACP front holds while it serves: the way to the client, the core's manager, the settings, the client's
//! capabilities and the open sessions.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use agent_client_protocol_schema::v1::{SessionNotification, SessionUpdate};

use super::errors::RpcError;
use super::session::Session;
use super::settings::Loaded;
use super::transport::Peer;
use crate::conversation::Manager;

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
    /// Jira's and Linear's keys, read once for the process's sessions.
    pub tracker_keys: crate::trackers::KeyCache,
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
        let tracker_keys = crate::trackers::KeyCache::default();
        Front { peer, manager, secrets, loaded, tracker_keys, client: Mutex::default(), sessions: Mutex::default() }
    }

    pub fn manager(&self) -> Result<&Manager, RpcError> {
        self.manager.as_ref().map_err(|why| RpcError::internal(format!("conversations are unavailable: {why}")))
    }

    /// Jira and Linear with a session's settings.
    pub fn trackers(&self, settings: &crate::config::Settings) -> crate::trackers::Trackers {
        crate::trackers::Trackers::new(settings, self.secrets.clone(), self.tracker_keys.clone())
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
        let mut params = serde_json::to_value(SessionNotification::new(id.to_owned(), update)).unwrap_or_default();
        with_null_old_text(&mut params["update"]);
        self.peer.notify("session/update", params);
    }
}

/// A new file's diff says `"oldText": null` rather than leaving the key out: both are valid ACP, and a client in use
/// (a Neovim chat plugin) opens its diff review only when the key is there.
fn with_null_old_text(update: &mut serde_json::Value) {
    let Some(content) = update.get_mut("content").and_then(serde_json::Value::as_array_mut) else { return };
    for item in content {
        if item["type"] == "diff"
            && let Some(diff) = item.as_object_mut()
        {
            diff.entry("oldText").or_insert(serde_json::Value::Null);
        }
    }
}
