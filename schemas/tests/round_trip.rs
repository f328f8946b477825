//! Every domain event: domain → stored JSON → Avro → bytes → DecodedEvent == original.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use lms_domain::course::CourseEvent;
use lms_domain::subscription::SubscriptionEvent;
use lms_schemas::{
    event_schema, from_avro, to_avro, topic_for, DecodedEvent, LmsEvent, SchemaError, StoredEvent,
    EVENTS, TOPICS,
};
use serde_json::json;
use std::collections::BTreeSet;
use support::*;

fn encode(schema: &Schema, value: &Value) -> Vec<u8> {
    GenericDatumWriter::builder(schema)
        .build()
        .unwrap()
        .write_value_to_vec(value.clone())
        .unwrap()
}

fn decode(writer: &Schema, reader: Option<&Schema>, bytes: &[u8]) -> Value {
    GenericDatumReader::builder(writer)
        .maybe_reader_schema(reader)
        .build()
        .unwrap()
        .read_value(&mut &bytes[..])
        .unwrap()
}

#[test]
fn every_domain_event_round_trips_through_avro_bytes() {
    let mut covered = BTreeSet::new();
    for (i, event) in every_event().iter().enumerate() {
        let (aggregate_type, aggregate_id, event_type, version, payload) = stored(event);
        let metadata = metadata();
        let sequence = i as i64 + 1;
        let avro = to_avro(&StoredEvent {
            aggregate_type,
            aggregate_id: &aggregate_id,
            sequence,
            event_type: &event_type,
            event_version: &version,
            payload: &payload,
            metadata: &metadata,
        })
        .unwrap_or_else(|e| panic!("{event_type}: {e}"));

        let schema = Schema::parse_str(avro.schema_json).unwrap();
        assert!(
            avro.value.validate(&schema),
            "{event_type}: value does not validate"
        );
        assert_eq!(Some(avro.topic), topic_for(aggregate_type));
        assert_eq!(avro.record_name, format!("{}.{event_type}", avro.topic));
        assert_eq!(
            version,
            event_schema(aggregate_type, &event_type)
                .unwrap()
                .latest_version()
                .to_string(),
            "{event_type}: the domain writes the latest schema version"
        );

        let bytes = encode(&schema, &avro.value);
        let read = decode(&schema, Some(&schema), &bytes);
        let decoded = from_avro(&avro.record_name, &read).unwrap();
        assert_eq!(
            decoded,
            DecodedEvent {
                envelope: envelope(aggregate_type, &aggregate_id, sequence),
                event: event.clone(),
            },
            "{event_type}"
        );
        covered.insert(avro.record_name);
    }
    let all: BTreeSet<String> = EVENTS.iter().map(|e| e.record_name()).collect();
    assert_eq!(
        covered, all,
        "every schema has a domain event and vice versa"
    );
}

fn stored_course_created_v1() -> serde_json::Value {
    json!({"CourseCreated": {
        "course_id": COURSE.to_string(),
        "title": "Rust 101",
        "description": "Ownership and borrowing",
        "instructors": [INSTRUCTOR.to_string(), uuid::Uuid::from_u128(0x1002).to_string()],
        "capacity": 30,
        "access": {"kind": "plan", "plan": "pro"}
    }})
}

#[test]
fn stored_version_1_json_is_upcast_before_mapping() {
    let payload = stored_course_created_v1();
    let metadata = metadata();
    let avro = to_avro(&StoredEvent {
        aggregate_type: "Course",
        aggregate_id: &COURSE.to_string(),
        sequence: 1,
        event_type: "CourseCreated",
        event_version: "1",
        payload: &payload,
        metadata: &metadata,
    })
    .unwrap();
    let decoded = from_avro(&avro.record_name, &avro.value).unwrap();
    assert_eq!(decoded.event, LmsEvent::Course(course_created("en")));
}

fn course_event(
    version: &str,
    payload: &serde_json::Value,
) -> Result<lms_schemas::AvroEvent, SchemaError> {
    to_avro(&StoredEvent {
        aggregate_type: "Course",
        aggregate_id: "c1",
        sequence: 1,
        event_type: "CourseCreated",
        event_version: version,
        payload,
        metadata: &metadata(),
    })
}

#[test]
fn an_unknown_version_is_refused() {
    let err = course_event("3", &stored_course_created_v1()).unwrap_err();
    assert!(
        matches!(err, SchemaError::UnsupportedVersion { latest: 2, .. }),
        "{err}"
    );
}

#[test]
fn a_payload_of_another_event_type_is_refused() {
    let err = course_event("2", &json!({"CourseArchived": {}})).unwrap_err();
    assert!(matches!(err, SchemaError::MalformedPayload { .. }), "{err}");
}

#[test]
fn a_missing_metadata_key_is_named() {
    let mut metadata = metadata();
    metadata.as_object_mut().unwrap().remove("tenant_id");
    let err = to_avro(&StoredEvent {
        aggregate_type: "Course",
        aggregate_id: "c1",
        sequence: 1,
        event_type: "CoursePublished",
        event_version: "1",
        payload: &json!("CoursePublished"),
        metadata: &metadata,
    })
    .unwrap_err();
    assert!(err.to_string().contains("tenant_id"), "{err}");
}

#[test]
fn unknown_aggregates_and_events_are_refused() {
    let metadata = metadata();
    let payload = json!("Nope");
    let mut event = StoredEvent {
        aggregate_type: "Invoice",
        aggregate_id: "x",
        sequence: 1,
        event_type: "Nope",
        event_version: "1",
        payload: &payload,
        metadata: &metadata,
    };
    assert!(matches!(
        to_avro(&event),
        Err(SchemaError::UnknownAggregate(_))
    ));
    event.aggregate_type = "Course";
    assert!(matches!(
        to_avro(&event),
        Err(SchemaError::UnknownEvent { .. })
    ));
    // An event type of another aggregate is not this aggregate's.
    event.event_type = "StudentEnrolled";
    assert!(matches!(
        to_avro(&event),
        Err(SchemaError::UnknownEvent { .. })
    ));
    assert!(matches!(
        from_avro("lms.course.v1.Nope", &Value::Record(vec![])),
        Err(SchemaError::UnknownRecord(_))
    ));
}

#[test]
fn an_amount_beyond_a_long_is_refused_not_wrapped() {
    let payload = json!({"InvoiceIssued": {
        "invoice_id": uuid::Uuid::from_u128(1).to_string(), "amount_cents": u64::MAX,
        "currency": "USD", "period_start": "2025-03-01T00:00:00Z",
        "period_end": "2025-03-31T00:00:00Z", "payment_reference": "r"
    }});
    let err = to_avro(&StoredEvent {
        aggregate_type: "Subscription",
        aggregate_id: "s1",
        sequence: 1,
        event_type: "InvoiceIssued",
        event_version: "1",
        payload: &payload,
        metadata: &metadata(),
    })
    .unwrap_err();
    assert!(err.to_string().contains("amount_cents"), "{err}");
}

#[test]
fn timestamps_keep_microseconds_and_drop_nanoseconds() {
    let event = SubscriptionEvent::SubscriptionRenewed {
        period_start: "2025-03-01T09:30:00.123456789Z".parse().unwrap(),
        period_end: "2025-03-31T09:30:00Z".parse().unwrap(),
    };
    let payload = serde_json::to_value(&event).unwrap();
    let avro = to_avro(&StoredEvent {
        aggregate_type: "Subscription",
        aggregate_id: "s1",
        sequence: 1,
        event_type: "SubscriptionRenewed",
        event_version: "1",
        payload: &payload,
        metadata: &metadata(),
    })
    .unwrap();
    let decoded = from_avro(&avro.record_name, &avro.value).unwrap();
    assert_eq!(
        decoded.event,
        LmsEvent::Subscription(SubscriptionEvent::SubscriptionRenewed {
            period_start: "2025-03-01T09:30:00.123456Z".parse().unwrap(),
            period_end: "2025-03-31T09:30:00Z".parse().unwrap(),
        })
    );
}

#[test]
fn topics_are_one_per_aggregate() {
    assert_eq!(
        TOPICS,
        [
            "lms.course.v1",
            "lms.enrollment.v1",
            "lms.subscription.v1",
            "lms.user.v1"
        ]
    );
    assert_eq!(topic_for("Course"), Some("lms.course.v1"));
    assert_eq!(topic_for("Enrollment"), Some("lms.enrollment.v1"));
    assert_eq!(topic_for("Subscription"), Some("lms.subscription.v1"));
    assert_eq!(topic_for("User"), Some("lms.user.v1"));
    assert_eq!(topic_for("course"), None);
    for event in EVENTS {
        assert_eq!(topic_for(event.aggregate_type), Some(event.topic));
        assert_eq!(
            event.subject(),
            format!("{}-{}.{}", event.topic, event.topic, event.event_type)
        );
    }
}

#[test]
fn a_decoded_unit_event_is_the_unit_variant() {
    let avro = to_avro(&StoredEvent {
        aggregate_type: "Course",
        aggregate_id: "c1",
        sequence: 7,
        event_type: "CoursePublished",
        event_version: "1",
        payload: &json!("CoursePublished"),
        metadata: &metadata(),
    })
    .unwrap();
    let decoded = from_avro(&avro.record_name, &avro.value).unwrap();
    assert_eq!(
        decoded.event,
        LmsEvent::Course(CourseEvent::CoursePublished)
    );
    assert_eq!(decoded.envelope.sequence, 7);
}
