//! `redrive-dlq <projection>`: reads the DLQ from the committed offset of a
//! dedicated group up to the end seen at start, re-applies this projection's
//! records through the transactional path (dedupe included; the live
//! checkpoint is not touched) and sends what still fails back to the DLQ.

use crate::apply::Outcome;
use crate::dlq;
use crate::projection::Projection;
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
    let mut report = RedriveReport::default();
    if remaining.is_empty() {
        return Ok(report);
    }
    consumer.assign(&wanted)?;
    let applier = services.applier(projection);
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
                    match applier
                        .apply(&event, None, config.max_handler_retries, stop)
                        .await
                    {
                        Ok(Outcome::Applied) => {
                            report.applied += 1;
                            None
                        }
                        // Rewound needs a checkpoint; redrive passes none.
                        Ok(Outcome::Skipped | Outcome::Rewound(_)) => {
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
