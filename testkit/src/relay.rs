//! The relay in-process, with a test's own topic prefix, and waiting for
//! the outbox to drain.

use crate::background::Background;
use crate::db::TestDb;
use lms_relay::{self as relay, RelayConfig};
use sqlx::PgPool;
use std::time::{Duration, Instant};

/// Relay settings for a test: its own topic prefix, 3 partitions, quick polls.
pub fn relay_config(db: &TestDb, brokers: &str, registry_url: &str) -> RelayConfig {
    RelayConfig {
        database_url: db.secret_url(),
        kafka_brokers: brokers.to_string(),
        schema_registry_url: registry_url.to_string(),
        schema_registry_user: crate::registry::ADMIN_USER.into(),
        schema_registry_password: crate::registry::ADMIN_PASSWORD.into(),
        topic_prefix: crate::topic_prefix(),
        topic_partitions: 3,
        delivery_timeout_ms: 30_000,
        poll_interval_ms: 100,
        ..Default::default()
    }
}

/// The relay running in-process; stopped on `stop()` or when dropped.
pub struct Relay(Background<Result<(), relay::RelayError>>);

impl Relay {
    pub fn start(config: &RelayConfig, pool: &PgPool) -> Relay {
        let (config, pool) = (config.clone(), pool.clone());
        Relay(Background::spawn(|stop| async move {
            relay::run(&config, pool, stop.cancelled_owned()).await
        }))
    }

    /// Stops it; what `relay::run` returned.
    pub async fn stop(self) -> Result<(), relay::RelayError> {
        self.0.stop("relay").await
    }
}

/// Outbox rows not yet published.
pub async fn backlog(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(pool)
        .await
        .expect("outbox backlog")
}

/// Waits until the relay published every outbox row; panics with a few of
/// the rows' last errors when it does not in time.
pub async fn wait_for_empty_outbox(pool: &PgPool, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let left = backlog(pool).await;
        if left == 0 {
            return;
        }
        if Instant::now() >= deadline {
            let errors: Vec<(i64, i32, Option<String>)> = sqlx::query_as(
                "SELECT position, attempts, last_error FROM outbox WHERE published_at IS NULL LIMIT 3",
            )
            .fetch_all(pool)
            .await
            .expect("outbox rows");
            panic!("{left} events still unpublished, e.g. {errors:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
