//! `lms-query`: the query service binary (lms.query.v1).

use anyhow::Context;
use lms_readmodels::config::Config;
use lms_readmodels::{migrate, server, shutdown, telemetry};
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

    let pool = retry("Postgres", || {
        server::connect_postgres(&config.database_url, config.db_max_connections)
    })
    .await?;
    migrate(&pool).await.context("migrating the read models")?;
    let redis = retry("Redis", || server::connect_redis(&config.redis_url)).await?;

    let grpc = TcpListener::bind(&config.grpc_addr)
        .await
        .with_context(|| format!("binding gRPC on {}", config.grpc_addr))?;
    let metrics = TcpListener::bind(&config.metrics_addr)
        .await
        .with_context(|| format!("binding metrics on {}", config.metrics_addr))?;
    tracing::info!(grpc = %config.grpc_addr, metrics = %config.metrics_addr, "lms-query listening");
    server::serve(
        &config,
        pool,
        redis,
        grpc,
        Some(metrics),
        shutdown::signal(),
    )
    .await?;
    tracing::info!("lms-query stopped");
    Ok(())
}

/// Connects with a few retries: Postgres and Redis may start after us.
async fn retry<T, E, F, Fut>(what: &str, mut connect: F) -> anyhow::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut delay = Duration::from_millis(250);
    for attempt in 1.. {
        match connect().await {
            Ok(value) => return Ok(value),
            Err(e) if attempt < 10 => {
                tracing::warn!(error = %e, attempt, "{what} not reachable yet; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e).with_context(|| format!("connecting to {what}")),
        }
    }
    unreachable!("the retry loop returns")
}
