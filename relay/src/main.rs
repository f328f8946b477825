//! `lms-relay`: publishes the transactional outbox to Kafka.

use anyhow::Context;
use lms_commands::store;
use lms_relay::{self as relay, RelayConfig};
use lms_runtime::{database, settings, shutdown, telemetry, Settings};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if settings::print_requested() {
        RelayConfig::print_names();
        return Ok(());
    }
    let config = RelayConfig::load()?;
    telemetry::init_tracing(&config.log, config.log_format);
    let pool = database::connect(&config.database_url, config.db_max_connections).await?;
    store::migrate(&pool)
        .await
        .context("migrating the event store")?;
    let metrics = TcpListener::bind(&config.metrics_addr)
        .await
        .with_context(|| format!("binding metrics on {}", config.metrics_addr))?;
    let shutdown = shutdown::on_signals();
    let metrics_server = tokio::spawn(telemetry::serve_metrics(metrics, shutdown.clone()));
    tracing::info!(brokers = %config.kafka_brokers, registry = %config.schema_registry_url, "lms-relay starting");
    let result = relay::run(&config, pool, shutdown.clone().cancelled_owned()).await;
    shutdown.cancel();
    let _ = metrics_server.await;
    result.context("relay failed")
}
