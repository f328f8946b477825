//! `export`: every event intact, in position order, as JSON Lines and as an
//! Avro container file that Python fastavro reads; filters by aggregate type
//! and recorded time.

use crate::harness::*;
use chrono::{DateTime, SecondsFormat, Utc};
use lms_testkit::commands::CommandServer;
use lms_testkit::TestDb;
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeSet;

fn micros(rfc3339: &str) -> i64 {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap_or_else(|e| panic!("{rfc3339}: {e}"))
        .timestamp_micros()
}

fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The `event` record's fields as the store says they must be: the envelope
/// from the columns and the metadata, then the payload's own fields (a
/// version-1 CourseCreated with `language` "en", its documented default).
fn expected_event(row: &Row) -> Map<String, Json> {
    let mut fields = Map::new();
    fields.insert("event_id".into(), json!(row.event_id.to_string()));
    fields.insert("aggregate_type".into(), json!(row.aggregate_type));
    fields.insert("aggregate_id".into(), json!(row.aggregate_id));
    fields.insert("sequence".into(), json!(row.sequence));
    for key in [
        "occurred_at",
        "correlation_id",
        "causation_id",
        "actor_id",
        "actor_role",
        "tenant_id",
        "command_id",
    ] {
        fields.insert(key.into(), json!(row.meta(key)));
    }
    match &row.payload {
        Json::String(unit) => assert_eq!(unit, &row.event_type),
        Json::Object(outer) => {
            let body = outer[&row.event_type].as_object().expect("payload body");
            for (key, value) in body {
                assert!(
                    fields.insert(key.clone(), value.clone()).is_none(),
                    "{key} clashes with the envelope"
                );
            }
        }
        other => panic!("payload {other}"),
    }
    if row.event_type == "CourseCreated" && row.event_version == "1" {
        fields.entry("language").or_insert(json!("en"));
    }
    fields
}

/// The `kind` tag that a union branch record of our schemas stands for.
fn kind_of(record_name: &str) -> String {
    fn find(value: &Json, short: &str) -> Option<String> {
        match value {
            Json::Object(o) => {
                if o.get("name").and_then(Json::as_str) == Some(short) {
                    if let Some(kind) = o.get("kind").and_then(Json::as_str) {
                        return Some(kind.to_string());
                    }
                }
                o.values().find_map(|v| find(v, short))
            }
            Json::Array(items) => items.iter().find_map(|v| find(v, short)),
            _ => None,
        }
    }
    let short = record_name.rsplit('.').next().unwrap();
    lms_schemas::EVENTS
        .iter()
        .find_map(|e| find(&serde_json::from_str(e.latest_json()).unwrap(), short))
        .unwrap_or_else(|| panic!("no kind for {record_name}"))
}

/// `stored` (serde's JSON, as in the event store) against `read` (what
/// fastavro read): timestamps as microseconds, tagged unions as the branch
/// whose `kind` is the tag, everything else equal; no field more or less.
fn assert_same(stored: &Json, read: &Json, at: &str) {
    match (stored, read) {
        (Json::String(time), Json::Number(n)) => {
            assert_eq!(Some(micros(time)), n.as_i64(), "{at}: {time} vs {n}")
        }
        (Json::Object(tagged), Json::Object(branch))
            if tagged.contains_key("kind") && branch.contains_key("record") =>
        {
            let record = branch["record"].as_str().unwrap();
            assert_eq!(
                tagged["kind"].as_str().unwrap(),
                kind_of(record),
                "{at}: branch {record}"
            );
            let mut rest = tagged.clone();
            rest.remove("kind");
            assert_same(&Json::Object(rest), &branch["fields"], at);
        }
        (Json::Object(a), Json::Object(b)) => {
            let keys_a: BTreeSet<&String> = a.keys().collect();
            let keys_b: BTreeSet<&String> = b.keys().collect();
            assert_eq!(keys_a, keys_b, "{at}: fields");
            for (key, value) in a {
                assert_same(value, &b[key], &format!("{at}.{key}"));
            }
        }
        (Json::Array(a), Json::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{at}: length");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert_same(x, y, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(stored, read, "{at}"),
    }
}

fn record_name(row: &Row) -> String {
    format!(
        "{}.{}",
        lms_schemas::topic_for(&row.aggregate_type).unwrap(),
        row.event_type
    )
}

/// Every field of every exported record against the event store.
fn assert_records_match(records: &[Json], rows: &[Row]) {
    assert_eq!(records.len(), rows.len(), "one record per event");
    for (record, row) in records.iter().zip(rows) {
        let at = format!("position {} ({})", row.position, row.event_type);
        assert_eq!(record["position"], row.position, "{at}");
        assert_eq!(
            record["recorded_at"],
            row.recorded_at.timestamp_micros(),
            "{at}"
        );
        assert_eq!(record["event_type"], row.event_type, "{at}");
        assert_eq!(record["event_version"], row.event_version, "{at}");
        assert_eq!(record["metadata"], row.metadata, "{at}: metadata");
        assert_eq!(record["event"]["record"], record_name(row), "{at}");
        assert_same(
            &Json::Object(expected_event(row)),
            &record["event"]["fields"],
            &at,
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn avro_export_is_read_back_by_fastavro_with_every_event_intact() {
    let db = TestDb::event_store().await;
    let server = CommandServer::start(&db).await;
    varied_history(&server).await;
    let legacy = insert_v1_course(&db).await;
    let rows = rows(&db).await;
    let event_types: BTreeSet<&str> = rows.iter().map(|r| r.event_type.as_str()).collect();
    assert!(
        event_types.len() >= 15,
        "history covers most event types: {event_types:?}"
    );

    let dir = lms_testkit::paths::TempDir::new("replay-test");
    let dir = dir.path();
    let file = dir.join("all.avro");
    let run = replay(
        &db,
        &[
            "export",
            "--format",
            "avro",
            "--output",
            file.to_str().unwrap(),
            "--batch-size",
            "4",
        ],
    )
    .ok();
    assert_eq!(
        run.stderr,
        format!(
            "exported {} event(s) to {} (avro up to position {})\n",
            rows.len(),
            file.display(),
            rows.last().unwrap().position
        )
    );
    assert!(run.stdout.is_empty());
    assert!(!dir.join("all.avro.partial").exists());

    let (header, records) = read_with_fastavro(&file);
    assert_eq!(header["schema"], "lms.replay.v1.ExportedEvent");
    let every_record: Vec<String> = lms_schemas::EVENTS
        .iter()
        .map(|e| e.record_name())
        .collect();
    assert_eq!(header["branches"], json!(every_record));
    assert_eq!(header["export"]["types"], json!([]));
    assert_eq!(
        header["export"]["last_position"],
        rows.last().unwrap().position
    );
    assert_records_match(&records, &rows);

    // The version-1 event is exported upcast, its stored version kept beside it.
    let old = records
        .iter()
        .find(|r| r["event"]["fields"]["aggregate_id"] == legacy)
        .unwrap();
    assert_eq!(old["event_version"], "1");
    assert_eq!(old["event"]["fields"]["language"], "en");
    assert_eq!(
        old["event"]["fields"]["access"]["record"],
        "lms.course.v1.FreeAccess"
    );

    // To stdout, one aggregate type: the schema holds only its event types.
    let run = replay(
        &db,
        &["export", "--format", "avro", "--type", "Subscription", "-q"],
    )
    .ok();
    assert!(run.stderr.is_empty(), "--quiet: {}", run.stderr);
    let piped = dir.join("subscriptions.avro");
    std::fs::write(&piped, &run.stdout).unwrap();
    let (header, records) = read_with_fastavro(&piped);
    let subscription_records: Vec<String> = lms_schemas::EVENTS
        .iter()
        .filter(|e| e.aggregate_type == "Subscription")
        .map(|e| e.record_name())
        .collect();
    assert_eq!(header["branches"], json!(subscription_records));
    assert_eq!(header["export"]["types"], json!(["Subscription"]));
    let subscription_rows: Vec<Row> = rows
        .iter()
        .filter(|r| r.aggregate_type == "Subscription")
        .cloned()
        .collect();
    assert!(subscription_rows.len() >= 4);
    assert_records_match(&records, &subscription_rows);

    // Nothing in the window: still a valid file, with no record.
    let empty = dir.join("empty.avro");
    replay(
        &db,
        &[
            "export",
            "--format",
            "avro",
            "--from",
            "2999-01-01T00:00:00Z",
            "-q",
            "-o",
            empty.to_str().unwrap(),
        ],
    )
    .ok();
    let (header, records) = read_with_fastavro(&empty);
    assert_eq!(header["schema"], "lms.replay.v1.ExportedEvent");
    assert!(records.is_empty());

    server.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn jsonl_export_is_the_event_store_verbatim_in_position_order() {
    let db = TestDb::event_store().await;
    let server = CommandServer::start(&db).await;
    varied_history(&server).await;
    let legacy = insert_v1_course(&db).await;
    let rows = rows(&db).await;

    let run = replay(&db, &["export", "--format", "jsonl", "--batch-size", "2"]).ok();
    assert_eq!(
        run.stderr,
        format!(
            "exported {} event(s) to stdout (jsonl up to position {})\n",
            rows.len(),
            rows.last().unwrap().position
        ),
        "a summary, and no progress bar when stderr is not a terminal"
    );
    let documents = run.json_lines();
    assert_eq!(documents.len(), rows.len());
    for (document, row) in documents.iter().zip(&rows) {
        let expected = json!({
            "position": row.position,
            "aggregate_type": row.aggregate_type,
            "aggregate_id": row.aggregate_id,
            "sequence": row.sequence,
            "event_type": row.event_type,
            "event_version": row.event_version,
            "event_id": row.event_id.to_string(),
            "recorded_at": rfc3339(&row.recorded_at),
            "metadata": row.metadata,
            "payload": row.payload,
        });
        assert_eq!(document, &expected);
    }
    // As stored: the version-1 event keeps its version and has no language.
    let old = documents
        .iter()
        .find(|d| d["aggregate_id"] == legacy)
        .unwrap();
    assert_eq!(old["event_version"], "1");
    assert!(old["payload"]["CourseCreated"].get("language").is_none());

    // A reader that has gone (`| head`): exit 6, without a message.
    let mut child = lms_testkit::process::service(env!("CARGO_BIN_EXE_lms-replay"))
        .args(["export", "--format", "jsonl"])
        .env("LMS_DATABASE_URL", &db.url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let gone = tokio::task::block_in_place(|| child.wait_with_output()).unwrap();
    assert_eq!(gone.status.code(), Some(6));
    assert!(
        gone.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );

    // An output that cannot be created: exit 6, nothing left behind.
    let run = replay(
        &db,
        &[
            "export",
            "--format",
            "jsonl",
            "-o",
            "/nonexistent-dir/events.jsonl",
        ],
    );
    assert_eq!(run.code, 6, "{}", run.stderr);
    assert!(run
        .stderr
        .contains("cannot write /nonexistent-dir/events.jsonl.partial"));

    server.stop().await;
    db.drop_database().await;
}

fn positions(run: Run) -> Vec<i64> {
    run.ok()
        .json_lines()
        .iter()
        .map(|d| d["position"].as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn export_filters_by_aggregate_type_and_recorded_time() {
    let db = TestDb::event_store().await;
    let server = CommandServer::start(&db).await;
    varied_history(&server).await;
    let rows = rows(&db).await;
    let expect = |keep: &dyn Fn(&Row) -> bool| -> Vec<i64> {
        rows.iter()
            .filter(|r| keep(r))
            .map(|r| r.position)
            .collect()
    };

    let enrollments = positions(replay(
        &db,
        &[
            "export",
            "--format",
            "jsonl",
            "--type",
            "Enrollment",
            "-q",
            "--batch-size",
            "2",
        ],
    ));
    assert_eq!(enrollments, expect(&|r| r.aggregate_type == "Enrollment"));
    assert!(!enrollments.is_empty());

    let two = positions(replay(
        &db,
        &[
            "export",
            "--format",
            "jsonl",
            "--type",
            "subscription",
            "--type",
            "COURSE",
            "-q",
        ],
    ));
    assert_eq!(two, expect(&|r| r.aggregate_type != "Enrollment"));

    // [from, to) on recorded_at; every event of one command shares its time.
    let times: Vec<DateTime<Utc>> = rows
        .iter()
        .map(|r| r.recorded_at)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(times.len() >= 6, "commands recorded at distinct times");
    let (from, to) = (times[2], times[times.len() - 2]);
    let window = positions(replay(
        &db,
        &[
            "export",
            "--format",
            "jsonl",
            "--from",
            &rfc3339(&from),
            "--to",
            &rfc3339(&to),
            "-q",
        ],
    ));
    let expected = expect(&|r| from <= r.recorded_at && r.recorded_at < to);
    assert_eq!(window, expected);
    assert!(!window.is_empty() && window.len() < rows.len());
    assert!(window.contains(
        &rows
            .iter()
            .find(|r| r.recorded_at == from)
            .unwrap()
            .position
    ));
    assert!(!window.contains(&rows.iter().find(|r| r.recorded_at == to).unwrap().position));

    let both = positions(replay(
        &db,
        &[
            "export",
            "--format",
            "jsonl",
            "--type",
            "Course",
            "--from",
            &rfc3339(&from),
            "-q",
        ],
    ));
    assert_eq!(
        both,
        expect(&|r| r.aggregate_type == "Course" && from <= r.recorded_at)
    );

    let none = replay(
        &db,
        &[
            "export",
            "--format",
            "jsonl",
            "--to",
            "2000-01-01T00:00:00Z",
            "-q",
        ],
    )
    .ok();
    assert!(none.stdout.is_empty());

    server.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_export_exits_130_and_leaves_no_file_behind() {
    let db = TestDb::event_store().await;
    // Enough events (made by SQL, they need not be meaningful) that an export
    // in pages of 5 is still running when the signal comes.
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata, event_id)
         SELECT 'Course', gen_random_uuid()::text, 1, 'CoursePublished', '1',
                '\"CoursePublished\"', '{}', gen_random_uuid()
           FROM generate_series(1, 50000)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let dir = lms_testkit::paths::TempDir::new("replay-test");
    let dir = dir.path();
    let file = dir.join("big.jsonl");
    let partial = dir.join("big.jsonl.partial");
    let child = lms_testkit::process::service(env!("CARGO_BIN_EXE_lms-replay"))
        .args(["export", "--format", "jsonl", "--batch-size", "5", "-o"])
        .arg(&file)
        .env("LMS_DATABASE_URL", &db.url)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !partial.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the export never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = tokio::task::block_in_place(|| child.wait_with_output()).unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("lms-replay: stopped by SIGTERM"),
        "{stderr}"
    );
    assert!(!partial.exists(), "the partial file is removed");
    assert!(!file.exists(), "no file claims to be a complete export");

    db.drop_database().await;
}
