//! The live worker of one projection: its own consumer group, manual offset
//! commits, resume from the checkpoint table, the transactional apply path,
//! dead letters for poison records, lag metrics, graceful shutdown.

use crate::apply::{backoff, Applier, Outcome};
use crate::config::Config;
use crate::decode::{DecodeError, RecordDecoder};
use crate::dlq::{self, DeadLetters};
use crate::projection::{KafkaPosition, Projection};
use crate::{bookkeeping, WorkerError};
use lms_schemas::DecodedEvent;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use redis::aio::ConnectionManager;
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::Instrument;

/// What every worker of the process shares.
#[derive(Clone)]
pub struct Services {
    pub config: Config,
    pub pool: PgPool,
    pub redis: ConnectionManager,
    pub decoder: Arc<RecordDecoder>,
    pub dead_letters: DeadLetters,
}

impl Services {
    pub async fn connect(config: &Config, pool: PgPool) -> Result<Self, WorkerError> {
        let client = redis::Client::open(config.redis_url.as_str())?;
        let redis = ConnectionManager::new(client).await?;
        Ok(Self {
            config: config.clone(),
            pool,
            redis,
            decoder: Arc::new(RecordDecoder::new(&config.schema_registry_url)),
            dead_letters: DeadLetters::new(&config.kafka_brokers, &config.dlq())?,
        })
    }

    pub fn applier<P: Projection>(&self, projection: Arc<P>) -> Applier<P> {
        Applier {
            projection,
            pool: self.pool.clone(),
            redis: self.redis.clone(),
            redis_prefix: self.config.redis_prefix.clone(),
        }
    }
}

/// Notes that the assignment changed, so cached checkpoints are reloaded.
#[derive(Default)]
pub(crate) struct RebalanceFlag(AtomicBool);

impl ClientContext for RebalanceFlag {}
impl ConsumerContext for RebalanceFlag {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        tracing::info!(?rebalance, "partitions rebalanced");
        self.0.store(true, Ordering::SeqCst);
    }
}

pub(crate) fn header<M: Message>(message: &M, name: &str) -> String {
    message
        .headers()
        .and_then(|headers| {
            headers
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).to_string()))
        })
        .unwrap_or_default()
}

/// Waits until the input topics exist (the relay creates them), then creates
/// the DLQ with as many partitions as the largest of them.
async fn prepare_topics(
    config: &Config,
    topics: &[String],
    stop: &mut watch::Receiver<bool>,
) -> Result<bool, WorkerError> {
    let mut attempt: u32 = 0;
    loop {
        let brokers = config.kafka_brokers.clone();
        let names = topics.to_vec();
        let found = tokio::task::spawn_blocking(move || dlq::partitions(&brokers, &names))
            .await
            .map_err(|e| WorkerError::Setup(e.to_string()))?;
        let result = match found {
            Ok(partitions) => {
                dlq::create_topic(
                    &config.kafka_brokers,
                    &config.dlq(),
                    partitions,
                    config.topic_replication,
                )
                .await
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => return Ok(true),
            Err(error) => {
                attempt = attempt.saturating_add(1);
                tracing::warn!(%error, attempt, "topics not ready yet");
                tokio::select! {
                    _ = stopped(stop) => return Ok(false),
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {},
                }
            }
        }
    }
}

/// Resolves once `stop` turns true (the guard is not held across awaits).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Decodes, retrying while the registry is unreachable (until `stop`).
pub(crate) async fn decode(
    decoder: &RecordDecoder,
    payload: Option<&[u8]>,
    stop: &watch::Receiver<bool>,
) -> Result<DecodedEvent, DecodeError> {
    let mut attempt: u32 = 0;
    loop {
        match decoder.decode(payload).await {
            Err(e) if e.retriable && !*stop.borrow() => {
                attempt = attempt.saturating_add(1);
                tracing::warn!(error = %e, attempt, "schema registry unavailable; retrying");
                tokio::time::sleep(backoff(attempt)).await;
            }
            other => return other,
        }
    }
}

/// Runs one projection until `stop` turns true.
pub async fn run_projection<P: Projection>(
    projection: Arc<P>,
    services: Services,
    mut stop: watch::Receiver<bool>,
) -> Result<(), WorkerError> {
    let config = &services.config;
    let name = projection.name();
    let topics: Vec<String> = projection
        .topics()
        .iter()
        .map(|t| config.topic(t))
        .collect();
    if !prepare_topics(config, &topics, &mut stop).await? {
        return Ok(());
    }
    let consumer: Arc<StreamConsumer<RebalanceFlag>> = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", &config.kafka_brokers)
            .set("group.id", config.consumer_group(name))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .create_with_context(RebalanceFlag::default())?,
    );
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names)?;
    tracing::info!(projection = name, topics = ?topics, "projection worker started");
    let applier = services.applier(projection.clone());
    let fresh = !bookkeeping::has_checkpoints(&services.pool, projection.schema(), name).await?;
    let warm = projection
        .warm_marker()
        .filter(|_| fresh)
        .map(|marker| format!("{}:{marker}", config.redis_prefix));
    let worker = Worker {
        warm,
        name,
        schema: projection.schema(),
        services: &services,
        applier,
        consumer: consumer.clone(),
        next: HashMap::new(),
    };
    let result = worker.run(&mut stop).await;
    // Leave the group cleanly so the partitions move without waiting for a timeout.
    consumer.unsubscribe();
    tracing::info!(projection = name, "projection worker stopped");
    result
}

struct Worker<'a, P> {
    name: &'static str,
    schema: &'static str,
    services: &'a Services,
    applier: Applier<P>,
    consumer: Arc<StreamConsumer<RebalanceFlag>>,
    /// Next offset per partition held (checkpoint, then what was applied).
    next: HashMap<(String, i32), i64>,
    /// The warm marker to set once caught up (started from the first offset).
    warm: Option<String>,
}

enum Handled {
    Done,
    Stopped,
}

impl<P: Projection> Worker<'_, P> {
    async fn run(mut self, stop: &mut watch::Receiver<bool>) -> Result<(), WorkerError> {
        let mut lag_tick = tokio::time::interval(Duration::from_secs(5));
        let consumer = self.consumer.clone();
        loop {
            let received = tokio::select! {
                biased;
                _ = stopped(stop) => break,
                _ = lag_tick.tick() => { self.report_lag().await; continue; }
                m = consumer.recv() => m,
            };
            let message = match received {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(%error, "kafka consumer error");
                    continue;
                }
            };
            if consumer.context().0.swap(false, Ordering::SeqCst) {
                self.next.clear();
            }
            let key = (message.topic().to_string(), message.partition());
            let next = match self.next.get(&key) {
                Some(next) => *next,
                None => {
                    let (next, rewound) = self.resume_point(&key, message.offset()).await?;
                    self.next.insert(key.clone(), next);
                    if rewound {
                        // This record comes again after the earlier ones.
                        continue;
                    }
                    next
                }
            };
            if message.offset() < next {
                tracing::debug!(topic = %key.0, partition = key.1, offset = message.offset(), "before the checkpoint; skipped");
                continue;
            }
            match self.handle(&message, stop).await? {
                Handled::Stopped => break,
                Handled::Done => {}
            }
            self.next.insert(key.clone(), message.offset() + 1);
            let mut done = TopicPartitionList::new();
            done.add_partition_offset(&key.0, key.1, Offset::Offset(message.offset() + 1))?;
            if let Err(error) = consumer.commit(&done, CommitMode::Async) {
                tracing::warn!(%error, "offset commit failed (the checkpoint table holds it)");
            }
        }
        self.commit_all();
        Ok(())
    }

    /// The checkpoint of a newly held partition, and whether the consumer
    /// was sent back to it (it was behind Kafka's committed offset, e.g.
    /// after a rebuild reset it). Ahead of it, records are skipped up to it.
    async fn resume_point(
        &self,
        key: &(String, i32),
        offset: i64,
    ) -> Result<(i64, bool), WorkerError> {
        let checkpoint =
            bookkeeping::next_offset(&self.services.pool, self.schema, self.name, &key.0, key.1)
                .await?;
        let Some(next) = checkpoint else {
            return Ok((0, false));
        };
        tracing::info!(topic = %key.0, partition = key.1, next, offset, "resuming from checkpoint");
        if next == offset {
            return Ok((next, false));
        }
        match self
            .consumer
            .seek(&key.0, key.1, Offset::Offset(next), Duration::from_secs(5))
        {
            Ok(()) => Ok((next, next < offset)),
            Err(error) => {
                tracing::warn!(%error, "seek to checkpoint failed; reading on from Kafka's offset");
                Ok((next, false))
            }
        }
    }

    async fn handle(
        &self,
        message: &BorrowedMessage<'_>,
        stop: &watch::Receiver<bool>,
    ) -> Result<Handled, WorkerError> {
        let position = KafkaPosition {
            topic: message.topic().to_string(),
            partition: message.partition(),
            offset: message.offset(),
        };
        let span = tracing::info_span!(
            "project",
            projection = self.name,
            topic = %position.topic,
            partition = position.partition,
            offset = position.offset,
            event_id = %header(message, "event_id"),
            event_type = %header(message, "event_type"),
            correlation_id = %header(message, "correlation_id"),
            causation_id = %header(message, "causation_id"),
        );
        async {
            let max = self.services.config.max_handler_retries;
            let failure = match decode(&self.services.decoder, message.payload(), stop).await {
                Ok(event) => match self.applier.apply(&event, Some(&position), max, stop).await {
                    Ok(outcome) => {
                        if outcome == Outcome::Applied {
                            metrics::counter!("lms_projection_applied_total", "projection" => self.name)
                                .increment(1);
                        } else {
                            tracing::debug!("already applied; skipped");
                        }
                        return Ok(Handled::Done);
                    }
                    Err(_) if *stop.borrow() => return Ok(Handled::Stopped),
                    Err(error) => error.to_string(),
                },
                Err(error) if error.retriable => return Ok(Handled::Stopped),
                Err(error) => error.to_string(),
            };
            tracing::error!(error = %failure, "poison record; sending it to the DLQ");
            self.services
                .dead_letters
                .send(message, self.name, &failure)
                .await;
            let mut attempt: u32 = 0;
            while let Err(error) = self.applier.skip_record(&position).await {
                if *stop.borrow() {
                    return Ok(Handled::Stopped);
                }
                attempt = attempt.saturating_add(1);
                tracing::warn!(%error, attempt, "cannot move the checkpoint; retrying");
                tokio::time::sleep(backoff(attempt)).await;
            }
            Ok(Handled::Done)
        }
        .instrument(span)
        .await
    }

    /// `lms_projection_lag` = high watermark − next offset, per held
    /// partition; sets the warm marker once every assigned partition is caught up.
    async fn report_lag(&mut self) {
        let held: HashMap<(String, i32), i64> = self.next.clone();
        let assigned: Vec<(String, i32)> = self
            .consumer
            .assignment()
            .map(|tpl| {
                tpl.elements()
                    .iter()
                    .map(|e| (e.topic().to_string(), e.partition()))
                    .collect()
            })
            .unwrap_or_default();
        let consumer = self.consumer.clone();
        let name = self.name;
        let caught_up = tokio::task::spawn_blocking(move || {
            let mut caught_up = !assigned.is_empty();
            for (topic, partition) in assigned {
                let Ok((_, high)) =
                    consumer.fetch_watermarks(&topic, partition, Duration::from_secs(2))
                else {
                    caught_up = false;
                    continue;
                };
                let next = held.get(&(topic.clone(), partition)).copied();
                let lag = (high - next.unwrap_or(0)).max(0);
                caught_up &= lag == 0;
                if next.is_some() {
                    metrics::gauge!("lms_projection_lag", "projection" => name, "topic" => topic, "partition" => partition.to_string())
                        .set(lag as f64);
                }
            }
            caught_up
        })
        .await
        .unwrap_or(false);
        if let (true, Some(marker)) = (caught_up, self.warm.as_ref()) {
            let mut redis = self.services.redis.clone();
            let set: Result<(), redis::RedisError> = redis::cmd("SET")
                .arg(marker)
                .arg("1")
                .query_async(&mut redis)
                .await;
            match set {
                Ok(()) => {
                    tracing::info!(%marker, "caught up from the first offset; Redis is warm");
                    self.warm = None;
                }
                Err(error) => tracing::warn!(%error, "cannot set the warm marker"),
            }
        }
    }

    /// Final synchronous commit of what was applied (graceful shutdown).
    fn commit_all(&self) {
        let mut done = TopicPartitionList::new();
        for ((topic, partition), next) in &self.next {
            if *next > 0 {
                let _ = done.add_partition_offset(topic, *partition, Offset::Offset(*next));
            }
        }
        if done.count() > 0 {
            if let Err(error) = self.consumer.commit(&done, CommitMode::Sync) {
                tracing::warn!(%error, "final offset commit failed (the checkpoint table holds it)");
            }
        }
    }
}
