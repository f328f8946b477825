//! Avro schemas (.avsc) for every event type and the domain ⇄ Avro mapping (issue #3).
//!
//! - `avro/<topic>/<Event>.v<N>.avsc`: one record per event type and version,
//!   namespace = topic (`lms.course.v1`); all versions stay (see [`catalog`]).
//! - [`to_avro`]: a stored event (JSON, any version) → the latest record, for
//!   the outbox relay; [`from_avro`]: a record → envelope + typed domain event.
//! - [`upcasters`]: stored JSON of old versions → current, for the event store.
//! - [`compatibility`]: the BACKWARD_TRANSITIVE check; [`event_catalog`]: docs/events.md.

pub mod catalog;
pub mod compatibility;
pub mod envelope;
mod error;
pub mod event_catalog;
mod mapping;
pub mod upcast;

pub use catalog::{event_schema, event_schema_by_record, topic_for, EventSchema, EVENTS, TOPICS};
pub use envelope::{Envelope, ENVELOPE_FIELDS};
pub use error::SchemaError;
pub use upcast::upcasters;

use apache_avro::types::Value;
use apache_avro::Schema;
use cqrs_es::persist::SerializedEvent;
use lms_domain::course::CourseEvent;
use lms_domain::enrollment::EnrollmentEvent;
use lms_domain::subscription::SubscriptionEvent;
use lms_domain::user::UserEvent;
use mapping::At;
use serde_json::{Map, Value as Json};

/// One row of the event store, as the outbox relay reads it.
#[derive(Debug, Clone, Copy)]
pub struct StoredEvent<'a> {
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub sequence: i64,
    pub event_type: &'a str,
    pub event_version: &'a str,
    pub payload: &'a serde_json::Value,
    pub metadata: &'a serde_json::Value,
}

/// What the relay publishes: the record, where, and under which schema.
#[derive(Debug, Clone, PartialEq)]
pub struct AvroEvent {
    pub topic: &'static str,
    /// Full name, e.g. `lms.course.v1.CourseCreated`; the subject is `<topic>-<record_name>`.
    pub record_name: String,
    /// The latest `.avsc` text of this event type.
    pub schema_json: &'static str,
    /// The same, parsed (once per process).
    pub schema: &'static Schema,
    pub value: Value,
}

/// Any domain event of the LMS.
#[derive(Debug, Clone, PartialEq)]
pub enum LmsEvent {
    Course(CourseEvent),
    Enrollment(EnrollmentEvent),
    Subscription(SubscriptionEvent),
    User(UserEvent),
}

/// A record read back: its envelope and the typed domain event.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedEvent {
    pub envelope: Envelope,
    pub event: LmsEvent,
}

/// A stored event (JSON of any version, upcast first) → the latest Avro record.
/// Timestamps keep microseconds; finer digits are dropped.
pub fn to_avro(event: &StoredEvent<'_>) -> Result<AvroEvent, SchemaError> {
    let RecordObject {
        topic,
        entry: schema_entry,
        record_name,
        object,
    } = record_object(event)?;
    let schema = catalog::latest_schema(schema_entry)?;
    let record = as_record(schema, &record_name)?;
    let at = At {
        record: &record_name,
        field: String::new(),
    };
    let value = mapping::record_to_avro(&object, record, &at)?;
    Ok(AvroEvent {
        topic,
        record_name,
        schema_json: schema_entry.latest_json(),
        schema,
        value,
    })
}

/// A stored event → what [`from_avro`] gives for its [`to_avro`] record
/// (the same value, the same refusals), without building the Avro value:
/// for the rebuild, which decodes the whole store. Tested equal to the
/// round trip for every event type (`tests/round_trip.rs`).
pub fn decode_stored(event: &StoredEvent<'_>) -> Result<DecodedEvent, SchemaError> {
    let RecordObject {
        entry,
        record_name,
        object,
        ..
    } = record_object(event)?;
    let record = as_record(catalog::latest_schema(entry)?, &record_name)?;
    let body = mapping::normalize_record(object, record, &mapping::Path::Root(&record_name))?;
    typed(entry, &record_name, body)
}

/// A stored event as the JSON of its latest record, before any Avro value.
struct RecordObject {
    topic: &'static str,
    entry: &'static EventSchema,
    record_name: String,
    /// The upcast payload body plus the envelope fields.
    object: Map<String, Json>,
}

/// The record's fields as JSON: the upcast payload body plus the envelope.
fn record_object(event: &StoredEvent<'_>) -> Result<RecordObject, SchemaError> {
    let topic = topic_for(event.aggregate_type)
        .ok_or_else(|| SchemaError::UnknownAggregate(event.aggregate_type.to_string()))?;
    let schema_entry = event_schema(event.aggregate_type, event.event_type).ok_or_else(|| {
        SchemaError::UnknownEvent {
            aggregate_type: event.aggregate_type.to_string(),
            event_type: event.event_type.to_string(),
        }
    })?;
    let record_name = schema_entry.record_name();
    let field_error = |field: &str, reason: &str| SchemaError::Field {
        record: record_name.clone(),
        field: field.to_string(),
        reason: reason.to_string(),
    };
    let sequence = usize::try_from(event.sequence)
        .map_err(|_| field_error("sequence", "must not be negative"))?;
    let current = upcast::upcast(
        SerializedEvent::new(
            event.aggregate_id.to_string(),
            sequence,
            event.aggregate_type.to_string(),
            event.event_type.to_string(),
            event.event_version.to_string(),
            event.payload.clone(),
            Json::Null,
        ),
        &upcasters(),
    );
    let latest = schema_entry.latest_version();
    if current.event_version != latest.to_string() {
        return Err(SchemaError::UnsupportedVersion {
            event_type: event.event_type.to_string(),
            version: event.event_version.to_string(),
            latest,
        });
    }

    let mut object = payload_body(event.event_type, current.payload)?;
    for key in ["aggregate_type", "aggregate_id", "sequence"] {
        if object.contains_key(key) {
            return Err(field_error(
                key,
                "event field clashes with an envelope field",
            ));
        }
    }
    object.insert("aggregate_type".into(), event.aggregate_type.into());
    object.insert("aggregate_id".into(), event.aggregate_id.into());
    object.insert("sequence".into(), event.sequence.into());
    for key in envelope::METADATA_FIELDS {
        let value = event
            .metadata
            .get(key)
            .ok_or_else(|| field_error(key, "missing from the event metadata"))?;
        if object.insert((*key).to_string(), value.clone()).is_some() {
            return Err(field_error(
                key,
                "event field clashes with an envelope field",
            ));
        }
    }
    Ok(RecordObject {
        topic,
        entry: schema_entry,
        record_name,
        object,
    })
}

fn as_record(
    schema: &'static Schema,
    record_name: &str,
) -> Result<&'static apache_avro::schema::RecordSchema, SchemaError> {
    match schema {
        Schema::Record(record) => Ok(record),
        _ => Err(SchemaError::Field {
            record: record_name.to_string(),
            field: String::new(),
            reason: "schema is not a record".into(),
        }),
    }
}

/// `{"CourseCreated": {...}}` → its body; `"CoursePublished"` → `{}`.
fn payload_body(event_type: &str, payload: Json) -> Result<Map<String, Json>, SchemaError> {
    let malformed = || SchemaError::MalformedPayload {
        event_type: event_type.to_string(),
    };
    match payload {
        Json::String(s) if s == event_type => Ok(Map::new()),
        Json::Object(mut outer) if outer.len() == 1 => match outer.remove(event_type) {
            Some(Json::Object(body)) => Ok(body),
            _ => Err(malformed()),
        },
        _ => Err(malformed()),
    }
}

/// A record read from Kafka (with any reader schema of this event type) →
/// envelope + typed domain event. Fields the value lacks take the latest
/// schema's defaults.
pub fn from_avro(record_name: &str, value: &Value) -> Result<DecodedEvent, SchemaError> {
    let entry = event_schema_by_record(record_name)
        .ok_or_else(|| SchemaError::UnknownRecord(record_name.to_string()))?;
    let schema = catalog::latest_schema(entry)?;
    let at = At {
        record: record_name,
        field: String::new(),
    };
    let (Schema::Record(record), Value::Record(fields)) = (schema, value) else {
        return Err(SchemaError::Field {
            record: record_name.to_string(),
            field: String::new(),
            reason: "value is not a record".into(),
        });
    };
    let body = mapping::record_to_json(fields, record, &at)?;
    typed(entry, record_name, body)
}

/// A record's fields (JSON of the serde form) → envelope + typed domain event.
fn typed(
    entry: &EventSchema,
    record_name: &str,
    mut body: Map<String, Json>,
) -> Result<DecodedEvent, SchemaError> {
    let mut head = Map::new();
    for key in ENVELOPE_FIELDS {
        if let Some(v) = body.remove(*key) {
            head.insert((*key).to_string(), v);
        }
    }
    let domain_error = |e: serde_json::Error| SchemaError::Domain {
        record: record_name.to_string(),
        reason: e.to_string(),
    };
    let envelope: Envelope = serde_json::from_value(Json::Object(head)).map_err(domain_error)?;
    // serde's externally tagged form: unit variants are plain strings.
    let payload = if body.is_empty() {
        Json::String(entry.event_type.to_string())
    } else {
        Json::Object(Map::from_iter([(
            entry.event_type.to_string(),
            Json::Object(body),
        )]))
    };
    let event = match entry.aggregate_type {
        "Course" => serde_json::from_value(payload).map(LmsEvent::Course),
        "Enrollment" => serde_json::from_value(payload).map(LmsEvent::Enrollment),
        "Subscription" => serde_json::from_value(payload).map(LmsEvent::Subscription),
        "User" => serde_json::from_value(payload).map(LmsEvent::User),
        other => return Err(SchemaError::UnknownAggregate(other.to_string())),
    }
    .map_err(domain_error)?;
    Ok(DecodedEvent { envelope, event })
}
