//! The ACP edge (`openhands-lsp acp`): the Agent Client Protocol v1 on stdio for agent panels (Zed, JetBrains,
//! Emacs agent-shell, Neovim's ACP plugins). The only module that knows ACP's types; it drives the same core as the
//! LSP front, with the same state directory, so a conversation started in one editor is listed in the others.

mod dispatch;
mod errors;
mod front;
mod history;
mod review;
mod router;
mod session;
mod settings;
mod slash;
mod steer;
mod transport;
mod turn;
mod updates;

use std::path::PathBuf;
use std::sync::Arc;

use crate::conversation::{Manager, Store};

pub use dispatch::METHODS;

/// The slash commands' names.
pub fn slash_commands() -> impl Iterator<Item = &'static str> {
    slash::names()
}

/// How `openhands-lsp acp` was started.
#[derive(Debug, Default)]
pub struct Options {
    /// `--settings FILE`; else the default file, when it exists.
    pub settings_file: Option<PathBuf>,
}

/// Serves ACP on this process's stdin/stdout until the client closes its input or a signal ends it; the exit code.
pub async fn serve_stdio(options: Options) -> i32 {
    serve(std::io::stdin(), std::io::stdout(), options).await
}

pub async fn serve<R, W>(input: R, output: W, options: Options) -> i32
where
    R: std::io::Read + Send + 'static,
    W: std::io::Write + Send + 'static,
{
    let loaded = settings::load(options.settings_file.as_deref());
    for problem in &loaded.problems {
        tracing::warn!("{problem}");
    }
    let (peer, mut incoming) = transport::start(input, output);
    let secrets = crate::credentials::secret_store();
    crate::logging::mask_secrets(secrets.redactor());
    let state_dir = crate::state_dir::resolve().map_err(|e| e.to_string());
    let backends = Arc::new(crate::backends::Backends::new(
        &loaded.settings,
        secrets.clone(),
        state_dir.as_ref().ok().map(PathBuf::as_path),
    ));
    // The warm pool starts warming now, so that a first prompt finds a sandbox ready.
    backends.configure(&loaded.settings);
    let (tx, updates) = tokio::sync::mpsc::unbounded_channel();
    let observer = Arc::new(router::ChannelObserver(tx));
    let manager = state_dir.and_then(|dir| {
        crate::state_dir::ensure_writable(&dir).map_err(|e| e.to_string())?;
        let manager = Manager::new(Store::new(&dir), backends.clone(), secrets.clone(), observer);
        manager.recover();
        Ok(manager)
    });
    let front = Arc::new(front::Front::new(peer, manager, secrets, loaded));
    tokio::spawn(router::route(front.clone(), updates));
    let mut handlers = tokio::task::JoinSet::new();
    let mut arrived = 0;
    loop {
        let message = tokio::select! {
            m = incoming.recv() => m,
            signal = crate::platform::termination() => {
                tracing::info!("{signal}: shutting down");
                None
            }
        };
        let Some(message) = message else { break };
        // Numbered as they come, before their handlers run in any order: a cancel cancels the prompts before it.
        arrived += 1;
        handlers.spawn(dispatch::handle(front.clone(), message, arrived));
        // Finished handlers are let go as the session goes on.
        while handlers.try_join_next().is_some() {}
    }
    // What the client asked before it left is answered (a turn that still runs is not waited for long).
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while handlers.join_next().await.is_some() {}
    })
    .await;
    handlers.abort_all();
    if let Ok(manager) = &front.manager {
        manager.shutdown().await;
    }
    let peer = front.peer.clone();
    let _ = tokio::task::spawn_blocking(move || peer.finish(std::time::Duration::from_secs(2))).await;
    tracing::info!("acp: stopped");
    0
}
