//! A create with a generated id skips reading the stream; the append still
//! guards it: were the id taken, the conflict's retry loads and the domain
//! refuses (AlreadyExists), nothing written.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Utc;
use lms_commands::app::{AggregateStore, CourseService, Runner};
use lms_commands::context::{Caller, CommandContext};
use lms_commands::error::CommandError;
use lms_commands::store::CommandLog;
use lms_domain::course::{Access, Course, CourseCommand};
use lms_domain::{Actor, CourseId, ErrorKind, Role, UserId};
use lms_testkit::TestDb;
use std::sync::Arc;
use tonic::metadata::MetadataMap;
use uuid::Uuid;

fn context(instructor: Uuid) -> CommandContext {
    let caller = Caller {
        actor: Actor::new(UserId(instructor), Role::Instructor),
        tenant_id: "default".into(),
    };
    let mut context = CommandContext::new(
        &MetadataMap::new(),
        caller,
        "CreateCourse",
        &Uuid::now_v7().to_string(),
        Utc::now(),
    )
    .unwrap();
    context.request_hash = Uuid::now_v7().to_string();
    context
}

fn create(context: &CommandContext, course_id: CourseId) -> CourseCommand {
    CourseCommand::Create {
        course_id,
        actor: context.actor,
        title: "Rust 101".into(),
        description: "Ownership".into(),
        instructors: vec![context.actor.user_id],
        capacity: 10,
        access: Access::Free,
        language: None,
    }
}

#[tokio::test]
async fn a_create_with_a_taken_generated_id_is_refused_after_loading() {
    let db = TestDb::event_store().await;
    // Snapshots on, as the service runs the course store.
    let store = Arc::new(AggregateStore::<Course>::new(db.pool.clone(), (), 2));
    let service = CourseService::new(store, Runner::new(CommandLog::new(db.pool.clone()), 3));
    let instructor = Uuid::now_v7();

    // A fresh id: written at sequence 1 without reading anything.
    let fresh = CourseId::from(Uuid::now_v7());
    let ctx = context(instructor);
    let reply = service
        .create_new(&ctx, fresh, create(&ctx, fresh))
        .await
        .unwrap();
    assert_eq!(
        (reply.aggregate_id.as_str(), reply.sequence),
        (fresh.to_string().as_str(), 1)
    );

    // The same id again, as if generated twice: the append conflicts, the
    // retry loads the course and the domain refuses.
    let ctx = context(instructor);
    let err = service
        .create_new(&ctx, fresh, create(&ctx, fresh))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            CommandError::Rejected {
                kind: ErrorKind::AlreadyExists,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(db.count_events("CourseCreated").await, 1);
    let logged: i64 = sqlx::query_scalar("SELECT count(*) FROM command_log")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(logged, 1, "the refused command completed nothing");
    db.drop_database().await;
}
