//! `history`: every event of an aggregate with who, when and why; exit codes
//! for an unknown aggregate, bad arguments and an unreachable database.

use crate::harness::*;
use lms_proto::command::v1::*;
use lms_testkit::commands::{Caller, CommandServer};
use lms_testkit::{new_id, TestDb};

#[tokio::test(flavor = "multi_thread")]
async fn history_prints_every_event_with_who_when_correlation_and_causation() {
    let db = TestDb::event_store().await;
    let server = CommandServer::start(&db).await;
    let instructor = Caller::instructor();
    let flow = format!("audit-flow-{}", new_id());
    let course_id = create_course(&server, &instructor, &flow, Some("ticket-4711")).await;
    server
        .courses()
        .add_module(in_flow(
            &instructor,
            AddModuleRequest {
                command_id: new_id(),
                course_id: course_id.clone(),
                module_id: String::new(),
                title: "Who did what".into(),
            },
            &flow,
            Some("ticket-4712"),
        ))
        .await
        .unwrap();
    // No flow headers: the server starts a correlation and the command causes itself.
    server
        .courses()
        .change_capacity(instructor.req(ChangeCapacityRequest {
            command_id: new_id(),
            course_id: course_id.clone(),
            capacity: 9,
        }))
        .await
        .unwrap();
    let stored = rows_of(&db, "Course", &course_id).await;
    assert_eq!(stored.len(), 3);

    // The table, for people.
    let table = replay(&db, &["history", "Course", &course_id]).ok().text();
    let lines: Vec<&str> = table.lines().collect();
    let row_of = |row: &Row| -> &str {
        let marker = format!("{} v{}", row.event_type, row.event_version);
        lines
            .iter()
            .find(|l| l.contains(&marker))
            .unwrap_or_else(|| panic!("no table row for {marker}:\n{table}"))
    };
    let mut last_line = 0;
    for row in &stored {
        let line = row_of(row);
        let index = lines.iter().position(|l| l == &line).unwrap();
        assert!(index > last_line, "events in sequence order:\n{table}");
        last_line = index;
        for expected in [
            row.sequence.to_string(),
            row.event_id.to_string(),
            row.position.to_string(),
            row.meta("occurred_at").to_string(),
            format!("instructor {}", instructor.id),
            row.meta("correlation_id").to_string(),
            row.meta("causation_id").to_string(),
            format!("{} {}", row.meta("command_type"), row.meta("command_id")),
        ] {
            assert!(line.contains(&expected), "{expected} missing in {line}");
        }
    }
    assert!(row_of(&stored[0]).contains(&flow));
    assert!(row_of(&stored[0]).contains("ticket-4711"));
    assert!(row_of(&stored[1]).contains("ticket-4712"));
    assert!(row_of(&stored[0]).contains("CreateCourse"));
    assert!(table.contains(&format!("3 event(s) of Course {course_id}")));

    // JSON Lines, for machines: the stored rows verbatim (type in any case).
    let documents = replay(&db, &["history", "course", &course_id, "--json"])
        .ok()
        .json_lines();
    assert_eq!(documents.len(), stored.len());
    for (document, row) in documents.iter().zip(&stored) {
        assert_eq!(document["position"], row.position);
        assert_eq!(document["aggregate_type"], "Course");
        assert_eq!(document["aggregate_id"], course_id);
        assert_eq!(document["sequence"], row.sequence);
        assert_eq!(document["event_type"], row.event_type);
        assert_eq!(document["event_version"], row.event_version);
        assert_eq!(document["event_id"], row.event_id.to_string());
        let recorded_at: chrono::DateTime<chrono::Utc> =
            document["recorded_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(recorded_at, row.recorded_at);
        assert_eq!(document["metadata"], row.metadata);
        assert_eq!(document["payload"], row.payload);
        assert_eq!(document["metadata"]["actor_id"], instructor.id.to_string());
        assert_eq!(document["metadata"]["actor_role"], "instructor");
    }
    assert_eq!(documents[0]["metadata"]["correlation_id"], flow);
    assert_eq!(documents[0]["metadata"]["causation_id"], "ticket-4711");
    assert_eq!(documents[1]["metadata"]["correlation_id"], flow);
    assert_eq!(documents[1]["metadata"]["causation_id"], "ticket-4712");
    let third = &documents[2]["metadata"];
    assert_ne!(
        third["correlation_id"], flow,
        "a new flow without the header"
    );
    assert_eq!(third["causation_id"], third["command_id"]);

    // Pages of one event still make the whole history, in order.
    let paged = replay(
        &db,
        &[
            "history",
            "Course",
            &course_id,
            "--json",
            "--batch-size",
            "1",
        ],
    )
    .ok()
    .json_lines();
    assert_eq!(paged, documents);

    server.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn history_of_an_unknown_aggregate_exits_3() {
    let db = TestDb::event_store().await;
    let unknown = new_id();
    let run = replay(&db, &["history", "Enrollment", &unknown]);
    assert_eq!(run.code, 3);
    assert!(
        run.stderr.contains(&format!(
            "no Enrollment with id {unknown} in the event store"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_exit_2_and_an_unreachable_database_exits_4() {
    let db = TestDb::event_store().await;
    for args in [
        vec!["history", "Widget", "x"],
        vec!["state", "Course", "x", "--at", "yesterday"],
        vec!["state", "Course", "x", "--at", "0"],
        vec!["export", "--format", "csv"],
        vec![
            "export",
            "--format",
            "jsonl",
            "--from",
            "2026-02-01T00:00:00Z",
            "--to",
            "2026-01-01T00:00:00Z",
        ],
        vec![],
    ] {
        let run = replay(&db, &args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    }

    // Nothing listens on port 1.
    let run = replay_with(
        Some("postgres://postgres:secret@127.0.0.1:1/lms"),
        &["history", "Course", "x"],
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run
        .stderr
        .contains("unreachable: database at postgres@127.0.0.1:1/lms"));
    assert!(
        !run.stderr.contains("secret"),
        "the password is not printed"
    );
    // --database-url wins over LMS_DATABASE_URL.
    let run = replay(
        &db,
        &[
            "--database-url",
            "postgres://postgres@127.0.0.1:1/lms",
            "history",
            "Course",
            "x",
        ],
    );
    assert_eq!(run.code, 4, "{}", run.stderr);

    // A database without the event store.
    let empty = db.url.rsplit_once('/').unwrap().0.to_string() + "/postgres";
    let run = replay_with(Some(&empty), &["history", "Course", "x"]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("no event store"), "{}", run.stderr);
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn print_settings_lists_what_the_binary_reads() {
    let run = replay_with(None, &["--print-settings"]);
    assert_eq!(run.code, 0);
    assert_eq!(
        run.text(),
        "LMS_DATABASE_URL\nLMS_REDIS_PREFIX\nLMS_REDIS_URL\n"
    );
}
