//! Reading and marking outbox rows, and the relay's dead letters.

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

/// An outbox row the relay gave up on (`outbox_dead_letters`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeadLetter {
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub error: String,
    pub attempts: i32,
    /// Later events of the same aggregate waiting behind it.
    pub waiting: i64,
}

#[derive(Clone)]
pub struct OutboxStore {
    pool: PgPool,
}

impl OutboxStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Unpublished events in global position order, at most `limit` rows
    /// and about `max_bytes` of stored payload and metadata (always at least
    /// one row), passing over every aggregate that has a dead letter (its
    /// events wait behind it). Within one aggregate, position order is
    /// sequence order (appends are serialized per stream). `in_flight`
    /// (ascending, sent and not yet marked) is passed over; a row that
    /// committed after they were read can sit below the last of them.
    pub async fn pending(
        &self,
        limit: i64,
        max_bytes: i64,
        in_flight: &[i64],
    ) -> Result<Vec<PendingEvent>, sqlx::Error> {
        sqlx::query_as(
            "SELECT position, aggregate_type, aggregate_id, sequence, event_type,
                    event_version, payload, metadata, recorded_at
               FROM (SELECT p.*, sum(p.bytes) OVER (ORDER BY p.position) - p.bytes AS before
                       FROM (SELECT e.*
                               FROM outbox o
                               -- OFFSET 0 keeps this a lookup per outbox row: as
                               -- a join, the planner walks the events from the
                               -- first position (published ones included).
                               CROSS JOIN LATERAL (
                                   SELECT e.position, e.aggregate_type, e.aggregate_id,
                                          e.sequence, e.event_type, e.event_version, e.payload,
                                          e.metadata, e.recorded_at,
                                          pg_column_size(e.payload)
                                            + pg_column_size(e.metadata) AS bytes
                                     FROM events e WHERE e.position = o.position OFFSET 0) e
                              WHERE o.published_at IS NULL
                                AND (o.position > $3 OR o.position <> ALL($4))
                                AND NOT EXISTS (
                                    SELECT 1 FROM outbox_dead_letters d
                                     WHERE d.aggregate_type = e.aggregate_type
                                       AND d.aggregate_id = e.aggregate_id)
                              ORDER BY o.position
                              LIMIT $1) p) b
              WHERE b.before < $2
              ORDER BY position",
        )
        .bind(limit)
        .bind(max_bytes)
        .bind(in_flight.iter().copied().max().unwrap_or(0))
        .bind(in_flight)
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

    /// Counts a failed attempt; returns the attempts so far.
    pub async fn mark_failed(&self, position: i64, error: &str) -> Result<i32, sqlx::Error> {
        sqlx::query_scalar(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE position = $1
             RETURNING attempts",
        )
        .bind(position)
        .bind(error)
        .fetch_one(&self.pool)
        .await
    }

    /// Gives up on an event: its aggregate's events wait behind it.
    pub async fn dead_letter(
        &self,
        event: &PendingEvent,
        error: &str,
        attempts: i32,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO outbox_dead_letters (position, aggregate_type, aggregate_id, error, attempts)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (position) DO NOTHING",
        )
        .bind(event.position)
        .bind(&event.aggregate_type)
        .bind(&event.aggregate_id)
        .bind(error)
        .bind(attempts)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The dead letters, oldest first, with how many events wait behind each.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, sqlx::Error> {
        sqlx::query_as(
            "SELECT d.position, d.aggregate_type, d.aggregate_id, d.error, d.attempts,
                    (SELECT count(*) FROM outbox o JOIN events e ON e.position = o.position
                      WHERE o.published_at IS NULL AND o.position > d.position
                        AND e.aggregate_type = d.aggregate_type
                        AND e.aggregate_id = d.aggregate_id) AS waiting
               FROM outbox_dead_letters d
              ORDER BY d.position",
        )
        .fetch_all(&self.pool)
        .await
    }

    /// Lets the relay try a dead letter again (after the cause was fixed),
    /// with its attempts reset; false if there was none at `position`.
    pub async fn retry_dead_letter(&self, position: i64) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let removed = sqlx::query("DELETE FROM outbox_dead_letters WHERE position = $1")
            .bind(position)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("UPDATE outbox SET attempts = 0 WHERE position = $1")
            .bind(position)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(removed > 0)
    }

    /// Deletes published outbox rows older than `outbox` and command-log
    /// rows older than `command_log` (a zero keeps them), at most `batch`
    /// rows per statement so no lock is held long; the rows deleted.
    pub async fn prune(
        &self,
        outbox: std::time::Duration,
        command_log: std::time::Duration,
        batch: i64,
    ) -> Result<(u64, u64), sqlx::Error> {
        let outbox = self
            .delete_in_batches(
                "DELETE FROM outbox WHERE position IN (
                    SELECT position FROM outbox
                     WHERE published_at < now() - make_interval(secs => $1)
                     ORDER BY position LIMIT $2)",
                outbox,
                batch,
            )
            .await?;
        let command_log = self
            .delete_in_batches(
                "DELETE FROM command_log WHERE (tenant_id, command_id) IN (
                    SELECT tenant_id, command_id FROM command_log
                     WHERE recorded_at < now() - make_interval(secs => $1)
                     ORDER BY recorded_at LIMIT $2)",
                command_log,
                batch,
            )
            .await?;
        Ok((outbox, command_log))
    }

    /// Runs `delete` (binding `$1` the age in seconds, `$2` the batch) until
    /// it deletes fewer than `batch` rows; nothing for a zero `age`.
    async fn delete_in_batches(
        &self,
        delete: &str,
        age: std::time::Duration,
        batch: i64,
    ) -> Result<u64, sqlx::Error> {
        let mut deleted = 0;
        if age.is_zero() {
            return Ok(deleted);
        }
        loop {
            let n = sqlx::query(delete)
                .bind(age.as_secs_f64())
                .bind(batch)
                .execute(&self.pool)
                .await?
                .rows_affected();
            deleted += n;
            if n < batch as u64 {
                return Ok(deleted);
            }
        }
    }

    pub async fn backlog(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(&self.pool)
            .await
    }

    pub async fn dead_letter_count(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT count(*) FROM outbox_dead_letters")
            .fetch_one(&self.pool)
            .await
    }
}
