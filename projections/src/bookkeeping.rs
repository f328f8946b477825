//! The worker's own rows in each read-model schema: `<schema>.applied` (last
//! sequence applied per aggregate: the dedupe) and `<schema>.checkpoints`
//! (next offset per topic partition: where to resume; the truth on restart)
//! and `<schema>.parked` (events waiting behind one their handler refused).
//! All are written in the transaction that changes the read model.

use crate::projection::KafkaPosition;
use sqlx::{PgConnection, PgPool};

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

/// What to do with an event, as [`claim_batch`] decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Newer than what was applied: apply it (recorded as applied).
    Apply,
    /// Applied already (a redelivery or an older event).
    Skip,
    /// Its aggregate has a parked event: park this one behind it.
    Park,
}

/// Which of `events` (aggregate type, id, sequence; each aggregate's in
/// sequence order) to apply, skip or park, recording the last applied of
/// each aggregate. Rows are created first, in key order, so every aggregate
/// of the batch is locked until the transaction ends: two workers that
/// briefly share a partition serialise instead of both applying an
/// aggregate's first event, and a redrive emptying an aggregate's parked
/// events (it takes the same lock) is seen whole or not at all.
pub async fn claim_batch(
    tx: &mut PgConnection,
    schema: &str,
    projection: &str,
    events: &[(&str, &str, i64)],
) -> Result<Vec<Claim>, sqlx::Error> {
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
    let parked: std::collections::HashSet<(String, String)> = sqlx::query_as(&format!(
        "SELECT DISTINCT aggregate_type, aggregate_id FROM {schema}.parked
          WHERE projection = $1
            AND (aggregate_type, aggregate_id) IN (SELECT * FROM UNNEST($2::text[], $3::text[]))"
    ))
    .bind(projection)
    .bind(&types)
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let mut last: std::collections::HashMap<(String, String), i64> =
        rows.into_iter().map(|(t, i, s)| ((t, i), s)).collect();
    let mut claims = Vec::with_capacity(events.len());
    for (t, i, sequence) in events {
        let key = (t.to_string(), i.to_string());
        let at = last.entry(key.clone()).or_insert(0);
        claims.push(if *sequence <= *at {
            Claim::Skip
        } else if parked.contains(&key) {
            Claim::Park
        } else {
            *at = *sequence;
            Claim::Apply
        });
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
    Ok(claims)
}

/// An event to park: where it was read, its bytes, and why.
#[derive(Debug, Clone, Copy)]
pub struct ToPark<'a> {
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub sequence: i64,
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub payload: &'a [u8],
    pub reason: &'a str,
}

/// Parks an event (a redelivery of one already parked changes nothing).
/// The caller holds the aggregate's `applied` row ([`claim_batch`] or
/// [`lock_aggregate`]).
pub async fn park(
    tx: &mut PgConnection,
    schema: &str,
    projection: &str,
    event: &ToPark<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO {schema}.parked
           (projection, aggregate_type, aggregate_id, sequence, topic, partition, kafka_offset, payload, reason)
         VALUES ($1, $2, $3, $4, $5, $6::int, $7, $8, $9)
         ON CONFLICT (projection, aggregate_type, aggregate_id, sequence) DO NOTHING"
    ))
    .bind(projection)
    .bind(event.aggregate_type)
    .bind(event.aggregate_id)
    .bind(event.sequence)
    .bind(event.topic)
    .bind(event.partition)
    .bind(event.offset)
    .bind(event.payload)
    .bind(event.reason)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Locks an aggregate's `applied` row (creating it at 0) for this
/// transaction and returns the last sequence applied.
pub async fn lock_aggregate(
    tx: &mut PgConnection,
    schema: &str,
    projection: &str,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO {schema}.applied (projection, aggregate_type, aggregate_id, last_sequence)
         VALUES ($1, $2, $3, 0)
         ON CONFLICT (projection, aggregate_type, aggregate_id) DO NOTHING"
    ))
    .bind(projection)
    .bind(aggregate_type)
    .bind(aggregate_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query_scalar(&format!(
        "SELECT last_sequence FROM {schema}.applied
          WHERE projection = $1 AND aggregate_type = $2 AND aggregate_id = $3
            FOR UPDATE"
    ))
    .bind(projection)
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_one(&mut *tx)
    .await
}

/// Records `sequence` as the last applied of a locked aggregate.
pub async fn set_applied(
    tx: &mut PgConnection,
    schema: &str,
    projection: &str,
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE {schema}.applied SET last_sequence = $4, updated_at = now()
          WHERE projection = $1 AND aggregate_type = $2 AND aggregate_id = $3
            AND last_sequence < $4"
    ))
    .bind(projection)
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(sequence)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A parked event, as the redrive reads it back.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Parked {
    pub sequence: i64,
    pub payload: Vec<u8>,
    pub reason: String,
}

/// The aggregates with parked events (type, id, how many), oldest first.
pub async fn parked_aggregates(
    pool: &PgPool,
    schema: &str,
    projection: &str,
) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT aggregate_type, aggregate_id, count(*)::bigint FROM {schema}.parked
          WHERE projection = $1
          GROUP BY aggregate_type, aggregate_id
          ORDER BY min(parked_at), aggregate_type, aggregate_id"
    ))
    .bind(projection)
    .fetch_all(pool)
    .await
}

/// An aggregate's parked events in sequence order (its row locked by the caller).
pub async fn parked_events(
    tx: &mut PgConnection,
    schema: &str,
    projection: &str,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Vec<Parked>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT sequence, payload, reason FROM {schema}.parked
          WHERE projection = $1 AND aggregate_type = $2 AND aggregate_id = $3
          ORDER BY sequence"
    ))
    .bind(projection)
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_all(&mut *tx)
    .await
}

/// Removes an aggregate's parked events up to `through` (applied now).
pub async fn unpark(
    tx: &mut PgConnection,
    schema: &str,
    projection: &str,
    aggregate_type: &str,
    aggregate_id: &str,
    through: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "DELETE FROM {schema}.parked
          WHERE projection = $1 AND aggregate_type = $2 AND aggregate_id = $3 AND sequence <= $4"
    ))
    .bind(projection)
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(through)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Replaces the reason of a parked event (the redrive's latest failure).
pub async fn set_parked_reason(
    pool: &PgPool,
    schema: &str,
    projection: &str,
    (aggregate_type, aggregate_id, sequence): (&str, &str, i64),
    reason: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE {schema}.parked SET reason = $5
          WHERE projection = $1 AND aggregate_type = $2 AND aggregate_id = $3 AND sequence = $4"
    ))
    .bind(projection)
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(sequence)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(())
}

/// How many events of a projection are parked.
pub async fn parked_count(
    pool: &PgPool,
    schema: &str,
    projection: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT count(*)::bigint FROM {schema}.parked WHERE projection = $1"
    ))
    .bind(projection)
    .fetch_one(pool)
    .await
}
