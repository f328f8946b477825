//! The transactional apply path shared by the live worker and `redrive-dlq`:
//! one Postgres transaction = dedupe on `applied` + handler + checkpoint, the
//! Redis effects applied-if-newer just before the commit (a crash in between
//! re-applies Postgres on redelivery while Redis skips, so both end equal).

use crate::bookkeeping;
use crate::projection::{ApplyError, KafkaPosition, Projection};
use crate::redis_effects::{seq_key, RedisEffects};
use lms_schemas::DecodedEvent;
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Already applied (a redelivery or an older event of the aggregate).
    Skipped,
    /// The checkpoint table is behind this record (a rebuild swapped in an
    /// older position): nothing was written; read again from this offset.
    Rewound(i64),
}

#[derive(Clone)]
pub struct Applier<P> {
    pub projection: Arc<P>,
    pub pool: PgPool,
    pub redis: ConnectionManager,
    pub redis_prefix: String,
}

impl<P: Projection> Applier<P> {
    /// Applies `event` once; with `checkpoint`, also moves the checkpoint
    /// past that record in the same transaction.
    pub async fn apply_once(
        &self,
        event: &DecodedEvent,
        checkpoint: Option<&KafkaPosition>,
    ) -> Result<Outcome, ApplyError> {
        let p = &*self.projection;
        let envelope = &event.envelope;
        let mut tx = self.pool.begin().await?;
        if let Some(position) = checkpoint {
            let table = bookkeeping::lock_checkpoint(
                &mut tx,
                p.schema(),
                p.name(),
                &position.topic,
                position.partition,
            )
            .await?;
            match (table, position.expected_next) {
                (Some(next), _) if next > position.offset => return Ok(Outcome::Skipped),
                (Some(next), Some(expected)) if next < expected => {
                    return Ok(Outcome::Rewound(next))
                }
                // The row is gone (a rebuild swapped in a table that had
                // none for this partition): read it again from the start.
                (None, Some(expected)) if expected > 0 => return Ok(Outcome::Rewound(0)),
                // Equal, or a gap in the offsets: this record is next.
                _ => {}
            }
        }
        let claimed = bookkeeping::claim(
            &mut tx,
            p.schema(),
            p.name(),
            &envelope.aggregate_type,
            &envelope.aggregate_id,
            envelope.sequence,
        )
        .await?;
        let mut effects = RedisEffects::new(&self.redis_prefix);
        if claimed {
            p.apply(&mut tx, p.schema(), event, &mut effects).await?;
        }
        if let Some(position) = checkpoint {
            bookkeeping::advance(&mut tx, p.schema(), p.name(), position).await?;
        }
        if !effects.is_empty() {
            let key = seq_key(
                &self.redis_prefix,
                p.redis_seq_namespace(),
                &envelope.aggregate_type,
                &envelope.aggregate_id,
            );
            let mut redis = self.redis.clone();
            effects
                .apply_if_newer(&mut redis, &key, envelope.sequence)
                .await?;
        }
        tx.commit().await?;
        Ok(if claimed {
            Outcome::Applied
        } else {
            Outcome::Skipped
        })
    }

    /// [`Self::apply_once`] with bounded retries and exponential backoff; an
    /// unreachable store is retried until it is back or `stop` turns true.
    pub async fn apply(
        &self,
        event: &DecodedEvent,
        checkpoint: Option<&KafkaPosition>,
        max_retries: u32,
        stop: &watch::Receiver<bool>,
    ) -> Result<Outcome, ApplyError> {
        let mut failures: u32 = 0;
        loop {
            match self.apply_once(event, checkpoint).await {
                Ok(outcome) => return Ok(outcome),
                Err(error) => {
                    let unavailable = error.is_unavailable();
                    if !unavailable {
                        failures += 1;
                    }
                    if (!unavailable && failures > max_retries) || *stop.borrow() {
                        return Err(error);
                    }
                    let delay = backoff(failures.max(1));
                    tracing::warn!(%error, failures, ?delay, "applying failed; retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Only moves the checkpoint (after a record went to the DLQ).
    pub async fn skip_record(&self, position: &KafkaPosition) -> Result<(), sqlx::Error> {
        let p = &*self.projection;
        let mut tx = self.pool.begin().await?;
        bookkeeping::advance(&mut tx, p.schema(), p.name(), position).await?;
        tx.commit().await
    }
}

/// 100 ms, 200 ms, … capped at 5 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(6).saturating_sub(1)).min(5_000))
}
