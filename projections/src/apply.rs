//! The transactional apply path shared by the live worker and `redrive-dlq`:
//! one Postgres transaction = dedupe on `applied` + handler + checkpoint, the
//! Redis effects applied-if-newer just before the commit (a crash in between
//! re-applies Postgres on redelivery while Redis skips, so both end equal).
//! An event whose handler keeps failing is parked with every later event of
//! its aggregate (`<schema>.parked`) until a redrive applies them in order.

use crate::bookkeeping;
use crate::bookkeeping::{Claim, ToPark};
use crate::broker_view::Partition;
use crate::projection::{apply_each, ApplyError, KafkaPosition, Projection};
use crate::redis_effects::BatchEffects;
use lms_runtime::Shutdown;
use lms_schemas::DecodedEvent;
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Already applied (a redelivery or an older event of the aggregate).
    Skipped,
    /// Its aggregate has a parked event: parked behind it, not applied.
    Parked,
    /// The checkpoint table is behind this record (a rebuild swapped in an
    /// older position): nothing was written; read again from this offset.
    Rewound(i64),
}

/// A live batch: the decoded records a worker polled, in poll order (so
/// each partition's in offset order), and for every partition in it the
/// next offset the worker expects and the last offset polled (records that
/// could not be decoded count: they went to the DLQ and are passed over).
#[derive(Debug, Default)]
pub struct Batch<'a> {
    pub records: Vec<(KafkaPosition, DecodedEvent, &'a [u8])>,
    pub partitions: BTreeMap<Partition, PartitionEnd>,
}

/// A record as read: where, and its bytes (what a parked row keeps).
#[derive(Debug, Clone, Copy)]
pub struct Read<'a> {
    pub position: &'a KafkaPosition,
    pub payload: &'a [u8],
}

/// Why a parked event waits: the first one's handler error, or this.
pub const BEHIND: &str = "waiting behind an earlier parked event of its aggregate";

#[derive(Debug, Clone, Copy)]
pub struct PartitionEnd {
    pub expected_next: Option<i64>,
    pub last_offset: i64,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    pub applied: usize,
    /// Events parked behind an earlier parked event of their aggregate.
    pub parked: usize,
    /// Partitions whose checkpoint row is behind what the worker expected
    /// (a rebuild swapped in an older position): nothing of them was
    /// written; read them again from the given offset.
    pub rewound: Vec<(Partition, i64)>,
}

#[derive(Clone)]
pub struct Applier<P> {
    pub projection: Arc<P>,
    pub pool: PgPool,
    pub redis: ConnectionManager,
    pub redis_prefix: String,
}

impl<P: Projection> Applier<P> {
    /// Applies `event` once, or parks it when its aggregate has a parked
    /// event; with `checkpoint`, also moves the checkpoint past the record
    /// in the same transaction.
    pub async fn apply_once(
        &self,
        event: &DecodedEvent,
        read: Read<'_>,
        checkpoint: bool,
    ) -> Result<Outcome, ApplyError> {
        let p = &*self.projection;
        let envelope = &event.envelope;
        let position = read.position;
        let mut tx = self.pool.begin().await?;
        if checkpoint {
            let table = bookkeeping::lock_checkpoint(
                &mut tx,
                p.schema(),
                p.name(),
                &position.topic,
                position.partition,
            )
            .await?;
            if table.is_some_and(|next| next > position.offset) {
                return Ok(Outcome::Skipped);
            }
            if let Some(next) = rewound_to(table, position.expected_next) {
                return Ok(Outcome::Rewound(next));
            }
            // Equal, or a gap in the offsets: this record is next.
        }
        let key = [(
            envelope.aggregate_type.as_str(),
            envelope.aggregate_id.as_str(),
            envelope.sequence,
        )];
        let claim = bookkeeping::claim_batch(&mut tx, p.schema(), p.name(), &key).await?;
        let mut effects = BatchEffects::new(&self.redis_prefix, p.redis_seq_namespace());
        let outcome = match claim.first() {
            Some(Claim::Apply) => {
                apply_each(
                    p,
                    &mut tx,
                    p.schema(),
                    std::slice::from_ref(event),
                    &mut effects,
                )
                .await
                .map_err(|e| e.error)?;
                Outcome::Applied
            }
            Some(Claim::Park) => {
                bookkeeping::park(&mut tx, p.schema(), p.name(), &to_park(event, read, BEHIND))
                    .await?;
                Outcome::Parked
            }
            Some(Claim::Skip) | None => Outcome::Skipped,
        };
        if checkpoint {
            bookkeeping::advance(&mut tx, p.schema(), p.name(), position).await?;
        }
        let mut redis = self.redis.clone();
        effects.send(&mut redis).await?;
        tx.commit().await?;
        if outcome == Outcome::Parked {
            metrics::counter!("lms_projection_parked_total", "projection" => p.name()).increment(1);
        }
        Ok(outcome)
    }

    /// Parks `event`, whose handler keeps failing with `reason` (unless it
    /// was applied meanwhile); with `checkpoint`, moves the checkpoint past
    /// the record in the same transaction. Its aggregate's later events then
    /// park behind it.
    pub async fn park_failed(
        &self,
        event: &DecodedEvent,
        read: Read<'_>,
        reason: &str,
        checkpoint: bool,
    ) -> Result<(), sqlx::Error> {
        let p = &*self.projection;
        let envelope = &event.envelope;
        let mut tx = self.pool.begin().await?;
        let last = bookkeeping::lock_aggregate(
            &mut tx,
            p.schema(),
            p.name(),
            &envelope.aggregate_type,
            &envelope.aggregate_id,
        )
        .await?;
        let parking = last < envelope.sequence;
        if parking {
            bookkeeping::park(&mut tx, p.schema(), p.name(), &to_park(event, read, reason)).await?;
        }
        if checkpoint {
            bookkeeping::advance(&mut tx, p.schema(), p.name(), read.position).await?;
        }
        tx.commit().await?;
        if parking {
            metrics::counter!("lms_projection_parked_total", "projection" => p.name()).increment(1);
        }
        Ok(())
    }

    /// [`Self::apply_once`] with bounded retries and exponential backoff; an
    /// unreachable store is retried until it is back or `stop` turns true.
    pub async fn apply(
        &self,
        event: &DecodedEvent,
        read: Read<'_>,
        checkpoint: bool,
        max_retries: u32,
        stop: &Shutdown,
    ) -> Result<Outcome, ApplyError> {
        let mut failures: u32 = 0;
        loop {
            match self.apply_once(event, read, checkpoint).await {
                Ok(outcome) => return Ok(outcome),
                Err(error) => {
                    let unavailable = error.is_unavailable();
                    if !unavailable {
                        failures += 1;
                    }
                    if (!unavailable && failures > max_retries) || stop.is_cancelled() {
                        return Err(error);
                    }
                    let delay = backoff(failures.max(1));
                    tracing::warn!(%error, failures, ?delay, "applying failed; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Applies a live batch in one transaction: the partitions' checkpoint
    /// rows locked in key order and compared with what the worker expects,
    /// the dedupe of every event at once ([`bookkeeping::claim_batch`]), the
    /// handler for each new event, one checkpoint row per partition, and the
    /// Redis effects (each event's guarded by its own sequence) in one
    /// pipeline just before the commit.
    pub async fn apply_batch_once(&self, batch: &Batch<'_>) -> Result<BatchOutcome, ApplyError> {
        let p = &*self.projection;
        let mut outcome = BatchOutcome::default();
        let mut tx = self.pool.begin().await?;
        // Offsets below the floor were applied already (by another worker).
        let mut floors: HashMap<&Partition, i64> = HashMap::new();
        for (key, end) in &batch.partitions {
            let table =
                bookkeeping::lock_checkpoint(&mut tx, p.schema(), p.name(), &key.0, key.1).await?;
            match rewound_to(table, end.expected_next) {
                Some(next) => outcome.rewound.push((key.clone(), next)),
                None => {
                    floors.insert(key, table.unwrap_or(0));
                }
            }
        }
        let records: Vec<&(KafkaPosition, DecodedEvent, &[u8])> = batch
            .records
            .iter()
            .filter(|(position, _, _)| {
                let key = (position.topic.clone(), position.partition);
                floors
                    .get(&key)
                    .is_some_and(|floor| position.offset >= *floor)
            })
            .collect();
        let mut effects = BatchEffects::new(&self.redis_prefix, p.redis_seq_namespace());
        if !records.is_empty() {
            let keys: Vec<(&str, &str, i64)> = records
                .iter()
                .map(|(_, e, _)| {
                    let envelope = &e.envelope;
                    (
                        envelope.aggregate_type.as_str(),
                        envelope.aggregate_id.as_str(),
                        envelope.sequence,
                    )
                })
                .collect();
            let claims = bookkeeping::claim_batch(&mut tx, p.schema(), p.name(), &keys).await?;
            let mut new: Vec<DecodedEvent> = Vec::new();
            for ((position, event, payload), claim) in records.iter().zip(&claims) {
                match claim {
                    Claim::Apply => new.push(event.clone()),
                    Claim::Park => {
                        let read = Read { position, payload };
                        bookkeeping::park(
                            &mut tx,
                            p.schema(),
                            p.name(),
                            &to_park(event, read, BEHIND),
                        )
                        .await?;
                        outcome.parked += 1;
                    }
                    Claim::Skip => {}
                }
            }
            outcome.applied = new.len();
            if p.live_batches() {
                p.apply_batch(&mut tx, p.schema(), &new, &mut effects)
                    .await
                    .map_err(|e| e.error)?;
            } else {
                apply_each(p, &mut tx, p.schema(), &new, &mut effects)
                    .await
                    .map_err(|e| e.error)?;
            }
        }
        for (key, end) in &batch.partitions {
            if !floors.contains_key(key) {
                continue;
            }
            let last = KafkaPosition {
                topic: key.0.clone(),
                partition: key.1,
                offset: end.last_offset,
                expected_next: None,
            };
            bookkeeping::advance(&mut tx, p.schema(), p.name(), &last).await?;
        }
        let mut redis = self.redis.clone();
        effects.send(&mut redis).await?;
        tx.commit().await?;
        if outcome.parked > 0 {
            metrics::counter!("lms_projection_parked_total", "projection" => p.name())
                .increment(outcome.parked as u64);
        }
        Ok(outcome)
    }

    /// Only moves the checkpoint (after a record went to the DLQ).
    pub async fn skip_record(&self, position: &KafkaPosition) -> Result<(), sqlx::Error> {
        let p = &*self.projection;
        let mut tx = self.pool.begin().await?;
        bookkeeping::advance(&mut tx, p.schema(), p.name(), position).await?;
        tx.commit().await
    }
}

fn to_park<'a>(event: &'a DecodedEvent, read: Read<'a>, reason: &'a str) -> ToPark<'a> {
    let envelope = &event.envelope;
    ToPark {
        aggregate_type: &envelope.aggregate_type,
        aggregate_id: &envelope.aggregate_id,
        sequence: envelope.sequence,
        topic: &read.position.topic,
        partition: read.position.partition,
        offset: read.position.offset,
        payload: read.payload,
        reason,
    }
}

/// Where a partition must be read again from, when its checkpoint row
/// (`table`) is behind the offset the worker expected next: a rebuild
/// swapped in an older position, or a table with no row for it (then from
/// the start). None: the worker's position stands.
fn rewound_to(table: Option<i64>, expected_next: Option<i64>) -> Option<i64> {
    match (table, expected_next) {
        (Some(next), Some(expected)) if next < expected => Some(next),
        (None, Some(expected)) if expected > 0 => Some(0),
        _ => None,
    }
}

/// 100 ms, 200 ms, … capped at 5 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(6).saturating_sub(1)).min(5_000))
}
