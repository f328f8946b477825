//! The bench database: dropped and created afresh each run, next to (never
//! instead of) the dev database `lms`.

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::time::Duration;

/// `postgres://host/db` with another database name.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match base.rsplit_once('/') {
        Some((server, _)) if server.contains("://") && !server.ends_with('/') => server.to_string(),
        _ => base.trim_end_matches('/').to_string(),
    };
    match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    }
}

/// Drops `name` (closing its sessions) and creates it empty; returns its URL.
pub async fn recreate(server_url: &str, name: &str) -> Result<String, sqlx::Error> {
    let admin = PgPool::connect(&with_database(server_url, "postgres")).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await?;
    admin.close().await;
    Ok(with_database(server_url, name))
}

pub async fn pool(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .min_connections(max_connections.min(4))
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/lms", "lms_bench"),
            "postgres://postgres@127.0.0.1:5432/lms_bench"
        );
        assert_eq!(
            with_database("postgres://u@h/lms?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "x"),
            "postgres://u@h:5432/x"
        );
    }
}
