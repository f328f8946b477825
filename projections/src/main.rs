//! `lms-projections`: runs the projection workers (`run`) or re-applies a
//! projection's dead letters (`redrive-dlq`).

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use lms_projections::workers::{self, ProjectionId};
use lms_projections::{Config, Services};
use lms_runtime::{database, shutdown, telemetry, Settings};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

#[derive(Parser)]
#[command(
    name = "lms-projections",
    about = "Projection workers of the LMS read models"
)]
struct Cli {
    /// Print the environment variables read, one per line, and exit.
    #[arg(long)]
    print_settings: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run projection workers until SIGTERM / Ctrl-C.
    Run {
        /// Only these projections (repeatable); default: all.
        #[arg(long = "projection")]
        projections: Vec<ProjectionId>,
    },
    /// Re-apply the dead letters of one projection.
    RedriveDlq { projection: ProjectionId },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.print_settings {
        Config::print_names();
        return Ok(());
    }
    let Some(command) = cli.command else {
        bail!("a command is needed: run | redrive-dlq <projection> (see --help)");
    };
    let config = Config::load()?;
    telemetry::init_tracing(&config.log, config.log_format);
    // Asynchronous commit: a worker's transaction no longer waits for its
    // WAL flush (one flush per record capped a worker at ~260 records/s).
    // A Postgres crash may lose the last few hundred ms of read-model
    // transactions, rows and checkpoints together; the worker then finds
    // the table behind Kafka and reads those records again (Redis skips
    // what it already has), so nothing is lost or counted twice.
    let options = database::options(&config.database_url)?.options([("synchronous_commit", "off")]);
    let pool = database::connect_with(options, config.db_max_connections).await?;
    lms_readmodels::migrate(&pool)
        .await
        .context("migrating the read-model schemas")?;
    let services = Services::connect(&config, pool)
        .await
        .context("connecting to Redis / Kafka")?;
    match command {
        Command::Run { projections } => run(&config, &services, projections).await,
        Command::RedriveDlq { projection } => {
            let report = workers::redrive_by_id(projection, &services, &shutdown::on_signals())
                .await
                .context("redrive failed")?;
            println!(
                "{projection}: parked: applied {}, still parked {}; DLQ: applied {}, skipped {}, failed again {}, other projections {}",
                report.unparked, report.still_parked, report.applied, report.skipped, report.failed, report.other
            );
            Ok(())
        }
    }
}

async fn run(
    config: &Config,
    services: &Services,
    selected: Vec<ProjectionId>,
) -> anyhow::Result<()> {
    let ids: Vec<ProjectionId> = if selected.is_empty() {
        ProjectionId::ALL.to_vec()
    } else {
        selected
    };
    let metrics = TcpListener::bind(&config.metrics_addr)
        .await
        .with_context(|| format!("binding metrics on {}", config.metrics_addr))?;
    let stop = shutdown::on_signals();
    let metrics_server = tokio::spawn(telemetry::serve_metrics(metrics, stop.clone()));
    let mut set = JoinSet::new();
    for id in &ids {
        workers::spawn(*id, services, &stop, &mut set);
    }
    let names: Vec<&str> = ids.iter().map(|id| id.as_str()).collect();
    tracing::info!(projections = ?names, "lms-projections running");
    let mut failure = None;
    tokio::select! {
        _ = stop.cancelled() => {},
        Some(ended) = set.join_next() => {
            failure = Some(format!("a worker ended: {ended:?}"));
        }
    }
    stop.cancel();
    while let Some(ended) = set.join_next().await {
        if let Ok(Err(e)) | Err(e) =
            ended.map_err(|e| lms_projections::WorkerError::Setup(e.to_string()))
        {
            tracing::error!(error = %e, "worker failed");
        }
    }
    let _ = metrics_server.await;
    match failure {
        Some(f) => bail!(f),
        None => Ok(()),
    }
}
