//! Rebuilding a read model from the event store, without downtime, and
//! verifying a live one against a fresh rebuild.
//!
//! A rebuild fills a shadow copy (schema `<schema>__rebuild`, Redis prefix
//! `<prefix>~rebuild`) through the projection's batch handler
//! ([`Projection::apply_batch`]: set-based, equal to its per-event handler;
//! per event when it fails, to name the event) while the live model keeps
//! serving, then swaps it in atomically:
//!
//! 1. note the live checkpoints (Kafka positions) — every event before them
//!    is committed in the store, so the snapshot read next contains it;
//! 2. read the store in one REPEATABLE READ snapshot, in position order,
//!    in batches (keyset on `position`: memory stays flat; the next batch
//!    is read while this one is written), one shadow transaction per batch;
//!    the `applied` sequences go in with one UNNEST per batch, Redis effects
//!    in one pipeline per batch;
//! 3. swap: lock the live checkpoint table (the live worker waits), write the
//!    noted checkpoints into the shadow, move the shadow Redis keys over the
//!    live ones, rename the schemas and drop the old one — one transaction.
//!    The worker then finds the table behind it and re-reads from the noted
//!    positions; events already in the snapshot are skipped by `applied`.

use crate::projection::{apply_each, BatchError, Projection};
use crate::redis_effects::BatchEffects;
use lms_schemas::{topic_for, DecodedEvent, SchemaError, StoredEvent};
use redis::aio::ConnectionManager;
use sqlx::{Acquire, PgConnection, PgPool, Row};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("event at position {position} cannot be read: {source}")]
    Event { position: i64, source: SchemaError },
    #[error("event at position {position} cannot be applied: {message}")]
    Apply { position: i64, message: String },
    #[error("decoding thread: {0}")]
    Decode(String),
}

/// Where a projection's copy is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub schema: String,
    pub redis_prefix: String,
}

impl Target {
    /// The rebuild's shadow of `schema` under `redis_prefix`.
    pub fn shadow(schema: &str, redis_prefix: &str, purpose: &str) -> Target {
        Target {
            schema: format!("{schema}__{purpose}"),
            redis_prefix: format!("{redis_prefix}~{purpose}"),
        }
    }
}

/// What a rebuild did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebuildReport {
    pub events: u64,
    pub aggregates: u64,
    /// The last event-store position in the snapshot.
    pub up_to_position: i64,
    pub elapsed: Duration,
    pub swapped: bool,
}

impl RebuildReport {
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Events per batch unless told otherwise: with set-based batch handlers a
/// batch costs a few statements whatever its size, so bigger is faster,
/// up to memory (a batch is held decoded) and transaction length.
pub const DEFAULT_BATCH_SIZE: i64 = 5_000;

/// Tuning and hooks of a rebuild.
pub struct Options<'a> {
    pub batch_size: i64,
    /// Called after each batch with (events done, events in the snapshot).
    pub progress: &'a (dyn Fn(u64, u64) + Sync),
}

impl Default for Options<'_> {
    fn default() -> Self {
        Self {
            batch_size: DEFAULT_BATCH_SIZE,
            progress: &|_, _| {},
        }
    }
}

/// Aggregate types whose topics the projection reads.
pub fn aggregate_types<P: Projection>(projection: &P) -> Vec<String> {
    ["Course", "Enrollment", "Subscription"]
        .into_iter()
        .filter(|t| topic_for(t).is_some_and(|topic| projection.topics().contains(&topic)))
        .map(String::from)
        .collect()
}

/// One stored event, as the worker would have received it from Kafka.
pub fn decode_stored(row: &sqlx::postgres::PgRow) -> Result<(i64, DecodedEvent), RebuildError> {
    let position: i64 = row.try_get("position")?;
    let payload: serde_json::Value = row.try_get("payload")?;
    let metadata: serde_json::Value = row.try_get("metadata")?;
    let aggregate_type: String = row.try_get("aggregate_type")?;
    let aggregate_id: String = row.try_get("aggregate_id")?;
    let event_type: String = row.try_get("event_type")?;
    let event_version: String = row.try_get("event_version")?;
    let stored = StoredEvent {
        aggregate_type: &aggregate_type,
        aggregate_id: &aggregate_id,
        sequence: row.try_get("sequence")?,
        event_type: &event_type,
        event_version: &event_version,
        payload: &payload,
        metadata: &metadata,
    };
    // What the worker decodes from the relay's Avro record, without the
    // Avro values (lms_schemas tests it equal to the round trip).
    let decoded = lms_schemas::decode_stored(&stored)
        .map_err(|source| RebuildError::Event { position, source })?;
    Ok((position, decoded))
}

/// Fills `target` (created empty first) with `projection` applied to every
/// event of the store's current snapshot. Returns the report and the live
/// checkpoints noted before the snapshot.
pub async fn fill<P: Projection>(
    projection: &P,
    pool: &PgPool,
    redis: &ConnectionManager,
    target: &Target,
    options: &Options<'_>,
) -> Result<(RebuildReport, Vec<(String, i32, i64)>), RebuildError> {
    let started = Instant::now();
    lms_readmodels::migrations::create_shadow(pool, projection.schema(), &target.schema).await?;
    clear_prefix(redis, &target.redis_prefix).await?;
    let live = projection.schema();
    // 1. Positions first: everything before them is in the snapshot below.
    let checkpoints: Vec<(String, i32, i64)> = sqlx::query_as(&format!(
        "SELECT topic, partition, next_offset FROM {live}.checkpoints WHERE projection = $1"
    ))
    .bind(projection.name())
    .fetch_all(pool)
    .await?;
    // 2. One snapshot for the whole read, on a connection of its own.
    let mut reader = pool.acquire().await?;
    let mut snapshot = reader.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *snapshot)
        .await?;
    let types = aggregate_types(projection);
    let (total, last): (i64, Option<i64>) =
        sqlx::query_as("SELECT count(*), max(position) FROM events WHERE aggregate_type = ANY($1)")
            .bind(&types)
            .fetch_one(&mut *snapshot)
            .await?;
    let mut report = RebuildReport {
        up_to_position: last.unwrap_or(0),
        ..Default::default()
    };
    let mut redis = redis.clone();
    let mut aggregates: u64 = 0;
    let size = options.batch_size;
    // Pipelined: the next batch is read and decoded while this one is written.
    let mut next = read_batch(&mut snapshot, &types, 0, size).await?;
    while let Some(batch) = next.take() {
        let after = batch.last_position;
        let (written, following) = tokio::try_join!(
            apply_batch(projection, pool, &mut redis, target, &batch),
            read_batch(&mut snapshot, &types, after, size),
        )?;
        aggregates += written;
        report.events += batch.events.len() as u64;
        (options.progress)(report.events, total.max(0) as u64);
        next = following;
    }
    snapshot.commit().await?;
    report.aggregates = aggregates;
    report.elapsed = started.elapsed();
    Ok((report, checkpoints))
}

/// A page of the snapshot, decoded.
struct Batch {
    positions: Vec<i64>,
    events: Vec<DecodedEvent>,
    last_position: i64,
}

/// The page after `after` (None past the end).
async fn read_batch(
    snapshot: &mut PgConnection,
    types: &[String],
    after: i64,
    limit: i64,
) -> Result<Option<Batch>, RebuildError> {
    // COALESCE keeps the type filter off the primary key (aggregate_type,
    // …): without fresh statistics (a store just loaded) Postgres otherwise
    // bitmap-scans every event of the types and sorts them for each page
    // (≈0.4 s a page at 150,000 events); this way it walks the position index.
    let rows = sqlx::query(
        "SELECT position, aggregate_type, aggregate_id, sequence, event_type, event_version,
                payload, metadata
           FROM events
          WHERE position > $1 AND COALESCE(aggregate_type = ANY($2), false)
          ORDER BY position
          LIMIT $3",
    )
    .bind(after)
    .bind(types)
    .bind(limit)
    .fetch_all(&mut *snapshot)
    .await?;
    let Some(last_row) = rows.last() else {
        return Ok(None);
    };
    let last_position = last_row.try_get("position")?;
    // CPU-bound: on a thread of its own, beside the write of the batch before.
    let (positions, events) = tokio::task::spawn_blocking(move || {
        rows.iter()
            .map(decode_stored)
            .collect::<Result<(Vec<_>, Vec<_>), _>>()
    })
    .await
    .map_err(|e| RebuildError::Decode(e.to_string()))??;
    Ok(Some(Batch {
        positions,
        events,
        last_position,
    }))
}

/// Applies a batch in one shadow transaction: the projection's batch handler
/// (set-based where it has one; per event if that fails, to name the event
/// at fault), `applied` in one UNNEST, the Redis effects in one pipeline
/// before the commit. Returns how many aggregates were new to the shadow.
async fn apply_batch<P: Projection>(
    projection: &P,
    pool: &PgPool,
    redis: &mut ConnectionManager,
    target: &Target,
    batch: &Batch,
) -> Result<u64, RebuildError> {
    let schema = &target.schema;
    let new_effects = || BatchEffects::new(&target.redis_prefix, projection.redis_seq_namespace());
    let mut effects = new_effects();
    let mut tx = pool.begin().await?;
    let mut outcome = projection
        .apply_batch(&mut tx, schema, &batch.events, &mut effects)
        .await;
    if let Err(BatchError { index: None, .. }) = outcome {
        // The set-based path cannot name the event: redo the batch per event.
        tx.rollback().await?;
        tx = pool.begin().await?;
        effects = new_effects();
        outcome = apply_each(projection, &mut tx, schema, &batch.events, &mut effects).await;
    }
    if let Err(e) = outcome {
        let index = e.index.unwrap_or(0);
        return Err(RebuildError::Apply {
            position: batch
                .positions
                .get(index)
                .copied()
                .unwrap_or(batch.last_position),
            message: e.error.to_string(),
        });
    }
    let mut last: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for event in &batch.events {
        let envelope = &event.envelope;
        last.insert(
            (&envelope.aggregate_type, &envelope.aggregate_id),
            envelope.sequence,
        );
    }
    let (types, ids): (Vec<&str>, Vec<&str>) = last.keys().copied().unzip();
    let sequences: Vec<i64> = last.values().copied().collect();
    let inserted: i64 = sqlx::query_scalar(&format!(
        "WITH upserted AS (
           INSERT INTO {schema}.applied AS a (projection, aggregate_type, aggregate_id, last_sequence)
           SELECT $1, t, i, s FROM UNNEST($2::text[], $3::text[], $4::bigint[]) AS u(t, i, s)
           ON CONFLICT (projection, aggregate_type, aggregate_id)
           DO UPDATE SET last_sequence = GREATEST(a.last_sequence, EXCLUDED.last_sequence), updated_at = now()
           RETURNING (xmax = 0) AS inserted)
         SELECT count(*) FILTER (WHERE inserted) FROM upserted"
    ))
    .bind(projection.name())
    .bind(&types)
    .bind(&ids)
    .bind(&sequences)
    .fetch_one(&mut *tx)
    .await?;
    effects.send(redis).await?;
    tx.commit().await?;
    Ok(inserted.max(0) as u64)
}

/// Deletes every key under `<prefix>:`.
pub async fn clear_prefix(redis: &ConnectionManager, prefix: &str) -> Result<(), RebuildError> {
    let keys = scan(redis, &format!("{prefix}:*")).await?;
    let mut redis = redis.clone();
    for chunk in keys.chunks(500) {
        let _: () = redis::cmd("DEL").arg(chunk).query_async(&mut redis).await?;
    }
    Ok(())
}

/// Every key matching `pattern` (SCAN, never KEYS).
pub async fn scan(redis: &ConnectionManager, pattern: &str) -> Result<Vec<String>, RebuildError> {
    let mut redis = redis.clone();
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1_000)
            .query_async(&mut redis)
            .await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

/// Rebuilds `projection` and swaps the result in (see the module docs).
pub async fn rebuild<P: Projection>(
    projection: &P,
    pool: &PgPool,
    redis: &ConnectionManager,
    redis_prefix: &str,
    options: &Options<'_>,
) -> Result<RebuildReport, RebuildError> {
    let live = projection.schema();
    let target = Target::shadow(live, redis_prefix, "rebuild");
    let (mut report, checkpoints) = fill(projection, pool, redis, &target, options).await?;
    swap(projection, pool, redis, redis_prefix, &target, &checkpoints).await?;
    report.swapped = true;
    report.elapsed = report.elapsed.max(Duration::from_nanos(1));
    Ok(report)
}

/// Step 3: one transaction; the live worker waits on the checkpoint lock.
async fn swap<P: Projection>(
    projection: &P,
    pool: &PgPool,
    redis: &ConnectionManager,
    redis_prefix: &str,
    target: &Target,
    checkpoints: &[(String, i32, i64)],
) -> Result<(), RebuildError> {
    let live = projection.schema();
    let shadow = &target.schema;
    let retired = format!("{live}__retired");
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {retired} CASCADE"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(&format!(
        "LOCK TABLE {live}.checkpoints IN ACCESS EXCLUSIVE MODE"
    ))
    .execute(&mut *tx)
    .await?;
    let (topics, partitions, offsets): (Vec<String>, Vec<i32>, Vec<i64>) = checkpoints.iter().fold(
        (Vec::new(), Vec::new(), Vec::new()),
        |(mut t, mut p, mut o), (topic, partition, offset)| {
            t.push(topic.clone());
            p.push(*partition);
            o.push(*offset);
            (t, p, o)
        },
    );
    sqlx::query(&format!(
        "INSERT INTO {shadow}.checkpoints (projection, topic, partition, next_offset)
         SELECT $1, t, p, o FROM UNNEST($2::text[], $3::int[], $4::bigint[]) AS u(t, p, o)"
    ))
    .bind(projection.name())
    .bind(&topics)
    .bind(&partitions)
    .bind(&offsets)
    .execute(&mut *tx)
    .await?;
    // Redis while the worker is held: its next effects go onto these keys.
    move_keys(
        redis,
        &target.redis_prefix,
        redis_prefix,
        projection.warm_marker(),
    )
    .await?;
    for statement in [
        format!("ALTER SCHEMA {live} RENAME TO {retired}"),
        format!("ALTER SCHEMA {shadow} RENAME TO {live}"),
        // Dropping in the same transaction invalidates every session's
        // cached plans on the old tables: they re-resolve to the new ones.
        format!("DROP SCHEMA {retired} CASCADE"),
    ] {
        sqlx::query(&statement).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Renames every `<from>:k` to `<to>:k`; the warm marker (if any) is removed
/// first and set again after, as the moved keys hold everything applied.
async fn move_keys(
    redis: &ConnectionManager,
    from: &str,
    to: &str,
    warm_marker: Option<&str>,
) -> Result<(), RebuildError> {
    let mut conn = redis.clone();
    if let Some(marker) = warm_marker {
        let _: () = redis::cmd("DEL")
            .arg(format!("{to}:{marker}"))
            .query_async(&mut conn)
            .await?;
    }
    let keys = scan(redis, &format!("{from}:*")).await?;
    for chunk in keys.chunks(500) {
        let mut pipe = redis::pipe();
        for key in chunk {
            let suffix = &key[from.len()..];
            pipe.cmd("RENAME")
                .arg(key)
                .arg(format!("{to}{suffix}"))
                .ignore();
        }
        let _: () = pipe.query_async(&mut conn).await?;
    }
    if let Some(marker) = warm_marker {
        let _: () = redis::cmd("SET")
            .arg(format!("{to}:{marker}"))
            .arg("1")
            .query_async(&mut conn)
            .await?;
    }
    Ok(())
}

/// One difference between the live model and a fresh rebuild.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// `catalog.courses`, or `redis <key>`.
    pub place: String,
    /// The row or value only the live model has (None: missing there).
    pub live: Option<String>,
    /// The row or value only the rebuild has.
    pub rebuilt: Option<String>,
}

/// What `verify` found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    pub rebuild: RebuildReport,
    pub tables: Vec<String>,
    pub redis_keys: u64,
    pub differences: Vec<Difference>,
    /// Aggregates the live model had applied further than the snapshot (it
    /// kept moving during the verification; differences there are expected).
    pub live_ahead: u64,
}

/// Rebuilds into `<schema>__verify` and compares it with the live model:
/// every table (the `applied` bookkeeping time, the checkpoints and the
/// parked events aside: a parked event shows as the state it lacks)
/// row for row, and every Redis key the rebuild wrote. Waits up to `settle`
/// for the live worker to reach the snapshot first.
pub async fn verify<P: Projection>(
    projection: &P,
    pool: &PgPool,
    redis: &ConnectionManager,
    redis_prefix: &str,
    settle: Duration,
    options: &Options<'_>,
) -> Result<VerifyReport, RebuildError> {
    let live = projection.schema();
    let target = Target::shadow(live, redis_prefix, "verify");
    let (rebuild, _) = fill(projection, pool, redis, &target, options).await?;
    let mut report = VerifyReport {
        rebuild,
        ..Default::default()
    };
    let shadow = &target.schema;
    let behind_sql = format!(
        "SELECT count(*) FILTER (WHERE l.last_sequence IS NULL OR l.last_sequence < v.last_sequence),
                count(*) FILTER (WHERE l.last_sequence > v.last_sequence)
           FROM {shadow}.applied v
           LEFT JOIN {live}.applied l USING (projection, aggregate_type, aggregate_id)"
    );
    let deadline = Instant::now() + settle;
    loop {
        let (behind, ahead): (i64, i64) = sqlx::query_as(&behind_sql).fetch_one(pool).await?;
        report.live_ahead = ahead.max(0) as u64;
        if behind == 0 || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
          WHERE table_schema = $1 AND table_name NOT IN ('checkpoints', 'parked')
          ORDER BY table_name",
    )
    .bind(live)
    .fetch_all(pool)
    .await?;
    for table in &tables {
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns
              WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
        )
        .bind(live)
        .bind(table)
        .fetch_all(pool)
        .await?;
        let columns: Vec<String> = columns
            .into_iter()
            // When the bookkeeping row was written is not state.
            .filter(|c| !(table == "applied" && c == "updated_at"))
            .map(|c| format!("\"{c}\""))
            .collect();
        let list = columns.join(", ");
        let diff = |a: &str, b: &str| {
            format!(
                "SELECT row_to_json(d)::text FROM (SELECT {list} FROM {a}.{table}
                  EXCEPT ALL SELECT {list} FROM {b}.{table}) d LIMIT 20"
            )
        };
        let only_live: Vec<String> = sqlx::query_scalar(&diff(live, shadow))
            .fetch_all(pool)
            .await?;
        let only_rebuilt: Vec<String> = sqlx::query_scalar(&diff(shadow, live))
            .fetch_all(pool)
            .await?;
        let place = format!("{live}.{table}");
        report
            .differences
            .extend(only_live.into_iter().map(|row| Difference {
                place: place.clone(),
                live: Some(row),
                rebuilt: None,
            }));
        report
            .differences
            .extend(only_rebuilt.into_iter().map(|row| Difference {
                place: place.clone(),
                live: None,
                rebuilt: Some(row),
            }));
    }
    report.tables = tables;
    let keys = scan(redis, &format!("{}:*", target.redis_prefix)).await?;
    report.redis_keys = keys.len() as u64;
    let mut conn = redis.clone();
    for key in keys {
        let suffix = &key[target.redis_prefix.len()..];
        let live_key = format!("{redis_prefix}{suffix}");
        let rebuilt = redis_value(&mut conn, &key).await?;
        let current = redis_value(&mut conn, &live_key).await?;
        if rebuilt != current {
            report.differences.push(Difference {
                place: format!("redis {live_key}"),
                live: current,
                rebuilt,
            });
        }
    }
    sqlx::query(&format!("DROP SCHEMA IF EXISTS {shadow} CASCADE"))
        .execute(pool)
        .await?;
    clear_prefix(redis, &target.redis_prefix).await?;
    Ok(report)
}

/// A key's value in a comparable form (strings, hashes, sorted sets).
async fn redis_value(
    redis: &mut ConnectionManager,
    key: &str,
) -> Result<Option<String>, RebuildError> {
    let kind: String = redis::cmd("TYPE").arg(key).query_async(redis).await?;
    Ok(match kind.as_str() {
        "none" => None,
        "string" => redis::cmd("GET").arg(key).query_async(redis).await?,
        "hash" => {
            let map: HashMap<String, String> =
                redis::cmd("HGETALL").arg(key).query_async(redis).await?;
            let sorted: BTreeMap<String, String> = map.into_iter().collect();
            Some(format!("{sorted:?}"))
        }
        "zset" => {
            let members: Vec<(String, f64)> = redis::cmd("ZRANGE")
                .arg(key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query_async(redis)
                .await?;
            Some(format!("{members:?}"))
        }
        other => Some(format!("<{other}>")),
    })
}
