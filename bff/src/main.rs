//! `lms-bff`: the SPA's backend (HTTP/JSON on `LMS_HTTP_ADDR`).

use anyhow::Context;
use lms_bff::config::Config;
use lms_bff::server;
use lms_runtime::{redis, settings, shutdown, telemetry, Settings};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if settings::print_requested() {
        Config::print_names();
        return Ok(());
    }
    let config = Config::load()?;
    telemetry::init_tracing(&config.log, config.log_format);
    let redis = redis::connect(&config.redis_url)
        .await
        .context("connecting to Redis (sessions)")?;
    let state = server::state(&config, redis).context("the backend endpoints")?;
    let http = TcpListener::bind(&config.http_addr)
        .await
        .with_context(|| format!("binding HTTP on {}", config.http_addr))?;
    let metrics = TcpListener::bind(&config.metrics_addr)
        .await
        .with_context(|| format!("binding metrics on {}", config.metrics_addr))?;
    tracing::info!(http = %config.http_addr, metrics = %config.metrics_addr, "lms-bff listening");
    server::serve(state, http, Some(metrics), shutdown::on_signals()).await?;
    tracing::info!("lms-bff stopped");
    Ok(())
}
