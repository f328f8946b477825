//! The worker's view of the broker, read off the consume path: a task with a
//! Kafka client of its own reads the watermarks of the projection's
//! partitions and the group's committed offsets every `lag_interval_ms`,
//! each call bounded by a timeout, and publishes the latest snapshot. The
//! consume loop only reads that snapshot, so a broker that never answers
//! these calls delays the lag metrics, never a record.

use crate::config::Config;
use lms_runtime::Shutdown;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A topic partition.
pub type Partition = (String, i32);

/// What the broker said at `read_at`.
#[derive(Debug, Clone, Default)]
pub struct BrokerView {
    /// (low, high) watermark of each partition of the projection's topics.
    pub watermarks: HashMap<Partition, (i64, i64)>,
    /// Records of those topics the group has not committed yet.
    pub backlog: i64,
    /// When it was read (None: never yet).
    pub read_at: Option<Instant>,
}

impl BrokerView {
    /// The view, if it was read within `max_age`.
    pub fn fresh(&self, max_age: Duration) -> Option<&Self> {
        self.read_at
            .filter(|at| at.elapsed() <= max_age)
            .map(|_| self)
    }

    pub fn low(&self, partition: &Partition) -> Option<i64> {
        self.watermarks.get(partition).map(|(low, _)| *low)
    }

    pub fn high(&self, partition: &Partition) -> Option<i64> {
        self.watermarks.get(partition).map(|(_, high)| *high)
    }
}

/// Each broker call of the reader waits at most this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Starts the reader task; it ends when `stop` turns true. The receiver
/// always holds the latest view (an empty one until the first read).
pub fn spawn(
    config: &Config,
    projection: &'static str,
    topics: Vec<String>,
    stop: Shutdown,
) -> Result<watch::Receiver<Arc<BrokerView>>, KafkaError> {
    let brokers = if config.kafka_lag_brokers.is_empty() {
        &config.kafka_brokers
    } else {
        &config.kafka_lag_brokers
    };
    // Never subscribes: the group id only lets it read the group's offsets.
    let client: Arc<BaseConsumer> = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", config.consumer_group(projection))
            .set("enable.auto.commit", "false")
            .set("socket.timeout.ms", "10000")
            .create()?,
    );
    let (tx, rx) = watch::channel(Arc::new(BrokerView::default()));
    let interval = Duration::from_millis(config.lag_interval_ms.max(100));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut in_flight: Option<tokio::task::JoinHandle<Result<BrokerView, KafkaError>>> = None;
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => {}
            }
            let mut read = match in_flight.take() {
                // A read still waiting on the broker is not doubled.
                Some(pending) if !pending.is_finished() => {
                    metrics::counter!("lms_projection_broker_view_stalls_total", "projection" => projection)
                        .increment(1);
                    in_flight = Some(pending);
                    continue;
                }
                Some(done) => done,
                None => {
                    let (client, topics) = (client.clone(), topics.clone());
                    tokio::task::spawn_blocking(move || read_view(&client, &topics))
                }
            };
            match tokio::time::timeout(interval, &mut read).await {
                Ok(result) => publish(&tx, projection, result),
                // Goes on by itself; a later tick takes its result.
                Err(_) => in_flight = Some(read),
            }
        }
    });
    Ok(rx)
}

fn publish(
    tx: &watch::Sender<Arc<BrokerView>>,
    projection: &'static str,
    read: Result<Result<BrokerView, KafkaError>, tokio::task::JoinError>,
) {
    match read {
        Ok(Ok(view)) => {
            metrics::gauge!("lms_projection_backlog", "projection" => projection)
                .set(view.backlog as f64);
            tx.send_replace(Arc::new(view));
        }
        Ok(Err(error)) => {
            metrics::counter!("lms_projection_broker_view_failures_total", "projection" => projection)
                .increment(1);
            tracing::warn!(projection, %error, "cannot read the partitions' watermarks");
        }
        Err(error) => tracing::warn!(projection, %error, "watermark reader failed"),
    }
}

/// One round of broker calls, each bounded by [`CALL_TIMEOUT`].
fn read_view(client: &BaseConsumer, topics: &[String]) -> Result<BrokerView, KafkaError> {
    let mut view = BrokerView::default();
    let mut all = TopicPartitionList::new();
    let mut high_total = 0i64;
    for topic in topics {
        let metadata = client.fetch_metadata(Some(topic), CALL_TIMEOUT)?;
        for t in metadata.topics() {
            for p in t.partitions() {
                let (low, high) = client.fetch_watermarks(topic, p.id(), CALL_TIMEOUT)?;
                view.watermarks.insert((topic.clone(), p.id()), (low, high));
                high_total += high;
                all.add_partition(topic, p.id());
            }
        }
    }
    let committed = client.committed_offsets(all, CALL_TIMEOUT)?;
    let done: i64 = committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum();
    view.backlog = (high_total - done).max(0);
    view.read_at = Some(Instant::now());
    Ok(view)
}
