//! A person signs up and signs in at the identity service, and the command
//! service, which knows only the identity service's JWKS, accepts their
//! token; a role granted by an admin reaches the command service with the
//! next token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lms_proto::command::v1::{CreateCourseRequest, EnrollRequest};
use lms_proto::identity::v1::{RefreshRequest, RoleRequest};
use lms_runtime::auth::Verifier;
use lms_testkit::commands::CommandServer;
use lms_testkit::identity::{bearer, IdentityServer};
use lms_testkit::status::assert_refused;
use lms_testkit::TestDb;
use tonic::Code;
use uuid::Uuid;

fn create_course(instructor: &str) -> CreateCourseRequest {
    CreateCourseRequest {
        command_id: Uuid::now_v7().to_string(),
        course_id: String::new(),
        title: "Signed in".into(),
        description: String::new(),
        instructor_ids: vec![instructor.into()],
        capacity: 5,
        access: None,
    }
}

#[tokio::test]
async fn register_login_and_a_command_with_the_token_works() {
    let db = TestDb::event_store().await;
    let identity = IdentityServer::start(&db).await;
    let verifier = Verifier::load(&identity.jwks_url, "lms-identity", "lms")
        .await
        .expect("the JWKS over HTTP");
    let commands =
        CommandServer::start_verified_by(&db, lms_commands::config::Config::default(), verifier)
            .await;

    let ada = identity.sign_up("ada").await;
    // A student acts for themselves: the course they create is refused
    // (only instructors create courses), enrolling is theirs to do.
    let status = commands
        .courses()
        .create_course(ada.req(create_course(&ada.session.user_id)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let status = commands
        .enrollments()
        .enroll(ada.req(EnrollRequest {
            command_id: Uuid::now_v7().to_string(),
            course_id: Uuid::now_v7().to_string(),
            student_id: ada.session.user_id.clone(),
        }))
        .await
        .unwrap_err();
    assert_refused(&status, Code::NotFound, "COURSE_NOT_FOUND");

    // An admin makes Ada an instructor; her next token carries the role.
    let admin = identity.bootstrap_admin("root").await;
    identity
        .client()
        .grant_role(admin.req(RoleRequest {
            command_id: Uuid::now_v7().to_string(),
            user_id: ada.session.user_id.clone(),
            role: "instructor".into(),
        }))
        .await
        .unwrap();
    let session = identity
        .client()
        .refresh(RefreshRequest {
            refresh_token: ada.session.refresh_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let created = commands
        .courses()
        .create_course(bearer(
            create_course(&ada.session.user_id),
            &session.access_token,
        ))
        .await
        .unwrap()
        .into_inner();
    let events = db.events("Course", &created.aggregate_id).await;
    assert_eq!(events[0].1["actor_id"], ada.session.user_id.as_str());
    assert_eq!(events[0].1["actor_role"], "instructor");
    assert_eq!(events[0].1["tenant_id"], "default");

    // A token the identity service never signed is nobody.
    let forged = lms_testkit::auth::token(Uuid::now_v7(), &["admin"]);
    let status = commands
        .courses()
        .create_course(bearer(create_course(&ada.session.user_id), &forged))
        .await
        .unwrap_err();
    assert_refused(&status, Code::Unauthenticated, "TOKEN_INVALID");
    commands.stop().await;
    identity.stop().await;
}
