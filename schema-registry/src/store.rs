//! The registry's tables on Postgres (schema `schema_registry`): plain SQL,
//! no rules. `registry` decides what to call and in which transaction.

use crate::normalize::SchemaReference;
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, PgPool};

/// Key space of our advisory locks (two-int form, which does not overlap the
/// bigint locks other crates may take): "SR".
const LOCK_CLASS: i32 = 0x5352;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredSchema {
    pub id: i32,
    pub schema_type: String,
    pub schema_text: String,
    pub refs: Json<Vec<SchemaReference>>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredVersion {
    pub subject: String,
    pub version: i32,
    pub id: i32,
    pub schema_type: String,
    pub schema_text: String,
    pub refs: Json<Vec<SchemaReference>>,
}

/// Applies the registry's migrations (idempotent; run at start-up). Their
/// bookkeeping table lives in our schema too, so the event store's own
/// `_sqlx_migrations` in `public` is not disturbed.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    lms_runtime::database::run_migrations(
        pool,
        &sqlx::migrate!("./migrations"),
        Some("schema_registry"),
    )
    .await
}

/// Serializes registrations into one subject until the transaction ends.
pub async fn lock_subject(conn: &mut PgConnection, subject: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(LOCK_CLASS)
        .bind(subject)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn schema_by_id(
    db: impl PgExecutor<'_>,
    id: i32,
) -> Result<Option<StoredSchema>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, schema_type, schema_text, refs FROM schema_registry.schemas WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Where a schema is used: (subject, version), live entries unless `deleted`.
pub async fn usages_of_schema(
    db: impl PgExecutor<'_>,
    id: i32,
    deleted: bool,
) -> Result<Vec<(String, i32)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT subject, version FROM schema_registry.subject_versions
          WHERE schema_id = $1 AND ($2 OR NOT deleted) ORDER BY subject, version",
    )
    .bind(id)
    .bind(deleted)
    .fetch_all(db)
    .await
}

pub async fn subjects(db: impl PgExecutor<'_>, deleted: bool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT subject FROM schema_registry.subject_versions
          WHERE $1 OR NOT deleted ORDER BY subject",
    )
    .bind(deleted)
    .fetch_all(db)
    .await
}

/// The versions of a subject with their schemas, oldest first.
pub async fn versions(
    db: impl PgExecutor<'_>,
    subject: &str,
    deleted: bool,
) -> Result<Vec<StoredVersion>, sqlx::Error> {
    sqlx::query_as(
        "SELECT v.subject, v.version, s.id, s.schema_type, s.schema_text, s.refs
           FROM schema_registry.subject_versions v
           JOIN schema_registry.schemas s ON s.id = v.schema_id
          WHERE v.subject = $1 AND ($2 OR NOT v.deleted)
          ORDER BY v.version",
    )
    .bind(subject)
    .bind(deleted)
    .fetch_all(db)
    .await
}

/// The live (or, with `deleted`, any) version of `subject` holding the schema
/// with this fingerprint.
pub async fn version_of_fingerprint(
    db: impl PgExecutor<'_>,
    subject: &str,
    fingerprint: &str,
    deleted: bool,
) -> Result<Option<StoredVersion>, sqlx::Error> {
    sqlx::query_as(
        "SELECT v.subject, v.version, s.id, s.schema_type, s.schema_text, s.refs
           FROM schema_registry.subject_versions v
           JOIN schema_registry.schemas s ON s.id = v.schema_id
          WHERE v.subject = $1 AND s.fingerprint = $2 AND ($3 OR NOT v.deleted)
          ORDER BY v.deleted, v.version DESC
          LIMIT 1",
    )
    .bind(subject)
    .bind(fingerprint)
    .bind(deleted)
    .fetch_optional(db)
    .await
}

/// The global id of a schema, inserting it if it is new.
pub async fn upsert_schema(
    conn: &mut PgConnection,
    schema_type: &str,
    schema_text: &str,
    refs: &[SchemaReference],
    fingerprint: &str,
) -> Result<i32, sqlx::Error> {
    // ON CONFLICT DO NOTHING waits for a concurrent insert of the same
    // fingerprint (another subject) and then returns no row: read it back.
    let inserted: Option<i32> = sqlx::query_scalar(
        "INSERT INTO schema_registry.schemas (schema_type, schema_text, refs, fingerprint)
         VALUES ($1, $2, $3, $4) ON CONFLICT (fingerprint) DO NOTHING RETURNING id",
    )
    .bind(schema_type)
    .bind(schema_text)
    .bind(Json(refs))
    .bind(fingerprint)
    .fetch_optional(&mut *conn)
    .await?;
    match inserted {
        Some(id) => Ok(id),
        None => {
            sqlx::query_scalar("SELECT id FROM schema_registry.schemas WHERE fingerprint = $1")
                .bind(fingerprint)
                .fetch_one(conn)
                .await
        }
    }
}

/// Appends the next version (versions of deleted entries are not reused).
pub async fn append_version(
    conn: &mut PgConnection,
    subject: &str,
    schema_id: i32,
) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO schema_registry.subject_versions (subject, version, schema_id)
         SELECT $1, COALESCE(MAX(version), 0) + 1, $2
           FROM schema_registry.subject_versions WHERE subject = $1
         RETURNING version",
    )
    .bind(subject)
    .bind(schema_id)
    .fetch_one(conn)
    .await
}

/// Deletes versions of a subject (all when `version` is `None`): soft marks
/// them deleted, `permanent` removes them. Returns the versions affected.
pub async fn delete_versions(
    conn: &mut PgConnection,
    subject: &str,
    version: Option<i32>,
    permanent: bool,
) -> Result<Vec<i32>, sqlx::Error> {
    let sql = if permanent {
        "DELETE FROM schema_registry.subject_versions
          WHERE subject = $1 AND ($2::int IS NULL OR version = $2) RETURNING version"
    } else {
        "UPDATE schema_registry.subject_versions SET deleted = true
          WHERE subject = $1 AND ($2::int IS NULL OR version = $2) AND NOT deleted
          RETURNING version"
    };
    let mut versions: Vec<i32> = sqlx::query_scalar(sql)
        .bind(subject)
        .bind(version)
        .fetch_all(conn)
        .await?;
    versions.sort_unstable();
    Ok(versions)
}

/// The compatibility level stored for a subject (`""` is the global one).
pub async fn level(db: impl PgExecutor<'_>, subject: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT level FROM schema_registry.compatibility WHERE subject = $1")
        .bind(subject)
        .fetch_optional(db)
        .await
}

pub async fn set_level(
    db: impl PgExecutor<'_>,
    subject: &str,
    level: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO schema_registry.compatibility (subject, level) VALUES ($1, $2)
         ON CONFLICT (subject) DO UPDATE SET level = EXCLUDED.level, updated_at = now()",
    )
    .bind(subject)
    .bind(level)
    .execute(db)
    .await?;
    Ok(())
}

/// Removes a stored level, returning it.
pub async fn delete_level(
    db: impl PgExecutor<'_>,
    subject: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "DELETE FROM schema_registry.compatibility WHERE subject = $1 RETURNING level",
    )
    .bind(subject)
    .fetch_optional(db)
    .await
}
