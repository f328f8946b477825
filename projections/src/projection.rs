//! What a projection is: a name, its Postgres schema, the topics it reads and
//! a handler that turns one decoded event into row changes (in the worker's
//! transaction) and Redis effects (applied atomically, only if newer); plus
//! the batch handler a rebuild uses (by default the same one, per event).

use crate::redis_effects::{BatchEffects, RedisEffects};
use lms_schemas::DecodedEvent;
use sqlx::PgConnection;
use std::future::Future;

/// Where a record was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaPosition {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The next offset this worker expects for the partition (what it last
    /// checkpointed), when it knows: a checkpoint below it was moved back.
    /// Offsets may have gaps, so the record's own offset cannot tell.
    pub expected_next: Option<i64>,
}

/// Why a handler could not apply an event. Every error is retried (bounded,
/// with backoff); then the event goes to the DLQ, unless the store is
/// unreachable, which is retried until it comes back.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The event cannot be applied to the read model (a bug or bad data).
    #[error("{0}")]
    Rejected(String),
}

impl ApplyError {
    /// The store is down (not this event's fault): never dead-letter for it.
    pub fn is_unavailable(&self) -> bool {
        match self {
            ApplyError::Database(e) => lms_runtime::database::is_unavailable(e),
            ApplyError::Redis(e) => lms_runtime::redis::is_unavailable(e),
            ApplyError::Rejected(_) => false,
        }
    }
}

/// Why a rebuild's batch could not be applied. `index` (into the batch)
/// names the event when the per-event handler refused it: that is final.
/// `None` comes from a set-based [`Projection::apply_batch`], which cannot
/// always tell: the rebuild then rolls the batch back and applies it again
/// event by event ([`apply_each`]), which either names the event or succeeds.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct BatchError {
    pub index: Option<usize>,
    #[source]
    pub error: ApplyError,
}

impl BatchError {
    /// An error of the batch as a whole (set-based path).
    pub fn batch(error: impl Into<ApplyError>) -> Self {
        Self {
            index: None,
            error: error.into(),
        }
    }
}

/// The per-event path over a batch: [`Projection::apply`] for each event in
/// order, in `tx`, each event's Redis effects guarded by its own sequence.
/// What the live worker does, minus the `applied` check (a rebuild applies
/// every event once).
pub async fn apply_each<P: Projection + ?Sized>(
    projection: &P,
    tx: &mut PgConnection,
    schema: &str,
    events: &[DecodedEvent],
    effects: &mut BatchEffects,
) -> Result<(), BatchError> {
    for (index, event) in events.iter().enumerate() {
        let mut own = effects.effects();
        projection
            .apply(tx, schema, event, &mut own)
            .await
            .map_err(|error| BatchError {
                index: Some(index),
                error,
            })?;
        let envelope = &event.envelope;
        effects.push(
            &envelope.aggregate_type,
            &envelope.aggregate_id,
            envelope.sequence,
            own,
        );
    }
    Ok(())
}

pub trait Projection: Send + Sync + 'static {
    /// e.g. `course-catalog`; the consumer group is `lms.projection.<name>`.
    fn name(&self) -> &'static str;
    /// Postgres schema holding this projection's tables and its `applied`
    /// and `checkpoints` tables.
    fn schema(&self) -> &'static str;
    /// Input topics, without the prefix (`lms.course.v1`).
    fn topics(&self) -> &'static [&'static str];
    /// Namespace of the Redis sequence guard: `<prefix>:seq:[<ns>:]<type>:<id>`.
    /// Two projections writing Redis for the same aggregate need different ones.
    fn redis_seq_namespace(&self) -> Option<&'static str> {
        None
    }
    /// A Redis key (under the prefix) set once a worker that started from
    /// the first offset (no checkpoint yet) has caught up: from then on
    /// Redis holds everything this projection applied (lms-query relies on
    /// it; a flush removes it with the data).
    fn warm_marker(&self) -> Option<&'static str> {
        None
    }
    /// Applies one event that this projection has not applied yet (the
    /// worker already checked `applied`). `tx` is the worker's transaction;
    /// `schema` is where the tables are: [`Self::schema`] for the live
    /// worker, a shadow schema for a rebuild.
    fn apply(
        &self,
        tx: &mut PgConnection,
        schema: &str,
        event: &DecodedEvent,
        redis: &mut RedisEffects,
    ) -> impl Future<Output = Result<(), ApplyError>> + Send;

    /// Whether the live worker applies its batches with [`Self::apply_batch`]
    /// too. Only where that batch's Redis effects are whole states (or none):
    /// the live worker writes Redis before its commit, and a commit lost after
    /// the pipeline is applied again in a batch that may start earlier, so
    /// net effects at the last sequence (a counter's sum) would count twice
    /// what whole states only write again.
    fn live_batches(&self) -> bool {
        false
    }

    /// Applies a rebuild's batch (events in store position order, so each
    /// aggregate's in sequence order; earlier batches are committed in
    /// `tx`'s schema already) and queues its Redis effects on `effects`.
    /// Must leave the tables and, once sent, the Redis keys exactly as
    /// [`apply_each`] would: the default is [`apply_each`]. A set-based
    /// override (a few statements per batch) makes rebuilds fast; returning
    /// an error with `index: None` makes the rebuild redo the batch with
    /// [`apply_each`], so an override never needs to name the event at fault.
    fn apply_batch(
        &self,
        tx: &mut PgConnection,
        schema: &str,
        events: &[DecodedEvent],
        effects: &mut BatchEffects,
    ) -> impl Future<Output = Result<(), BatchError>> + Send {
        apply_each(self, tx, schema, events, effects)
    }
}
