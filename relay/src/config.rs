//! Settings of the relay: `LMS_*` environment variables with local defaults.

use lms_runtime::{LogFormat, SecretString, Settings};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RelayConfig {
    pub database_url: SecretString,
    pub db_max_connections: u32,
    /// Kafka bootstrap servers.
    pub kafka_brokers: String,
    pub schema_registry_url: String,
    /// The registry's admin credential (HTTP Basic): the relay registers
    /// the schemas it publishes with. An empty password sends none.
    pub schema_registry_user: String,
    pub schema_registry_password: SecretString,
    /// Prepended to every topic name (tests use it to isolate their topics).
    pub topic_prefix: String,
    /// Partitions of each topic created at start-up (the projection workers'
    /// parallelism is bounded by it).
    pub topic_partitions: i32,
    pub topic_replication: i32,
    pub batch_size: i64,
    /// About how many bytes of events one batch loads (at least one event).
    pub batch_max_bytes: i64,
    /// The largest record the producer sends (librdkafka's
    /// `message.max.bytes`): keep it at or below the broker's and topics'
    /// limit, so a record too large fails before later ones are sent.
    pub max_record_bytes: i64,
    /// Failed attempts after which an event whose failure retrying cannot
    /// fix moves to `outbox_dead_letters` (its aggregate waits behind it).
    pub dead_letter_after_attempts: i32,
    /// Published outbox rows are deleted this long after publication (0:
    /// kept); the event itself stays in the store.
    pub outbox_retention_hours: u64,
    /// The commands' idempotency record is deleted after this long (0:
    /// kept): a command id retried later runs again as a new command.
    pub command_log_retention_hours: u64,
    /// How often the leader prunes.
    pub prune_interval_secs: u64,
    /// Fallback poll when no NOTIFY arrives.
    pub poll_interval_ms: u64,
    /// How long the producer keeps retrying one message before reporting failure.
    pub delivery_timeout_ms: u64,
    /// Kafka's idempotent producer (broker-side dedupe of retries). Off only
    /// for brokers that mishandle it; order is then kept with one request in
    /// flight per connection.
    pub producer_idempotence: bool,
    /// The lease row electing the single active relay (relays sharing a
    /// database and a name elect one leader).
    pub leader_lease_name: String,
    /// How long a lease lasts without renewal: a standby takes over at most
    /// about this long after the leader stopped renewing (crashed, cut
    /// off). A batch (bounded by `delivery_timeout_ms`) must fit in it.
    pub leader_lease_ms: u64,
    pub metrics_addr: String,
    pub log_format: LogFormat,
    pub log: String,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            database_url: "postgres://postgres@127.0.0.1:5432/lms".into(),
            db_max_connections: 5,
            kafka_brokers: "127.0.0.1:9092".into(),
            schema_registry_url: "http://127.0.0.1:8081".into(),
            schema_registry_user: "lms-admin".into(),
            schema_registry_password: SecretString::from(""),
            topic_prefix: String::new(),
            topic_partitions: 6,
            topic_replication: 1,
            batch_size: 2000,
            batch_max_bytes: 8 * 1024 * 1024,
            max_record_bytes: 1_000_000,
            dead_letter_after_attempts: 5,
            outbox_retention_hours: 24,
            command_log_retention_hours: 720,
            prune_interval_secs: 300,
            poll_interval_ms: 500,
            delivery_timeout_ms: 10_000,
            producer_idempotence: true,
            leader_lease_name: "lms-relay".into(),
            leader_lease_ms: 15_000,
            metrics_addr: "127.0.0.1:9102".into(),
            log_format: LogFormat::Text,
            log: "info".into(),
        }
    }
}

impl Settings for RelayConfig {}

impl RelayConfig {
    pub fn leader_lease(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.leader_lease_ms.max(300))
    }

    pub fn topic(&self, base: &str) -> String {
        format!("{}{}", self.topic_prefix, base)
    }
}
