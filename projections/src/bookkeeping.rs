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

/// [`claim`] for a batch: which of `events` (aggregate type, id, sequence;
/// each aggregate's in sequence order) are newer than what was applied, and
/// records the last of them. Rows are created first, in key order, so
/// every aggregate of the batch is locked until the transaction ends (two
/// workers that briefly share a partition serialise instead of both
/// applying an aggregate's first event).
pub async fn claim_batch(
    tx: &mut PgConnection,
    schema: &str,
    projection: &str,
    events: &[(&str, &str, i64)],
) -> Result<Vec<bool>, sqlx::Error> {
    let mut keys: Vec<(&str, &str)> = events.iter().map(|(t, i, _)| (*t, *i)).collect();
    keys.sort_unstable();
    keys.dedup();
    let (types, ids): (Vec<&str>, Vec<&str>) = keys.iter().copied().unzip();
    sqlx::query(&format!(
        "INSERT INTO {schema}.applied (projection, aggregate_type, aggregate_id, last_sequence)
         SELECT $1, t, i, 0 FROM UNNEST($2::text[], $3::text[]) AS u(t, i) ORDER BY t, i
         ON CONFLICT (projection, aggregate_type, aggregate_id) DO NOTHING"
    ))
    .bind(projection)
    .bind(&types)
    .bind(&ids)
    .execute(&mut *tx)
    .await?;
    let rows: Vec<(String, String, i64)> = sqlx::query_as(&format!(
        "SELECT aggregate_type, aggregate_id, last_sequence FROM {schema}.applied
          WHERE projection = $1
            AND (aggregate_type, aggregate_id) IN (SELECT * FROM UNNEST($2::text[], $3::text[]))
          ORDER BY aggregate_type, aggregate_id
            FOR UPDATE"
    ))
    .bind(projection)
    .bind(&types)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut last: std::collections::HashMap<(String, String), i64> =
        rows.into_iter().map(|(t, i, s)| ((t, i), s)).collect();
    let mut fresh = Vec::with_capacity(events.len());
    for (t, i, sequence) in events {
        let at = last.entry((t.to_string(), i.to_string())).or_insert(0);
        let new = *sequence > *at;
        if new {
            *at = *sequence;
        }
        fresh.push(new);
    }
    let (mut types, mut ids, mut sequences) = (Vec::new(), Vec::new(), Vec::new());
    for ((t, i), s) in &last {
        types.push(t.as_str());
        ids.push(i.as_str());
        sequences.push(*s);
    }
    sqlx::query(&format!(
        "UPDATE {schema}.applied AS a SET last_sequence = u.s, updated_at = now()
           FROM UNNEST($2::text[], $3::text[], $4::bigint[]) AS u(t, i, s)
          WHERE a.projection = $1 AND a.aggregate_type = u.t AND a.aggregate_id = u.i
            AND a.last_sequence < u.s"
    ))
    .bind(projection)
    .bind(&types)
    .bind(&ids)
    .bind(&sequences)
    .execute(&mut *tx)
    .await?;
    Ok(fresh)
}
