//! The LSP edge: the only module that knows LSP types. It turns protocol messages into calls on the domain modules
//! and domain results back into protocol messages.

mod capabilities;
mod cloud;
mod commands;
mod conversations;
mod documents;
pub mod ext;
mod issues;
mod panic_guard;
mod progress;
mod relay;
mod review;
mod server;
mod test_hooks;
mod transport;

use std::sync::atomic::Ordering;
use std::time::Duration;

use tower_lsp_server::{LspService, Server};

pub use commands::ALL as COMMANDS;

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

/// Resolves when SIGTERM, SIGHUP or SIGINT arrives, with its name; never if no handler can be installed.
async fn termination() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hup), Ok(mut int)) =
        (signal(SignalKind::terminate()), signal(SignalKind::hangup()), signal(SignalKind::interrupt()))
    else {
        tracing::warn!("cannot handle termination signals: they end the server without its cleanup");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = hup.recv() => "SIGHUP",
        _ = int.recv() => "SIGINT",
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
        let shared = server::Shared::new(&client, log_rx);
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
        signal = termination() => tracing::info!("{signal}: shutting down"),
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
