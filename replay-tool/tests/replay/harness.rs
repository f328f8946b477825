//! Running the binary, flows of commands with known correlation and causation
//! ids, and the event store as the tests' source of truth.

use chrono::{DateTime, Utc};
use lms_proto::command::v1::*;
use lms_testkit::commands::{Caller, CommandServer};
use lms_testkit::{new_id, TestDb};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::Command;
use tonic::metadata::MetadataValue;
use tonic::Request;
use uuid::Uuid;

/// What one run of `lms-replay` did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("utf-8 stdout")
    }

    /// Fails the test with what the tool said unless it exited 0.
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code,
            0,
            "lms-replay failed: {}\n{}",
            self.stderr,
            String::from_utf8_lossy(&self.stdout)
        );
        self
    }

    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.stdout).expect("stdout is one JSON document")
    }

    pub fn json_lines(&self) -> Vec<Json> {
        self.text()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a JSON line"))
            .collect()
    }
}

/// `lms-replay <args>` with LMS_DATABASE_URL pointing at the test database.
pub fn replay(db: &TestDb, args: &[&str]) -> Run {
    replay_with(Some(&db.url), args)
}

pub fn replay_with(database_url: Option<&str>, args: &[&str]) -> Run {
    let mut command = lms_testkit::process::service(env!("CARGO_BIN_EXE_lms-replay"));
    command.args(args);
    if let Some(url) = database_url {
        command.env("LMS_DATABASE_URL", url);
    }
    let output = tokio::task::block_in_place(|| command.output()).expect("run lms-replay");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A request from `caller` that belongs to a business flow.
pub fn in_flow<T>(
    caller: &Caller,
    message: T,
    correlation_id: &str,
    causation_id: Option<&str>,
) -> Request<T> {
    let mut request = caller.req(message);
    let metadata = request.metadata_mut();
    metadata.insert(
        "x-correlation-id",
        MetadataValue::try_from(correlation_id).unwrap(),
    );
    if let Some(causation) = causation_id {
        metadata.insert(
            "x-causation-id",
            MetadataValue::try_from(causation).unwrap(),
        );
    }
    request
}

/// One row of `events`, read directly for comparison.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Row {
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Json,
    pub metadata: Json,
    pub event_id: Uuid,
    pub recorded_at: DateTime<Utc>,
}

impl Row {
    pub fn meta(&self, key: &str) -> &str {
        self.metadata[key]
            .as_str()
            .unwrap_or_else(|| panic!("metadata {key} of {self:?}"))
    }
}

pub async fn rows(db: &TestDb) -> Vec<Row> {
    sqlx::query_as(
        "SELECT position, aggregate_type, aggregate_id, sequence, event_type, event_version,
                payload, metadata, event_id, recorded_at
           FROM events ORDER BY position",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

pub async fn rows_of(db: &TestDb, aggregate_type: &str, aggregate_id: &str) -> Vec<Row> {
    rows(db)
        .await
        .into_iter()
        .filter(|r| r.aggregate_type == aggregate_type && r.aggregate_id == aggregate_id)
        .collect()
}

/// A course created as a draft by `instructor`; returns its id.
pub async fn create_course(
    server: &CommandServer,
    instructor: &Caller,
    correlation_id: &str,
    causation_id: Option<&str>,
) -> String {
    server
        .courses()
        .create_course(in_flow(
            instructor,
            CreateCourseRequest {
                command_id: new_id(),
                course_id: String::new(),
                title: "Event sourcing for auditors".into(),
                description: "What happened, and why".into(),
                instructor_ids: vec![instructor.id.to_string()],
                capacity: 5,
                access: Some(CourseAccess {
                    kind: Some(course_access::Kind::Plan("basic".into())),
                }),
            },
            correlation_id,
            causation_id,
        ))
        .await
        .unwrap()
        .into_inner()
        .aggregate_id
}

/// Ids a [`varied_history`] produced.
pub struct History {
    pub course_id: String,
    pub enrollment_id: String,
    pub subscription_id: String,
    pub lesson_id: String,
}

/// Commands that produce nearly every event type and payload shape: access
/// unions, enums, timestamps, money; across the three aggregate types.
pub async fn varied_history(server: &CommandServer) -> History {
    let instructor = Caller::instructor();
    let student = Caller::student();
    let flow = format!("flow-{}", new_id());
    let mut courses = server.courses();
    let mut enrollments = server.enrollments();
    let mut subscriptions = server.subscriptions();
    let course_id = create_course(server, &instructor, &flow, None).await;
    let module_id = courses
        .add_module(in_flow(
            &instructor,
            AddModuleRequest {
                command_id: new_id(),
                course_id: course_id.clone(),
                module_id: String::new(),
                title: "Streams".into(),
            },
            &flow,
            None,
        ))
        .await
        .unwrap()
        .into_inner()
        .created_id;
    let lesson_id = courses
        .add_lesson(in_flow(
            &instructor,
            AddLessonRequest {
                command_id: new_id(),
                course_id: course_id.clone(),
                module_id,
                lesson_id: String::new(),
                title: "Folding".into(),
            },
            &flow,
            None,
        ))
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
    let subscription_id = subscriptions
        .start_trial(student.req(StartTrialRequest {
            command_id: new_id(),
            student_id: student.id.to_string(),
            plan: "basic".into(),
        }))
        .await
        .unwrap()
        .into_inner()
        .aggregate_id;
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
            lesson_id: lesson_id.clone(),
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
            enrollment_id: enrollment_id.clone(),
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
            title: "Event sourcing for auditors, 2nd ed.".into(),
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
            course_id: course_id.clone(),
        }))
        .await
        .unwrap();
    History {
        course_id,
        enrollment_id,
        subscription_id,
        lesson_id,
    }
}

/// A `CourseCreated` stored at version 1 (before `language` existed), as an
/// older build wrote it: the store keeps old versions, readers upcast them.
pub async fn insert_v1_course(db: &TestDb) -> String {
    let course_id = Uuid::now_v7().to_string();
    let instructor = Uuid::now_v7().to_string();
    let event_id = Uuid::now_v7();
    let payload = serde_json::json!({"CourseCreated": {
        "course_id": course_id,
        "title": "Written by an older build",
        "description": "",
        "instructors": [instructor],
        "capacity": 3,
        "access": {"kind": "free"},
    }});
    let metadata = serde_json::json!({
        "event_id": event_id.to_string(),
        "command_id": "legacy-1",
        "command_type": "CreateCourse",
        "correlation_id": "legacy-flow",
        "causation_id": "legacy-1",
        "actor_id": instructor,
        "actor_role": "instructor",
        "tenant_id": "default",
        "occurred_at": "2024-03-01T09:30:00.123456Z",
    });
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version,
                             payload, metadata, event_id)
         VALUES ('Course', $1, 1, 'CourseCreated', '1', $2, $3, $4)",
    )
    .bind(&course_id)
    .bind(&payload)
    .bind(&metadata)
    .bind(event_id)
    .execute(&db.pool)
    .await
    .unwrap();
    course_id
}

/// The records of an Avro export as Python fastavro reads them: the header
/// line first, then one line per record (tests/python/read_export.py).
pub fn read_with_fastavro(file: &Path) -> (Json, Vec<Json>) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/read_export.py");
    let output = tokio::task::block_in_place(|| {
        Command::new(lms_testkit::paths::python())
            .arg(script)
            .arg(file)
            .output()
    })
    .expect("run the Python reader");
    assert!(
        output.status.success(),
        "fastavro could not read {}: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let mut lines = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Json>(line).expect("a JSON line from Python"))
        .collect::<Vec<_>>()
        .into_iter();
    let header = lines.next().expect("the header line");
    (header, lines.collect())
}
