//! Reading and marking outbox rows.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PendingEvent {
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
    pub recorded_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct OutboxStore {
    pool: PgPool,
}

impl OutboxStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Unpublished events in global position order. Within one aggregate,
    /// position order is sequence order (appends are serialized per stream).
    pub async fn pending(&self, limit: i64) -> Result<Vec<PendingEvent>, sqlx::Error> {
        sqlx::query_as(
            "SELECT e.position, e.aggregate_type, e.aggregate_id, e.sequence, e.event_type,
                    e.event_version, e.payload, e.metadata, e.recorded_at
               FROM outbox o JOIN events e ON e.position = o.position
              WHERE o.published_at IS NULL
              ORDER BY o.position
              LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await
    }

    pub async fn mark_published(&self, positions: &[i64]) -> Result<(), sqlx::Error> {
        if positions.is_empty() {
            return Ok(());
        }
        sqlx::query("UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE position = ANY($1)")
            .bind(positions)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn mark_failed(&self, position: i64, error: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE position = $1",
        )
        .bind(position)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn backlog(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(&self.pool)
            .await
    }
}
