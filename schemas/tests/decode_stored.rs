//! `decode_stored` (the rebuild's decode) equals `from_avro(to_avro(x))` for
//! every event type, for stored JSON the round trip changes (nanoseconds,
//! upper-case uuids, old versions, fields outside the schema), and refuses
//! what the round trip refuses, with the same error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use lms_schemas::{decode_stored, from_avro, to_avro, DecodedEvent, SchemaError, StoredEvent};
use serde_json::{json, Value};
use support::*;

fn round_trip(event: &StoredEvent<'_>) -> Result<DecodedEvent, SchemaError> {
    to_avro(event).and_then(|avro| from_avro(&avro.record_name, &avro.value))
}

/// Both paths, as strings (SchemaError is not PartialEq): equal outcomes.
fn assert_same(event: &StoredEvent<'_>) -> Result<DecodedEvent, SchemaError> {
    let direct = decode_stored(event);
    let avro = round_trip(event);
    match (&direct, &avro) {
        (Ok(d), Ok(a)) => assert_eq!(d, a, "{}", event.event_type),
        (Err(d), Err(a)) => assert_eq!(d.to_string(), a.to_string(), "{}", event.event_type),
        _ => panic!(
            "{}: decode_stored {direct:?} but the Avro round trip {avro:?}",
            event.event_type
        ),
    }
    direct
}

/// What the round trip normalises: every RFC 3339 string gains nanoseconds,
/// every uuid is upper case, every object an extra field (in a payload: in
/// its body, the outer object names the event type alone).
fn roughen(json: &mut Value) {
    match json {
        Value::String(s) => {
            let time = chrono::DateTime::parse_from_rfc3339(s).ok();
            if let Some(time) = time.filter(|_| s.ends_with('Z')) {
                *s = time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
                s.replace_range(s.len() - 4..s.len() - 1, "789");
            } else if uuid::Uuid::parse_str(s).is_ok() {
                *s = s.to_uppercase();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(roughen),
        Value::Object(object) => {
            object.values_mut().for_each(roughen);
            object.insert("not_in_the_schema".into(), json!(1));
        }
        _ => {}
    }
}

#[test]
fn every_event_type_decodes_as_the_avro_round_trip_does() {
    for (i, event) in every_event().iter().enumerate() {
        let (aggregate_type, aggregate_id, event_type, version, payload) = stored(event);
        for rough in [false, true] {
            let mut payload = payload.clone();
            let mut metadata = metadata();
            if rough {
                if let Value::Object(outer) = &mut payload {
                    outer.values_mut().for_each(roughen);
                }
                roughen(&mut metadata);
            }
            let stored = StoredEvent {
                aggregate_type,
                aggregate_id: &aggregate_id,
                sequence: i as i64 + 1,
                event_type: &event_type,
                event_version: &version,
                payload: &payload,
                metadata: &metadata,
            };
            let decoded = assert_same(&stored).unwrap_or_else(|e| panic!("{event_type}: {e}"));
            // The plain form decodes to the original event.
            if !rough {
                assert_eq!(&decoded.event, event, "{event_type}");
            }
        }
    }
}

#[test]
fn version_1_is_upcast_as_in_the_round_trip() {
    let payload = json!({"CourseCreated": {
        "course_id": COURSE.to_string(),
        "title": "Rust 101",
        "description": "Ownership and borrowing",
        "instructors": [INSTRUCTOR.to_string()],
        "capacity": 30,
        "access": {"kind": "plan", "plan": "pro"}
    }});
    let decoded = assert_same(&StoredEvent {
        aggregate_type: "Course",
        aggregate_id: "c1",
        sequence: 1,
        event_type: "CourseCreated",
        event_version: "1",
        payload: &payload,
        metadata: &metadata(),
    })
    .unwrap();
    assert!(format!("{:?}", decoded.event).contains("\"en\""));
}

#[test]
fn what_the_round_trip_refuses_is_refused_alike() {
    let good_metadata = metadata();
    let mut no_tenant = metadata();
    no_tenant.as_object_mut().unwrap().remove("tenant_id");
    let mut bad_event_id = metadata();
    bad_event_id["event_id"] = json!("not-a-uuid");
    let mut bad_time = metadata();
    bad_time["occurred_at"] = json!("yesterday");
    let invoice = |amount: Value, currency: &str| {
        json!({"InvoiceIssued": {
            "invoice_id": uuid::Uuid::from_u128(1).to_string(), "amount_cents": amount,
            "currency": currency, "period_start": "2025-03-01T00:00:00Z",
            "period_end": "2025-03-31T00:00:00Z", "payment_reference": "r"
        }})
    };
    let cases: Vec<(&str, &str, &str, Value, &Value, i64)> = vec![
        (
            "Subscription",
            "InvoiceIssued",
            "1",
            invoice(json!(u64::MAX), "USD"),
            &good_metadata,
            1,
        ),
        (
            "Subscription",
            "InvoiceIssued",
            "1",
            invoice(json!(1.5), "USD"),
            &good_metadata,
            1,
        ),
        (
            "Subscription",
            "InvoiceIssued",
            "1",
            invoice(json!("ten"), "USD"),
            &good_metadata,
            1,
        ),
        (
            "Subscription",
            "InvoiceIssued",
            "2",
            invoice(json!(10), "USD"),
            &good_metadata,
            1,
        ),
        (
            "Subscription",
            "InvoiceIssued",
            "1",
            json!({"InvoiceIssued": {}}),
            &good_metadata,
            1,
        ),
        (
            "Course",
            "CoursePublished",
            "1",
            json!("CoursePublished"),
            &no_tenant,
            1,
        ),
        (
            "Course",
            "CoursePublished",
            "1",
            json!("CoursePublished"),
            &bad_event_id,
            1,
        ),
        (
            "Course",
            "CoursePublished",
            "1",
            json!("CoursePublished"),
            &bad_time,
            1,
        ),
        (
            "Course",
            "CoursePublished",
            "1",
            json!("CoursePublished"),
            &good_metadata,
            -1,
        ),
        (
            "Course",
            "CoursePublished",
            "1",
            json!({"CourseArchived": {}}),
            &good_metadata,
            1,
        ),
        ("Course", "Nope", "1", json!("Nope"), &good_metadata, 1),
        ("Invoice", "Nope", "1", json!("Nope"), &good_metadata, 1),
    ];
    for (aggregate_type, event_type, version, payload, metadata, sequence) in &cases {
        let outcome = assert_same(&StoredEvent {
            aggregate_type,
            aggregate_id: "x1",
            sequence: *sequence,
            event_type,
            event_version: version,
            payload,
            metadata,
        });
        assert!(outcome.is_err(), "{event_type} {payload}: accepted");
    }
}
