//! `lms-bff`: the SPA's backend (HTTP/JSON on `LMS_HTTP_ADDR`).

use anyhow::Context;
use clap::{Parser, Subcommand};
use lms_bff::config::Config;
use lms_bff::server;
use lms_runtime::{redis, shutdown, telemetry, Settings};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(name = "lms-bff", about = "The LMS web app's backend (HTTP/JSON)")]
struct Cli {
    /// Print the LMS_* settings this binary reads, and exit.
    #[arg(long)]
    print_settings: bool,
    #[command(subcommand)]
    task: Option<Task>,
}

#[derive(Subcommand)]
enum Task {
    /// Print the OpenAPI document (the one served at /openapi.json), for
    /// generating the web app's types without a running server.
    Openapi,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.print_settings {
        Config::print_names();
        return Ok(());
    }
    if let Some(Task::Openapi) = cli.task {
        let doc = server::openapi()
            .to_pretty_json()
            .context("writing the OpenAPI document")?;
        println!("{doc}");
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
