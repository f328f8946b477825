//! `lms-relay`: publishes the transactional outbox to Kafka (the default),
//! or lists and retries the events it gave up on.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use lms_commands::store;
use lms_relay::{self as relay, OutboxStore, RelayConfig};
use lms_runtime::{database, shutdown, telemetry, Settings};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(name = "lms-relay", about = "Publishes the LMS event outbox to Kafka")]
struct Cli {
    /// Print the environment variables read, one per line, and exit.
    #[arg(long)]
    print_settings: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Publish the outbox until SIGTERM / Ctrl-C (what no command does too).
    Run,
    /// List the events the relay gave up on, with what waits behind each.
    DeadLetters,
    /// Let the relay try a dead letter again (after fixing its cause).
    RetryDeadLetter {
        /// Its outbox position (the first column of `dead-letters`).
        position: i64,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.print_settings {
        RelayConfig::print_names();
        return Ok(());
    }
    let config = RelayConfig::load()?;
    telemetry::init_tracing(&config.log, config.log_format);
    let pool = database::connect(&config.database_url, config.db_max_connections).await?;
    store::migrate(&pool)
        .await
        .context("migrating the event store")?;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => run(config, pool).await,
        Command::DeadLetters => {
            let letters = OutboxStore::new(pool).dead_letters().await?;
            println!("position\taggregate\tattempts\twaiting\terror");
            for d in &letters {
                println!(
                    "{}\t{} {}\t{}\t{}\t{}",
                    d.position, d.aggregate_type, d.aggregate_id, d.attempts, d.waiting, d.error
                );
            }
            println!("{} dead letters", letters.len());
            Ok(())
        }
        Command::RetryDeadLetter { position } => {
            if !OutboxStore::new(pool).retry_dead_letter(position).await? {
                bail!("no dead letter at position {position}");
            }
            println!("dead letter {position} released: the relay tries it again");
            Ok(())
        }
    }
}

async fn run(config: RelayConfig, pool: sqlx::PgPool) -> anyhow::Result<()> {
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
