//! Single active relay: a session-level Postgres advisory lock held on a
//! dedicated connection. Publishing from two relays at once could reorder an
//! aggregate's events; standbys wait for the lock.

use super::RelayError;
use sqlx::{Connection, PgConnection, PgPool};
use std::time::Duration;

pub struct Leadership {
    connection: PgConnection,
}

impl Leadership {
    pub async fn acquire(pool: &PgPool, key: i64) -> Result<Leadership, RelayError> {
        let mut connection = pool.acquire().await?.detach();
        loop {
            let acquired: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut connection)
                .await?;
            if acquired {
                return Ok(Leadership { connection });
            }
            tracing::info!("another relay leads; standing by");
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// The lock lives as long as the connection; if it broke, stop publishing.
    pub async fn check(&mut self) -> Result<(), RelayError> {
        self.connection
            .ping()
            .await
            .map_err(|e| RelayError::LeadershipLost(e.to_string()))
    }
}
