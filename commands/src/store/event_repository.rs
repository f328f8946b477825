//! Our `PersistedEventRepository`: reads delegate to postgres-es; the append is
//! ours so that one transaction holds the events (each with its own UUIDv7
//! event id), the snapshot and the command-log row. See
//! docs/adr/0001-event-store-append.md.

use super::command_log::{self, Completion};
use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

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
        let mut tx = self.pool.begin().await.map_err(to_persistence)?;
        let mut completion = None;
        let mut last = None;
        for event in events {
            let (mut metadata, found) = take_completion(&event.metadata)?;
            completion = completion.or(found);
            let event_id = Uuid::now_v7();
            if let Some(map) = metadata.as_object_mut() {
                map.insert("event_id".into(), Value::String(event_id.to_string()));
            }
            let sequence = i64::try_from(event.sequence)
                .map_err(|e| PersistenceError::UnknownError(Box::new(e)))?;
            // The outbox row rides in the same statement, hence the same transaction.
            sqlx::query(
                "WITH appended AS (
                     INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type,
                                         event_version, payload, metadata, event_id)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     RETURNING position)
                 INSERT INTO outbox (position) SELECT position FROM appended",
            )
            .bind(A::TYPE)
            .bind(&event.aggregate_id)
            .bind(sequence)
            .bind(&event.event_type)
            .bind(&event.event_version)
            .bind(&event.payload)
            .bind(&metadata)
            .bind(event_id)
            .execute(&mut *tx)
            .await
            .map_err(to_persistence)?;
            last = Some((event.aggregate_id.as_str(), sequence));
        }
        if let Some((aggregate_id, payload, current_snapshot)) = snapshot_update {
            let (_, last_sequence) = last.unwrap_or((aggregate_id.as_str(), 0));
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
        }
        if last.is_some() {
            // Wakes the relay at commit (delivered only if the transaction commits).
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(OUTBOX_CHANNEL)
                .execute(&mut *tx)
                .await
                .map_err(to_persistence)?;
        }
        if let (Some(completion), Some((aggregate_id, sequence))) = (&completion, last) {
            command_log::insert(&mut *tx, completion, (A::TYPE, aggregate_id, sequence))
                .await
                .map_err(to_persistence)?;
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
