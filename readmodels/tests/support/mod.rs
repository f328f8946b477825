//! Test harness: each test gets its own fresh Postgres database (migrated).
#![allow(dead_code)]

use sqlx::PgPool;
use uuid::Uuid;

/// Server-level Postgres URL (any database); tests create their own.
pub fn admin_url() -> String {
    std::env::var("LMS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn with_database(url: &str, database: &str) -> String {
    match url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{database}"),
        None => format!("{url}/{database}"),
    }
}

pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

impl TestDb {
    /// A fresh, empty database (not migrated).
    pub async fn empty() -> TestDb {
        let name = format!("lms_test_{}", Uuid::now_v7().simple());
        let admin = PgPool::connect(&admin_url())
            .await
            .expect("connect admin database");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .expect("create test database");
        admin.close().await;
        let url = with_database(&admin_url(), &name);
        let pool = PgPool::connect(&url).await.expect("connect test database");
        TestDb { name, url, pool }
    }

    /// A fresh database with the read-model schemas.
    pub async fn create() -> TestDb {
        let db = Self::empty().await;
        lms_readmodels::migrate(&db.pool).await.expect("migrate");
        db
    }

    pub async fn drop_database(self) {
        self.pool.close().await;
        if let Ok(admin) = PgPool::connect(&admin_url()).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&admin)
            .await;
        }
    }
}
