//! The query service's log at debug holds no access token: the binary
//! answers allowed, refused and forged reads and its output is read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lms_proto::query::v1::student_queries_client::StudentQueriesClient;
use lms_proto::query::v1::GetStudentDashboardRequest;
use lms_testkit::grpc::when_listening;
use lms_testkit::logs::CapturedLog;
use lms_testkit::paths::TempDir;
use lms_testkit::ports::free_addr;
use lms_testkit::process::{service, Running};
use lms_testkit::{auth, TestDb};
use std::time::Duration;
use uuid::Uuid;

fn dashboard(student: Uuid, token: &str) -> tonic::Request<GetStudentDashboardRequest> {
    let mut request = tonic::Request::new(GetStudentDashboardRequest {
        student_id: student.to_string(),
        min_position: None,
    });
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

#[tokio::test(flavor = "multi_thread")]
async fn the_log_holds_no_access_token() {
    let db = TestDb::read_models().await;
    let dir = TempDir::new("query-logs");
    let log = CapturedLog::new(&dir, "lms-query");
    let (stdout, stderr) = log.stdio();
    let grpc = free_addr();
    let child = Running::spawn(
        service(env!("CARGO_BIN_EXE_lms-query"))
            .env("LMS_DATABASE_URL", &db.url)
            .env("LMS_REDIS_URL", lms_testkit::redis::url())
            .env("LMS_REDIS_PREFIX", lms_testkit::redis::unique_prefix())
            .env("LMS_AUTH_JWKS", auth::jwks_file())
            .env("LMS_GRPC_ADDR", &grpc)
            .env("LMS_METRICS_ADDR", free_addr())
            .env("LMS_LOG", "debug")
            .stdout(stdout)
            .stderr(stderr),
    );
    let mut students = StudentQueriesClient::new(when_listening(&grpc, "lms-query").await);
    let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
    let mine = auth::token(me, &["student"]);
    let forged = format!("{mine}x");
    students
        .get_student_dashboard(dashboard(me, &mine))
        .await
        .unwrap();
    let refused = students
        .get_student_dashboard(dashboard(other, &mine))
        .await;
    assert_eq!(refused.unwrap_err().code(), tonic::Code::PermissionDenied);
    let forged_reply = students.get_student_dashboard(dashboard(me, &forged)).await;
    assert_eq!(
        forged_reply.unwrap_err().code(),
        tonic::Code::Unauthenticated
    );

    let status = child.terminate(Duration::from_secs(20)).await;
    assert!(status.success(), "lms-query exited {status}");
    let text = log.text();
    assert!(
        text.contains("lms-query listening") && text.contains("query refused"),
        "the log was captured at debug: {text}"
    );
    log.assert_holds_none(&[
        ("the student's token", mine.as_str()),
        ("a forged token", forged.as_str()),
    ]);
    db.drop_database().await;
}
