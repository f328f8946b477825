//! Our `PersistedEventRepository`: reads delegate to postgres-es; the append is
//! ours so that one transaction holds the events (each with its own UUIDv7
//! event id), the snapshot and the command-log row. See
//! docs/adr/0001-event-store-append.md.

use super::command_log::Completion;
use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// The rows one `persist` appends: its events (each with its own UUIDv7
/// event id and an outbox row) and, with a completion, the command-log row.
struct Append {
    aggregate_ids: Vec<String>,
    sequences: Vec<i64>,
    event_types: Vec<String>,
    event_versions: Vec<String>,
    payloads: Vec<Value>,
    metadata: Vec<Value>,
    event_ids: Vec<Uuid>,
    completion: Option<Completion>,
}

impl Append {
    fn of(events: &[SerializedEvent]) -> Result<Self, PersistenceError> {
        let mut append = Append {
            aggregate_ids: Vec::with_capacity(events.len()),
            sequences: Vec::with_capacity(events.len()),
            event_types: Vec::with_capacity(events.len()),
            event_versions: Vec::with_capacity(events.len()),
            payloads: Vec::with_capacity(events.len()),
            metadata: Vec::with_capacity(events.len()),
            event_ids: Vec::with_capacity(events.len()),
            completion: None,
        };
        for event in events {
            let (mut metadata, found) = take_completion(&event.metadata)?;
            append.completion = append.completion.take().or(found);
            let event_id = Uuid::now_v7();
            if let Some(map) = metadata.as_object_mut() {
                map.insert("event_id".into(), Value::String(event_id.to_string()));
            }
            append.sequences.push(
                i64::try_from(event.sequence)
                    .map_err(|e| PersistenceError::UnknownError(Box::new(e)))?,
            );
            append.aggregate_ids.push(event.aggregate_id.clone());
            append.event_types.push(event.event_type.clone());
            append.event_versions.push(event.event_version.clone());
            append.payloads.push(event.payload.clone());
            append.metadata.push(metadata);
            append.event_ids.push(event_id);
        }
        Ok(append)
    }

    /// One statement: the events in their order (positions follow it), their
    /// outbox rows, the command-log row if any, and the relay's wake-up
    /// (NOTIFY is delivered only if the statement's transaction commits).
    /// A duplicate (aggregate, sequence) or command id fails it whole.
    fn statement<A: Aggregate>(
        &self,
    ) -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments> {
        let logged = self.completion.as_ref().map(|completion| {
            let last = (
                self.aggregate_ids
                    .last()
                    .map(String::as_str)
                    .unwrap_or_default(),
                self.sequences.last().copied().unwrap_or(0),
            );
            match &completion.reply_aggregate {
                Some((t, id, seq)) => (completion, t.as_str(), id.as_str(), *seq),
                None => (completion, A::TYPE, last.0, last.1),
            }
        });
        sqlx::query(
            "WITH appended AS (
                 INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                     event_version, payload, metadata, event_id)
                 SELECT $1, e.aggregate_id, e.sequence, e.event_type, e.event_version,
                        e.payload, e.metadata, e.event_id
                   FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[],
                               $7::jsonb[], $8::uuid[])
                        WITH ORDINALITY AS e(aggregate_id, sequence, event_type, event_version,
                                             payload, metadata, event_id, n)
                  ORDER BY e.n
                 RETURNING position),
             queued AS (INSERT INTO outbox (position) SELECT position FROM appended),
             logged AS (
                 INSERT INTO command_log (tenant_id, command_id, command_type, request_hash,
                                          aggregate_type, aggregate_id, sequence, created_id)
                 SELECT $9, $10, $11, $12, $13, $14, $15, $16 WHERE $9::text IS NOT NULL)
             SELECT pg_notify($17, '') WHERE cardinality($2::text[]) > 0",
        )
        .bind(A::TYPE)
        .bind(&self.aggregate_ids)
        .bind(&self.sequences)
        .bind(&self.event_types)
        .bind(&self.event_versions)
        .bind(&self.payloads)
        .bind(&self.metadata)
        .bind(&self.event_ids)
        .bind(logged.map(|(c, ..)| c.tenant_id.as_str()))
        .bind(logged.map(|(c, ..)| c.command_id.as_str()))
        .bind(logged.map(|(c, ..)| c.command_type.as_str()))
        .bind(logged.map(|(c, ..)| c.request_hash.as_str()))
        .bind(logged.map(|(_, t, ..)| t))
        .bind(logged.map(|(_, _, id, _)| id))
        .bind(logged.map(|(.., seq)| seq))
        .bind(logged.map(|(c, ..)| c.created_id.as_str()))
        .bind(OUTBOX_CHANNEL)
    }
}

/// Metadata key under which the executor passes a [`Completion`] to `persist`.
/// It is taken out of the stored metadata.
pub const COMPLETION_KEY: &str = "_completion";

/// Postgres NOTIFY channel signalled when outbox rows are committed.
pub const OUTBOX_CHANNEL: &str = "lms_outbox";

pub struct EventRepository {
    reads: PostgresEventRepository,
    pool: PgPool,
}

impl EventRepository {
    pub fn new(pool: PgPool) -> Self {
        Self {
            reads: PostgresEventRepository::new(pool.clone()),
            pool,
        }
    }
}

fn to_persistence(err: sqlx::Error) -> PersistenceError {
    match &err {
        sqlx::Error::Database(db) if db.code().as_deref() == Some("23505") => {
            PersistenceError::OptimisticLockError
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed => PersistenceError::ConnectionError(Box::new(err)),
        _ => PersistenceError::UnknownError(Box::new(err)),
    }
}

/// Splits the completion record out of an event's metadata.
fn take_completion(metadata: &Value) -> Result<(Value, Option<Completion>), PersistenceError> {
    let mut metadata = metadata.clone();
    let completion = match metadata
        .as_object_mut()
        .and_then(|m| m.remove(COMPLETION_KEY))
    {
        Some(Value::String(raw)) => Some(serde_json::from_str(&raw)?),
        _ => None,
    };
    Ok((metadata, completion))
}

impl PersistedEventRepository for EventRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.reads.get_events::<A>(aggregate_id).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.reads
            .get_last_events::<A>(aggregate_id, last_sequence)
            .await
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        self.reads.get_snapshot::<A>(aggregate_id).await
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        let append = Append::of(events)?;
        let Some((aggregate_id, payload, current_snapshot)) = snapshot_update else {
            // One statement is one transaction: the common case costs one
            // round trip instead of BEGIN, an insert per event, the notify,
            // the command-log insert and COMMIT.
            return append
                .statement::<A>()
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err(to_persistence);
        };
        let mut tx = self.pool.begin().await.map_err(to_persistence)?;
        append
            .statement::<A>()
            .execute(&mut *tx)
            .await
            .map_err(to_persistence)?;
        let last_sequence = append.sequences.last().copied().unwrap_or(0);
        let current = i64::try_from(current_snapshot)
            .map_err(|e| PersistenceError::UnknownError(Box::new(e)))?;
        let result = if current_snapshot <= 1 {
            sqlx::query(
                "INSERT INTO snapshots (aggregate_type, aggregate_id, last_sequence, current_snapshot, payload)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(A::TYPE)
            .bind(&aggregate_id)
            .bind(last_sequence)
            .bind(current)
            .bind(&payload)
            .execute(&mut *tx)
            .await
        } else {
            sqlx::query(
                "UPDATE snapshots SET last_sequence = $3, current_snapshot = $4, payload = $6
                  WHERE aggregate_type = $1 AND aggregate_id = $2 AND current_snapshot = $5",
            )
            .bind(A::TYPE)
            .bind(&aggregate_id)
            .bind(last_sequence)
            .bind(current)
            .bind(current - 1)
            .bind(&payload)
            .execute(&mut *tx)
            .await
        }
        .map_err(to_persistence)?;
        // Checked before commit (postgres-es checks after), so a lost
        // snapshot race rolls the events back too.
        if result.rows_affected() != 1 {
            return Err(PersistenceError::OptimisticLockError);
        }
        tx.commit().await.map_err(to_persistence)
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        self.reads.stream_events::<A>(aggregate_id).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.reads.stream_all_events::<A>().await
    }
}
