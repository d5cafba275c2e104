//! The signals that end a server (SIGTERM, SIGHUP, SIGINT), for either front: an editor that ends its server with
//! one gets the same clean end as one that closes its input.

/// Resolves when SIGTERM, SIGHUP or SIGINT arrives, with its name; never if no handler can be installed.
pub async fn termination() -> &'static str {
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
