//! Applies the read-model migrations. Their bookkeeping table lives in the
//! schema `readmodels_migrations`, so versions never collide with the event
//! store's `_sqlx_migrations` in `public` (or any other crate's).

use sqlx::PgPool;

/// Schema holding `_sqlx_migrations` of the read models.
pub const BOOKKEEPING_SCHEMA: &str = "readmodels_migrations";

/// Creates/updates the read-model schemas (idempotent; run at start-up by
/// `lms-query` and the projection workers alike).
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    lms_runtime::database::run_migrations(pool, &migrator(), Some(BOOKKEEPING_SCHEMA)).await
}

/// The migrator of the read models (each migration touches one schema and
/// names its objects `<schema>.<name>`: shadow copies rely on it).
fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("./migrations")
}

/// Replaces the identifier `from` with `to` where it stands alone (not part
/// of a longer identifier), e.g. `catalog.courses`, `SCHEMA catalog;`.
fn replace_ident(sql: &str, from: &str, to: &str) -> (String, bool) {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    let mut found = false;
    while let Some(at) = rest.find(from) {
        let before = rest[..at].chars().next_back().or(out.chars().next_back());
        let after = rest[at + from.len()..].chars().next();
        out.push_str(&rest[..at]);
        if before.is_some_and(is_ident) || after.is_some_and(is_ident) {
            out.push_str(from);
        } else {
            out.push_str(to);
            found = true;
        }
        rest = &rest[at + from.len()..];
    }
    out.push_str(rest);
    (out, found)
}

/// The DDL of every migration that touches `schema`, rewritten to create the
/// same objects (same table and index names) in `shadow`, in order.
pub fn shadow_ddl(schema: &str, shadow: &str) -> Vec<String> {
    migrator()
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .filter_map(|m| {
            let (sql, touches) = replace_ident(&m.sql, schema, shadow);
            touches.then_some(sql)
        })
        .collect()
}

/// Drops and creates `shadow`: an empty copy of `schema` as the migrations
/// define it (a rebuild fills it, then swaps it in by renaming).
pub async fn create_shadow(pool: &PgPool, schema: &str, shadow: &str) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {shadow} CASCADE"))
        .execute(&mut *tx)
        .await?;
    for ddl in shadow_ddl(schema, shadow) {
        sqlx::raw_sql(&ddl).execute(&mut *tx).await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_replaced_only_where_they_stand_alone() {
        let (sql, found) = replace_ident(
            "CREATE SCHEMA IF NOT EXISTS catalog;\nCREATE TABLE catalog.courses (x int);\nCREATE INDEX in_catalog_x ON catalog.courses (x);",
            "catalog",
            "catalog__rebuild",
        );
        assert!(found);
        assert_eq!(
            sql,
            "CREATE SCHEMA IF NOT EXISTS catalog__rebuild;\nCREATE TABLE catalog__rebuild.courses (x int);\nCREATE INDEX in_catalog_x ON catalog__rebuild.courses (x);"
        );
        assert!(!replace_ident("SELECT 1 FROM dashboard.x", "catalog", "y").1);
    }

    #[test]
    fn every_schema_has_its_shadow_ddl() {
        for schema in ["catalog", "roster", "dashboard", "billing", "users"] {
            let ddl = shadow_ddl(schema, "shadow_x");
            assert!(!ddl.is_empty(), "{schema}");
            assert!(
                ddl.iter().all(|d| !d.contains(&format!("{schema}."))),
                "{schema}"
            );
        }
    }
}
