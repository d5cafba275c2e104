//! The LSP edge: the only module that knows LSP types. It turns protocol messages into calls on the domain modules
//! and domain results back into protocol messages.

mod args;
mod capabilities;
mod checkpoints;
mod cloud;
mod cloud_question;
mod commands;
mod conversations;
mod convert;
mod documents;
mod edit;
mod errors;
pub mod ext;
mod issues;
mod names;
mod panic_guard;
mod progress;
mod prompt;
mod relay;
mod review;
mod server;
mod start;
mod state;
mod status;
mod test_hooks;
mod transport;
pub mod wire;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tower_lsp_server::{Client, LspService, Server};

pub use names::ALL as COMMANDS;

/// How the process should end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `exit` after `shutdown`, or end of input.
    Clean,
    /// `exit` without `shutdown` (the spec asks for exit code 1).
    ExitWithoutShutdown,
}

impl Outcome {
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Clean => 0,
            Outcome::ExitWithoutShutdown => 1,
        }
    }
}

/// The server's long-lived state: the secrets, the sandbox backends, the conversations and the relay that carries
/// their updates to `client` (with the hooks that need the state itself: a finished issue's question, the status
/// once idle).
fn shared_state(client: &Client, log: tokio::sync::mpsc::Receiver<crate::logging::LogLine>) -> Arc<state::Shared> {
    let progress = progress::Progress::new(client.clone());
    let secrets = crate::credentials::secret_store();
    crate::logging::mask_secrets(secrets.redactor());
    let state_dir = crate::state_dir::resolve().map_err(|e| e.to_string());
    let backends = Arc::new(crate::backends::Backends::new(
        &crate::config::Settings::default(),
        secrets.clone(),
        state_dir.as_ref().ok().map(PathBuf::as_path),
    ));
    let (observer, updates) = relay::channel();
    let manager = state_dir.clone().and_then(|dir| {
        crate::state_dir::ensure_writable(&dir).map_err(|e| e.to_string())?;
        let store = crate::conversation::Store::new(&dir);
        let manager = crate::conversation::Manager::new(store, backends.clone(), secrets.clone(), observer);
        manager.recover();
        Ok(manager)
    });
    Arc::new_cyclic(|weak: &Weak<state::Shared>| {
        let hooks = relay_hooks(client, weak);
        relay::start(client.clone(), progress.clone(), manager.clone().ok(), hooks, updates);
        state::Shared::new(progress, state_dir, secrets, manager, backends, log)
    })
}

fn relay_hooks(client: &Client, shared: &Weak<state::Shared>) -> relay::Hooks {
    let (finished_client, finished_shared) = (client.clone(), shared.clone());
    let (idle_client, idle_shared) = (client.clone(), shared.clone());
    relay::Hooks {
        // A conversation on an issue that finishes offers what comes next (apply, pull request, discard).
        finished: Box::new(move |id| {
            if let Some(shared) = finished_shared.upgrade() {
                let ctx = state::Ctx::new(&finished_client, &shared);
                tokio::spawn(issues::offer_outcome(ctx, id));
            }
        }),
        // Idle again: the status is the server's health and settings, looked at anew (shown without a popup: a
        // conversation that failed for that reason already said so).
        idle: Box::new(move |still_idle| {
            if let Some(shared) = idle_shared.upgrade() {
                let client = idle_client.clone();
                tokio::spawn(async move { status::publish(&client, &shared, false, Some(still_idle)).await });
            }
        }),
    }
}

/// Serves LSP on this process's stdin/stdout until `exit` or end of input.
pub async fn serve_stdio() -> Outcome {
    serve(std::io::stdin(), std::io::stdout(), transport::Direct::stdout()).await
}

pub async fn serve<R, W>(input: R, output: W, direct: Option<transport::Direct>) -> Outcome
where
    R: std::io::Read + Send + 'static,
    W: std::io::Write + Send + 'static,
{
    let output = transport::spawn_writer(output, direct);
    let (input_stream, input_state) = transport::spawn_reader(input, output.clone());

    // The log goes to the editor from the start: what comes before `initialized` waits for it (stderr would show
    // each line as an error).
    let (log_tx, log_rx) = tokio::sync::mpsc::channel(crate::logging::SINK_CAPACITY);
    crate::logging::forward_to(Some(log_tx));
    let mut shared_slot = None;
    let mut builder = LspService::build(|client| {
        let shared = shared_state(&client, log_rx);
        shared_slot = Some(shared.clone());
        server::Backend { client, shared }
    })
    .custom_method("window/workDoneProgress/cancel", server::Backend::work_done_progress_cancel);
    if test_hooks::enabled() {
        tracing::warn!("{} is set: test-only requests are enabled", test_hooks::ENV_VAR);
        builder = builder
            .custom_method(test_hooks::PANIC, server::Backend::test_panic)
            .custom_method(test_hooks::PROGRESS, server::Backend::test_progress)
            .custom_method(test_hooks::RECONNECT_STREAM, server::Backend::test_reconnect_stream);
    }
    let (service, socket) = builder.finish();

    let served = Server::new(input_stream, output.async_writer(), socket)
        .concurrency_level(16)
        .serve(panic_guard::CatchPanic(service));
    // An editor that ends the server with a signal gets the same clean end as one that closes its input:
    // conversations recorded as stopped, sandboxes removed.
    tokio::select! {
        () = served => {}
        signal = crate::platform::termination() => tracing::info!("{signal}: shutting down"),
    }
    // The editor has gone: the log goes to stderr from now on.
    if let Some(shared) = &shared_slot {
        shared.finish_log().await;
    }

    if let Some(shared) = &shared_slot {
        shared.shutdown().await;
    }
    output.flush_blocking(Duration::from_secs(2));
    drop(shared_slot);
    let shutdown = input_state.shutdown_seen.load(Ordering::SeqCst);
    if input_state.exit_seen.load(Ordering::SeqCst) && !shutdown {
        tracing::warn!("exit without shutdown");
        Outcome::ExitWithoutShutdown
    } else {
        tracing::info!("server stopped");
        Outcome::Clean
    }
}
