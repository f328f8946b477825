//! `lms-schema-registry`: the schema registry binary.

use anyhow::Context;
use lms_schema_registry::{config::Config, telemetry};
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
    lms_schema_registry::migrate(&pool)
        .await
        .context("migrating the schema registry tables")?;

    let listener = TcpListener::bind(&config.http_addr)
        .await
        .with_context(|| format!("binding HTTP on {}", config.http_addr))?;
    tracing::info!(http = %config.http_addr, default_compatibility = %config.default_compatibility, "lms-schema-registry listening");
    lms_schema_registry::serve(&config, pool, listener, shutdown_signal()).await?;
    tracing::info!("lms-schema-registry stopped");
    Ok(())
}

/// Postgres may still be starting next to us (k8s, local scripts).
async fn connect_with_retry(config: &Config) -> anyhow::Result<sqlx::PgPool> {
    let mut attempt = 0;
    loop {
        match lms_schema_registry::connect(&config.database_url, config.db_max_connections).await {
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
