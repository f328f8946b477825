//! End-to-end tests of `lms.command.v1` through real gRPC on a random port,
//! against a real Postgres database per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lms_proto::command::v1::*;
use lms_testkit::commands::{Caller, CommandServer};
use lms_testkit::status::{assert_refused, violated_fields};
use lms_testkit::{new_id, TestDb};
use tonic::Code;

struct PublishedCourse {
    course_id: String,
    lesson_id: String,
    instructor: Caller,
}

async fn published_course(
    server: &CommandServer,
    capacity: u32,
    access: Option<CourseAccess>,
) -> PublishedCourse {
    let instructor = Caller::instructor();
    let mut courses = server.courses();
    let created = courses
        .create_course(instructor.req(CreateCourseRequest {
            command_id: new_id(),
            course_id: String::new(),
            title: "Event sourcing in Rust".into(),
            description: "Aggregates, projections, replays".into(),
            instructor_ids: vec![instructor.id.to_string()],
            capacity,
            access,
        }))
        .await
        .expect("create course")
        .into_inner();
    let course_id = created.aggregate_id;
    let module = courses
        .add_module(instructor.req(AddModuleRequest {
            command_id: new_id(),
            course_id: course_id.clone(),
            module_id: String::new(),
            title: "Basics".into(),
        }))
        .await
        .expect("add module")
        .into_inner();
    let lesson = courses
        .add_lesson(instructor.req(AddLessonRequest {
            command_id: new_id(),
            course_id: course_id.clone(),
            module_id: module.created_id,
            lesson_id: String::new(),
            title: "Commands and events".into(),
        }))
        .await
        .expect("add lesson")
        .into_inner();
    courses
        .publish_course(instructor.req(PublishCourseRequest {
            command_id: new_id(),
            course_id: course_id.clone(),
        }))
        .await
        .expect("publish");
    PublishedCourse {
        course_id,
        lesson_id: lesson.created_id,
        instructor,
    }
}

fn enroll(course_id: &str, student: &Caller) -> EnrollRequest {
    EnrollRequest {
        command_id: new_id(),
        course_id: course_id.to_string(),
        student_id: student.id.to_string(),
    }
}

#[tokio::test]
async fn course_lifecycle_writes_one_event_per_command_with_envelope_metadata() {
    let db = TestDb::event_store().await;
    let server = CommandServer::start(&db).await;
    let instructor = Caller::instructor();
    let mut courses = server.courses();

    let mut request = instructor.req_in(
        "acme",
        CreateCourseRequest {
            command_id: new_id(),
            course_id: String::new(),
            title: "  Distributed systems  ".into(),
            description: String::new(),
            instructor_ids: vec![instructor.id.to_string()],
            capacity: 30,
            access: Some(CourseAccess {
                kind: Some(course_access::Kind::Plan("pro".into())),
            }),
        },
    );
    request
        .metadata_mut()
        .insert("x-correlation-id", "corr-123".parse().unwrap());
    let response = courses.create_course(request).await.expect("create");
    assert_eq!(
        response
            .metadata()
            .get("x-correlation-id")
            .and_then(|v| v.to_str().ok()),
        Some("corr-123")
    );
    let created = response.into_inner();
    assert_eq!(created.sequence, 1);
    let course_id = created.aggregate_id;

    let module = courses
        .add_module(instructor.req_in(
            "acme",
            AddModuleRequest {
                command_id: new_id(),
                course_id: course_id.clone(),
                module_id: String::new(),
                title: "Clocks".into(),
            },
        ))
        .await
        .expect("module")
        .into_inner();
    assert_eq!(module.sequence, 2);
    assert!(!module.created_id.is_empty());
    let lesson = courses
        .add_lesson(instructor.req_in(
            "acme",
            AddLessonRequest {
                command_id: new_id(),
                course_id: course_id.clone(),
                module_id: module.created_id.clone(),
                lesson_id: String::new(),
                title: "Lamport".into(),
            },
        ))
        .await
        .expect("lesson")
        .into_inner();
    assert_eq!(lesson.sequence, 3);
    for (seq, result) in [
        (
            4,
            courses
                .change_capacity(instructor.req_in(
                    "acme",
                    ChangeCapacityRequest {
                        command_id: new_id(),
                        course_id: course_id.clone(),
                        capacity: 40,
                    },
                ))
                .await,
        ),
        (
            5,
            courses
                .update_course_details(instructor.req_in(
                    "acme",
                    UpdateCourseDetailsRequest {
                        command_id: new_id(),
                        course_id: course_id.clone(),
                        title: "Distributed systems II".into(),
                        description: "Clocks and consensus".into(),
                        access: None,
                    },
                ))
                .await,
        ),
        (
            6,
            courses
                .publish_course(instructor.req_in(
                    "acme",
                    PublishCourseRequest {
                        command_id: new_id(),
                        course_id: course_id.clone(),
                    },
                ))
                .await,
        ),
        (
            7,
            courses
                .archive_course(instructor.req_in(
                    "acme",
                    ArchiveCourseRequest {
                        command_id: new_id(),
                        course_id: course_id.clone(),
                    },
                ))
                .await,
        ),
    ] {
        assert_eq!(result.expect("command").into_inner().sequence, seq);
    }

    let events = db.events("Course", &course_id).await;
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "CourseCreated",
            "ModuleAdded",
            "LessonAdded",
            "CapacityChanged",
            "CourseDetailsUpdated",
            "CoursePublished",
            "CourseArchived"
        ]
    );
    let (_, first) = &events[0];
    assert_eq!(first["correlation_id"], "corr-123");
    assert_eq!(first["tenant_id"], "acme");
    assert_eq!(first["actor_id"], instructor.id.to_string());
    assert_eq!(first["actor_role"], "instructor");
    assert_eq!(first["command_type"], "CreateCourse");
    assert_eq!(first["causation_id"], first["command_id"]);
    assert!(
        first.get("_completion").is_none(),
        "control data must not be stored"
    );
    let event_id = first["event_id"].as_str().expect("event id");
    assert_eq!(
        uuid::Uuid::parse_str(event_id)
            .expect("uuid")
            .get_version_num(),
        7
    );
    assert!(first["occurred_at"].as_str().is_some());
    // Every event has its outbox row, written in the same transaction.
    let outboxed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox o JOIN events e USING (position)
          WHERE e.aggregate_id = $1 AND o.published_at IS NULL",
    )
    .bind(&course_id)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(outboxed, 7);
    // A correlation id is generated when the caller sends none.
    let (_, second) = &events[1];
    assert!(uuid::Uuid::parse_str(second["correlation_id"].as_str().unwrap()).is_ok());

    server.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn enrollment_and_subscription_happy_paths() {
    let db = TestDb::event_store().await;
    let server = CommandServer::start(&db).await;
    let free = published_course(&server, 5, None).await;
    let paid = published_course(
        &server,
        5,
        Some(CourseAccess {
            kind: Some(course_access::Kind::PriceCents(4900)),
        }),
    )
    .await;
    let student = Caller::student();
    let mut enrollments = server.enrollments();
    let mut subscriptions = server.subscriptions();

    // Free course: enroll, complete the lesson, complete the course.
    let enrolled = enrollments
        .enroll(student.req(enroll(&free.course_id, &student)))
        .await
        .expect("enroll")
        .into_inner();
    assert_eq!(enrolled.sequence, 1);
    let enrollment_id = enrolled.aggregate_id;
    enrollments
        .complete_lesson(student.req(CompleteLessonRequest {
            command_id: new_id(),
            enrollment_id: enrollment_id.clone(),
            lesson_id: free.lesson_id.clone(),
        }))
        .await
        .expect("complete lesson");
    let completed = enrollments
        .complete_course(student.req(CompleteCourseRequest {
            command_id: new_id(),
            enrollment_id: enrollment_id.clone(),
        }))
        .await
        .expect("complete course")
        .into_inner();
    assert_eq!(
        (completed.aggregate_id.as_str(), completed.sequence),
        (enrollment_id.as_str(), 3)
    );
    let course_events: Vec<String> = db
        .events("Course", &free.course_id)
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(
        course_events[course_events.len() - 2..],
        ["SeatReserved", "SeatReleased"]
    );

    // Paid course: refused without a subscription, allowed on a trial.
    let refused = enrollments
        .enroll(student.req(enroll(&paid.course_id, &student)))
        .await
        .expect_err("needs a subscription");
    assert_refused(&refused, Code::FailedPrecondition, "SUBSCRIPTION_REQUIRED");
    subscriptions
        .start_trial(student.req(StartTrialRequest {
            command_id: new_id(),
            student_id: student.id.to_string(),
            plan: "basic".into(),
        }))
        .await
        .expect("trial");
    let paid_enrollment = enrollments
        .enroll(student.req(enroll(&paid.course_id, &student)))
        .await
        .expect("enroll on trial")
        .into_inner();
    let activated = subscriptions
        .activate(student.req(ActivateSubscriptionRequest {
            command_id: new_id(),
            student_id: student.id.to_string(),
            plan: "basic".into(),
            payment_method: "pm_card_visa".into(),
        }))
        .await
        .expect("activate")
        .into_inner();
    assert_eq!(activated.sequence, 3, "trial, invoice, activation");
    let declined = subscriptions
        .renew(student.req(RenewSubscriptionRequest {
            command_id: new_id(),
            student_id: student.id.to_string(),
            payment_method: "pm_card_visa".into(),
        }))
        .await
        .expect_err("too early to renew");
    assert_refused(&declined, Code::FailedPrecondition, "RENEWAL_TOO_EARLY");

    // Withdraw frees the seat; cancel ends the subscription.
    enrollments
        .withdraw(student.req(WithdrawRequest {
            command_id: new_id(),
            enrollment_id: paid_enrollment.aggregate_id.clone(),
            reason: "schedule".into(),
        }))
        .await
        .expect("withdraw");
    let cancelled = subscriptions
        .cancel(student.req(CancelSubscriptionRequest {
            command_id: new_id(),
            student_id: student.id.to_string(),
            reason: "done".into(),
        }))
        .await
        .expect("cancel")
        .into_inner();
    let stream: Vec<String> = db
        .events("Subscription", &cancelled.aggregate_id)
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(
        stream,
        [
            "TrialStarted",
            "InvoiceIssued",
            "SubscriptionActivated",
            "SubscriptionCancelled"
        ]
    );
    let enrollment_stream: Vec<String> = db
        .events("Enrollment", &paid_enrollment.aggregate_id)
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(
        enrollment_stream,
        ["StudentEnrolled", "EnrollmentWithdrawn"]
    );
    assert_eq!(db.count_events("SeatReleased").await, 2);

    server.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn invalid_input_is_invalid_argument_with_every_bad_field_and_writes_nothing() {
    let db = TestDb::event_store().await;
    let server = CommandServer::start(&db).await;
    let instructor = Caller::instructor();
    let mut courses = server.courses();

    let status = courses
        .create_course(instructor.req(CreateCourseRequest {
            command_id: new_id(),
            course_id: String::new(),
            title: "   ".into(),
            description: String::new(),
            instructor_ids: vec![instructor.id.to_string()],
            capacity: 0,
            access: None,
        }))
        .await
        .expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    let mut fields = violated_fields(&status);
    fields.sort();
    assert_eq!(fields, ["capacity", "title"]);

    let status = courses
        .create_course(instructor.req(CreateCourseRequest {
            command_id: new_id(),
            course_id: "not-a-uuid".into(),
            title: "Fine".into(),
            description: String::new(),
            instructor_ids: vec!["nope".into()],
            capacity: 3,
            access: Some(CourseAccess {
                kind: Some(course_access::Kind::Plan("platinum".into())),
            }),
        }))
        .await
        .expect_err("invalid ids");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&status),
        ["course_id", "instructor_ids[0]", "access.plan"]
    );

    // Edge parsing errors and the domain's field rules come back together.
    let status = courses
        .create_course(instructor.req(CreateCourseRequest {
            command_id: new_id(),
            course_id: "bad".into(),
            title: String::new(),
            description: String::new(),
            instructor_ids: vec![],
            capacity: 0,
            access: None,
        }))
        .await
        .expect_err("everything wrong");
    assert_eq!(
        violated_fields(&status),
        ["course_id", "title", "instructor_ids", "capacity"]
    );

    let status = courses
        .publish_course(instructor.req(PublishCourseRequest {
            command_id: String::new(),
            course_id: new_id(),
        }))
        .await
        .expect_err("missing command id");
    assert_eq!(violated_fields(&status), ["command_id"]);

    let status = server
        .subscriptions()
        .activate(instructor.req(ActivateSubscriptionRequest {
            command_id: new_id(),
            student_id: instructor.id.to_string(),
            plan: "basic".into(),
            payment_method: "".into(),
        }))
        .await
        .expect_err("no payment method");
    assert_eq!(violated_fields(&status), ["payment_method"]);

    assert_eq!(db.total_events().await, 0);
    server.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn refusals_map_to_not_found_permission_denied_failed_precondition_and_unauthenticated() {
    let db = TestDb::event_store().await;
    let server = CommandServer::start(&db).await;
    let instructor = Caller::instructor();
    let mut courses = server.courses();

    let status = courses
        .publish_course(instructor.req(PublishCourseRequest {
            command_id: new_id(),
            course_id: new_id(),
        }))
        .await
        .expect_err("unknown course");
    assert_refused(&status, Code::NotFound, "COURSE_NOT_FOUND");

    let created = courses
        .create_course(instructor.req(CreateCourseRequest {
            command_id: new_id(),
            course_id: String::new(),
            title: "Draft".into(),
            description: String::new(),
            instructor_ids: vec![instructor.id.to_string()],
            capacity: 3,
            access: None,
        }))
        .await
        .expect("create")
        .into_inner();
    let status = courses
        .publish_course(instructor.req(PublishCourseRequest {
            command_id: new_id(),
            course_id: created.aggregate_id.clone(),
        }))
        .await
        .expect_err("no lessons");
    assert_refused(&status, Code::FailedPrecondition, "COURSE_HAS_NO_LESSONS");
    let precondition = status.get_details_precondition_failure_compat();
    assert_eq!(precondition, Some("COURSE_HAS_NO_LESSONS".to_string()));

    let stranger = Caller::instructor();
    let status = courses
        .archive_course(stranger.req(ArchiveCourseRequest {
            command_id: new_id(),
            course_id: created.aggregate_id.clone(),
        }))
        .await
        .expect_err("not an instructor of this course");
    assert_refused(&status, Code::PermissionDenied, "NOT_COURSE_INSTRUCTOR");

    let status = server
        .enrollments()
        .enroll(Caller::student().req(enroll(&created.aggregate_id, &Caller::student())))
        .await
        .expect_err("enrolling someone else");
    assert_refused(&status, Code::PermissionDenied, "NOT_ALLOWED_FOR_STUDENT");

    let student = Caller::student();
    let status = server
        .enrollments()
        .enroll(student.req(enroll(&created.aggregate_id, &student)))
        .await
        .expect_err("draft course");
    assert_refused(&status, Code::FailedPrecondition, "COURSE_NOT_PUBLISHED");

    let status = server
        .enrollments()
        .withdraw(student.req(WithdrawRequest {
            command_id: new_id(),
            enrollment_id: new_id(),
            reason: String::new(),
        }))
        .await
        .expect_err("unknown enrollment");
    assert_refused(&status, Code::NotFound, "ENROLLMENT_NOT_FOUND");

    let declined = server
        .subscriptions()
        .activate(student.req(ActivateSubscriptionRequest {
            command_id: new_id(),
            student_id: student.id.to_string(),
            plan: "pro".into(),
            payment_method: "pm_card_declined".into(),
        }))
        .await
        .expect_err("declined");
    assert_refused(&declined, Code::FailedPrecondition, "PAYMENT_DECLINED");
    let outage = server
        .subscriptions()
        .activate(student.req(ActivateSubscriptionRequest {
            command_id: new_id(),
            student_id: student.id.to_string(),
            plan: "pro".into(),
            payment_method: "pm_gateway_down".into(),
        }))
        .await
        .expect_err("gateway down");
    assert_refused(&outage, Code::Unavailable, "PAYMENT_GATEWAY_UNAVAILABLE");

    let anonymous = courses
        .archive_course(tonic::Request::new(ArchiveCourseRequest {
            command_id: new_id(),
            course_id: created.aggregate_id.clone(),
        }))
        .await
        .expect_err("no identity");
    assert_refused(&anonymous, Code::Unauthenticated, "TOKEN_MISSING");
    // The headers that once named the caller name nobody now.
    let mut claimed = tonic::Request::new(ArchiveCourseRequest {
        command_id: new_id(),
        course_id: created.aggregate_id.clone(),
    });
    claimed
        .metadata_mut()
        .insert("x-actor-id", instructor.id.to_string().parse().unwrap());
    claimed
        .metadata_mut()
        .insert("x-actor-role", "admin".parse().unwrap());
    let status = courses.archive_course(claimed).await.expect_err("headers");
    assert_refused(&status, Code::Unauthenticated, "TOKEN_MISSING");
    // A token signed by a key the service does not know.
    let stranger = lms_runtime::auth::KeyRing::generate("test-process").unwrap();
    let forger = lms_runtime::auth::TokenIssuer::new(
        &stranger,
        "lms-identity",
        "lms",
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let forged = forger
        .sign(&forger.claims(
            instructor.id,
            "default",
            &["admin".into()],
            chrono::Utc::now().timestamp(),
        ))
        .unwrap();
    let mut request = tonic::Request::new(ArchiveCourseRequest {
        command_id: new_id(),
        course_id: created.aggregate_id.clone(),
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", secrecy::ExposeSecret::expose_secret(&forged))
            .parse()
            .unwrap(),
    );
    let status = courses.archive_course(request).await.expect_err("forged");
    assert_refused(&status, Code::Unauthenticated, "TOKEN_INVALID");

    // Only the CourseCreated event was written.
    assert_eq!(db.total_events().await, 1);
    server.stop().await;
    db.drop_database().await;
}

trait PreconditionCompat {
    fn get_details_precondition_failure_compat(&self) -> Option<String>;
}

impl PreconditionCompat for tonic::Status {
    fn get_details_precondition_failure_compat(&self) -> Option<String> {
        use tonic_types::StatusExt;
        self.get_details_precondition_failure()
            .and_then(|p| p.violations.into_iter().next())
            .map(|v| v.r#type)
    }
}

#[tokio::test]
async fn a_retried_command_id_returns_the_first_reply_and_writes_nothing_new() {
    let db = TestDb::event_store().await;
    let server = CommandServer::start(&db).await;
    let course = published_course(&server, 3, None).await;
    let student = Caller::student();
    let mut enrollments = server.enrollments();
    let request = enroll(&course.course_id, &student);

    let first = enrollments
        .enroll(student.req(request.clone()))
        .await
        .expect("first")
        .into_inner();
    let events_after_first = db.total_events().await;
    let again = enrollments
        .enroll(student.req(request.clone()))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first, again);
    assert_eq!(db.total_events().await, events_after_first);

    // Same key, different request: refused, nothing written.
    let other = Caller::student();
    let mut reused = enroll(&course.course_id, &other);
    reused.command_id = request.command_id.clone();
    let status = enrollments
        .enroll(other.req(reused))
        .await
        .expect_err("reused key");
    assert_refused(&status, Code::AlreadyExists, "COMMAND_ID_REUSED");
    assert_eq!(db.total_events().await, events_after_first);

    // The key is bound to its caller: another student reusing it is refused
    // (and learns nothing about the first reply)...
    let status = enrollments
        .enroll(other.req(request.clone()))
        .await
        .expect_err("other caller");
    assert_refused(&status, Code::AlreadyExists, "COMMAND_ID_REUSED");
    // ...and scoped to its tenant: the same key in another tenant is a new
    // command (which finds no such course there).
    let mut elsewhere = student.req_in("other-tenant", enroll(&course.course_id, &student));
    elsewhere.get_mut().command_id = request.command_id.clone();
    let status = enrollments
        .enroll(elsewhere)
        .await
        .expect_err("another tenant's course");
    assert_refused(&status, Code::NotFound, "COURSE_NOT_FOUND");
    assert_eq!(db.total_events().await, events_after_first);

    // Concurrent duplicates of one create: one course, one reply.
    let create = CreateCourseRequest {
        command_id: new_id(),
        course_id: String::new(),
        title: "Once".into(),
        description: String::new(),
        instructor_ids: vec![course.instructor.id.to_string()],
        capacity: 1,
        access: None,
    };
    let replies = futures::future::join_all((0..8).map(|_| {
        let mut client = server.courses();
        let request = course.instructor.req(create.clone());
        async move { client.create_course(request).await.map(|r| r.into_inner()) }
    }))
    .await;
    let replies: Vec<CommandReply> = replies
        .into_iter()
        .map(|r| r.expect("duplicate create"))
        .collect();
    assert!(replies.iter().all(|r| *r == replies[0]), "{replies:?}");
    assert_eq!(db.count_events("CourseCreated").await, 2);

    server.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn another_tenants_aggregates_do_not_exist_for_a_caller() {
    let db = TestDb::event_store().await;
    let server = CommandServer::start(&db).await;
    // Tenant `default`: a published course, an enrolled student on a trial.
    let course = published_course(&server, 5, None).await;
    let student = Caller::student();
    let mut enrollments = server.enrollments();
    let mut subscriptions = server.subscriptions();
    let mut courses = server.courses();
    let enrolled = enrollments
        .enroll(student.req(enroll(&course.course_id, &student)))
        .await
        .expect("enroll")
        .into_inner();
    subscriptions
        .start_trial(student.req(StartTrialRequest {
            command_id: new_id(),
            student_id: student.id.to_string(),
            plan: "basic".into(),
        }))
        .await
        .expect("trial");
    let before = db.total_events().await;

    // Tenant `globex`: even its admin finds none of it, and writes nothing.
    const OTHER: &str = "globex";
    let admin = Caller::admin();
    let stranger = Caller::student();
    let status = courses
        .archive_course(admin.req_in(
            OTHER,
            ArchiveCourseRequest {
                command_id: new_id(),
                course_id: course.course_id.clone(),
            },
        ))
        .await
        .expect_err("archive elsewhere");
    assert_refused(&status, Code::NotFound, "COURSE_NOT_FOUND");
    let status = courses
        .add_module(admin.req_in(
            OTHER,
            AddModuleRequest {
                command_id: new_id(),
                course_id: course.course_id.clone(),
                module_id: String::new(),
                title: "Injected".into(),
            },
        ))
        .await
        .expect_err("add a module elsewhere");
    assert_refused(&status, Code::NotFound, "COURSE_NOT_FOUND");
    let status = enrollments
        .enroll(stranger.req_in(OTHER, enroll(&course.course_id, &stranger)))
        .await
        .expect_err("enroll elsewhere");
    assert_refused(&status, Code::NotFound, "COURSE_NOT_FOUND");
    let status = enrollments
        .withdraw(admin.req_in(
            OTHER,
            WithdrawRequest {
                command_id: new_id(),
                enrollment_id: enrolled.aggregate_id.clone(),
                reason: "cross-tenant".into(),
            },
        ))
        .await
        .expect_err("withdraw elsewhere");
    assert_refused(&status, Code::NotFound, "ENROLLMENT_NOT_FOUND");
    let status = enrollments
        .complete_lesson(admin.req_in(
            OTHER,
            CompleteLessonRequest {
                command_id: new_id(),
                enrollment_id: enrolled.aggregate_id.clone(),
                lesson_id: course.lesson_id.clone(),
            },
        ))
        .await
        .expect_err("complete a lesson elsewhere");
    assert_refused(&status, Code::NotFound, "ENROLLMENT_NOT_FOUND");
    let status = subscriptions
        .cancel(admin.req_in(
            OTHER,
            CancelSubscriptionRequest {
                command_id: new_id(),
                student_id: student.id.to_string(),
                reason: "cross-tenant".into(),
            },
        ))
        .await
        .expect_err("cancel elsewhere");
    assert_refused(&status, Code::NotFound, "SUBSCRIPTION_NOT_FOUND");
    // Creating a stream another tenant owns is refused the same way, not
    // retried into ABORTED.
    let status = subscriptions
        .start_trial(admin.req_in(
            OTHER,
            StartTrialRequest {
                command_id: new_id(),
                student_id: student.id.to_string(),
                plan: "pro".into(),
            },
        ))
        .await
        .expect_err("trial elsewhere");
    assert_refused(&status, Code::NotFound, "SUBSCRIPTION_NOT_FOUND");
    assert_eq!(db.total_events().await, before, "nothing written");

    // The owning tenant's admin still can.
    courses
        .archive_course(Caller::admin().req(ArchiveCourseRequest {
            command_id: new_id(),
            course_id: course.course_id.clone(),
        }))
        .await
        .expect("archive at home");
    assert_eq!(db.total_events().await, before + 1);

    server.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn fifty_concurrent_enrollments_into_ten_seats_admit_exactly_ten() {
    let db = TestDb::event_store().await;
    // Two server instances on one database: capacity must hold across
    // processes, through optimistic concurrency on the course stream.
    let a = CommandServer::start(&db).await;
    let b = CommandServer::start(&db).await;
    let course = published_course(&a, 10, None).await;

    let calls = (0..50).map(|i| {
        let server = if i % 2 == 0 { &a } else { &b };
        let mut client = server.enrollments();
        let student = Caller::student();
        let request = student.req(enroll(&course.course_id, &student));
        async move { client.enroll(request).await }
    });
    let results = futures::future::join_all(calls).await;
    let admitted: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(admitted.len(), 10, "refusals: {refused:?}");
    assert_eq!(refused.len(), 40);
    for status in &refused {
        assert_refused(status, Code::FailedPrecondition, "COURSE_FULL");
    }

    // The stored events agree: ten seats, ten enrollments, nothing else.
    assert_eq!(db.count_events("SeatReserved").await, 10);
    assert_eq!(db.count_events("StudentEnrolled").await, 10);
    let seat_holders: Vec<String> = sqlx::query_scalar(
        "SELECT payload::jsonb -> 'SeatReserved' ->> 'student_id' FROM events WHERE event_type = 'SeatReserved'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let enrolled: Vec<String> = sqlx::query_scalar(
        "SELECT payload::jsonb -> 'StudentEnrolled' ->> 'student_id' FROM events WHERE event_type = 'StudentEnrolled'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    let mut seat_holders = seat_holders;
    let mut enrolled = enrolled;
    seat_holders.sort();
    enrolled.sort();
    assert_eq!(seat_holders, enrolled);

    // A freed seat can be taken again.
    let leaver = Caller {
        id: enrolled[0].parse().unwrap(),
        role: "student",
    };
    let enrollment_id = admitted
        .iter()
        .map(|r| r.get_ref().aggregate_id.clone())
        .find(|id| {
            *id == lms_domain::EnrollmentId::for_student_in_course(
                course.course_id.parse().unwrap(),
                leaver.id.into(),
            )
            .to_string()
        })
        .expect("leaver's enrollment");
    a.enrollments()
        .withdraw(leaver.req(WithdrawRequest {
            command_id: new_id(),
            enrollment_id,
            reason: String::new(),
        }))
        .await
        .expect("withdraw");
    let late = Caller::student();
    b.enrollments()
        .enroll(late.req(enroll(&course.course_id, &late)))
        .await
        .expect("freed seat");

    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn conflicts_beyond_the_retry_budget_are_aborted_and_write_nothing() {
    let db = TestDb::event_store().await;
    let config = lms_commands::config::Config {
        conflict_retries: 0,
        ..Default::default()
    };
    let server = CommandServer::start_with(&db, config).await;
    let course = published_course(&server, 5, None).await;
    let before = db.count_events("ModuleAdded").await;

    let mut ok = 0;
    let mut aborted = 0;
    for _ in 0..5 {
        let calls = (0..16).map(|i| {
            let mut client = server.courses();
            let request = course.instructor.req(AddModuleRequest {
                command_id: new_id(),
                course_id: course.course_id.clone(),
                module_id: String::new(),
                title: format!("Module {i}"),
            });
            async move { client.add_module(request).await }
        });
        for result in futures::future::join_all(calls).await {
            match result {
                Ok(_) => ok += 1,
                Err(status) => {
                    assert_refused(&status, Code::Aborted, "CONCURRENT_MODIFICATION");
                    aborted += 1;
                }
            }
        }
        if aborted > 0 {
            break;
        }
    }
    assert!(aborted > 0, "16 concurrent writers never conflicted");
    assert_eq!(
        db.count_events("ModuleAdded").await - before,
        ok,
        "one event per success, none for aborted"
    );

    server.stop().await;
    db.drop_database().await;
}

#[tokio::test]
async fn health_reflection_and_metrics_are_served() {
    let db = TestDb::event_store().await;
    let server = CommandServer::start(&db).await;

    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel());
    for service in [
        "",
        "lms.command.v1.CourseCommands",
        "lms.command.v1.EnrollmentCommands",
    ] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health")
            .into_inner()
            .status;
        assert_eq!(
            status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
    }

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let mut reflection = ServerReflectionClient::new(server.channel());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::once(request))
        .await
        .expect("reflection")
        .into_inner();
    let response = responses
        .message()
        .await
        .expect("stream")
        .expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection response");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for expected in [
        "lms.command.v1.CourseCommands",
        "lms.command.v1.EnrollmentCommands",
        "lms.command.v1.SubscriptionCommands",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }

    // One command, then the counter and histogram show up on /metrics.
    let _ = published_course(&server, 1, None).await;
    let body = metrics_body(server.metrics_addr).await;
    assert!(
        body.contains("lms_commands_total{command=\"CreateCourse\",outcome=\"ok\"}"),
        "{body}"
    );
    assert!(
        body.contains("lms_command_duration_seconds_bucket"),
        "{body}"
    );

    server.stop().await;
    db.drop_database().await;
}

/// A minimal HTTP GET, to avoid a client dependency for one call.
async fn metrics_body(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect metrics");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut body = String::new();
    stream.read_to_string(&mut body).await.expect("read");
    body
}

async fn event_count(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .expect("count events")
}

#[tokio::test]
async fn control_characters_and_oversized_text_are_invalid_argument_naming_the_field_and_write_nothing(
) {
    let db = TestDb::event_store().await;
    let server = CommandServer::start(&db).await;
    let course = published_course(&server, 5, None).await;
    let student = Caller::student();
    let enrollment = server
        .enrollments()
        .enroll(student.req(enroll(&course.course_id, &student)))
        .await
        .expect("enroll")
        .into_inner()
        .aggregate_id;
    let before = event_count(&db).await;
    let mut courses = server.courses();
    let instructor = course.instructor;
    let create = |title: &str, description: &str| CreateCourseRequest {
        command_id: new_id(),
        course_id: String::new(),
        title: title.into(),
        description: description.into(),
        instructor_ids: vec![instructor.id.to_string()],
        capacity: 3,
        access: None,
    };
    // A NUL (which Postgres cannot store), a bell, a line break in a
    // one-line field, a right-to-left override (shows text in another order
    // than stored), and a first-strong isolate.
    for (title, description, fields) in [
        ("Null\u{0}byte", "", vec!["title"]),
        ("Bell\u{7}", "fine", vec!["title"]),
        ("Two\nlines", "", vec!["title"]),
        ("gnp.\u{202E}exe", "", vec!["title"]),
        ("Fine", "evil \u{2068}isolate", vec!["description"]),
        ("Fine", "nul \u{0} inside", vec!["description"]),
    ] {
        let status = courses
            .create_course(instructor.req(create(title, description)))
            .await
            .expect_err("control characters are refused");
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{title:?}: {status:?}"
        );
        assert_eq!(
            violated_fields(&status),
            fields,
            "{title:?} / {description:?}"
        );
        assert!(!status.message().contains("database"), "{status:?}");
    }
    // A description may hold line breaks and tabs.
    courses
        .create_course(instructor.req(create("Multi-line", "one\n\ttwo\r\nthree")))
        .await
        .expect("line breaks in a description are text");
    let before = before + 1;

    let status = courses
        .add_module(instructor.req(AddModuleRequest {
            command_id: new_id(),
            course_id: course.course_id.clone(),
            module_id: String::new(),
            title: "Escape \u{1b}[31m".into(),
        }))
        .await
        .expect_err("escape sequence");
    assert_eq!(violated_fields(&status), ["title"]);

    let too_many: Vec<String> = (0..21).map(|_| new_id()).collect();
    let status = courses
        .create_course(instructor.req(CreateCourseRequest {
            instructor_ids: too_many,
            ..create("Crowded", "")
        }))
        .await
        .expect_err("21 instructors");
    assert_eq!(violated_fields(&status), ["instructor_ids"]);

    // 2 MB of reason: under the transport's 4 MiB, over the field's 1,000
    // characters.
    let status = server
        .enrollments()
        .withdraw(student.req(WithdrawRequest {
            command_id: new_id(),
            enrollment_id: enrollment.clone(),
            reason: "x".repeat(2 * 1024 * 1024),
        }))
        .await
        .expect_err("2 MB reason");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(violated_fields(&status), ["reason"]);

    let status = server
        .subscriptions()
        .cancel(student.req(CancelSubscriptionRequest {
            command_id: new_id(),
            student_id: student.id.to_string(),
            reason: "because\u{0}".into(),
        }))
        .await
        .expect_err("NUL in a reason");
    assert_eq!(violated_fields(&status), ["reason"]);

    // Ids the caller chooses are copied into every event: bounded.
    let mut request = instructor.req(create("Fine", ""));
    request
        .metadata_mut()
        .insert("x-correlation-id", "c".repeat(129).parse().unwrap());
    let status = courses
        .create_course(request)
        .await
        .expect_err("long correlation id");
    assert_eq!(violated_fields(&status), ["x-correlation-id"]);

    assert_eq!(
        event_count(&db).await,
        before,
        "a refused command wrote an event"
    );
    // And the refused enrollment is still active: a normal withdrawal works.
    server
        .enrollments()
        .withdraw(student.req(WithdrawRequest {
            command_id: new_id(),
            enrollment_id: enrollment,
            reason: "Changed my mind\nfor now".into(),
        }))
        .await
        .expect("a reason of a few lines");

    server.stop().await;
    db.drop_database().await;
}
