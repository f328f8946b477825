//! The event store on Postgres: postgres-es reads, our own append (events,
//! snapshot and command-log row in one transaction), and the command log.

mod command_log;
mod event_repository;

pub use command_log::{CommandLog, CommandRecord, Completion};
pub use event_repository::{EventRepository, COMPLETION_KEY, OUTBOX_CHANNEL};

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

pub async fn connect(database_url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(database_url)
        .await?)
}

/// Applies the event-store migrations (idempotent; run at start-up).
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    sqlx::migrate!("./migrations").run(pool).await?;
    Ok(())
}

/// Connects, retrying for up to 30 s: Postgres may still be starting next to
/// us (Kubernetes, local scripts).
pub async fn connect_with_retry(
    database_url: &str,
    max_connections: u32,
) -> Result<PgPool, StoreError> {
    let mut attempt = 0;
    loop {
        match connect(database_url, max_connections).await {
            Ok(pool) => return Ok(pool),
            Err(e) if attempt < 30 => {
                attempt += 1;
                tracing::warn!(error = %e, attempt, "database not reachable yet");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}
