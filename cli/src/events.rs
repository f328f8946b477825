//! `lms events`: reads the event topics lms-relay publishes to, decodes each
//! value (Confluent wire format, Avro) through the schema registry and prints
//! one line per record.
//!
//! Partitions are assigned directly (no group rebalance to wait for, so the
//! idle timeout only counts time with nothing to read); the consumer group id
//! is fresh every run and nothing is committed.

use crate::cli::EventsArgs;
use anyhow::Context as _;
use apache_avro::types::Value as Avro;
use chrono::{DateTime, SecondsFormat};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use schema_registry_converter::async_impl::avro::AvroDecoder;
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use serde_json::{json, Map, Value as Json};
use std::time::Duration;
use tokio::time::Instant;

/// The topics lms-relay publishes to (one per aggregate type), before the prefix.
pub use lms_schemas::TOPICS;

/// The headers lms-relay sets on every record.
const HEADERS: &[&str] = &[
    "event_id",
    "event_type",
    "schema_id",
    "correlation_id",
    "causation_id",
    "tenant_id",
];

/// The envelope every event record starts with (`lms_schemas::envelope::
/// ENVELOPE_FIELDS`); left out of the text lines, which show the key,
/// sequence and event type already.
const ENVELOPE_FIELDS: &[&str] = &[
    "event_id",
    "aggregate_type",
    "aggregate_id",
    "sequence",
    "occurred_at",
    "correlation_id",
    "causation_id",
    "actor_id",
    "actor_role",
    "tenant_id",
    "command_id",
];

/// Reads until `--max` records or `--idle-timeout`; `Ok(false)` when a
/// record could not be decoded (reported on stderr, reading goes on).
pub async fn run(args: &EventsArgs, json: bool) -> anyhow::Result<bool> {
    let idle = Duration::try_from_secs_f64(args.idle_timeout)
        .context("--idle-timeout must be a non-negative number of seconds")?;
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set(
            "group.id",
            format!("lms-cli-events-{}", uuid::Uuid::now_v7().simple()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("allow.auto.create.topics", "false")
        .create()
        .context("creating the Kafka consumer")?;
    let start = if args.from_beginning {
        Offset::Beginning
    } else {
        Offset::End
    };
    let assignment = assign(&consumer, &args.topic_prefix, start)?;
    if assignment.count() == 0 {
        eprintln!(
            "no topic to read on {} (lms-relay creates them at start)",
            args.brokers
        );
        return Ok(true);
    }
    consumer
        .assign(&assignment)
        .context("assigning the partitions")?;

    let decoder = AvroDecoder::new(SrSettings::new(args.registry.clone()));
    let mut read: u64 = 0;
    let mut failed: u64 = 0;
    let mut idle_until = Instant::now() + idle;
    while args.max.is_none_or(|max| read < max) {
        let message = match tokio::time::timeout_at(idle_until, consumer.recv()).await {
            Err(_) => break,
            Ok(Err(e)) => {
                eprintln!("kafka: {e}");
                continue;
            }
            Ok(Ok(message)) => message,
        };
        read += 1;
        idle_until = Instant::now() + idle;
        let record = Record::of(&message);
        match decoder.decode(message.payload()).await {
            Ok(decoded) => {
                let record_name = decoded.name.map(|n| n.fullname(None));
                if json {
                    println!("{}", record.json(record_name, to_json(&decoded.value)));
                } else {
                    println!("{}", record.text(&decoded.value));
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!(
                    "{} {}/{} key={}: cannot decode: {e}",
                    record.topic, record.partition, record.offset, record.key
                );
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {read} records could not be decoded");
    } else if !json {
        eprintln!("{read} records");
    }
    Ok(failed == 0)
}

/// Every partition of the (prefixed) topics that exist, from `start`.
fn assign(
    consumer: &StreamConsumer,
    prefix: &str,
    start: Offset,
) -> anyhow::Result<TopicPartitionList> {
    let mut assignment = TopicPartitionList::new();
    for base in TOPICS {
        let topic = format!("{prefix}{base}");
        let metadata = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .with_context(|| format!("reading the metadata of {topic}"))?;
        for found in metadata.topics() {
            match found.error().map(RDKafkaErrorCode::from) {
                None => {}
                Some(RDKafkaErrorCode::UnknownTopicOrPartition) => {
                    eprintln!("skipping {}: no such topic", found.name());
                    continue;
                }
                Some(error) => {
                    eprintln!("skipping {}: {error:?}", found.name());
                    continue;
                }
            }
            for partition in found.partitions() {
                assignment
                    .add_partition_offset(found.name(), partition.id(), start)
                    .with_context(|| format!("{} partition {}", found.name(), partition.id()))?;
            }
        }
    }
    Ok(assignment)
}

/// What a record carries besides its value.
struct Record {
    topic: String,
    partition: i32,
    offset: i64,
    key: String,
    headers: Map<String, Json>,
    /// From the Confluent wire format (magic byte 0, 4-byte big-endian id).
    wire_schema_id: Option<u32>,
}

impl Record {
    fn of(message: &BorrowedMessage<'_>) -> Self {
        let mut headers = Map::new();
        if let Some(all) = message.headers() {
            for header in all.iter() {
                let value = header
                    .value
                    .map(|v| Json::String(String::from_utf8_lossy(v).into_owned()))
                    .unwrap_or(Json::Null);
                headers.insert(header.key.to_string(), value);
            }
        }
        let wire_schema_id = message
            .payload()
            .filter(|bytes| bytes.first() == Some(&0))
            .and_then(|bytes| bytes.get(1..5))
            .and_then(|id| <[u8; 4]>::try_from(id).ok())
            .map(u32::from_be_bytes);
        Record {
            topic: message.topic().to_string(),
            partition: message.partition(),
            offset: message.offset(),
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default(),
            headers,
            wire_schema_id,
        }
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(Json::as_str)
            .filter(|v| !v.is_empty())
            .unwrap_or("-")
    }

    /// The schema id the value was written with (the header's, when the
    /// payload does not carry one).
    fn schema_id(&self) -> String {
        self.wire_schema_id
            .map(|id| id.to_string())
            .unwrap_or_else(|| self.header("schema_id").to_string())
    }

    fn json(&self, record_name: Option<String>, value: Json) -> Json {
        let headers: Map<String, Json> = self
            .headers
            .iter()
            .filter(|(k, _)| HEADERS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        json!({
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key,
            "event_type": self.headers.get("event_type"),
            "schema_id": self.wire_schema_id,
            "record_name": record_name,
            "sequence": value.get("sequence"),
            "headers": headers,
            "value": value,
        })
    }

    /// `topic partition/offset key event_type schema=id seq=n name=value ...`
    /// (the event's own fields, in record order).
    fn text(&self, value: &Avro) -> String {
        let mut line = format!(
            "{} {}/{} key={} {} schema={}",
            self.topic,
            self.partition,
            self.offset,
            self.key,
            self.header("event_type"),
            self.schema_id(),
        );
        match value {
            Avro::Record(fields) => {
                let sequence = fields
                    .iter()
                    .find(|(name, _)| name == "sequence")
                    .map(|(_, v)| to_json(v).to_string())
                    .unwrap_or_else(|| "-".into());
                line.push_str(&format!(" seq={sequence}"));
                for (name, v) in fields {
                    if !ENVELOPE_FIELDS.contains(&name.as_str()) {
                        line.push_str(&format!(" {name}={}", to_json(v)));
                    }
                }
            }
            other => line.push_str(&format!(" {}", to_json(other))),
        }
        line
    }
}

/// An Avro value as JSON, for reading: logical types as their meaning
/// (uuid → string, timestamps → RFC 3339), enums as their symbol, unions as
/// the branch's value, records as objects in field order.
pub fn to_json(value: &Avro) -> Json {
    match value {
        Avro::Null => Json::Null,
        Avro::Boolean(b) => Json::Bool(*b),
        Avro::Int(n) | Avro::Date(n) | Avro::TimeMillis(n) => Json::from(*n),
        Avro::Long(n) | Avro::TimeMicros(n) => Json::from(*n),
        Avro::Float(x) => Json::from(f64::from(*x)),
        Avro::Double(x) => Json::from(*x),
        Avro::Bytes(bytes) | Avro::Fixed(_, bytes) => Json::String(hex(bytes)),
        Avro::String(s) | Avro::Enum(_, s) => Json::String(s.clone()),
        Avro::Uuid(id) => Json::String(id.to_string()),
        Avro::Union(_, inner) => to_json(inner),
        Avro::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Avro::Map(entries) => {
            let mut sorted: Vec<_> = entries.iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(b.0));
            Json::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k.clone(), to_json(v)))
                    .collect(),
            )
        }
        Avro::Record(fields) => Json::Object(
            fields
                .iter()
                .map(|(name, v)| (name.clone(), to_json(v)))
                .collect(),
        ),
        Avro::TimestampMillis(ms) | Avro::LocalTimestampMillis(ms) => {
            timestamp(DateTime::from_timestamp_millis(*ms), *ms)
        }
        Avro::TimestampMicros(us) | Avro::LocalTimestampMicros(us) => {
            timestamp(DateTime::from_timestamp_micros(*us), *us)
        }
        Avro::TimestampNanos(ns) | Avro::LocalTimestampNanos(ns) => {
            timestamp(Some(DateTime::from_timestamp_nanos(*ns)), *ns)
        }
        Avro::Decimal(d) => Vec::<u8>::try_from(d)
            .map(|bytes| Json::String(hex(&bytes)))
            .unwrap_or(Json::Null),
        Avro::BigDecimal(d) => Json::String(d.to_string()),
        Avro::Duration(d) => json!({
            "months": u32::from(d.months()),
            "days": u32::from(d.days()),
            "millis": u32::from(d.millis()),
        }),
    }
}

/// RFC 3339 in UTC with as many fraction digits as needed; the raw number
/// when out of chrono's range.
fn timestamp(at: Option<DateTime<chrono::Utc>>, raw: i64) -> Json {
    at.map(|at| Json::String(at.to_rfc3339_opts(SecondsFormat::AutoSi, true)))
        .unwrap_or(Json::from(raw))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avro_values_become_readable_json() {
        let id = uuid::Uuid::from_u128(0x0198c7a2_3b4c_7d5e_8f60_718293a4b5c6);
        let record = Avro::Record(vec![
            ("event_id".into(), Avro::Uuid(id)),
            ("sequence".into(), Avro::Long(3)),
            // 2025-01-02T03:04:05.123456Z
            (
                "occurred_at".into(),
                Avro::TimestampMicros(1_735_787_045_123_456),
            ),
            ("plan".into(), Avro::Enum(1, "pro".into())),
            (
                "note".into(),
                Avro::Union(1, Box::new(Avro::String("hi".into()))),
            ),
            ("none".into(), Avro::Union(0, Box::new(Avro::Null))),
            (
                "instructors".into(),
                Avro::Array(vec![Avro::String("a".into()), Avro::String("b".into())]),
            ),
            (
                "access".into(),
                Avro::Record(vec![("price_cents".into(), Avro::Long(4900))]),
            ),
            ("raw".into(), Avro::Bytes(vec![0x00, 0xab])),
        ]);
        let json = to_json(&record);
        assert_eq!(
            json,
            json!({
                "event_id": "0198c7a2-3b4c-7d5e-8f60-718293a4b5c6",
                "sequence": 3,
                "occurred_at": "2025-01-02T03:04:05.123456Z",
                "plan": "pro",
                "note": "hi",
                "none": null,
                "instructors": ["a", "b"],
                "access": {"price_cents": 4900},
                "raw": "00ab",
            })
        );
        assert_eq!(
            to_json(&Avro::TimestampMicros(1_735_787_045_000_000)),
            json!("2025-01-02T03:04:05Z")
        );
    }
}
