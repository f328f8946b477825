//! roster and billing end to end: enrollment and subscription commands over
//! gRPC → relay → Kafka → workers → rows in Postgres, seats in Redis.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lms_projections::billing::BillingProjection;
use lms_projections::roster::RosterProjection;
use lms_projections::student_dashboard::StudentDashboardProjection;
use lms_proto::command::v1::*;
use lms_testkit::pipeline::prelude::*;
use redis::AsyncCommands;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn enrollments_fill_the_roster_and_the_seat_counter() {
    let h = Harness::start().await;
    let worker = h.start_worker(Arc::new(RosterProjection));
    let (course, _) = h.course(Caller::instructor(), "Crowded", true).await;
    let mut enrollments = h.server.enrollments();
    let (stays, leaves) = (Caller::student(), Caller::student());
    let mut ids = Vec::new();
    for student in [stays, leaves] {
        let reply = enrollments
            .enroll(student.req(EnrollRequest {
                command_id: new_id(),
                course_id: course.clone(),
                student_id: student.id.to_string(),
            }))
            .await
            .expect("enroll")
            .into_inner();
        ids.push(reply.aggregate_id);
    }
    let reply = enrollments
        .withdraw(leaves.req(WithdrawRequest {
            command_id: new_id(),
            enrollment_id: ids[1].clone(),
            reason: "changed my mind".into(),
        }))
        .await
        .expect("withdraw")
        .into_inner();
    h.wait_applied("roster", "roster", &ids[0], 1).await;
    h.wait_applied("roster", "roster", &ids[1], reply.sequence as i64)
        .await;
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT student_id::text, course_id::text, status FROM roster.enrollments ORDER BY status",
    )
    .fetch_all(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(
        rows,
        vec![
            (stays.id.to_string(), course.clone(), "active".to_string()),
            (
                leaves.id.to_string(),
                course.clone(),
                "withdrawn".to_string()
            ),
        ]
    );
    // Two SeatReserved and one SeatReleased on the course stream.
    let mut redis = h.redis().await;
    let key = format!("{}:seats:{course}", h.config.redis_prefix);
    eventually(Duration::from_secs(30), || {
        let mut redis = redis.clone();
        let key = key.clone();
        async move { redis.get::<_, Option<i64>>(&key).await.unwrap() == Some(1) }
    })
    .await
    .expect("one seat taken");
    let guard: Option<i64> = redis
        .get(format!(
            "{}:seq:roster:Course:{course}",
            h.config.redis_prefix
        ))
        .await
        .unwrap();
    assert!(guard.is_some(), "roster's own sequence guard");

    worker.stop().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trial_then_an_activation_show_up_in_billing() {
    let h = Harness::start().await;
    let worker = h.start_worker(Arc::new(BillingProjection));
    let student = Caller::student();
    let mut subscriptions = h.server.subscriptions();
    subscriptions
        .start_trial(student.req(StartTrialRequest {
            command_id: new_id(),
            student_id: student.id.to_string(),
            plan: "basic".into(),
        }))
        .await
        .expect("trial");
    let reply = subscriptions
        .activate(student.req(ActivateSubscriptionRequest {
            command_id: new_id(),
            student_id: student.id.to_string(),
            plan: "pro".into(),
            payment_method: "pm_card_ok".into(),
        }))
        .await
        .expect("activate")
        .into_inner();
    let id = reply.aggregate_id;
    h.wait_applied("billing", "billing", &id, reply.sequence as i64)
        .await;
    let (student_id, plan, status, period_end): (
        String,
        String,
        String,
        Option<chrono::DateTime<chrono::Utc>>,
    ) = sqlx::query_as(
        "SELECT student_id::text, plan, status, current_period_end
               FROM billing.subscriptions WHERE subscription_id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(
        (student_id.as_str(), plan.as_str(), status.as_str()),
        (student.id.to_string().as_str(), "pro", "active")
    );
    assert!(period_end.is_some());
    let invoices: Vec<(String, i64, String)> = sqlx::query_as(
        "SELECT student_id::text, amount_cents, currency FROM billing.invoices WHERE subscription_id = $1::uuid",
    )
    .bind(&id)
    .fetch_all(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(invoices.len(), 1);
    assert_eq!(
        invoices[0].0,
        student.id.to_string(),
        "student filled in on activation"
    );
    assert_eq!(invoices[0].1, 1999);

    worker.stop().await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_follows_enrollments_and_course_changes() {
    let h = Harness::start().await;
    let worker = h.start_worker(Arc::new(StudentDashboardProjection));
    let instructor = Caller::instructor();
    // Course facts before the enrollment, a lesson after it.
    let (course, _) = h.course(instructor, "Dashboards", true).await;
    let student = Caller::student();
    let enrollment = h
        .server
        .enrollments()
        .enroll(student.req(EnrollRequest {
            command_id: new_id(),
            course_id: course.clone(),
            student_id: student.id.to_string(),
        }))
        .await
        .expect("enroll")
        .into_inner()
        .aggregate_id;
    let module_id: String = sqlx::query_scalar(
        "SELECT payload::jsonb -> 'ModuleAdded' ->> 'module_id' FROM events
          WHERE aggregate_id = $1 AND event_type = 'ModuleAdded'",
    )
    .bind(&course)
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    let reply = h
        .server
        .courses()
        .add_lesson(instructor.req(AddLessonRequest {
            command_id: new_id(),
            course_id: course.clone(),
            module_id,
            lesson_id: String::new(),
            title: "Second".into(),
        }))
        .await
        .expect("add lesson")
        .into_inner();
    h.wait_applied("dashboard", "student-dashboard", &enrollment, 1)
        .await;
    h.wait_applied(
        "dashboard",
        "student-dashboard",
        &course,
        reply.sequence as i64,
    )
    .await;
    let row: (String, String, String, i32, i32) = sqlx::query_as(
        "SELECT enrollment_id::text, course_title, status, lessons_completed, lessons_total
           FROM dashboard.student_courses WHERE student_id = $1::uuid AND course_id = $2::uuid",
    )
    .bind(student.id.to_string())
    .bind(&course)
    .fetch_one(&h.db.pool)
    .await
    .unwrap();
    assert_eq!(
        row,
        (
            enrollment,
            "Dashboards".to_string(),
            "active".to_string(),
            0,
            2
        )
    );

    worker.stop().await;
    h.stop().await;
}
