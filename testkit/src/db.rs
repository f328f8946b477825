//! A database of one test's own, created fresh and dropped when the test
//! ends, also when it fails (`Drop`). Keep a failed test's database with
//! `LMS_TEST_KEEP_DB=1`.

use lms_runtime::SecretString;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use std::str::FromStr;

/// Every test database's name starts with it (`scripts/test.sh` sweeps
/// what killed runs left behind).
pub const NAME_PREFIX: &str = "lms_test_";

/// The server-level URL tests create their databases on.
pub fn admin_url() -> String {
    std::env::var("LMS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

/// `admin` pointed at `database` (query parameters kept).
pub fn url_for(admin: &str, database: &str) -> String {
    PgConnectOptions::from_str(admin)
        .expect("LMS_TEST_DATABASE_URL is a Postgres URL")
        .database(database)
        .to_url_lossy()
        .to_string()
}

/// A pool as a service opens it (its statement timeout included), for a
/// service started in-process.
pub async fn service_pool(url: &SecretString, statement_timeout_ms: u64, max: u32) -> PgPool {
    let options = lms_runtime::database::service_options(url, statement_timeout_ms)
        .expect("the service's database URL");
    lms_runtime::database::connect_with(options, max)
        .await
        .expect("the service's pool")
}

pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
    /// The server-level URL it was created on (and is dropped through).
    admin: String,
    dropped: bool,
}

impl TestDb {
    /// A fresh, empty database and a pool of 10 on it.
    pub async fn empty() -> TestDb {
        Self::empty_with(10).await
    }

    /// A fresh, empty database and a pool of `max_connections` on it.
    pub async fn empty_with(max_connections: u32) -> TestDb {
        Self::empty_on(&admin_url(), max_connections).await
    }

    /// A fresh, empty database on the server of `admin_url`.
    pub async fn empty_on(admin_url: &str, max_connections: u32) -> TestDb {
        let name = format!("{NAME_PREFIX}{}", uuid::Uuid::now_v7().simple());
        let mut admin = PgConnection::connect(admin_url)
            .await
            .expect("connect to the test Postgres (is it up? scripts/infra.sh up)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        let url = url_for(admin_url, &name);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(max_connections)
            .connect(&url)
            .await
            .expect("connect to the test database");
        TestDb {
            name,
            url,
            pool,
            admin: admin_url.to_string(),
            dropped: false,
        }
    }

    /// With the event store's tables (lms-commands' migrations), pool of 30.
    #[cfg(feature = "commands")]
    pub async fn event_store() -> TestDb {
        Self::event_store_on(&admin_url()).await
    }

    /// [`Self::event_store`] on the server of `admin_url`.
    #[cfg(feature = "commands")]
    pub async fn event_store_on(admin_url: &str) -> TestDb {
        let db = Self::empty_on(admin_url, 30).await;
        lms_commands::store::migrate(&db.pool)
            .await
            .expect("event-store migrations");
        db
    }

    /// With the read-model schemas.
    #[cfg(feature = "readmodels")]
    pub async fn read_models() -> TestDb {
        let db = Self::empty().await;
        lms_readmodels::migrate(&db.pool)
            .await
            .expect("read-model migrations");
        db
    }

    /// With the schema registry's tables.
    #[cfg(feature = "registry")]
    pub async fn registry() -> TestDb {
        let db = Self::empty().await;
        lms_schema_registry::migrate(&db.pool)
            .await
            .expect("registry migrations");
        db
    }

    /// The URL as the services' settings take it.
    pub fn secret_url(&self) -> SecretString {
        SecretString::from(self.url.clone())
    }

    /// Drops the database now (waiting for it), instead of on `Drop`.
    pub async fn drop_database(mut self) {
        self.pool.close().await;
        drop_now(&self.admin, &self.name).await;
        self.dropped = true;
    }
}

async fn drop_now(admin: &str, name: &str) {
    if let Ok(mut admin) = PgConnection::connect(admin).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await;
        let _ = admin.close().await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        if std::thread::panicking() && std::env::var_os("LMS_TEST_KEEP_DB").is_some() {
            eprintln!("test database kept: {}", self.url);
            return;
        }
        // The pool's connections belong to the test's runtime, which may be
        // single-threaded and blocked right here: drop from a thread with a
        // runtime of its own (WITH (FORCE) ends those connections).
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let dropper = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                runtime.block_on(drop_now(&admin, &name));
            }
        });
        let _ = dropper.join();
    }
}
