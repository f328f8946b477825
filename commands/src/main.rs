//! `lms-commands`: the command service binary.

use anyhow::Context;
use lms_commands::config::Config;
use lms_commands::{server, store, telemetry};
use std::time::Duration;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--print-settings") {
        for name in Config::settings() {
            println!("{name}");
        }
        return Ok(());
    }
    let config = Config::load().context("reading LMS_* settings")?;
    telemetry::init_tracing(&config.log, &config.log_format);

    let pool = connect_with_retry(&config).await?;
    store::migrate(&pool)
        .await
        .context("migrating the event store")?;

    let grpc = TcpListener::bind(&config.grpc_addr)
        .await
        .with_context(|| format!("binding gRPC on {}", config.grpc_addr))?;
    let metrics = TcpListener::bind(&config.metrics_addr)
        .await
        .with_context(|| format!("binding metrics on {}", config.metrics_addr))?;
    tracing::info!(grpc = %config.grpc_addr, metrics = %config.metrics_addr, "lms-commands listening");
    server::serve(&config, pool, grpc, Some(metrics), shutdown_signal()).await?;
    tracing::info!("lms-commands stopped");
    Ok(())
}

/// Postgres may still be starting next to us (k8s, local scripts).
async fn connect_with_retry(config: &Config) -> anyhow::Result<sqlx::PgPool> {
    let mut attempt = 0;
    loop {
        match store::connect(&config.database_url, config.db_max_connections).await {
            Ok(pool) => return Ok(pool),
            Err(e) if attempt < 30 => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "database not reachable yet");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e).context("connecting to the database"),
        }
    }
}

async fn shutdown_signal() {
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
        _ = ctrl_c => {},
        _ = term => {},
    }
}
