//! The LSP session's state: what lives as long as the server (`Shared`), what the client and the user set
//! (`Session`, behind one lock never held across an `.await`), and what a handler works from (`Snapshot`: the
//! settings, the workspace roots and the client's facts, each behind an `Arc`, taken in one look at the session).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use tower_lsp_server::Client;
use tower_lsp_server::jsonrpc::Error;
use tower_lsp_server::lsp_types::{ClientCapabilities, ResourceOperationKind, WorkspaceFolder};

use super::documents::Documents;
use super::errors;
use super::progress::Progress;
use crate::backends::Backends;
use crate::config::Settings;
use crate::conversation::Manager;
use crate::editor::Editor;
use crate::providers::{Providers, ProvidersSettings};
use crate::secrets::SecretStore;
use crate::trackers::{KeyCache, Trackers};

/// What the client can do, read once from `initialize`.
#[derive(Debug, Clone, Default)]
pub struct ClientFacts {
    pub work_done_progress: bool,
    pub configuration_pull: bool,
    pub utf8_positions: bool,
    pub name: Option<String>,
    pub edit_support: EditSupport,
    /// `window/showDocument` (opening a pull request's page in the browser).
    pub show_document: bool,
}

/// What the client can do with a `WorkspaceEdit`.
#[derive(Debug, Clone, Default)]
pub struct EditSupport {
    pub document_changes: bool,
    pub create: bool,
    pub rename: bool,
    pub delete: bool,
}

impl EditSupport {
    pub fn from_capabilities(caps: &ClientCapabilities) -> Self {
        let edit = caps.workspace.as_ref().and_then(|w| w.workspace_edit.as_ref());
        let ops = edit.and_then(|e| e.resource_operations.clone()).unwrap_or_default();
        EditSupport {
            document_changes: edit.and_then(|e| e.document_changes).unwrap_or(false),
            create: ops.contains(&ResourceOperationKind::Create),
            rename: ops.contains(&ResourceOperationKind::Rename),
            delete: ops.contains(&ResourceOperationKind::Delete),
        }
    }
}

/// What the client and the user set, changed by notifications.
#[derive(Debug, Default)]
pub struct Session {
    pub settings: Arc<Settings>,
    /// Problems with the current settings, shown once per distinct set.
    pub settings_problems: Vec<String>,
    pub last_shown_problems: Option<Vec<String>>,
    /// The last blocking problem shown with `window/showMessage` (e.g. Docker unreachable): each is shown once.
    pub last_shown_status_error: Option<String>,
    pub client: Arc<ClientFacts>,
    workspace_folders: Vec<WorkspaceFolder>,
    /// The folders' paths, kept with them.
    roots: Arc<[PathBuf]>,
    pub documents: Documents,
}

impl Session {
    pub fn workspace_folders(&self) -> &[WorkspaceFolder] {
        &self.workspace_folders
    }

    /// What a handler works from, read in this one look at the session.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot { settings: self.settings.clone(), roots: self.roots.clone(), client: self.client.clone() }
    }

    pub fn set_workspace_folders(&mut self, folders: Vec<WorkspaceFolder>) {
        self.roots = folders.iter().filter_map(|f| super::convert::file_path(&f.uri)).collect();
        self.workspace_folders = folders;
    }
}

/// What a handler works from: cheap to take, never stale within one request.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub settings: Arc<Settings>,
    /// The workspace folders' paths.
    pub roots: Arc<[PathBuf]>,
    pub client: Arc<ClientFacts>,
}

impl Snapshot {
    /// The editor the user is in, from the client's name.
    pub fn editor(&self) -> Editor {
        Editor::from_client_name(self.client.name.as_deref())
    }

    pub fn providers_settings(&self) -> ProvidersSettings {
        ProvidersSettings::from_settings(&self.settings)
    }
}

/// Long-lived state shared by the handlers and by `serve` (which needs it after the service is gone).
pub struct Shared {
    session: Mutex<Session>,
    pub progress: Progress,
    pub state_dir: Result<PathBuf, String>,
    pub secrets: SecretStore,
    /// Conversations, or why they are unavailable (an unusable state directory).
    pub manager: Result<Manager, String>,
    pub backends: Arc<Backends>,
    /// The log lines for the editor, until `initialized` starts sending them.
    pub log: Mutex<Option<tokio::sync::mpsc::Receiver<crate::logging::LogLine>>>,
    /// The task sending them from then on.
    pub log_sender: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Jira's and Linear's keys, read once and kept for the code actions.
    pub tracker_keys: KeyCache,
    /// Tracker issues' titles by key, for the code actions' titles (`None`: reading it failed).
    pub tracker_titles: Mutex<std::collections::HashMap<String, Option<String>>>,
}

impl Shared {
    pub fn new(
        progress: Progress,
        state_dir: Result<PathBuf, String>,
        secrets: SecretStore,
        manager: Result<Manager, String>,
        backends: Arc<Backends>,
        log: tokio::sync::mpsc::Receiver<crate::logging::LogLine>,
    ) -> Self {
        Shared {
            session: Mutex::new(Session::default()),
            progress,
            state_dir,
            secrets,
            manager,
            backends,
            log: Mutex::new(Some(log)),
            log_sender: Mutex::new(None),
            tracker_keys: KeyCache::default(),
            tracker_titles: Mutex::default(),
        }
    }

    pub fn trackers(&self, settings: &Settings) -> Trackers {
        Trackers::new(settings, self.secrets.clone(), self.tracker_keys.clone())
    }

    /// Never held across an `.await`.
    pub fn session(&self) -> MutexGuard<'_, Session> {
        // A handler that panicked while holding the lock left consistent data (all updates are single
        // assignments), so a poisoned lock is still usable.
        self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn snapshot(&self) -> Snapshot {
        self.session().snapshot()
    }

    /// Forgets what was read from Jira and Linear (keys, titles): a new token or site is asked afresh.
    pub fn forget_tracker_reads(&self) {
        self.tracker_keys.clear();
        self.tracker_titles.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// New settings for the session; settings that live outside it (the sandbox providers') follow.
    pub fn set_settings(&self, settings: Settings, problems: Vec<String>) {
        let trackers_changed = {
            let session = self.session();
            settings.jira != session.settings.jira || settings.linear != session.settings.linear
        };
        if trackers_changed {
            self.forget_tracker_reads();
        }
        self.backends.configure(&settings);
        let mut session = self.session();
        session.settings = Arc::new(settings);
        session.settings_problems = problems;
    }

    /// Ends sending the log to the editor (later lines go to stderr): what is on its way is sent, and what never
    /// could be (no `initialized` came) is written to stderr.
    pub async fn finish_log(&self) {
        use std::io::Write as _;
        crate::logging::forward_to(None);
        let sender = self.log_sender.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(sender) = sender {
            let _ = tokio::time::timeout(std::time::Duration::from_millis(500), sender).await;
        }
        let Some(mut log) = self.log.lock().unwrap_or_else(|p| p.into_inner()).take() else { return };
        let mut stderr = std::io::stderr().lock();
        while let Ok((level, text)) = log.try_recv() {
            let _ = writeln!(stderr, "{level:>5} {text}");
        }
    }

    /// Stops every conversation and sandbox; called once the client has gone.
    pub async fn shutdown(&self) {
        if let Ok(manager) = &self.manager {
            manager.shutdown().await;
        }
    }
}

/// What a request's handler gets: the client to talk back to, the long-lived state, and a snapshot of the session.
#[derive(Clone)]
pub struct Ctx {
    pub client: Client,
    pub shared: Arc<Shared>,
    pub snap: Snapshot,
}

impl Ctx {
    pub fn new(client: &Client, shared: &Arc<Shared>) -> Self {
        Ctx { client: client.clone(), shared: shared.clone(), snap: shared.snapshot() }
    }

    pub fn manager(&self) -> Result<Manager, Error> {
        self.shared.manager.clone().map_err(|reason| errors::unavailable(&reason))
    }

    /// The git hosting providers, with the session's settings and the user's tokens.
    pub fn providers(&self) -> Providers {
        Providers::new(self.snap.providers_settings(), self.shared.secrets.clone())
    }

    /// Jira and Linear, with the session's settings, the user's tokens and the session's known keys.
    pub fn trackers(&self) -> Trackers {
        self.shared.trackers(&self.snap.settings)
    }
}
