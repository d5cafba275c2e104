//! Server-initiated work-done progress (`window/workDoneProgress/create`, then `$/progress` Begin/Report/End).
//!
//! - Nothing is sent unless the client declared `window.workDoneProgress`.
//! - `End` is sent on every path: explicitly, or from `Drop` when the owner returns early or panics.
//! - Reports go out in order through one task per progress; a burst of reports is coalesced to the latest.
//! - `window/workDoneProgress/cancel` fires the handle's `CancellationToken`, which the owner of the work awaits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tower_lsp_server::Client;
use tower_lsp_server::lsp_types::notification::Progress as ProgressNotification;
use tower_lsp_server::lsp_types::request::WorkDoneProgressCreate;
use tower_lsp_server::lsp_types::{
    NumberOrString, ProgressParams, ProgressParamsValue, ProgressToken, WorkDoneProgress, WorkDoneProgressBegin,
    WorkDoneProgressCreateParams, WorkDoneProgressEnd, WorkDoneProgressReport,
};

#[derive(Clone)]
pub struct Progress {
    client: Client,
    supported: Arc<AtomicBool>,
    next_id: Arc<AtomicU64>,
    active: Arc<Mutex<HashMap<String, CancellationToken>>>,
}

impl Progress {
    pub fn new(client: Client) -> Self {
        Progress {
            client,
            supported: Arc::new(AtomicBool::new(false)),
            next_id: Arc::new(AtomicU64::new(1)),
            active: Arc::default(),
        }
    }

    pub fn set_supported(&self, supported: bool) {
        self.supported.store(supported, Ordering::SeqCst);
    }

    /// Starts a progress. Always returns a handle: when the client cannot show progress (or refused to create the
    /// token) the handle sends nothing but still carries a cancellation token for the owner.
    pub async fn begin(&self, title: impl Into<String>, message: Option<String>, cancellable: bool) -> ProgressHandle {
        let key = format!("openhands/{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let cancel = CancellationToken::new();
        let registry = self.active.clone();
        if let Ok(mut active) = self.active.lock() {
            active.insert(key.clone(), cancel.clone());
        }
        let mut handle = ProgressHandle { tx: None, cancel, key: key.clone(), registry };
        if !self.supported.load(Ordering::SeqCst) {
            return handle;
        }
        let token = ProgressToken::String(key.clone());
        let created = self
            .client
            .send_request::<WorkDoneProgressCreate>(WorkDoneProgressCreateParams { token: token.clone() })
            .await;
        if let Err(e) = created {
            tracing::warn!("client refused progress token {key}: {e}; continuing without progress");
            return handle;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(WorkDoneProgress::Begin(WorkDoneProgressBegin {
            title: title.into(),
            cancellable: Some(cancellable),
            message,
            percentage: None,
        }));
        tokio::spawn(pump(self.client.clone(), token, rx));
        handle.tx = Some(tx);
        handle
    }

    /// The client asked to cancel `token`; the owner of that work sees its cancellation token fire.
    pub fn cancel(&self, token: &NumberOrString) {
        let key = match token {
            NumberOrString::String(s) => s.clone(),
            NumberOrString::Number(n) => n.to_string(),
        };
        let found = self.active.lock().ok().and_then(|active| active.get(&key).cloned());
        match found {
            Some(cancel) => cancel.cancel(),
            None => tracing::debug!("cancel for unknown or finished progress {key}"),
        }
    }
}

/// Sends one progress's notifications in order, dropping reports that a newer one has already replaced.
async fn pump(client: Client, token: ProgressToken, mut rx: mpsc::UnboundedReceiver<WorkDoneProgress>) {
    while let Some(mut value) = rx.recv().await {
        while matches!(value, WorkDoneProgress::Report(_)) {
            match rx.try_recv() {
                Ok(next) => value = next,
                Err(_) => break,
            }
        }
        let is_end = matches!(value, WorkDoneProgress::End(_));
        client
            .send_notification::<ProgressNotification>(ProgressParams {
                token: token.clone(),
                value: ProgressParamsValue::WorkDone(value),
            })
            .await;
        if is_end {
            break;
        }
    }
}

pub struct ProgressHandle {
    tx: Option<mpsc::UnboundedSender<WorkDoneProgress>>,
    cancel: CancellationToken,
    key: String,
    registry: Arc<Mutex<HashMap<String, CancellationToken>>>,
}

impl ProgressHandle {
    pub fn report(&self, message: impl Into<String>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(WorkDoneProgress::Report(WorkDoneProgressReport {
                cancellable: None,
                message: Some(message.into()),
                percentage: None,
            }));
        }
    }

    pub fn end(mut self, message: Option<String>) {
        self.finish(message);
    }

    /// Fires when the user cancels this progress in the editor.
    pub fn cancellation(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Whether the client is shown this progress at all.
    pub fn is_visible(&self) -> bool {
        self.tx.is_some()
    }

    pub fn token(&self) -> &str {
        &self.key
    }

    fn finish(&mut self, message: Option<String>) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(WorkDoneProgress::End(WorkDoneProgressEnd { message }));
        }
        if let Ok(mut active) = self.registry.lock() {
            active.remove(&self.key);
        }
    }
}

impl Drop for ProgressHandle {
    fn drop(&mut self) {
        self.finish(None);
    }
}
