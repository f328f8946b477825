//! Schema evolution: every version reads all older ones (BACKWARD_TRANSITIVE),
//! broken candidates are refused, and old and new consumers both read v2 data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use lms_domain::course::CourseEvent;
use lms_schemas::compatibility::check_backward_transitive;
use lms_schemas::{
    event_schema_by_record, from_avro, to_avro, LmsEvent, StoredEvent, ENVELOPE_FIELDS, EVENTS,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use support::*;

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Every `.avsc` under `schemas/<dir>/`, relative to `schemas/`.
fn files_under(dir: &str) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    for namespace in std::fs::read_dir(schemas_dir().join(dir)).unwrap() {
        let namespace = namespace.unwrap();
        for file in std::fs::read_dir(namespace.path()).unwrap() {
            let name = file.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".avsc") {
                files.insert(format!(
                    "{dir}/{}/{name}",
                    namespace.file_name().to_string_lossy()
                ));
            }
        }
    }
    files
}

#[test]
fn every_schema_file_is_in_the_catalog_and_named_after_its_path() {
    let listed: BTreeSet<String> = EVENTS
        .iter()
        .flat_map(|e| (1..=e.latest_version()).map(|v| e.file(v)))
        .collect();
    assert_eq!(
        files_under("avro"),
        listed,
        "add new .avsc files to src/catalog.rs"
    );
    for event in EVENTS {
        for schema in event.parse_versions().unwrap() {
            let Schema::Record(record) = schema else {
                panic!("{} is not a record", event.event_type)
            };
            assert_eq!(record.name.fullname(None), event.record_name());
        }
    }
}

#[test]
fn every_record_starts_with_the_envelope_and_no_field_clashes_with_it() {
    for event in EVENTS {
        for (i, schema) in event.parse_versions().unwrap().iter().enumerate() {
            let Schema::Record(record) = schema else {
                unreachable!()
            };
            let names: Vec<&str> = record.fields.iter().map(|f| f.name.as_str()).collect();
            assert_eq!(
                &names[..ENVELOPE_FIELDS.len()],
                ENVELOPE_FIELDS,
                "{} v{}",
                event.event_type,
                i + 1
            );
            let own = &names[ENVELOPE_FIELDS.len()..];
            assert!(
                own.iter().all(|n| !ENVELOPE_FIELDS.contains(n)),
                "{}",
                event.event_type
            );
        }
    }
}

#[test]
fn every_version_reads_data_of_every_older_version() {
    let mut checked = 0;
    for event in EVENTS {
        let versions = event.parse_versions().unwrap();
        for n in 1..versions.len() {
            check_backward_transitive(&versions[n], &versions[..n]).unwrap_or_else(|problems| {
                panic!(
                    "{} v{} is not backward compatible: {problems:?}",
                    event.event_type,
                    n + 1
                )
            });
            checked += 1;
        }
    }
    assert!(checked >= 1, "CourseCreated v2 at least");
}

#[test]
fn broken_candidates_are_refused() {
    let broken = files_under("avro-broken");
    assert!(broken.len() >= 3);
    for file in broken {
        let text = std::fs::read_to_string(schemas_dir().join(&file)).unwrap();
        let candidate = Schema::parse_str(&text).unwrap();
        let name = candidate.name().unwrap().fullname(None);
        let event =
            event_schema_by_record(&name).unwrap_or_else(|| panic!("{file}: no event {name}"));
        let result = check_backward_transitive(&candidate, &event.parse_versions().unwrap());
        assert!(result.is_err(), "{file} should be refused but passed");
    }
}

#[test]
fn partial_compatibility_counts_as_incompatible() {
    // An enum that lost a symbol reads only some old data: Partial, refused.
    let old = Schema::parse_str(r#"{"type":"enum","name":"P","symbols":["basic","pro"]}"#).unwrap();
    let new = Schema::parse_str(r#"{"type":"enum","name":"P","symbols":["basic"]}"#).unwrap();
    assert!(check_backward_transitive(&new, &[old]).is_err());
}

fn course_created_v2_bytes(language: &str) -> (Vec<u8>, Schema, Schema) {
    let event = course_created(language);
    let payload = serde_json::to_value(&event).unwrap();
    let metadata = metadata();
    let avro = to_avro(&StoredEvent {
        aggregate_type: "Course",
        aggregate_id: &COURSE.to_string(),
        sequence: 1,
        event_type: "CourseCreated",
        event_version: "2",
        payload: &payload,
        metadata: &metadata,
    })
    .unwrap();
    let entry = event_schema_by_record(&avro.record_name).unwrap();
    let versions = entry.parse_versions().unwrap();
    let (v1, v2) = (versions[0].clone(), versions[1].clone());
    assert_eq!(avro.schema_json, entry.versions[1]);
    let bytes = GenericDatumWriter::builder(&v2)
        .build()
        .unwrap()
        .write_value_to_vec(avro.value)
        .unwrap();
    (bytes, v1, v2)
}

fn read(writer: &Schema, reader: &Schema, bytes: &[u8]) -> Value {
    GenericDatumReader::builder(writer)
        .reader_schema(reader)
        .build()
        .unwrap()
        .read_value(&mut &bytes[..])
        .unwrap()
}

fn field<'v>(value: &'v Value, name: &str) -> Option<&'v Value> {
    let Value::Record(fields) = value else {
        return None;
    };
    fields.iter().find(|(n, _)| n == name).map(|(_, v)| v)
}

#[test]
fn a_v1_consumer_and_a_v2_consumer_both_read_a_v2_message() {
    let (bytes, v1, v2) = course_created_v2_bytes("fr");

    let old_reader = read(&v2, &v1, &bytes);
    assert!(old_reader.validate(&v1));
    assert_eq!(
        field(&old_reader, "language"),
        None,
        "v1 does not know the field"
    );
    assert_eq!(
        field(&old_reader, "title"),
        Some(&Value::String("Rust 101".into()))
    );

    let new_reader = read(&v2, &v2, &bytes);
    assert_eq!(
        field(&new_reader, "language"),
        Some(&Value::String("fr".into()))
    );
    let decoded = from_avro("lms.course.v1.CourseCreated", &new_reader).unwrap();
    assert_eq!(decoded.event, LmsEvent::Course(course_created("fr")));

    // A v1-shaped value maps with the v2 default (what an old consumer saw).
    let decoded = from_avro("lms.course.v1.CourseCreated", &old_reader).unwrap();
    assert_eq!(decoded.event, LmsEvent::Course(course_created("en")));
}

#[test]
fn a_v2_consumer_reads_a_v1_message_with_the_default_language() {
    let (_, v1, v2) = course_created_v2_bytes("fr");
    let v1_value = Value::Record(match read(&v2, &v1, &course_created_v2_bytes("de").0) {
        Value::Record(fields) => fields,
        other => panic!("{other:?}"),
    });
    let bytes = GenericDatumWriter::builder(&v1)
        .build()
        .unwrap()
        .write_value_to_vec(v1_value)
        .unwrap();
    let value = read(&v1, &v2, &bytes);
    assert_eq!(field(&value, "language"), Some(&Value::String("en".into())));
    let decoded = from_avro("lms.course.v1.CourseCreated", &value).unwrap();
    assert!(
        matches!(decoded.event, LmsEvent::Course(CourseEvent::CourseCreated { ref language, .. }) if language == "en")
    );
}
