//! Kafka for tests: the shared test broker with per-test topic prefixes, a
//! private broker a test may stop and restart, and readers of what a topic
//! holds.

use crate::paths::workspace_root;
use crate::ports::free_port;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use schema_registry_converter::async_impl::avro::AvroDecoder;
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use crate::{shared_brokers, topic_prefix};

/// The broker's jars, resolved by `scripts/infra.sh up` (LMS_KAFKA_LIB, or
/// the checkout's .lms/kafka/lib).
fn kafka_lib() -> PathBuf {
    std::env::var_os("LMS_KAFKA_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".lms/kafka/lib"))
}

/// An Apache Kafka broker of this test's own (KRaft, one node, data in a
/// temp dir), so the test can take it down without disturbing others.
pub struct PrivateBroker {
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateBroker {
    pub async fn start() -> PrivateBroker {
        let port = free_port();
        let controller = free_port();
        let dir = std::env::temp_dir().join(format!("lms-kafka-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(dir.join("data")).expect("broker dir");
        let properties = format!(
            "process.roles=broker,controller\n\
             node.id=1\n\
             controller.quorum.bootstrap.servers=127.0.0.1:{controller}\n\
             listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
             controller.listener.names=CONTROLLER\n\
             inter.broker.listener.name=PLAINTEXT\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
             log.dirs={data}\n\
             auto.create.topics.enable=false\n\
             offsets.topic.replication.factor=1\n\
             offsets.topic.num.partitions=3\n\
             transaction.state.log.replication.factor=1\n\
             transaction.state.log.min.isr=1\n\
             share.coordinator.state.topic.replication.factor=1\n\
             share.coordinator.state.topic.min.isr=1\n\
             group.initial.rebalance.delay.ms=0\n",
            data = dir.join("data").display()
        );
        std::fs::write(dir.join("server.properties"), properties).expect("properties");
        let log = std::fs::File::create(dir.join("kafka.log")).expect("log");
        let formatted = Command::new("java")
            .arg("-cp")
            .arg(kafka_lib().join("*"))
            .args(["kafka.tools.StorageTool", "format", "--standalone"])
            .args(["-t", &uuid::Uuid::now_v7().simple().to_string(), "-c"])
            .arg(dir.join("server.properties"))
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .status()
            .expect("run Kafka's StorageTool (java and scripts/infra.sh up's jars)");
        assert!(formatted.success(), "formatting {} failed", dir.display());
        let mut broker = PrivateBroker {
            port,
            dir,
            child: None,
        };
        broker.resume().await;
        broker
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same ports and storage; returns once a client's
    /// metadata request is answered.
    pub async fn resume(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("kafka.log"))
            .expect("log");
        let child = Command::new("java")
            .args(["-Xms128m", "-Xmx384m", "-XX:+UseG1GC"])
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                workspace_root()
                    .join("scripts/kafka/log4j2.properties")
                    .display()
            ))
            .arg("-cp")
            .arg(kafka_lib().join("*"))
            .arg("kafka.Kafka")
            .arg(self.dir.join("server.properties"))
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start Kafka (java and scripts/infra.sh up's jars)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        let brokers = self.brokers();
        loop {
            let probe = brokers.clone();
            let ready = tokio::task::spawn_blocking(move || {
                let consumer: BaseConsumer = ClientConfig::new()
                    .set("bootstrap.servers", &probe)
                    .set("log_level", "0")
                    .create()
                    .expect("probe client");
                consumer
                    .fetch_metadata(None, Duration::from_secs(2))
                    .map(|metadata| !metadata.brokers().is_empty())
                    .unwrap_or(false)
            })
            .await
            .expect("probe task");
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Kafka did not start on port {} (log: {})",
                self.port,
                self.dir.join("kafka.log").display()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops the broker: SIGTERM (a controlled shutdown), SIGKILL after 30 s.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("Kafka data and log kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// One record read back from Kafka.
#[derive(Debug, Clone)]
pub struct Consumed {
    pub topic: String,
    pub key: String,
    pub event_id: String,
    pub event_type: String,
    pub correlation_id: String,
    pub schema_id: String,
    pub record_name: String,
    pub sequence: i64,
}

/// A header's value as text.
pub fn header<M: Message>(message: &M, name: &str) -> Option<String> {
    message.headers().and_then(|headers| {
        headers
            .iter()
            .find(|h| h.key == name)
            .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).to_string()))
    })
}

fn header_text<M: Message>(message: &M, name: &str) -> String {
    header(message, name).unwrap_or_default()
}

/// A consumer of a group of its own, reading from the earliest offset and
/// committing nothing.
fn reader(brokers: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set(
            "group.id",
            format!("test-{}", uuid::Uuid::now_v7().simple()),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer")
}

/// Reads every topic from the beginning until `expected` distinct events
/// (by event id; duplicates are kept in the result) arrived or `timeout`
/// passed; decodes each value through the registry.
pub async fn consume_all(
    brokers: &str,
    registry_url: &str,
    topics: &[String],
    expected: usize,
    timeout: Duration,
) -> Vec<Consumed> {
    let consumer = reader(brokers);
    // Assign every partition directly: no group join to wait for.
    let mut assignment = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("topic metadata");
        for t in metadata.topics() {
            for partition in t.partitions() {
                assignment
                    .add_partition_offset(t.name(), partition.id(), Offset::Offset(0))
                    .expect("partition offset");
            }
        }
    }
    consumer.assign(&assignment).expect("assign partitions");
    let decoder = AvroDecoder::new(SrSettings::new(registry_url.to_string()));
    let deadline = Instant::now() + timeout;
    let mut records: Vec<Consumed> = Vec::new();
    let mut distinct = std::collections::HashSet::new();
    while distinct.len() < expected && Instant::now() < deadline {
        let Some(polled) = consumer.poll(Duration::from_millis(200)) else {
            tokio::task::yield_now().await;
            continue;
        };
        let message = polled.expect("kafka message");
        let decoded = decoder
            .decode(message.payload())
            .await
            .expect("avro decode through the registry");
        let sequence = match &decoded.value {
            apache_avro::types::Value::Record(fields) => fields
                .iter()
                .find(|(name, _)| name == "sequence")
                .and_then(|(_, v)| match v {
                    apache_avro::types::Value::Long(n) => Some(*n),
                    apache_avro::types::Value::Int(n) => Some(i64::from(*n)),
                    _ => None,
                })
                .expect("sequence field"),
            other => panic!("not a record: {other:?}"),
        };
        distinct.insert(header_text(&message, "event_id"));
        records.push(Consumed {
            topic: message.topic().to_string(),
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).to_string())
                .unwrap_or_default(),
            event_id: header_text(&message, "event_id"),
            event_type: header_text(&message, "event_type"),
            correlation_id: header_text(&message, "correlation_id"),
            schema_id: header_text(&message, "schema_id"),
            record_name: decoded.name.map(|n| n.fullname(None)).unwrap_or_default(),
            sequence,
        });
    }
    records
}

/// Every record of `topic` from the beginning, until `expected` arrived or `timeout`.
pub fn read_all(
    brokers: &str,
    topic: &str,
    expected: usize,
    timeout: Duration,
) -> Vec<OwnedMessage> {
    let consumer = reader(brokers);
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + timeout;
    let mut records = Vec::new();
    while records.len() < expected && Instant::now() < deadline {
        if let Some(polled) = consumer.poll(Duration::from_millis(200)) {
            records.push(polled.expect("kafka message").detach());
        }
    }
    records
}

/// A producer on `brokers`.
pub fn producer(brokers: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("producer")
}

/// Produces raw bytes to a topic.
pub async fn produce_raw(
    brokers: &str,
    topic: &str,
    key: &str,
    value: &[u8],
    headers: OwnedHeaders,
) {
    producer(brokers)
        .send(
            FutureRecord::to(topic)
                .key(key)
                .payload(value)
                .headers(headers),
            Duration::from_secs(10),
        )
        .await
        .expect("produce raw");
}
