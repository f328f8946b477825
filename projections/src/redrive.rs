//! `redrive-dlq <projection>`: first the parked events, each aggregate's in
//! sequence order in one transaction (all of them applied and unparked, or
//! none); then the DLQ, read from the committed offset of a dedicated group
//! up to the end seen at start: this projection's records re-applied
//! through the transactional path (dedupe included; the live checkpoint is
//! not touched), what still fails sent back to the DLQ.

use crate::apply::{backoff, Applier, Outcome, Read};
use crate::bookkeeping;
use crate::dlq;
use crate::projection::{apply_each, ApplyError, KafkaPosition, Projection};
use crate::redis_effects::BatchEffects;
use crate::runner::{decode, header, Services};
use crate::WorkerError;
use lms_runtime::Shutdown;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedriveReport {
    /// Parked events applied (and unparked).
    pub unparked: u64,
    /// Parked events still parked: their aggregate's first one failed again.
    pub still_parked: u64,
    /// Dead letters applied.
    pub applied: u64,
    /// Already applied (e.g. by a redelivery after the failure).
    pub skipped: u64,
    /// Failed again: back on the DLQ.
    pub failed: u64,
    /// Dead letters of other projections (passed over).
    pub other: u64,
}

pub async fn redrive<P: Projection>(
    projection: Arc<P>,
    services: &Services,
    stop: &Shutdown,
) -> Result<RedriveReport, WorkerError> {
    let config = &services.config;
    let name = projection.name();
    let applier = services.applier(projection.clone());
    let mut report = RedriveReport::default();
    redrive_parked(&applier, services, stop, &mut report).await?;
    let topic = config.dlq();
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.kafka_brokers)
        .set("group.id", config.redrive_group(name))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;

    // Where to stop (the end now) and where this group starts.
    let partitions = {
        let brokers = config.kafka_brokers.clone();
        let topic = topic.clone();
        tokio::task::spawn_blocking(move || dlq::partitions(&brokers, &[topic]))
            .await
            .map_err(|e| WorkerError::Setup(e.to_string()))?
            .map_err(WorkerError::Setup)?
    };
    let mut wanted = TopicPartitionList::new();
    for p in 0..partitions {
        wanted.add_partition(&topic, p);
    }
    let timeout = Duration::from_secs(10);
    let mut remaining: HashMap<i32, i64> = HashMap::new();
    {
        // The rust-rdkafka gotcha: this list must be dropped before the consumer.
        let committed = consumer.committed_offsets(wanted.clone(), timeout)?;
        for p in 0..partitions {
            let (low, high) = consumer.fetch_watermarks(&topic, p, timeout)?;
            let start = match committed.find_partition(&topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o.max(low),
                _ => low,
            };
            if start < high {
                remaining.insert(p, high);
            }
        }
    }
    if remaining.is_empty() {
        return Ok(report);
    }
    consumer.assign(&wanted)?;
    // Cancelled (SIGTERM): stop between records; what is not committed is
    // redriven by the next run.
    while !remaining.is_empty() && !stop.is_cancelled() {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .map_err(|_| WorkerError::Setup("DLQ read timed out".into()))??;
        let partition = message.partition();
        let offset = message.offset();
        if header(&message, dlq::PROJECTION) != name {
            report.other += 1;
        } else {
            let failure = match decode(&services.decoder, message.payload(), stop).await {
                Ok(event) => {
                    let position = source_position(&message);
                    let read = Read {
                        position: &position,
                        payload: message.payload().unwrap_or_default(),
                    };
                    match applier
                        .apply(&event, read, false, config.max_handler_retries, stop)
                        .await
                    {
                        Ok(Outcome::Applied) => {
                            report.applied += 1;
                            None
                        }
                        // Parked behind its aggregate's parked event: the
                        // next run applies it with them. Rewound needs a
                        // checkpoint; redrive passes none.
                        Ok(Outcome::Skipped | Outcome::Parked | Outcome::Rewound(_)) => {
                            report.skipped += 1;
                            None
                        }
                        Err(e) => Some(e.to_string()),
                    }
                }
                Err(e) => Some(e.to_string()),
            };
            if let Some(error) = failure {
                report.failed += 1;
                tracing::warn!(%error, offset, "still failing; back to the DLQ");
                if services
                    .dead_letters
                    .send(&message, name, &error, stop)
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
        let mut done = TopicPartitionList::new();
        done.add_partition_offset(&topic, partition, Offset::Offset(offset + 1))?;
        consumer.commit(&done, CommitMode::Sync)?;
        if remaining
            .get(&partition)
            .is_some_and(|high| offset + 1 >= *high)
        {
            remaining.remove(&partition);
        }
    }
    Ok(report)
}

/// Where a dead letter was first read (its `dlq.*` headers), else where it is.
fn source_position<M: Message>(message: &M) -> KafkaPosition {
    KafkaPosition {
        topic: Some(header(message, dlq::TOPIC))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| message.topic().to_string()),
        partition: header(message, dlq::PARTITION)
            .parse()
            .unwrap_or(message.partition()),
        offset: header(message, dlq::OFFSET)
            .parse()
            .unwrap_or(message.offset()),
        expected_next: None,
    }
}

/// Why an aggregate's parked events could not be applied this time.
enum Unpark {
    /// The store or the registry is down: try again.
    Unavailable(String),
    /// This parked event failed again.
    Failed { sequence: i64, reason: String },
}

impl From<sqlx::Error> for Unpark {
    fn from(error: sqlx::Error) -> Self {
        ApplyError::Database(error).into()
    }
}

impl From<ApplyError> for Unpark {
    fn from(error: ApplyError) -> Self {
        if error.is_unavailable() {
            Unpark::Unavailable(error.to_string())
        } else {
            Unpark::Failed {
                sequence: 0,
                reason: error.to_string(),
            }
        }
    }
}

/// Every parked aggregate of the projection, oldest first: applied and
/// unparked, or left parked with the new reason on the event that failed.
async fn redrive_parked<P: Projection>(
    applier: &Applier<P>,
    services: &Services,
    stop: &Shutdown,
    report: &mut RedriveReport,
) -> Result<(), WorkerError> {
    let p = &*applier.projection;
    let aggregates = bookkeeping::parked_aggregates(&applier.pool, p.schema(), p.name()).await?;
    for (aggregate_type, aggregate_id, count) in aggregates {
        let mut attempt: u32 = 0;
        loop {
            if stop.is_cancelled() {
                return Ok(());
            }
            match unpark_once(applier, services, stop, &aggregate_type, &aggregate_id).await {
                Ok(applied) => {
                    report.unparked += applied;
                    break;
                }
                Err(Unpark::Unavailable(error)) => {
                    attempt = attempt.saturating_add(1);
                    let delay = backoff(attempt);
                    tracing::warn!(%error, attempt, ?delay, "store unavailable; retrying the parked aggregate");
                    tokio::time::sleep(delay).await;
                }
                Err(Unpark::Failed { sequence, reason }) => {
                    tracing::warn!(error = %reason, %aggregate_type, sequence, "parked event failed again; its aggregate stays parked");
                    report.still_parked += u64::try_from(count).unwrap_or(0);
                    bookkeeping::set_parked_reason(
                        &applier.pool,
                        p.schema(),
                        p.name(),
                        (&aggregate_type, &aggregate_id, sequence),
                        &reason,
                    )
                    .await?;
                    break;
                }
            }
        }
    }
    Ok(())
}

/// One transaction: the aggregate's `applied` row locked (the live worker
/// parks behind it meanwhile), its parked events decoded and applied in
/// sequence order, unparked, their Redis effects sent before the commit.
async fn unpark_once<P: Projection>(
    applier: &Applier<P>,
    services: &Services,
    stop: &Shutdown,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<u64, Unpark> {
    let p = &*applier.projection;
    let (schema, name) = (p.schema(), p.name());
    let mut tx = applier.pool.begin().await?;
    let mut last =
        bookkeeping::lock_aggregate(&mut tx, schema, name, aggregate_type, aggregate_id).await?;
    let parked =
        bookkeeping::parked_events(&mut tx, schema, name, aggregate_type, aggregate_id).await?;
    let mut effects = BatchEffects::new(&applier.redis_prefix, p.redis_seq_namespace());
    let (mut through, mut applied) = (0, 0);
    for event in parked {
        through = event.sequence;
        if event.sequence <= last {
            continue;
        }
        let failed = |reason: String| Unpark::Failed {
            sequence: event.sequence,
            reason,
        };
        let decoded = match decode(&services.decoder, Some(&event.payload), stop).await {
            Ok(decoded) => decoded,
            Err(error) if error.retriable => return Err(Unpark::Unavailable(error.to_string())),
            Err(error) => return Err(failed(error.to_string())),
        };
        if decoded.envelope.sequence != event.sequence {
            return Err(failed(format!(
                "the parked bytes hold sequence {}, not {}",
                decoded.envelope.sequence, event.sequence
            )));
        }
        if let Err(error) = apply_each(
            p,
            &mut tx,
            schema,
            std::slice::from_ref(&decoded),
            &mut effects,
        )
        .await
        {
            return Err(match Unpark::from(error.error) {
                Unpark::Failed { reason, .. } => failed(reason),
                unavailable => unavailable,
            });
        }
        last = event.sequence;
        applied += 1;
    }
    bookkeeping::set_applied(&mut tx, schema, name, aggregate_type, aggregate_id, last).await?;
    bookkeeping::unpark(&mut tx, schema, name, aggregate_type, aggregate_id, through).await?;
    let mut redis = applier.redis.clone();
    effects.send(&mut redis).await.map_err(ApplyError::from)?;
    tx.commit().await?;
    Ok(applied)
}
