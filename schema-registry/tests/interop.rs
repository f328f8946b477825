//! Interop through a running registry, both directions: Rust
//! `schema_registry_converter` encodes, Python confluent-kafka 2.16 decodes,
//! and Python encodes (auto-registering), Rust decodes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use apache_avro::types::Value as Avro;
use lms_testkit::registry::{Registry, ADMIN_PASSWORD, ADMIN_USER};
use lms_testkit::TestDb;
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const RECORD: &str = "lms.events.v1.LessonCompleted";
const SETUP_HINT: &str =
    "run `scripts/infra.sh python-venv -r scripts/python-requirements.txt` (or set LMS_PYTHON)";

fn sample_schema() -> Value {
    json!({
        "type": "record",
        "name": "LessonCompleted",
        "namespace": "lms.events.v1",
        "doc": "A learner finished a lesson.",
        "fields": [
            {"name": "lesson_id", "type": "string"},
            {"name": "occurred_at", "type": "long"},
            {"name": "note", "type": ["null", "string"], "default": null},
            {"name": "grade", "type": {"type": "enum", "name": "Grade", "symbols": ["PASS", "FAIL", "INCOMPLETE"]}},
            {"name": "attempts", "type": "int", "default": 1}
        ]
    })
}

/// The test Python, checked to have confluent-kafka's Avro serdes: a
/// missing one fails the test.
fn python() -> PathBuf {
    let python = lms_testkit::paths::python();
    let probe = Command::new(&python)
        .args([
            "-c",
            "import confluent_kafka, fastavro; from confluent_kafka.schema_registry.avro import AvroSerializer; print(confluent_kafka.version()[0])",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; {SETUP_HINT}", python.display()));
    assert!(
        probe.status.success(),
        "{} lacks confluent-kafka's Avro serdes ({}): {SETUP_HINT}",
        python.display(),
        String::from_utf8_lossy(&probe.stderr).trim()
    );
    python
}

/// Runs interop.py off the runtime (it calls back into our in-process server).
async fn run_python(command: &str, url: &str, topic: &str, stdin: String) -> String {
    let python = python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop.py");
    let args = [
        script.display().to_string(),
        command.to_owned(),
        url.to_owned(),
        topic.to_owned(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(&python)
            .args(&args)
            .env(
                "LMS_REGISTRY_BASIC_AUTH",
                format!("{ADMIN_USER}:{ADMIN_PASSWORD}"),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start interop.py");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("interop.py output")
    })
    .await
    .expect("python task");
    assert!(
        output.status.success(),
        "interop.py {command} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

fn field<'a>(fields: &'a [(String, Avro)], name: &str) -> &'a Avro {
    &fields
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("field {name} in {fields:?}"))
        .1
}

#[tokio::test]
async fn rust_encoder_to_python_deserializer() {
    python(); // fail fast, before any database work
    let db = TestDb::registry().await;
    let sr = Registry::start(&db.pool).await;
    let topic = "lessons";

    let encoder = AvroEncoder::new(
        SrSettings::new_builder(sr.url.clone())
            .set_basic_authorization(ADMIN_USER, Some(ADMIN_PASSWORD))
            .build()
            .expect("registry settings"),
    );
    let schema = SuppliedSchema::new(
        Some(RECORD.to_owned()),
        SchemaType::Avro,
        sample_schema().to_string(),
    );
    let strategy = SubjectNameStrategy::TopicRecordNameStrategyWithSchema(topic.to_owned(), schema);
    let bytes = encoder
        .encode(
            vec![
                ("lesson_id", Avro::String("lesson-42".into())),
                ("occurred_at", Avro::Long(1_764_000_000_123)),
                (
                    "note",
                    Avro::Union(1, Box::new(Avro::String("well done".into()))),
                ),
                ("grade", Avro::Enum(0, "PASS".into())),
                ("attempts", Avro::Int(3)),
            ],
            strategy,
        )
        .await
        .expect("encode with the registry");
    assert_eq!(bytes[0], 0, "Confluent magic byte");

    let decoded = run_python("decode", &sr.url, topic, hex(&bytes)).await;
    let decoded: Value = serde_json::from_str(&decoded).expect("JSON from interop.py");
    assert_eq!(decoded["lesson_id"], json!("lesson-42"));
    assert_eq!(decoded["occurred_at"], json!(1_764_000_000_123_i64));
    assert_eq!(decoded["note"], json!("well done"));
    assert_eq!(decoded["grade"], json!("PASS"));
    assert_eq!(decoded["attempts"], json!(3));
    assert_eq!(decoded.as_object().map(|o| o.len()), Some(5), "{decoded}");

    let (_, subjects) = sr.get("/subjects").await;
    assert_eq!(subjects, json!([format!("{topic}-{RECORD}")]));
    sr.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn python_serializer_to_rust_decoder() {
    python();
    let db = TestDb::registry().await;
    let sr = Registry::start(&db.pool).await;
    let topic = "lessons-from-python";

    // `note` null and `attempts` left out: the serializer writes its default
    let request = json!({
        "schema": sample_schema().to_string(),
        "value": {"lesson_id": "lesson-7", "occurred_at": 1_764_000_000_456_i64, "note": null, "grade": "INCOMPLETE"},
    });
    let encoded = run_python("encode", &sr.url, topic, request.to_string()).await;
    let bytes = unhex(encoded.trim());
    assert_eq!(bytes[0], 0, "Confluent magic byte");

    let decoder = AvroDecoder::new(SrSettings::new(sr.url.clone()));
    let decoded = decoder.decode(Some(&bytes)).await.expect("decode");
    let Avro::Record(fields) = decoded.value else {
        panic!("a record: {:?}", decoded.value)
    };
    assert_eq!(fields.len(), 5, "{fields:?}");
    assert_eq!(
        field(&fields, "lesson_id"),
        &Avro::String("lesson-7".into())
    );
    assert_eq!(
        field(&fields, "occurred_at"),
        &Avro::Long(1_764_000_000_456)
    );
    assert_eq!(
        field(&fields, "note"),
        &Avro::Union(0, Box::new(Avro::Null))
    );
    assert_eq!(field(&fields, "grade"), &Avro::Enum(2, "INCOMPLETE".into()));
    assert_eq!(field(&fields, "attempts"), &Avro::Int(1));

    let subject = format!("{topic}-{RECORD}");
    let (_, subjects) = sr.get("/subjects").await;
    assert_eq!(subjects, json!([subject.clone()]));
    assert_eq!(sr.versions(&subject).await, vec![1]);
    sr.stop().await;
    db.drop_database().await;
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}
