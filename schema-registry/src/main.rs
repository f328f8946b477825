//! `lms-schema-registry`: the schema registry binary.

use anyhow::Context;
use lms_runtime::{database, settings, shutdown, telemetry, Settings};
use lms_schema_registry::config::Config;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if settings::print_requested() {
        Config::print_names();
        return Ok(());
    }
    let config = Config::load()?;
    telemetry::init_tracing(&config.log, config.log_format);

    let pool = database::connect(&config.database_url, config.db_max_connections).await?;
    lms_schema_registry::migrate(&pool)
        .await
        .context("migrating the schema registry tables")?;

    let listener = TcpListener::bind(&config.http_addr)
        .await
        .with_context(|| format!("binding HTTP on {}", config.http_addr))?;
    tracing::info!(http = %config.http_addr, default_compatibility = %config.default_compatibility, "lms-schema-registry listening");
    lms_schema_registry::serve(&config, pool, listener, shutdown::on_signals()).await?;
    tracing::info!("lms-schema-registry stopped");
    Ok(())
}
