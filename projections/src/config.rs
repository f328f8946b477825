//! Settings of the projection workers: `LMS_*` environment variables with
//! defaults for the local setup (12-factor).

use lms_runtime::{LogFormat, SecretString, Settings};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Postgres holding the read models (schemas catalog, roster, dashboard, billing).
    pub database_url: SecretString,
    pub db_max_connections: u32,
    pub redis_url: SecretString,
    /// Every Redis key starts with `<redis_prefix>:`.
    pub redis_prefix: String,
    /// Kafka bootstrap servers.
    pub kafka_brokers: String,
    pub schema_registry_url: String,
    /// Prepended to every topic name (the DLQ's too) and consumer group
    /// (tests use it to isolate themselves on a shared broker).
    pub topic_prefix: String,
    /// Dead-letter topic, created at start with the input topics' partition count.
    pub dlq_topic: String,
    /// Replication factor of the DLQ topic when this worker creates it.
    pub topic_replication: i32,
    /// Attempts after the first before a failing event goes to the DLQ.
    pub max_handler_retries: u32,
    /// Consumer-group session timeout: how soon a crashed worker's
    /// partitions move to the others (Kafka's 45 s default).
    pub kafka_session_timeout_ms: u32,
    /// Longest a member may go without polling before it leaves the group
    /// (`max.poll.interval.ms`): the bound on how long a hung worker keeps
    /// partitions from the others. Also the rebalance timeout.
    pub kafka_max_poll_interval_ms: u32,
    /// Upper bound of one fetch response (`fetch.max.bytes`); must stay ≥
    /// the largest record (1 MB by default).
    pub kafka_fetch_max_bytes: u32,
    /// How long the broker may hold a fetch that has no data yet
    /// (`fetch.wait.max.ms`, librdkafka's default 500 ms). Apache Kafka
    /// answers as soon as data arrives, so this bounds idle polling, not
    /// the read side's latency.
    pub kafka_fetch_wait_max_ms: u32,
    /// Most records a worker applies in one transaction.
    pub batch_max_records: usize,
    /// How long a worker waits for more records after the first of a batch
    /// (0: only what is already fetched).
    pub batch_linger_ms: u64,
    /// Bootstrap servers of the client that reads watermarks and the
    /// group's committed offsets for the lag metrics (empty: the same as
    /// `kafka_brokers`). It is a client of its own, off the consume path.
    pub kafka_lag_brokers: String,
    /// How often that client reads them (the lag metrics' resolution).
    pub lag_interval_ms: u64,
    /// How long a worker holding no partition waits, while nobody consumes
    /// its projection's backlog, before it rejoins the group.
    pub idle_rejoin_after_ms: u64,
    /// Prometheus `/metrics` listen address.
    pub metrics_addr: String,
    /// `text` or `json` logs.
    pub log_format: LogFormat,
    /// tracing filter, e.g. `info,lms_projections=debug`.
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: "postgres://postgres@127.0.0.1:5432/lms".into(),
            db_max_connections: 10,
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_prefix: "lms".into(),
            kafka_brokers: "127.0.0.1:9092".into(),
            schema_registry_url: "http://127.0.0.1:8081".into(),
            topic_prefix: String::new(),
            dlq_topic: "lms.dlq.v1".into(),
            topic_replication: 1,
            max_handler_retries: 3,
            kafka_session_timeout_ms: 45_000,
            kafka_max_poll_interval_ms: 300_000,
            kafka_fetch_max_bytes: 1_048_576,
            kafka_fetch_wait_max_ms: 500,
            idle_rejoin_after_ms: 30_000,
            batch_max_records: 500,
            batch_linger_ms: 2,
            kafka_lag_brokers: String::new(),
            lag_interval_ms: 2_000,
            metrics_addr: "127.0.0.1:9104".into(),
            log_format: LogFormat::Text,
            log: "info".into(),
        }
    }
}

impl Settings for Config {}

impl Config {
    pub fn topic(&self, base: &str) -> String {
        format!("{}{}", self.topic_prefix, base)
    }

    pub fn dlq(&self) -> String {
        self.topic(&self.dlq_topic)
    }

    /// `lms.projection.<name>`, behind the topic prefix.
    pub fn consumer_group(&self, projection: &str) -> String {
        format!("{}lms.projection.{projection}", self.topic_prefix)
    }

    /// The group `redrive-dlq` reads the DLQ with.
    pub fn redrive_group(&self, projection: &str) -> String {
        format!("{}.redrive", self.consumer_group(projection))
    }
}
