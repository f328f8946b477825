//! `state`: the aggregate as it was at a time or sequence, folded by the
//! domain code, equal to what `state` said at that time.

use crate::harness::*;
use lms_proto::command::v1::*;
use lms_testkit::commands::{Caller, CommandServer};
use lms_testkit::{new_id, TestDb};
use serde_json::Value as Json;

fn state_at(db: &TestDb, kind: &str, id: &str, at: Option<&str>) -> Json {
    let mut args = vec!["state", kind, id];
    if let Some(at) = at {
        args.extend(["--at", at]);
    }
    replay(db, &args).ok().json()
}

#[tokio::test(flavor = "multi_thread")]
async fn state_at_a_time_or_sequence_equals_the_state_captured_then() {
    let db = TestDb::event_store().await;
    let server = CommandServer::start(&db).await;
    let instructor = Caller::instructor();
    let mut courses = server.courses();
    let course_id = create_course(&server, &instructor, "state-flow", None).await;
    let after_create = state_at(&db, "Course", &course_id, None);
    let module_id = courses
        .add_module(instructor.req(AddModuleRequest {
            command_id: new_id(),
            course_id: course_id.clone(),
            module_id: String::new(),
            title: "Before".into(),
        }))
        .await
        .unwrap()
        .into_inner()
        .created_id;

    // What an auditor would have seen at this moment: the state as of the
    // second event's recording time (the database's clock, as --at reads it).
    let captured = state_at(&db, "Course", &course_id, None);
    assert_eq!(captured["sequence"], 2);
    assert_eq!(captured["state"]["status"], "draft");
    let at = captured["recorded_at"]
        .as_str()
        .expect("recorded_at as RFC 3339")
        .to_string();

    courses
        .add_lesson(instructor.req(AddLessonRequest {
            command_id: new_id(),
            course_id: course_id.clone(),
            module_id,
            lesson_id: String::new(),
            title: "After".into(),
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
    courses
        .update_course_details(instructor.req(UpdateCourseDetailsRequest {
            command_id: new_id(),
            course_id: course_id.clone(),
            title: "Renamed later".into(),
            description: "changed".into(),
            access: Some(CourseAccess {
                kind: Some(course_access::Kind::PriceCents(1500)),
            }),
        }))
        .await
        .unwrap();
    let now = state_at(&db, "Course", &course_id, None);
    assert_eq!(now["sequence"], 5);
    assert_eq!(now["state"]["status"], "published");
    assert_eq!(now["state"]["title"], "Renamed later");
    assert_eq!(
        now["state"]["access"],
        serde_json::json!({"kind": "paid", "price_cents": 1500})
    );
    assert_ne!(now["state"], captured["state"]);

    // By time: the events recorded at or before it.
    let then = state_at(&db, "Course", &course_id, Some(&at));
    assert_eq!(then["state"], captured["state"]);
    assert_eq!(then["sequence"], 2);
    assert_eq!(then["events_applied"], 2);
    assert_eq!(then["latest_sequence"], 5);
    assert_eq!(then["at"], at);
    assert_eq!(then["recorded_at"], captured["recorded_at"]);
    // The same instant in another offset.
    let elsewhere = chrono::DateTime::parse_from_rfc3339(&at)
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(5 * 3600 + 1800).unwrap())
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
    assert_eq!(
        state_at(&db, "Course", &course_id, Some(&elsewhere))["state"],
        captured["state"]
    );

    // By sequence.
    assert_eq!(
        state_at(&db, "Course", &course_id, Some("2"))["state"],
        captured["state"]
    );
    let first = state_at(&db, "Course", &course_id, Some("1"));
    assert_eq!(first["state"], after_create["state"]);
    assert_eq!(first["sequence"], 1);
    assert_eq!(first["event_type"], "CourseCreated");
    assert_eq!(
        state_at(&db, "Course", &course_id, Some("5"))["state"],
        now["state"]
    );

    // Pages of one event fold to the same state.
    let paged = replay(
        &db,
        &[
            "state",
            "Course",
            &course_id,
            "--at",
            &at,
            "--batch-size",
            "1",
            "--compact",
        ],
    )
    .ok();
    assert_eq!(paged.text().lines().count(), 1, "--compact is one line");
    assert_eq!(paged.json(), then);

    // Points outside the stream are not found, with the reason.
    let run = replay(&db, &["state", "Course", &course_id, "--at", "6"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("has no sequence 6: its stream ends at 5"),
        "{}",
        run.stderr
    );
    let run = replay(
        &db,
        &[
            "state",
            "Course",
            &course_id,
            "--at",
            "2020-01-01T00:00:00Z",
        ],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("did not exist yet at 2020-01-01T00:00:00.000000Z"),
        "{}",
        run.stderr
    );
    let unknown = new_id();
    let run = replay(&db, &["state", "Subscription", &unknown]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "no Subscription with id {unknown} in the event store"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());

    server.stop().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn state_folds_every_aggregate_type_and_upcasts_old_versions() {
    let db = TestDb::event_store().await;
    let server = CommandServer::start(&db).await;
    let history = varied_history(&server).await;

    let enrollment = state_at(&db, "Enrollment", &history.enrollment_id, None);
    assert_eq!(enrollment["state"]["status"], "withdrawn");
    assert_eq!(
        enrollment["state"]["completed_lessons"],
        serde_json::json!([history.lesson_id])
    );
    let enrolled = state_at(&db, "Enrollment", &history.enrollment_id, Some("1"));
    assert_eq!(enrolled["state"]["status"], "active");

    let subscription = state_at(&db, "Subscription", &history.subscription_id, None);
    assert_eq!(subscription["state"]["status"], "cancelled");
    assert_eq!(subscription["state"]["plan"], "basic");
    assert_eq!(subscription["state"]["invoices_issued"], 1);
    let trial = state_at(&db, "Subscription", &history.subscription_id, Some("1"));
    assert_eq!(trial["state"]["status"], "trialing");
    assert_eq!(trial["state"]["trial_used"], true);

    let course = state_at(&db, "Course", &history.course_id, None);
    assert_eq!(course["state"]["status"], "archived");
    assert_eq!(course["state"]["seats"], serde_json::json!([]));

    // A CourseCreated stored at version 1 folds through the upcaster.
    let old = insert_v1_course(&db).await;
    let folded = state_at(&db, "Course", &old, None);
    assert_eq!(folded["state"]["language"], "en");
    assert_eq!(folded["state"]["title"], "Written by an older build");
    assert_eq!(
        folded["state"]["access"],
        serde_json::json!({"kind": "free"})
    );

    // An event this build cannot read stops the fold with exit code 5.
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata, event_id)
         VALUES ('Course', $1, 2, 'CoursePublished', '7', '\"CoursePublished\"', '{}', $2)",
    )
    .bind(&old)
    .bind(uuid::Uuid::now_v7())
    .execute(&db.pool)
    .await
    .unwrap();
    let run = replay(&db, &["state", "Course", &old]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(run.stderr.contains("CoursePublished v7"), "{}", run.stderr);
    assert_eq!(
        state_at(&db, "Course", &old, Some("1"))["state"],
        folded["state"],
        "the events before it still fold"
    );

    server.stop().await;
    db.drop_database().await;
}
