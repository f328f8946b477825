//! The whole pipeline through real servers: commands over gRPC → event store
//! and outbox → relay → Kafka (Avro, registry) → the four projection workers
//! → Postgres and Redis → the query API, read-your-writes included: each
//! query passes the position its command returned and gets the new state
//! without polling.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lms_projections::billing::BillingProjection;
use lms_projections::course_catalog::CourseCatalogProjection;
use lms_projections::roster::RosterProjection;
use lms_projections::student_dashboard::StudentDashboardProjection;
use lms_proto::command::v1::*;
use lms_proto::query::v1::*;
use lms_testkit::pipeline::prelude::*;
use lms_testkit::query::QueryServer;
use redis::AsyncCommands;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::Code;
use tonic_types::StatusExt;

/// `lms-query` in process, reading the harness's database and Redis prefix.
async fn query_server(h: &Harness) -> QueryServer {
    let config = lms_query::config::Config {
        redis_prefix: h.config.redis_prefix.clone(),
        read_your_writes_timeout_ms: 5_000,
        ..Default::default()
    };
    QueryServer::start_with(&h.db, config).await
}

fn at(reply: &CommandReply) -> Option<MinPosition> {
    Some(MinPosition {
        aggregate_id: reply.aggregate_id.clone(),
        sequence: reply.sequence,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_reach_the_query_api_through_kafka_with_read_your_writes() {
    let h = Harness::start().await;
    let workers = vec![
        h.start_worker(Arc::new(CourseCatalogProjection)),
        h.start_worker(Arc::new(RosterProjection)),
        h.start_worker(Arc::new(StudentDashboardProjection)),
        h.start_worker(Arc::new(BillingProjection)),
    ];
    let query = query_server(&h).await;
    let instructor = Caller::instructor();
    let mut courses = h.server.courses();

    // The workers join their consumer groups first:
    // wait for a first course to show up before timing anything.
    let (warmup, warmup_seq) = h.course(instructor, "Warm-up", false).await;
    h.wait_applied("catalog", "course-catalog", &warmup, warmup_seq)
        .await;

    // Course: create, module, lesson, publish; the publish reply's position
    // makes the query wait for exactly that state.
    let (course, course_seq) = h.course(instructor, "Event sourcing 101", true).await;
    let started = Instant::now();
    let got = query
        .courses()
        .get_course(GetCourseRequest {
            course_id: course.clone(),
            min_position: Some(MinPosition {
                aggregate_id: course.clone(),
                sequence: course_seq as u64,
            }),
        })
        .await
        .expect("GetCourse at the publish position")
        .into_inner()
        .course
        .expect("course");
    println!(
        "GetCourse after publish answered in {:?}",
        started.elapsed()
    );
    assert_eq!(got.title, "Event sourcing 101");
    assert_eq!(got.status, "published");
    assert_eq!((got.module_count, got.lesson_count), (1, 1));
    assert_eq!((got.capacity, got.seats_taken), (10, 0));
    assert_eq!(got.instructor_ids, vec![instructor.id.to_string()]);

    // Enroll two students, complete a lesson, withdraw one.
    let (ada, bob) = (Caller::student(), Caller::student());
    let mut enrollments = h.server.enrollments();
    let mut replies = HashMap::new();
    for student in [ada, bob] {
        let reply = enrollments
            .enroll(student.req(EnrollRequest {
                command_id: new_id(),
                course_id: course.clone(),
                student_id: student.id.to_string(),
            }))
            .await
            .expect("enroll")
            .into_inner();
        replies.insert(student.id, reply);
    }
    let lesson: String = sqlx::query_scalar(
        "SELECT payload->'LessonAdded'->>'lesson_id' FROM events
          WHERE aggregate_id = $1 AND event_type = 'LessonAdded'",
    )
    .bind(&course)
    .fetch_one(&h.db.pool)
    .await
    .expect("lesson id from the event store");
    let progressed = enrollments
        .complete_lesson(ada.req(CompleteLessonRequest {
            command_id: new_id(),
            enrollment_id: replies[&ada.id].aggregate_id.clone(),
            lesson_id: lesson,
        }))
        .await
        .expect("complete lesson")
        .into_inner();
    let withdrawn = enrollments
        .withdraw(bob.req(WithdrawRequest {
            command_id: new_id(),
            enrollment_id: replies[&bob.id].aggregate_id.clone(),
            reason: "no time".into(),
        }))
        .await
        .expect("withdraw")
        .into_inner();

    // A position names one aggregate: Ada's enrollment is another stream
    // (maybe another partition), so wait for it first, then for Bob's.
    query
        .courses()
        .get_roster(GetRosterRequest {
            course_id: course.clone(),
            min_position: at(&replies[&ada.id]),
        })
        .await
        .expect("GetRoster after Ada's enrollment");
    let roster = query
        .courses()
        .get_roster(GetRosterRequest {
            course_id: course.clone(),
            min_position: at(&withdrawn),
        })
        .await
        .expect("GetRoster")
        .into_inner()
        .enrollments;
    let statuses: HashMap<String, (String, u32)> = roster
        .iter()
        .map(|e| {
            (
                e.student_id.clone(),
                (e.status.clone(), e.lessons_completed),
            )
        })
        .collect();
    assert_eq!(roster.len(), 2, "{roster:?}");
    // Ada's lesson may or may not be there yet; her enrollment is.
    assert_eq!(statuses[&ada.id.to_string()].0, "active");
    assert_eq!(statuses[&bob.id.to_string()], ("withdrawn".to_string(), 0));

    let dashboard = query
        .students()
        .get_student_dashboard(GetStudentDashboardRequest {
            student_id: ada.id.to_string(),
            min_position: at(&progressed),
        })
        .await
        .expect("GetStudentDashboard")
        .into_inner();
    assert_eq!(dashboard.courses.len(), 1, "{dashboard:?}");
    let entry = &dashboard.courses[0];
    assert_eq!(entry.course_id, course);
    assert_eq!(entry.status, "active");
    assert_eq!((entry.lessons_completed, entry.lessons_total), (1, 1));
    assert_eq!(entry.course_title, "Event sourcing 101");

    // Seats: the course stream has two SeatReserved and one SeatReleased;
    // Postgres and the Redis counter both say one seat taken.
    let mut redis = h.redis().await;
    let seats_key = format!("{}:seats:{course}", h.config.redis_prefix);
    eventually(Duration::from_secs(30), || {
        let mut redis = redis.clone();
        let key = seats_key.clone();
        async move { redis.get::<_, Option<i64>>(&key).await.unwrap() == Some(1) }
    })
    .await
    .expect("Redis seat counter = 1");
    let course_now = eventually(Duration::from_secs(30), || async {
        query
            .courses()
            .get_course(GetCourseRequest {
                course_id: course.clone(),
                min_position: None,
            })
            .await
            .map(|r| r.into_inner().course.map(|c| c.seats_taken) == Some(1))
            .unwrap_or(false)
    })
    .await;
    assert!(course_now.is_ok(), "GetCourse shows one seat taken");

    // The course card in Redis, and ListCourses from it once warm.
    let card: HashMap<String, String> = redis
        .hgetall(format!("{}:course:{course}", h.config.redis_prefix))
        .await
        .unwrap();
    assert_eq!(
        card.get("title").map(String::as_str),
        Some("Event sourcing 101")
    );
    let listed = query
        .courses()
        .list_courses(ListCoursesRequest {
            status: "published".into(),
            title_contains: "sourcing".into(),
            min_position: Some(MinPosition {
                aggregate_id: course.clone(),
                sequence: course_seq as u64,
            }),
            ..Default::default()
        })
        .await
        .expect("ListCourses")
        .into_inner();
    let titles: Vec<&str> = listed.courses.iter().map(|c| c.title.as_str()).collect();
    assert_eq!(titles, vec!["Event sourcing 101"]);

    // Billing: a trial, then an activation that issues an invoice.
    let carol = Caller::student();
    let mut subscriptions = h.server.subscriptions();
    let trial = subscriptions
        .start_trial(carol.req(StartTrialRequest {
            command_id: new_id(),
            student_id: carol.id.to_string(),
            plan: "basic".into(),
        }))
        .await
        .expect("trial")
        .into_inner();
    let subscription = query
        .billing()
        .get_subscription(GetSubscriptionRequest {
            student_id: carol.id.to_string(),
            min_position: at(&trial),
        })
        .await
        .expect("GetSubscription")
        .into_inner()
        .subscription
        .expect("subscription");
    assert_eq!(
        (subscription.plan.as_str(), subscription.status.as_str()),
        ("basic", "trialing")
    );
    let activated = subscriptions
        .activate(carol.req(ActivateSubscriptionRequest {
            command_id: new_id(),
            student_id: carol.id.to_string(),
            plan: "pro".into(),
            payment_method: "pm_card_ok".into(),
        }))
        .await
        .expect("activate")
        .into_inner();
    let invoices = query
        .billing()
        .list_invoices(ListInvoicesRequest {
            student_id: carol.id.to_string(),
            min_position: at(&activated),
            ..Default::default()
        })
        .await
        .expect("ListInvoices")
        .into_inner()
        .invoices;
    assert_eq!(invoices.len(), 1, "{invoices:?}");
    assert_eq!(invoices[0].subscription_id, activated.aggregate_id);
    assert!(invoices[0].amount_cents > 0);

    // A position no projection will reach: UNAVAILABLE with a retry hint,
    // after the bounded wait.
    let started = Instant::now();
    let status = query
        .courses()
        .get_course(GetCourseRequest {
            course_id: course.clone(),
            min_position: Some(MinPosition {
                aggregate_id: course.clone(),
                sequence: 10_000,
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(started.elapsed() >= Duration::from_secs(4));
    assert!(status.get_details_retry_info().is_some(), "{status:?}");

    // A command that failed wrote nothing and so moves nothing: the course
    // stays as it was (capacity 10, one seat).
    let refused = courses
        .publish_course(instructor.req(PublishCourseRequest {
            command_id: new_id(),
            course_id: course.clone(),
        }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");

    query.stop().await;
    for worker in workers {
        worker.stop().await;
    }
    h.stop().await;
}
