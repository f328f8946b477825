//! Avro encoding through the schema registry and the idempotent Kafka producer.

use super::{PendingEvent, RelayConfig, RelayError};
use apache_avro::writer::datum::GenericDatumWriter;
use lms_runtime::ExposeSecret;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use schema_registry_converter::async_impl::avro::AvroEncoder;
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Why an event was not published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Not sent: an earlier event of its aggregate failed in this batch, and
    /// sending it would put it on the topic ahead of that one.
    Behind,
    /// Retrying will not help: a record larger than Kafka accepts, a schema
    /// the registry refuses, an event that cannot be encoded.
    Permanent(String),
    /// The broker or the registry is unavailable, a timeout: retried.
    Transient(String),
}

impl Failure {
    fn kafka(stage: &str, error: &KafkaError) -> Self {
        let text = format!("{stage}: {error}");
        match error.rdkafka_error_code() {
            Some(
                RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord,
            ) => Failure::Permanent(text),
            _ => Failure::Transient(text),
        }
    }
}

/// A record type's Confluent prefix (magic byte, registered schema id) and
/// a writer for its schema: after the registry answered once, events of that
/// type are encoded without going through the registry client again.
struct Encoding {
    prefix: [u8; 5],
    writer: GenericDatumWriter<'static>,
}

impl Encoding {
    fn encode(&self, value: &apache_avro::types::Value) -> Result<Vec<u8>, Failure> {
        let mut bytes = Vec::with_capacity(256);
        bytes.extend_from_slice(&self.prefix);
        self.writer
            .write_value_ref(&mut bytes, value)
            .map_err(|e| Failure::Permanent(format!("encoding: {e}")))?;
        Ok(bytes)
    }
}

pub struct Publisher {
    producer: FutureProducer,
    encoder: AvroEncoder,
    /// By subject.
    encodings: Mutex<HashMap<String, Arc<Encoding>>>,
    brokers: String,
    topic_prefix: String,
}

impl Publisher {
    pub fn new(config: &RelayConfig) -> Result<Self, RelayError> {
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.kafka_brokers)
            .set("acks", "all")
            .set("message.timeout.ms", config.delivery_timeout_ms.to_string())
            .set("linger.ms", "5")
            // Checked when a record is enqueued, before anything later of
            // its aggregate is sent: not above the broker's limit.
            .set("message.max.bytes", config.max_record_bytes.to_string());
        if config.producer_idempotence {
            // Broker-side dedupe of retries; order kept per partition.
            client.set("enable.idempotence", "true");
        } else {
            // Without idempotence, retries could reorder unless one request
            // is in flight at a time.
            client
                .set("enable.idempotence", "false")
                .set("max.in.flight.requests.per.connection", "1");
        }
        let producer: FutureProducer = client.create()?;
        Ok(Self {
            producer,
            encoder: AvroEncoder::new(registry_settings(config)?),
            encodings: Mutex::new(HashMap::new()),
            brokers: config.kafka_brokers.clone(),
            topic_prefix: config.topic_prefix.clone(),
        })
    }

    pub fn fatal_error(&self) -> Option<String> {
        self.producer
            .client()
            .fatal_error()
            .map(|(code, reason)| format!("{code}: {reason}"))
    }

    /// Creates the per-aggregate topics if missing (brokers here and in
    /// production run with topic auto-creation off).
    pub async fn ensure_topics(&self, config: &RelayConfig) -> Result<(), RelayError> {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()?;
        let names: Vec<String> = lms_schemas::TOPICS
            .iter()
            .map(|t| config.topic(t))
            .collect();
        let topics: Vec<NewTopic<'_>> = names
            .iter()
            .map(|name| {
                NewTopic::new(
                    name,
                    config.topic_partitions,
                    TopicReplication::Fixed(config.topic_replication),
                )
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        for result in admin.create_topics(&topics, &options).await? {
            match result {
                Ok(topic) => tracing::info!(%topic, "topic created"),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(RelayError::TopicCreation {
                        topic,
                        error: code.to_string(),
                    })
                }
            }
        }
        Ok(())
    }

    /// Enqueues the batch in position order without waiting for the broker;
    /// one entry per event. Once an event of an aggregate cannot be enqueued
    /// (or its aggregate is in `blocked`, failed in a batch still in
    /// flight), that aggregate's later events are not sent
    /// ([`Failure::Behind`]) and it joins `blocked`.
    pub async fn send_batch(
        &self,
        batch: &[PendingEvent],
        blocked: &mut HashSet<(String, String)>,
    ) -> Vec<Result<DeliveryFuture, Failure>> {
        let mut sent = Vec::with_capacity(batch.len());
        for event in batch {
            if !blocked.is_empty()
                && blocked.contains(&(event.aggregate_type.clone(), event.aggregate_id.clone()))
            {
                sent.push(Err(Failure::Behind));
                continue;
            }
            let meta = |key: &str| {
                event
                    .metadata
                    .get(key)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string()
            };
            // The command's correlation and causation ids continue here and
            // travel on in the Kafka headers.
            let span = tracing::debug_span!(
                "publish",
                event_type = %event.event_type,
                aggregate_id = %event.aggregate_id,
                sequence = event.sequence,
                event_id = %meta("event_id"),
                correlation_id = %meta("correlation_id"),
                causation_id = %meta("causation_id"),
            );
            let result = self.send(event).instrument(span).await;
            if result.is_err() {
                blocked.insert((event.aggregate_type.clone(), event.aggregate_id.clone()));
            }
            sent.push(result);
        }
        sent
    }

    /// Waits for the broker's answer to each event [`Self::send_batch`]
    /// enqueued; one result per event.
    pub async fn acknowledged(
        batch: &[PendingEvent],
        sent: Vec<Result<DeliveryFuture, Failure>>,
    ) -> Vec<Result<(), Failure>> {
        let started = Instant::now();
        let mut results = Vec::with_capacity(batch.len());
        for (event, sent) in batch.iter().zip(sent) {
            let result = match sent {
                Ok(delivery) => match delivery.await {
                    Ok(Ok(_)) => {
                        let lag = (chrono::Utc::now() - event.recorded_at)
                            .num_milliseconds()
                            .max(0);
                        metrics::histogram!("lms_outbox_publish_latency_seconds")
                            .record(lag as f64 / 1000.0);
                        Ok(())
                    }
                    Ok(Err((error, _))) => Err(Failure::kafka("delivery", &error)),
                    Err(_) => Err(Failure::Transient("delivery cancelled".to_string())),
                },
                Err(error) => Err(error),
            };
            results.push(result);
        }
        tracing::debug!(events = batch.len(), waited = ?started.elapsed(), "batch acknowledged");
        results
    }

    /// Encodes through the registry client, which registers the schema (or
    /// finds it) under the subject on first use.
    async fn register_and_encode(
        &self,
        topic: &str,
        avro: &lms_schemas::AvroEvent,
    ) -> Result<Vec<u8>, Failure> {
        let apache_avro::types::Value::Record(fields) = &avro.value else {
            return Err(Failure::Permanent(
                "encoding: event is not an Avro record".into(),
            ));
        };
        let strategy = SubjectNameStrategy::TopicRecordNameStrategyWithSchema(
            topic.to_string(),
            SuppliedSchema::new(
                Some(avro.record_name.clone()),
                SchemaType::Avro,
                avro.schema_json.to_string(),
            ),
        );
        let values: Vec<(&str, apache_avro::types::Value)> = fields
            .iter()
            .map(|(name, value)| (name.as_str(), value.clone()))
            .collect();
        self.encoder.encode(values, strategy).await.map_err(|e| {
            let text = format!("schema registry: {e}");
            // Only a refusal of this schema is final (409 incompatible,
            // 422 invalid); an outage or a credential problem is not.
            let refused = [e.error.as_str(), e.cause.as_deref().unwrap_or_default()]
                .iter()
                .any(|t| t.contains("status 409") || t.contains("status 422"));
            if refused && !e.retriable {
                Failure::Permanent(text)
            } else {
                Failure::Transient(text)
            }
        })
    }

    /// Keeps the schema id the registry gave `subject` (in `bytes`) and a
    /// writer for `schema`, the same schema the registry was sent.
    fn remember(&self, subject: String, bytes: &[u8], schema: &'static apache_avro::Schema) {
        let Some(prefix) = bytes.get(..5).and_then(|b| <[u8; 5]>::try_from(b).ok()) else {
            return;
        };
        let Ok(writer) = GenericDatumWriter::builder(schema).build() else {
            return;
        };
        if let Ok(mut encodings) = self.encodings.lock() {
            encodings.insert(subject, Arc::new(Encoding { prefix, writer }));
        }
    }

    async fn send(&self, event: &PendingEvent) -> Result<DeliveryFuture, Failure> {
        let stored = lms_schemas::StoredEvent {
            aggregate_type: &event.aggregate_type,
            aggregate_id: &event.aggregate_id,
            sequence: event.sequence,
            event_type: &event.event_type,
            event_version: &event.event_version,
            payload: &event.payload,
            metadata: &event.metadata,
        };
        let avro = lms_schemas::to_avro(&stored)
            .map_err(|e| Failure::Permanent(format!("encoding: {e}")))?;
        let topic = format!("{}{}", self.topic_prefix, avro.topic);
        let subject = format!("{topic}-{}", avro.record_name);
        let known = self
            .encodings
            .lock()
            .ok()
            .and_then(|encodings| encodings.get(&subject).cloned());
        let bytes = match known {
            Some(encoding) => encoding.encode(&avro.value)?,
            None => {
                let bytes = self.register_and_encode(&topic, &avro).await?;
                self.remember(subject, &bytes, avro.schema);
                bytes
            }
        };
        // Confluent wire format: magic byte 0, then the 4-byte schema id.
        let schema_id = bytes
            .get(1..5)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
            .unwrap_or_default()
            .to_string();
        let meta = |key: &str| {
            event
                .metadata
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
        };
        let headers = OwnedHeaders::new()
            .insert(header("event_id", meta("event_id")))
            .insert(header("event_type", &event.event_type))
            .insert(header("schema_id", &schema_id))
            .insert(header("correlation_id", meta("correlation_id")))
            .insert(header("causation_id", meta("causation_id")))
            .insert(header("tenant_id", meta("tenant_id")));
        let record = FutureRecord::to(&topic)
            .key(&event.aggregate_id)
            .payload(&bytes)
            .headers(headers);
        self.producer
            .send_result(record)
            .map_err(|(error, _)| Failure::kafka("enqueue", &error))
    }
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}

/// The registry's address, with the admin credential when one is set.
fn registry_settings(
    config: &RelayConfig,
) -> Result<SrSettings, schema_registry_converter::error::SRCError> {
    let password = config.schema_registry_password.expose_secret();
    if password.is_empty() {
        return Ok(SrSettings::new(config.schema_registry_url.clone()));
    }
    SrSettings::new_builder(config.schema_registry_url.clone())
        .set_basic_authorization(&config.schema_registry_user, Some(password))
        .build()
}
