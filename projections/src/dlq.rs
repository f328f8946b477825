//! The dead-letter topic: poison records with their original key, value and
//! headers plus `dlq.error`, `dlq.projection`, `dlq.topic`, `dlq.partition`,
//! `dlq.offset`; and start-up creation of that topic.

use lms_runtime::Shutdown;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::time::Duration;

pub const ERROR: &str = "dlq.error";
pub const PROJECTION: &str = "dlq.projection";
pub const TOPIC: &str = "dlq.topic";
pub const PARTITION: &str = "dlq.partition";
pub const OFFSET: &str = "dlq.offset";
const DLQ_HEADERS: &[&str] = &[ERROR, PROJECTION, TOPIC, PARTITION, OFFSET];

/// Shutdown was asked before the broker acknowledged a dead letter: the
/// caller must not move its checkpoint past the record.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("stopped before the dead letter was acknowledged")]
pub struct Stopped;

#[derive(Clone)]
pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
}

impl DeadLetters {
    pub fn new(brokers: &str, topic: &str) -> Result<Self, KafkaError> {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .create()?;
        Ok(Self {
            producer,
            topic: topic.to_string(),
        })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Sends `message` to the DLQ; retries until the broker acknowledged it
    /// (a dead letter must not be lost before the checkpoint moves past it),
    /// or until `stop` is cancelled. A record that already came from the DLQ
    /// keeps its original `dlq.*` source headers; only the error is replaced.
    pub async fn send<M: Message>(
        &self,
        message: &M,
        projection: &str,
        error: &str,
        stop: &Shutdown,
    ) -> Result<(), Stopped> {
        let mut headers = OwnedHeaders::new();
        let mut source: Option<(String, String, String)> = None;
        if let Some(original) = message.headers() {
            let find = |name: &str| {
                original
                    .iter()
                    .find(|h| h.key == name)
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).to_string())
            };
            if let (Some(t), Some(p), Some(o)) = (find(TOPIC), find(PARTITION), find(OFFSET)) {
                source = Some((t, p, o));
            }
            for h in original.iter().filter(|h| !DLQ_HEADERS.contains(&h.key)) {
                headers = headers.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
        let (topic, partition, offset) = source.unwrap_or_else(|| {
            (
                message.topic().to_string(),
                message.partition().to_string(),
                message.offset().to_string(),
            )
        });
        for (key, value) in [
            (ERROR, error),
            (PROJECTION, projection),
            (TOPIC, topic.as_str()),
            (PARTITION, partition.as_str()),
            (OFFSET, offset.as_str()),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let mut attempt: u32 = 0;
        loop {
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&self.topic).headers(headers.clone());
            if let Some(key) = message.key() {
                record = record.key(key);
            }
            if let Some(value) = message.payload() {
                record = record.payload(value);
            }
            let sent = tokio::select! {
                _ = stop.cancelled() => return Err(Stopped),
                sent = self.producer.send(record, Duration::from_secs(10)) => sent,
            };
            match sent {
                Ok(_) => break,
                Err((e, _)) => {
                    attempt = attempt.saturating_add(1);
                    tracing::warn!(error = %e, attempt, "dead letter not acknowledged; retrying");
                    tokio::select! {
                        _ = stop.cancelled() => return Err(Stopped),
                        _ = tokio::time::sleep(crate::apply::backoff(attempt)) => {}
                    }
                }
            }
        }
        metrics::counter!("lms_projection_dlq_total", "projection" => projection.to_string())
            .increment(1);
        Ok(())
    }
}

/// Partition count of each topic, or an error naming a missing one.
pub fn partitions(brokers: &str, topics: &[String]) -> Result<i32, String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let client: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .map_err(|e| e.to_string())?;
    let mut most = 0;
    for topic in topics {
        let metadata = client
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .map_err(|e| e.to_string())?;
        let count = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none())
            .map(|t| t.partitions().len())
            .unwrap_or(0);
        if count == 0 {
            return Err(format!("topic {topic} does not exist yet"));
        }
        most = most.max(count as i32);
    }
    Ok(most)
}

/// Creates the DLQ topic unless it exists.
pub async fn create_topic(
    brokers: &str,
    topic: &str,
    partitions: i32,
    replication: i32,
) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .map_err(|e: KafkaError| e.to_string())?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    for result in admin
        .create_topics(&[new], &options)
        .await
        .map_err(|e| e.to_string())?
    {
        match result {
            Ok(topic) => tracing::info!(%topic, partitions, "DLQ topic created"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(format!("creating {topic}: {code}")),
        }
    }
    Ok(())
}
