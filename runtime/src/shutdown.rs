//! One shutdown token for a process: SIGTERM / Ctrl-C cancel it, and every
//! task that must stop holds a clone.

pub use tokio_util::sync::CancellationToken as Shutdown;

/// A token cancelled on SIGTERM or Ctrl-C (the listener runs on its own task).
pub fn on_signals() -> Shutdown {
    let token = Shutdown::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let signal = signal().await;
        tracing::info!(signal, "shutting down");
        cancel.cancel();
    });
    token
}

/// Resolves on SIGTERM or Ctrl-C, naming which.
pub async fn signal() -> &'static str {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => "SIGINT",
        _ = term => "SIGTERM",
    }
}
