//! The live worker of one projection: its own consumer group, manual offset
//! commits, resume from the checkpoint table, the transactional apply path,
//! dead letters for poison records, lag metrics, graceful shutdown.
//!
//! - [`services`]: what every worker of the process shares.
//! - [`assignments`]: the rebalance context.
//! - [`topics`]: waiting for the input topics, creating the DLQ.
//! - [`record`]: one record: its span, headers, decoding with retry.
//! - [`consume`]: the main loop, batch and per-record apply, dead letters.
//! - [`positions`]: checkpoints, rewinds and seeks per partition.
//! - [`lag`]: lag metrics and rejoining when idle.

use crate::apply::{backoff, Applier, Batch, Outcome, PartitionEnd, Read};
use crate::broker_view::{self, BrokerView};
use crate::config::Config;
use crate::decode::{DecodeError, RecordDecoder};
use crate::dlq::{self, DeadLetters};
use crate::projection::{KafkaPosition, Projection};
use crate::{bookkeeping, WorkerError};
use lms_runtime::Shutdown;
use lms_schemas::DecodedEvent;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument;

mod assignments;
mod consume;
mod lag;
mod positions;
mod record;
mod services;
mod topics;

use assignments::Assignments;
use record::record_span;
pub(crate) use record::{decode, header};
pub use services::Services;
use topics::prepare_topics;

type Held = HashMap<(String, i32), i64>;

/// Runs one projection until `stop` is cancelled.
pub async fn run_projection<P: Projection>(
    projection: Arc<P>,
    services: Services,
    stop: Shutdown,
) -> Result<(), WorkerError> {
    let config = &services.config;
    let name = projection.name();
    let topics: Vec<String> = projection
        .topics()
        .iter()
        .map(|t| config.topic(t))
        .collect();
    if !prepare_topics(config, &topics, &stop).await? {
        return Ok(());
    }
    let consumer: Arc<StreamConsumer<Assignments>> = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", &config.kafka_brokers)
            .set("group.id", config.consumer_group(name))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            // No producer of ours is transactional (outbox + idempotent
            // producer): read_committed would only cost broker work.
            .set("isolation.level", "read_uncommitted")
            .set("fetch.max.bytes", config.kafka_fetch_max_bytes.to_string())
            .set(
                "fetch.wait.max.ms",
                config.kafka_fetch_wait_max_ms.to_string(),
            )
            .set(
                "session.timeout.ms",
                config.kafka_session_timeout_ms.to_string(),
            )
            .set(
                "heartbeat.interval.ms",
                (config.kafka_session_timeout_ms / 3).max(100).to_string(),
            )
            .set(
                "max.poll.interval.ms",
                config
                    .kafka_max_poll_interval_ms
                    .max(config.kafka_session_timeout_ms)
                    .to_string(),
            )
            .create_with_context(Assignments::new(name))?,
    );
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names)?;
    tracing::info!(projection = name, topics = ?topics, "projection worker started");
    let applier = services.applier(projection.clone());
    let fresh = !bookkeeping::has_checkpoints(&services.pool, projection.schema(), name).await?;
    let view = broker_view::spawn(config, name, topics.clone(), stop.clone())?;
    spawn_parked_gauge(
        services.pool.clone(),
        projection.schema(),
        name,
        stop.clone(),
    );
    let warm = projection
        .warm_marker()
        .filter(|_| fresh)
        .map(|marker| format!("{}:{marker}", config.redis_prefix));
    let worker = Worker {
        topics: topics.clone(),
        sought: Default::default(),
        unverified: HashMap::new(),
        view,
        idle: None,
        warm,
        name,
        schema: projection.schema(),
        services: &services,
        applier,
        consumer: consumer.clone(),
        next: HashMap::new(),
    };
    let result = worker.run(&stop).await;
    // Leave the group cleanly so the partitions move without waiting for a timeout.
    consumer.unsubscribe();
    tracing::info!(projection = name, "projection worker stopped");
    result
}

/// `lms_projection_parked{projection}`: events waiting in `<schema>.parked`,
/// read by a task of its own so that a slow database never holds the worker.
fn spawn_parked_gauge(pool: PgPool, schema: &'static str, name: &'static str, stop: Shutdown) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let count = tokio::time::timeout(
                Duration::from_secs(5),
                bookkeeping::parked_count(&pool, schema, name),
            )
            .await;
            match count {
                Ok(Ok(count)) => {
                    metrics::gauge!("lms_projection_parked", "projection" => name).set(count as f64)
                }
                Ok(Err(error)) => tracing::debug!(%error, "cannot count parked events"),
                Err(_) => tracing::debug!("counting parked events timed out"),
            }
        }
    });
}

struct Worker<'a, P> {
    name: &'static str,
    schema: &'static str,
    services: &'a Services,
    applier: Applier<P>,
    consumer: Arc<StreamConsumer<Assignments>>,
    /// Next offset per partition held (checkpoint, then what was applied).
    next: Held,
    /// The warm marker to set once caught up (started from the first offset).
    warm: Option<String>,
    topics: Vec<String>,
    /// Partitions whose first record since the assignment was checked.
    sought: std::collections::HashSet<(String, i32)>,
    /// Held partitions whose checkpoint was not yet compared with the end
    /// of their log, with when they were assigned: a view read after that
    /// settles it (see `verify_within_log`).
    unverified: HashMap<(String, i32), std::time::Instant>,
    /// The latest watermarks and group backlog (read by a task of its own).
    view: watch::Receiver<Arc<BrokerView>>,
    /// Since when this worker holds no partition while the group's backlog
    /// does not shrink (and the backlog then).
    idle: Option<(std::time::Instant, i64)>,
}

enum Handled {
    Done,
    /// The checkpoint table is behind: read this partition again from there.
    Rewound(i64),
    Stopped,
}
