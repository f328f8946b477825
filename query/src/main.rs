//! `lms-query`: the query service binary (lms.query.v1).

use anyhow::Context;
use lms_query::config::Config;
use lms_query::server;
use lms_readmodels::migrate;
use lms_runtime::auth::Verifier;
use lms_runtime::{database, redis, settings, shutdown, telemetry, Settings};
use std::time::Duration;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if settings::print_requested() {
        Config::print_names();
        return Ok(());
    }
    let config = Config::load()?;
    telemetry::init_tracing(&config.log, config.log_format);

    let pool = database::connect_with(
        database::service_options(&config.database_url, config.db_statement_timeout_ms)?,
        config.db_max_connections,
    )
    .await?;
    migrate(&pool).await.context("migrating the read models")?;
    let redis = redis::connect(&config.redis_url)
        .await
        .context("connecting to Redis")?;

    let grpc = TcpListener::bind(&config.grpc_addr)
        .await
        .with_context(|| format!("binding gRPC on {}", config.grpc_addr))?;
    let metrics = TcpListener::bind(&config.metrics_addr)
        .await
        .with_context(|| format!("binding metrics on {}", config.metrics_addr))?;
    let shutdown = shutdown::on_signals();
    let verifier = Verifier::start(
        &config.auth_jwks,
        &config.token_issuer,
        &config.token_audience,
        Duration::from_secs(config.jwks_refresh_secs),
        &shutdown,
    )
    .await
    .context("reading the token keys (LMS_AUTH_JWKS)")?;
    tracing::info!(grpc = %config.grpc_addr, metrics = %config.metrics_addr, "lms-query listening");
    server::serve(
        &config,
        pool,
        redis,
        verifier,
        grpc,
        Some(metrics),
        shutdown,
    )
    .await?;
    tracing::info!("lms-query stopped");
    Ok(())
}
