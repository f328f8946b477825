//! `lms-relay`: publishes the transactional outbox to Kafka.

use anyhow::Context;
use lms_commands::relay::{self, RelayConfig};
use lms_commands::{shutdown, store, telemetry};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--print-settings") {
        for name in RelayConfig::settings() {
            println!("{name}");
        }
        return Ok(());
    }
    let config = RelayConfig::load().context("reading LMS_* settings")?;
    telemetry::init_tracing(&config.log, &config.log_format);
    let pool = store::connect_with_retry(&config.database_url, config.db_max_connections).await?;
    store::migrate(&pool)
        .await
        .context("migrating the event store")?;
    let metrics = TcpListener::bind(&config.metrics_addr)
        .await
        .with_context(|| format!("binding metrics on {}", config.metrics_addr))?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let metrics_server = tokio::spawn(telemetry::serve_metrics(metrics, stopped));
    tracing::info!(brokers = %config.kafka_brokers, registry = %config.schema_registry_url, "lms-relay starting");
    let result = relay::run(&config, pool, shutdown::signal()).await;
    let _ = stop.send(true);
    let _ = metrics_server.await;
    result.context("relay failed")
}
