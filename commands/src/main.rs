//! `lms-commands`: the command service binary.

use anyhow::Context;
use lms_commands::config::Config;
use lms_commands::{server, shutdown, store, telemetry};
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

    let pool = store::connect_with_retry(&config.database_url, config.db_max_connections).await?;
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
    server::serve(&config, pool, grpc, Some(metrics), shutdown::signal()).await?;
    tracing::info!("lms-commands stopped");
    Ok(())
}
