//! The command service's log at debug holds no access token: the binary
//! serves accepted, refused and forged calls and its output is read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lms_proto::command::v1::course_commands_client::CourseCommandsClient;
use lms_proto::command::v1::CreateCourseRequest;
use lms_testkit::grpc::when_listening;
use lms_testkit::logs::CapturedLog;
use lms_testkit::paths::TempDir;
use lms_testkit::ports::free_addr;
use lms_testkit::process::{service, Running};
use lms_testkit::{auth, TestDb};
use std::time::Duration;
use uuid::Uuid;

fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_holds_no_access_token() {
    let db = TestDb::event_store().await;
    let dir = TempDir::new("commands-logs");
    let log = CapturedLog::new(&dir, "lms-commands");
    let (stdout, stderr) = log.stdio();
    let grpc = free_addr();
    let child = Running::spawn(
        service(env!("CARGO_BIN_EXE_lms-commands"))
            .env("LMS_DATABASE_URL", &db.url)
            .env("LMS_AUTH_JWKS", auth::jwks_file())
            .env("LMS_GRPC_ADDR", &grpc)
            .env("LMS_METRICS_ADDR", free_addr())
            .env("LMS_LOG", "debug")
            .stdout(stdout)
            .stderr(stderr),
    );
    let mut courses = CourseCommandsClient::new(when_listening(&grpc, "lms-commands").await);
    let instructor = Uuid::now_v7();
    let create = || CreateCourseRequest {
        command_id: Uuid::now_v7().to_string(),
        course_id: String::new(),
        title: "Logged".into(),
        description: String::new(),
        instructor_ids: vec![instructor.to_string()],
        capacity: 3,
        access: None,
    };
    let good = auth::token(instructor, &["instructor"]);
    let student = auth::token(Uuid::now_v7(), &["student"]);
    let forged = format!("{good}x");
    courses
        .create_course(with_token(create(), &good))
        .await
        .unwrap();
    assert!(courses
        .create_course(with_token(create(), &student))
        .await
        .is_err());
    assert!(courses
        .create_course(with_token(create(), &forged))
        .await
        .is_err());

    let status = child.terminate(Duration::from_secs(20)).await;
    assert!(status.success(), "lms-commands exited {status}");
    let text = log.text();
    assert!(
        text.contains("command accepted") && text.contains("command refused"),
        "the log was captured at debug: {text}"
    );
    log.assert_holds_none(&[
        ("the instructor's token", good.as_str()),
        ("the student's token", student.as_str()),
        ("a forged token", forged.as_str()),
    ]);
    db.drop_database().await;
}
