//! The worker's own rows in each read-model schema: `<schema>.applied` (last
//! sequence applied per aggregate: the dedupe) and `<schema>.checkpoints`
//! (next offset per topic partition: where to resume; the truth on restart).
//! Both are written in the transaction that changes the read model.

use crate::projection::KafkaPosition;
use sqlx::{PgConnection, PgPool};

/// Records `sequence` as applied for the aggregate unless it (or a later one)
/// already was; true if the caller should apply the event. The row stays
/// locked until the transaction ends.
pub async fn claim(
    tx: &mut PgConnection,
    schema: &str,
    projection: &str,
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: i64,
) -> Result<bool, sqlx::Error> {
    let claimed: Option<i32> = sqlx::query_scalar(&format!(
        "INSERT INTO {schema}.applied AS a (projection, aggregate_type, aggregate_id, last_sequence)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (projection, aggregate_type, aggregate_id)
         DO UPDATE SET last_sequence = EXCLUDED.last_sequence, updated_at = now()
         WHERE a.last_sequence < EXCLUDED.last_sequence
         RETURNING 1"
    ))
    .bind(projection)
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(sequence)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(claimed.is_some())
}

/// Moves the checkpoint to just after `position` (never backwards).
pub async fn advance(
    tx: &mut PgConnection,
    schema: &str,
    projection: &str,
    position: &KafkaPosition,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO {schema}.checkpoints AS c (projection, topic, partition, next_offset)
         VALUES ($1, $2, $3::int, $4::bigint)
         ON CONFLICT (projection, topic, partition)
         DO UPDATE SET next_offset = GREATEST(c.next_offset, EXCLUDED.next_offset), updated_at = now()"
    ))
    .bind(projection)
    .bind(&position.topic)
    .bind(position.partition)
    .bind(position.offset + 1)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Moves a partition's checkpoint from `from` back to `to`, unless another
/// worker moved it meanwhile (the only way back besides a rebuild's swap).
pub async fn move_back(
    pool: &PgPool,
    schema: &str,
    projection: &str,
    (topic, partition): &(String, i32),
    from: i64,
    to: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE {schema}.checkpoints SET next_offset = $5::bigint, updated_at = now()
          WHERE projection = $1 AND topic = $2 AND partition = $3::int AND next_offset = $4::bigint"
    ))
    .bind(projection)
    .bind(topic)
    .bind(*partition)
    .bind(from)
    .bind(to)
    .execute(pool)
    .await?;
    Ok(())
}

/// Locks the checkpoint row of a partition for this transaction and returns
/// its next offset (None: never checkpointed). Serialises two workers that
/// briefly both hold a partition during a rebalance, and shows a rewind.
pub async fn lock_checkpoint(
    tx: &mut PgConnection,
    schema: &str,
    projection: &str,
    topic: &str,
    partition: i32,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT next_offset::bigint FROM {schema}.checkpoints
          WHERE projection = $1 AND topic = $2 AND partition = $3::int
            FOR UPDATE"
    ))
    .bind(projection)
    .bind(topic)
    .bind(partition)
    .fetch_optional(&mut *tx)
    .await
}

/// Every checkpoint of a projection: (topic, partition) → next offset.
pub async fn checkpoints(
    conn: &mut PgConnection,
    schema: &str,
    projection: &str,
) -> Result<Vec<(String, i32, i64)>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT topic, partition, next_offset::bigint FROM {schema}.checkpoints WHERE projection = $1"
    ))
    .bind(projection)
    .fetch_all(&mut *conn)
    .await
}

/// Whether this projection has any checkpoint (false: it starts from the first offset).
pub async fn has_checkpoints(
    pool: &PgPool,
    schema: &str,
    projection: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT EXISTS (SELECT 1 FROM {schema}.checkpoints WHERE projection = $1)"
    ))
    .bind(projection)
    .fetch_one(pool)
    .await
}
