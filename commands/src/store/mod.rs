//! The event store on Postgres: postgres-es reads, our own append (events,
//! snapshot and command-log row in one transaction), and the command log.

mod command_log;
mod event_repository;

pub use command_log::{CommandLog, CommandRecord, Completion};
pub use event_repository::{EventRepository, COMPLETION_KEY, OUTBOX_CHANNEL};

use sqlx::PgPool;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

/// Applies the event-store migrations (idempotent; run at start-up). The
/// identity service adds its own (1001 and up) to the same database, so
/// applied versions this set does not know are not an error.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    lms_runtime::database::run_migrations(pool, &migrator, None).await?;
    Ok(())
}
