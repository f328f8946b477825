//! Interop with an independent client: Python confluent-kafka 2.16 reads our
//! topics through our registry with its own AvroDeserializer and must see
//! every field as we meant it; and Rust decodes an event Python serialized
//! with our schema. Real Kafka, registry, Postgres, relay and gRPC server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use apache_avro::types::Value as Avro;
use lms_proto::command::v1::*;
use lms_relay::RelayConfig;
use lms_testkit::commands::{Caller, CommandServer};
use lms_testkit::registry::Registry;
use lms_testkit::relay::{relay_config, wait_for_empty_outbox, Relay};
use lms_testkit::{new_id, shared_brokers, topic_prefix, TestDb};
use schema_registry_converter::async_impl::avro::AvroDecoder;
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use serde_json::{json, Map, Value as Json};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

fn peer_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/kafka_peer.py")
}

/// The plain JSON form the Python peer prints: UUIDs as strings, timestamps
/// as integer microseconds, enums as symbols, unions as their branch.
fn plain(value: &Avro) -> Json {
    match value {
        Avro::Null => Json::Null,
        Avro::Boolean(b) => json!(b),
        Avro::Int(n) | Avro::Date(n) | Avro::TimeMillis(n) => json!(n),
        Avro::Long(n)
        | Avro::TimestampMicros(n)
        | Avro::TimestampMillis(n)
        | Avro::TimeMicros(n) => json!(n),
        Avro::Float(x) => json!(x),
        Avro::Double(x) => json!(x),
        Avro::String(s) | Avro::Enum(_, s) => json!(s),
        Avro::Uuid(u) => json!(u.to_string()),
        Avro::Union(_, inner) => plain(inner),
        Avro::Array(items) => Json::Array(items.iter().map(plain).collect()),
        Avro::Map(entries) => {
            Json::Object(entries.iter().map(|(k, v)| (k.clone(), plain(v))).collect())
        }
        Avro::Record(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), plain(v)))
                .collect::<Map<_, _>>(),
        ),
        other => panic!("unexpected Avro value in an event: {other:?}"),
    }
}

/// Commands that produce every kind of event payload: access unions, enums,
/// timestamps, money, optional fields.
async fn varied_history(server: &CommandServer) {
    let instructor = Caller::instructor();
    let student = Caller::student();
    let mut courses = server.courses();
    let mut enrollments = server.enrollments();
    let mut subscriptions = server.subscriptions();
    let course_id = courses
        .create_course(instructor.req(CreateCourseRequest {
            command_id: new_id(),
            course_id: String::new(),
            title: "Avro in practice".into(),
            description: "Schemas that evolve".into(),
            instructor_ids: vec![instructor.id.to_string()],
            capacity: 5,
            access: Some(CourseAccess {
                kind: Some(course_access::Kind::Plan("basic".into())),
            }),
        }))
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;
    let module_id = courses
        .add_module(instructor.req(AddModuleRequest {
            command_id: new_id(),
            course_id: course_id.clone(),
            module_id: String::new(),
            title: "Records".into(),
        }))
        .await
        .unwrap()
        .into_inner()
        .created_id;
    let lesson_id = courses
        .add_lesson(instructor.req(AddLessonRequest {
            command_id: new_id(),
            course_id: course_id.clone(),
            module_id,
            lesson_id: String::new(),
            title: "Unions".into(),
        }))
        .await
        .unwrap()
        .into_inner()
        .created_id;
    courses
        .change_capacity(instructor.req(ChangeCapacityRequest {
            command_id: new_id(),
            course_id: course_id.clone(),
            capacity: 7,
        }))
        .await
        .unwrap();
    courses
        .publish_course(instructor.req(PublishCourseRequest {
            command_id: new_id(),
            course_id: course_id.clone(),
        }))
        .await
        .unwrap();
    subscriptions
        .start_trial(student.req(StartTrialRequest {
            command_id: new_id(),
            student_id: student.id.to_string(),
            plan: "basic".into(),
        }))
        .await
        .unwrap();
    let enrollment_id = enrollments
        .enroll(student.req(EnrollRequest {
            command_id: new_id(),
            course_id: course_id.clone(),
            student_id: student.id.to_string(),
        }))
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;
    enrollments
        .complete_lesson(student.req(CompleteLessonRequest {
            command_id: new_id(),
            enrollment_id: enrollment_id.clone(),
            lesson_id,
        }))
        .await
        .unwrap();
    subscriptions
        .activate(student.req(ActivateSubscriptionRequest {
            command_id: new_id(),
            student_id: student.id.to_string(),
            plan: "basic".into(),
            payment_method: "pm_card_visa".into(),
        }))
        .await
        .unwrap();
    enrollments
        .withdraw(student.req(WithdrawRequest {
            command_id: new_id(),
            enrollment_id,
            reason: "moving".into(),
        }))
        .await
        .unwrap();
    subscriptions
        .cancel(student.req(CancelSubscriptionRequest {
            command_id: new_id(),
            student_id: student.id.to_string(),
            reason: "done".into(),
        }))
        .await
        .unwrap();
    courses
        .update_course_details(instructor.req(UpdateCourseDetailsRequest {
            command_id: new_id(),
            course_id: course_id.clone(),
            title: "Avro in practice, 2nd ed.".into(),
            description: String::new(),
            access: Some(CourseAccess {
                kind: Some(course_access::Kind::PriceCents(2500)),
            }),
        }))
        .await
        .unwrap();
    courses
        .archive_course(instructor.req(ArchiveCourseRequest {
            command_id: new_id(),
            course_id,
        }))
        .await
        .unwrap();
}

#[derive(sqlx::FromRow)]
struct Row {
    aggregate_type: String,
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: Json,
    metadata: Json,
}

async fn stored_events(db: &TestDb) -> Vec<Row> {
    sqlx::query_as(
        "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
           FROM events ORDER BY position",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

fn to_avro(row: &Row) -> lms_schemas::AvroEvent {
    lms_schemas::to_avro(&lms_schemas::StoredEvent {
        aggregate_type: &row.aggregate_type,
        aggregate_id: &row.aggregate_id,
        sequence: row.sequence,
        event_type: &row.event_type,
        event_version: &row.event_version,
        payload: &row.payload,
        metadata: &row.metadata,
    })
    .expect("to avro")
}

#[tokio::test(flavor = "multi_thread")]
async fn python_confluent_kafka_reads_every_field_of_our_topics() {
    let python = lms_testkit::paths::python();
    let db = TestDb::event_store().await;
    let registry = Registry::start(&db.pool).await;
    let server = CommandServer::start(&db).await;
    let config = RelayConfig {
        topic_partitions: 2,
        ..relay_config(&db, &shared_brokers(), &registry.url)
    };
    let relay = Relay::start(&config, &db.pool);

    varied_history(&server).await;
    wait_for_empty_outbox(&db.pool, Duration::from_secs(60)).await;
    let rows = stored_events(&db).await;
    let event_types: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.event_type.as_str()).collect();
    assert!(
        event_types.len() >= 15,
        "history covers most event types: {event_types:?}"
    );

    let topics: Vec<String> = lms_schemas::TOPICS
        .iter()
        .map(|t| config.topic(t))
        .collect();
    let output = Command::new(&python)
        .arg(peer_script())
        .args([
            "read",
            &shared_brokers(),
            &registry.url,
            &rows.len().to_string(),
            "60",
        ])
        .args(&topics)
        .output()
        .expect("run the Python peer");
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: HashMap<String, Json> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let record: Json = serde_json::from_str(line).expect("json line");
            (
                record["headers"]["event_id"].as_str().unwrap().to_string(),
                record,
            )
        })
        .collect();
    assert_eq!(read.len(), rows.len(), "Python read every event");

    for row in &rows {
        let event_id = row.metadata["event_id"].as_str().unwrap();
        let record = &read[event_id];
        let expected = to_avro(row);
        assert_eq!(record["topic"], config.topic(expected.topic));
        assert_eq!(record["key"], row.aggregate_id);
        assert_eq!(record["headers"]["event_type"], row.event_type);
        assert_eq!(
            record["value"],
            plain(&expected.value),
            "{} as Python decoded it",
            row.event_type
        );
    }

    relay.stop().await.unwrap();
    server.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_decodes_an_event_python_serialized_with_our_schema() {
    let python = lms_testkit::paths::python();
    let db = TestDb::event_store().await;
    let registry = Registry::start(&db.pool).await;
    let server = CommandServer::start(&db).await;
    varied_history(&server).await;
    let rows = stored_events(&db).await;
    let decoder = AvroDecoder::new(SrSettings::new(registry.url.clone()));

    for event_type in ["InvoiceIssued", "CourseCreated", "StudentEnrolled"] {
        let row = rows
            .iter()
            .find(|r| r.event_type == event_type)
            .expect("event in history");
        let ours = to_avro(row);
        let topic = format!("{}{}", topic_prefix(), ours.topic);
        let request = json!({"schema": ours.schema_json, "value": plain(&ours.value)});
        let mut child = Command::new(&python)
            .arg(peer_script())
            .args(["encode", &registry.url, &topic])
            // The peer registers its schema: as the admin, not on the command line.
            .env(
                "LMS_REGISTRY_BASIC_AUTH",
                format!(
                    "{}:{}",
                    lms_testkit::registry::ADMIN_USER,
                    lms_testkit::registry::ADMIN_PASSWORD
                ),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the Python peer");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(request.to_string().as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "python failed on {event_type}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let bytes = decode_hex(String::from_utf8(output.stdout).unwrap().trim());
        let decoded = decoder
            .decode(Some(&bytes))
            .await
            .expect("decode Python's bytes");
        let from_python =
            lms_schemas::from_avro(&ours.record_name, &decoded.value).expect("map to the domain");
        let from_us =
            lms_schemas::from_avro(&ours.record_name, &ours.value).expect("map to the domain");
        assert_eq!(from_python, from_us, "{event_type} written by Python");
    }

    server.stop().await;
    db.drop_database().await;
}

fn decode_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}
