//! Applies the read-model migrations. Their bookkeeping table lives in the
//! schema `readmodels_migrations`, so versions never collide with the event
//! store's `_sqlx_migrations` in `public` (or any other crate's).

use sqlx::{Connection, PgPool};

/// Schema holding `_sqlx_migrations` of the read models.
pub const BOOKKEEPING_SCHEMA: &str = "readmodels_migrations";

/// Creates/updates the read-model schemas (idempotent; run at start-up by
/// `lms-query` and the projection workers alike).
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    // A connection of its own: search_path is changed for the migrator.
    let mut conn = pool.acquire().await?.detach();
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {BOOKKEEPING_SCHEMA}"))
        .execute(&mut conn)
        .await?;
    sqlx::query(&format!("SET search_path TO {BOOKKEEPING_SCHEMA}"))
        .execute(&mut conn)
        .await?;
    let outcome = sqlx::migrate!("./migrations").run(&mut conn).await;
    let _ = conn.close().await;
    outcome
}
