//! The live worker of one projection: its own consumer group, manual offset
//! commits, resume from the checkpoint table, the transactional apply path,
//! dead letters for poison records, lag metrics, graceful shutdown.

use crate::apply::{backoff, Applier, Batch, Outcome, PartitionEnd};
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
        let redis = lms_runtime::redis::connect(&config.redis_url).await?;
        // No length inside a record can be longer than the fetch that brought it.
        let cap = crate::decode::cap_allocations(config.kafka_fetch_max_bytes as usize);
        if cap != config.kafka_fetch_max_bytes as usize {
            tracing::debug!(cap, "Avro allocation cap already set in this process");
        }
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

type Held = HashMap<(String, i32), i64>;

/// The consumer's context: notes each rebalance's partitions for the worker,
/// which then reads their checkpoints from the checkpoint table (the truth:
/// it moves in the transaction that changes the read model; Kafka's
/// committed offset may be ahead of it, after a rebuild swapped in an older
/// position, or behind it, after a crash between the two).
pub(crate) struct Assignments {
    projection: &'static str,
    /// Set on each rebalance; the worker takes it before its next record.
    fresh: Mutex<Option<Vec<(String, i32)>>>,
    /// Rebalances seen (0: not in the group yet).
    rebalances: std::sync::atomic::AtomicU64,
}

impl Assignments {
    fn new(projection: &'static str) -> Self {
        Self {
            projection,
            fresh: Mutex::new(None),
            rebalances: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn set_fresh(&self, tpl: &TopicPartitionList) {
        let partitions = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        self.rebalances
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *self.fresh.lock().unwrap_or_else(|p| p.into_inner()) = Some(partitions);
    }

    fn gauge(&self, assigned: usize) {
        metrics::gauge!("lms_projection_assigned_partitions", "projection" => self.projection)
            .set(assigned as f64);
    }

    fn take_fresh(&self) -> Option<Vec<(String, i32)>> {
        self.fresh.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl ClientContext for Assignments {}
impl ConsumerContext for Assignments {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                tracing::info!(
                    projection = self.projection,
                    assigned = tpl.count(),
                    "partitions assigned"
                );
                // The fetch starts at Kafka's committed offset. Records
                // before the checkpoint are skipped; a first record after it
                // seeks back once (see `Worker::run`).
                if let Err(error) = consumer.assign(tpl) {
                    tracing::error!(%error, "assign failed");
                }
                self.set_fresh(tpl);
                self.gauge(tpl.count());
            }
            other => {
                if other == RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS {
                    tracing::info!(
                        projection = self.projection,
                        revoked = tpl.count(),
                        "partitions revoked"
                    );
                } else {
                    tracing::error!(error = ?other, "rebalance failed");
                }
                if let Err(error) = consumer.unassign() {
                    tracing::error!(%error, "unassign failed");
                }
                self.set_fresh(&TopicPartitionList::new());
                self.gauge(0);
            }
        }
    }
}

/// The span of one record: where it was read and the ids it carries.
fn record_span<M: Message>(projection: &'static str, message: &M) -> tracing::Span {
    tracing::info_span!(
        "project",
        projection,
        topic = %message.topic(),
        partition = message.partition(),
        offset = message.offset(),
        event_id = %header(message, "event_id"),
        event_type = %header(message, "event_type"),
        correlation_id = %header(message, "correlation_id"),
        causation_id = %header(message, "causation_id"),
    )
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
    stop: &Shutdown,
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
                    _ = stop.cancelled() => return Ok(false),
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {},
                }
            }
        }
    }
}

/// Decodes, retrying while the registry is unreachable (until `stop`).
pub(crate) async fn decode(
    decoder: &RecordDecoder,
    payload: Option<&[u8]>,
    stop: &Shutdown,
) -> Result<DecodedEvent, DecodeError> {
    let mut attempt: u32 = 0;
    loop {
        match decoder.decode(payload).await {
            Err(e) if e.retriable && !stop.is_cancelled() => {
                attempt = attempt.saturating_add(1);
                tracing::warn!(error = %e, attempt, "schema registry unavailable; retrying");
                tokio::time::sleep(backoff(attempt)).await;
            }
            other => return other,
        }
    }
}

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

impl<P: Projection> Worker<'_, P> {
    async fn run(mut self, stop: &Shutdown) -> Result<(), WorkerError> {
        let mut lag_tick = tokio::time::interval(Duration::from_millis(
            self.services.config.lag_interval_ms.max(100),
        ));
        let consumer = self.consumer.clone();
        let max_records = self.services.config.batch_max_records.max(1);
        let linger = Duration::from_millis(self.services.config.batch_linger_ms);
        loop {
            let received = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = lag_tick.tick() => {
                    self.take_assignment().await;
                    self.verify_within_log().await;
                    self.report_lag().await;
                    if let Err(error) = self.reconcile().await {
                        tracing::warn!(%error, "cannot compare with the checkpoint table");
                    }
                    continue;
                }
                m = consumer.recv() => m,
            };
            let first = match received {
                Ok(message) => message.detach(),
                Err(error) => {
                    tracing::warn!(%error, "kafka consumer error");
                    continue;
                }
            };
            // What else is already fetched (or arrives within the linger).
            let mut polled = vec![first];
            let until = tokio::time::Instant::now() + linger;
            while polled.len() < max_records {
                match tokio::time::timeout_at(until, consumer.recv()).await {
                    Ok(Ok(message)) => polled.push(message.detach()),
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "kafka consumer error");
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.take_assignment().await;
            let todo = self.after_checkpoints(polled).await?;
            if todo.is_empty() {
                continue;
            }
            if let Handled::Stopped = self.process(todo, stop).await? {
                break;
            }
        }
        self.commit_all();
        Ok(())
    }

    /// Drops polled records before their partition's checkpoint; when
    /// Kafka's committed offset is ahead of the checkpoint (a rebuild moved
    /// the table back), reads the partition again from the checkpoint, once
    /// per assignment (offsets may have gaps), dropping its other records.
    async fn after_checkpoints(
        &mut self,
        polled: Vec<OwnedMessage>,
    ) -> Result<Vec<OwnedMessage>, WorkerError> {
        let mut sought_now: std::collections::HashSet<(String, i32)> = Default::default();
        let mut todo = Vec::with_capacity(polled.len());
        for message in polled {
            let key = (message.topic().to_string(), message.partition());
            if sought_now.contains(&key) {
                continue;
            }
            if let Some(next) = self.next.get(&key).copied() {
                if message.offset() > next && self.sought.insert(key.clone()) {
                    self.rewind(&key, next).await?;
                    sought_now.insert(key);
                    continue;
                }
                self.sought.insert(key.clone());
                if message.offset() < next {
                    tracing::debug!(topic = %key.0, partition = key.1, offset = message.offset(), "before the checkpoint; skipped");
                    continue;
                }
            }
            todo.push(message);
        }
        Ok(todo)
    }

    /// Applies polled records as one batch ([`Applier::apply_batch_once`]);
    /// records that cannot be decoded go to the DLQ first. A batch the
    /// store refuses for another reason than being unavailable is applied
    /// again record by record, so only a poison record goes to the DLQ.
    async fn process(
        &mut self,
        todo: Vec<OwnedMessage>,
        stop: &Shutdown,
    ) -> Result<Handled, WorkerError> {
        let mut batch = Batch::default();
        let mut poison: Vec<(usize, String)> = Vec::new();
        for (index, message) in todo.iter().enumerate() {
            let key = (message.topic().to_string(), message.partition());
            let expected_next = self.next.get(&key).copied();
            batch
                .partitions
                .entry(key)
                .and_modify(|end| end.last_offset = end.last_offset.max(message.offset()))
                .or_insert(PartitionEnd {
                    expected_next,
                    last_offset: message.offset(),
                });
            match decode(&self.services.decoder, message.payload(), stop).await {
                Ok(event) => batch.records.push((
                    KafkaPosition {
                        topic: message.topic().to_string(),
                        partition: message.partition(),
                        offset: message.offset(),
                        expected_next,
                    },
                    event,
                )),
                Err(error) if error.retriable => return Ok(Handled::Stopped),
                Err(error) => {
                    let _span = record_span(self.name, message).entered();
                    tracing::error!(%error, "undecodable record; sending it to the DLQ");
                    poison.push((index, error.to_string()));
                }
            }
        }
        for (index, failure) in &poison {
            let sent = self
                .services
                .dead_letters
                .send(&todo[*index], self.name, failure, stop)
                .await;
            if sent.is_err() {
                return Ok(Handled::Stopped);
            }
        }
        let poison: Vec<usize> = poison.into_iter().map(|(index, _)| index).collect();
        metrics::histogram!("lms_projection_batch_records", "projection" => self.name)
            .record(todo.len() as f64);
        let mut attempt: u32 = 0;
        let outcome = loop {
            match self.applier.apply_batch_once(&batch).await {
                Ok(outcome) => break Some(outcome),
                Err(_) if stop.is_cancelled() => return Ok(Handled::Stopped),
                Err(error) if error.is_unavailable() => {
                    attempt = attempt.saturating_add(1);
                    let delay = backoff(attempt);
                    tracing::warn!(%error, attempt, ?delay, "store unavailable; retrying the batch");
                    tokio::time::sleep(delay).await;
                }
                Err(error) => {
                    tracing::warn!(%error, records = todo.len(), "batch refused; applying its records one by one");
                    break None;
                }
            }
        };
        let Some(outcome) = outcome else {
            return self.process_each(todo, &poison, stop).await;
        };
        metrics::counter!("lms_projection_applied_total", "projection" => self.name)
            .increment(outcome.applied as u64);
        let rewound: HashMap<(String, i32), i64> = outcome.rewound.into_iter().collect();
        let mut done = TopicPartitionList::new();
        for (key, end) in &batch.partitions {
            if let Some(next) = rewound.get(key) {
                self.rewind(key, *next).await?;
                continue;
            }
            self.next.insert(key.clone(), end.last_offset + 1);
            done.add_partition_offset(&key.0, key.1, Offset::Offset(end.last_offset + 1))?;
        }
        self.commit_offsets(&done);
        Ok(Handled::Done)
    }

    /// The per-record path over a batch the store refused as a whole.
    async fn process_each(
        &mut self,
        todo: Vec<OwnedMessage>,
        poison: &[usize],
        stop: &Shutdown,
    ) -> Result<Handled, WorkerError> {
        let mut rewound: std::collections::HashSet<(String, i32)> = Default::default();
        for (index, message) in todo.iter().enumerate() {
            let key = (message.topic().to_string(), message.partition());
            if rewound.contains(&key) {
                continue;
            }
            if poison.contains(&index) {
                let position = KafkaPosition {
                    topic: key.0.clone(),
                    partition: key.1,
                    offset: message.offset(),
                    expected_next: None,
                };
                if !self.skip_past(&position, stop).await {
                    return Ok(Handled::Stopped);
                }
            } else {
                match self.handle(message, stop).await? {
                    Handled::Stopped => return Ok(Handled::Stopped),
                    Handled::Rewound(next) => {
                        self.rewind(&key, next).await?;
                        rewound.insert(key);
                        continue;
                    }
                    Handled::Done => {}
                }
            }
            self.next.insert(key.clone(), message.offset() + 1);
            let mut done = TopicPartitionList::new();
            done.add_partition_offset(&key.0, key.1, Offset::Offset(message.offset() + 1))?;
            self.commit_offsets(&done);
        }
        Ok(Handled::Done)
    }

    fn commit_offsets(&self, done: &TopicPartitionList) {
        if done.count() == 0 {
            return;
        }
        if let Err(error) = self.consumer.commit(done, CommitMode::Async) {
            tracing::warn!(%error, "offset commit failed (the checkpoint table holds it)");
        }
    }

    /// Moves the checkpoint past a dead-lettered record, retrying until it
    /// moved (true) or `stop` (false).
    async fn skip_past(&self, position: &KafkaPosition, stop: &Shutdown) -> bool {
        let mut attempt: u32 = 0;
        while let Err(error) = self.applier.skip_record(position).await {
            if stop.is_cancelled() {
                return false;
            }
            attempt = attempt.saturating_add(1);
            tracing::warn!(%error, attempt, "cannot move the checkpoint; retrying");
            tokio::time::sleep(backoff(attempt)).await;
        }
        true
    }

    /// After a rebalance: holds the new partitions from their checkpoints.
    async fn take_assignment(&mut self) {
        if let Some(assigned) = self.consumer.context().take_fresh() {
            self.next = self.checkpoints_of(assigned).await;
            self.sought.clear();
            let now = std::time::Instant::now();
            self.unverified = self
                .next
                .iter()
                .filter(|(_, next)| **next > 0)
                .map(|(key, _)| (key.clone(), now))
                .collect();
        }
    }

    /// The checkpoint of each assigned partition (0 when it has none). On
    /// failure the per-record check in the apply transaction corrects.
    async fn checkpoints_of(&self, assigned: Vec<(String, i32)>) -> Held {
        let table = match self.checkpoint_table().await {
            Ok(table) => table,
            Err(error) => {
                tracing::warn!(%error, "cannot read the checkpoints on assignment; starting from Kafka's offsets");
                return Held::new();
            }
        };
        let held: Held = assigned
            .into_iter()
            .map(|key| {
                let next = table.get(&key).copied().unwrap_or(0);
                (key, next)
            })
            .collect();
        tracing::info!(projection = self.name, assigned = ?held, "checkpoints of the assigned partitions");
        held
    }

    /// A checkpoint past the partition's end means the log it counted is
    /// gone (the topic was recreated, e.g. a fresh local broker beside an
    /// old database): every record would be skipped as "already applied".
    /// Such a partition is read again from its log start; the `applied`
    /// sequences skip any event that was applied before, so nothing counts
    /// twice. Judged only on watermarks read after the assignment (an older
    /// high watermark may predate records this worker applied since).
    async fn verify_within_log(&mut self) {
        if self.unverified.is_empty() {
            return;
        }
        let view = self.view.borrow().clone();
        let Some(read_at) = view.read_at else { return };
        let settled: Vec<((String, i32), i64, i64)> = self
            .unverified
            .iter()
            .filter(|(_, assigned_at)| read_at > **assigned_at)
            .filter_map(|(key, _)| {
                let (low, high) = view.watermarks.get(key).copied()?;
                Some((key.clone(), low, high))
            })
            .collect();
        for (key, low, high) in settled {
            self.unverified.remove(&key);
            let Some(next) = self.next.get(&key).copied() else {
                continue;
            };
            if next <= high {
                continue;
            }
            tracing::error!(
                projection = self.name,
                topic = %key.0,
                partition = key.1,
                checkpoint = next,
                high_watermark = high,
                "checkpoint beyond the end of the log (topic recreated?); reading it again from its start"
            );
            match bookkeeping::move_back(
                &self.services.pool,
                self.schema,
                self.name,
                &key,
                next,
                low,
            )
            .await
            {
                Ok(()) => {
                    metrics::counter!("lms_projection_log_resets_total", "projection" => self.name)
                        .increment(1);
                    self.seek(&key, low).await;
                }
                Err(error) => tracing::warn!(%error, "cannot move the checkpoint back; keeping it"),
            }
        }
    }

    /// The checkpoint table of this projection.
    async fn checkpoint_table(&self) -> Result<Held, sqlx::Error> {
        let mut conn = self.services.pool.acquire().await?;
        Ok(bookkeeping::checkpoints(&mut conn, self.schema, self.name)
            .await?
            .into_iter()
            .map(|(t, p, n)| ((t, p), n))
            .collect())
    }

    /// Reads a partition again from `next`, the checkpoint table's offset
    /// (behind what this worker read: a rebuild swapped in an older
    /// position). Records no longer on Kafka are reported and passed over.
    async fn rewind(&mut self, key: &(String, i32), next: i64) -> Result<(), WorkerError> {
        let mut next = next;
        let low = self.view.borrow().low(key);
        if let Some(low) = low.filter(|low| *low > next) {
            tracing::error!(topic = %key.0, partition = key.1, next, low, "records before the log start are gone; the checkpoint moves to it");
            let gone = KafkaPosition {
                topic: key.0.clone(),
                partition: key.1,
                offset: low - 1,
                expected_next: None,
            };
            if let Err(error) = self.applier.skip_record(&gone).await {
                // The next record shows the rewind again.
                tracing::warn!(%error, "cannot move the checkpoint to the log start");
                return Ok(());
            }
            next = low;
        }
        tracing::info!(topic = %key.0, partition = key.1, next, "checkpoint table is behind; reading again from it");
        self.seek(key, next).await;
        metrics::counter!("lms_projection_rewinds_total", "projection" => self.name).increment(1);
        Ok(())
    }

    /// Reads a held partition again from `next` (a local operation of the
    /// consumer, no broker round trip).
    async fn seek(&mut self, key: &(String, i32), next: i64) {
        if let Err(error) =
            self.consumer
                .seek(&key.0, key.1, Offset::Offset(next), Duration::from_secs(5))
        {
            // The next record of the partition shows the rewind again.
            tracing::warn!(%error, "seek failed; retrying on the next record");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.next.insert(key.clone(), next);
    }

    /// Rewinds held partitions whose checkpoint moved back while idle (no
    /// record would show it otherwise).
    async fn reconcile(&mut self) -> Result<(), WorkerError> {
        if self.next.is_empty() {
            return Ok(());
        }
        let table = self.checkpoint_table().await?;
        let behind: Vec<((String, i32), i64)> = self
            .next
            .iter()
            .filter_map(|(key, next)| {
                let at = table.get(key).copied().unwrap_or(0);
                (at < *next).then(|| (key.clone(), at))
            })
            .collect();
        for (key, at) in behind {
            self.rewind(&key, at).await?;
        }
        Ok(())
    }

    async fn handle(
        &self,
        message: &OwnedMessage,
        stop: &Shutdown,
    ) -> Result<Handled, WorkerError> {
        let position = KafkaPosition {
            topic: message.topic().to_string(),
            partition: message.partition(),
            offset: message.offset(),
            expected_next: self
                .next
                .get(&(message.topic().to_string(), message.partition()))
                .copied(),
        };
        async {
            let max = self.services.config.max_handler_retries;
            let failure = match decode(&self.services.decoder, message.payload(), stop).await {
                Ok(event) => match self.applier.apply(&event, Some(&position), max, stop).await {
                    Ok(Outcome::Applied) => {
                        metrics::counter!("lms_projection_applied_total", "projection" => self.name)
                            .increment(1);
                        return Ok(Handled::Done);
                    }
                    Ok(Outcome::Skipped) => {
                        tracing::debug!("already applied; skipped");
                        return Ok(Handled::Done);
                    }
                    Ok(Outcome::Rewound(next)) => return Ok(Handled::Rewound(next)),
                    Err(_) if stop.is_cancelled() => return Ok(Handled::Stopped),
                    Err(error) => error.to_string(),
                },
                Err(error) if error.retriable => return Ok(Handled::Stopped),
                Err(error) => error.to_string(),
            };
            tracing::error!(error = %failure, "poison record; sending it to the DLQ");
            let sent = self
                .services
                .dead_letters
                .send(message, self.name, &failure, stop)
                .await;
            if sent.is_err() {
                return Ok(Handled::Stopped);
            }
            if self.skip_past(&position, stop).await {
                Ok(Handled::Done)
            } else {
                Ok(Handled::Stopped)
            }
        }
        .instrument(record_span(self.name, message))
        .await
    }

    /// `lms_projection_lag` = high watermark − next offset, per held
    /// partition, from the latest broker view; sets the warm marker once
    /// every assigned partition is caught up.
    async fn report_lag(&mut self) {
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
        let view = self.view.borrow().clone();
        let max_age = Duration::from_millis(self.services.config.lag_interval_ms.max(100) * 3);
        let Some(view) = view.fresh(max_age) else {
            return;
        };
        if assigned.is_empty() {
            self.check_idle(view.backlog);
        } else {
            self.idle = None;
        }
        let mut caught_up = !assigned.is_empty();
        for key in assigned {
            let Some(high) = view.high(&key) else {
                caught_up = false;
                continue;
            };
            let next = self.next.get(&key).copied();
            let lag = (high - next.unwrap_or(0)).max(0);
            caught_up &= lag == 0;
            if next.is_some() {
                let (topic, partition) = key;
                metrics::gauge!("lms_projection_lag", "projection" => self.name, "topic" => topic, "partition" => partition.to_string())
                    .set(lag as f64);
            }
        }
        if let (true, Some(marker)) = (caught_up, self.warm.as_ref()) {
            let mut redis = self.services.redis.clone();
            let set = tokio::time::timeout(
                Duration::from_secs(2),
                redis::cmd("SET")
                    .arg(marker)
                    .arg("1")
                    .query_async::<()>(&mut redis),
            )
            .await;
            match set {
                Ok(Ok(())) => {
                    tracing::info!(%marker, "caught up from the first offset; Redis is warm");
                    self.warm = None;
                }
                Ok(Err(error)) => tracing::warn!(%error, "cannot set the warm marker"),
                Err(_) => tracing::warn!("cannot set the warm marker: Redis did not answer"),
            }
        }
    }

    /// Holding no partition is normal with more workers than partitions,
    /// as long as someone consumes: when the group's backlog has not shrunk
    /// for `idle_rejoin_after_ms`, rejoin: a member left without partitions
    /// while the backlog stands still recreates its membership.
    fn check_idle(&mut self, backlog: i64) {
        let joined = self
            .consumer
            .context()
            .rebalances
            .load(std::sync::atomic::Ordering::SeqCst);
        if joined == 0 {
            // Still joining: nothing to judge yet.
            return;
        }
        let now = std::time::Instant::now();
        let patience = Duration::from_millis(self.services.config.idle_rejoin_after_ms);
        match self.idle {
            Some((since, before)) if backlog > 0 && backlog >= before => {
                if now.duration_since(since) < patience {
                    return;
                }
                tracing::warn!(
                    projection = self.name,
                    backlog,
                    "holding no partition while nobody consumes the backlog; rejoining the group"
                );
                metrics::counter!("lms_projection_rejoins_total", "projection" => self.name)
                    .increment(1);
                self.consumer.unsubscribe();
                let names: Vec<&str> = self.topics.iter().map(String::as_str).collect();
                if let Err(error) = self.consumer.subscribe(&names) {
                    tracing::error!(%error, "cannot subscribe again");
                }
                self.idle = None;
            }
            _ => self.idle = Some((now, backlog)),
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
