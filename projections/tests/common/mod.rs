//! Load for the worker-binary tests (workload_sigkill.rs, workload_handover.rs,
//! walking_pace.rs: separate test binaries): courses,
//! enrollments and progress through the command API, the state they imply,
//! and exact comparisons with every read model.
#![allow(dead_code)]

use futures::{stream, StreamExt};
use lms_proto::command::v1::*;
use lms_testkit::pipeline::prelude::*;
use redis::AsyncCommands;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

pub const COURSES: usize = 10;
pub const CONCURRENCY: usize = 12;
/// The children's consumer-group session timeout.
pub const SESSION_TIMEOUT_MS: u64 = 20_000;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EnrollmentRow {
    pub enrollment_id: String,
    pub course_id: String,
    pub student_id: String,
    pub status: String,
    pub lessons_completed: i32,
}

/// What the commands that succeeded imply.
#[derive(Default)]
pub struct Expected {
    pub courses: Vec<String>,
    pub lessons: HashMap<String, Vec<String>>,
    pub enrollments: BTreeMap<String, EnrollmentRow>,
    pub commands: usize,
}

impl Expected {
    pub fn seats(&self) -> BTreeMap<String, i64> {
        let mut seats: BTreeMap<String, i64> =
            self.courses.iter().map(|c| (c.clone(), 0)).collect();
        for row in self.enrollments.values() {
            if row.status != "withdrawn" {
                *seats.entry(row.course_id.clone()).or_default() += 1;
            }
        }
        seats
    }
}

/// Ten published courses of two lessons each (50 commands).
pub async fn courses(h: &Harness, expected: &mut Expected) {
    let instructor = Caller::instructor();
    let mut api = h.server.courses();
    for n in 0..COURSES {
        let course = api
            .create_course(instructor.req(CreateCourseRequest {
                command_id: new_id(),
                course_id: String::new(),
                title: format!("Course {n}"),
                description: "load".into(),
                instructor_ids: vec![instructor.id.to_string()],
                capacity: 1_000,
                access: None,
            }))
            .await
            .expect("create")
            .into_inner()
            .aggregate_id;
        let module_id = api
            .add_module(instructor.req(AddModuleRequest {
                command_id: new_id(),
                course_id: course.clone(),
                module_id: String::new(),
                title: "Only".into(),
            }))
            .await
            .expect("module")
            .into_inner()
            .created_id;
        for lesson in ["one", "two"] {
            let id = api
                .add_lesson(instructor.req(AddLessonRequest {
                    command_id: new_id(),
                    course_id: course.clone(),
                    module_id: module_id.clone(),
                    lesson_id: String::new(),
                    title: lesson.into(),
                }))
                .await
                .expect("lesson")
                .into_inner()
                .created_id;
            expected.lessons.entry(course.clone()).or_default().push(id);
        }
        api.publish_course(instructor.req(PublishCourseRequest {
            command_id: new_id(),
            course_id: course.clone(),
        }))
        .await
        .expect("publish");
        expected.courses.push(course);
        expected.commands += 5;
    }
}

/// Enrolls new students round-robin until `count` (or `stop`), CONCURRENCY
/// at a time, `pause` between commands of one lane.
pub async fn enroll(
    h: &Harness,
    expected: &Mutex<Expected>,
    count: usize,
    pause: Duration,
    stop: watch::Receiver<bool>,
) {
    let courses = expected.lock().unwrap().courses.clone();
    let api = h.server.enrollments();
    stream::iter(0..count)
        .take_while(|_| {
            let go = !*stop.borrow();
            async move { go }
        })
        .for_each_concurrent(CONCURRENCY, |n| {
            let (mut api, course) = (api.clone(), courses[n % courses.len()].clone());
            async move {
                let student = Caller::student();
                let reply = api
                    .enroll(student.req(EnrollRequest {
                        command_id: new_id(),
                        course_id: course.clone(),
                        student_id: student.id.to_string(),
                    }))
                    .await
                    .expect("enroll")
                    .into_inner();
                {
                    let mut expected = expected.lock().unwrap();
                    expected.commands += 1;
                    expected.enrollments.insert(
                        reply.aggregate_id.clone(),
                        EnrollmentRow {
                            enrollment_id: reply.aggregate_id,
                            course_id: course,
                            student_id: student.id.to_string(),
                            status: "active".into(),
                            lessons_completed: 0,
                        },
                    );
                }
                tokio::time::sleep(pause).await;
            }
        })
        .await;
}

/// Completes the first lesson of `completions` enrollments and withdraws
/// `withdrawals` others.
pub async fn progress(
    h: &Harness,
    expected: &Mutex<Expected>,
    completions: usize,
    withdrawals: usize,
) {
    let (rows, lessons) = {
        let e = expected.lock().unwrap();
        (
            e.enrollments.values().cloned().collect::<Vec<_>>(),
            e.lessons.clone(),
        )
    };
    assert!(
        rows.len() >= completions + withdrawals,
        "too few enrollments"
    );
    let api = h.server.enrollments();
    stream::iter(rows.into_iter().take(completions + withdrawals).enumerate())
        .for_each_concurrent(CONCURRENCY, |(n, row)| {
            let mut api = api.clone();
            let lesson = lessons[&row.course_id][0].clone();
            async move {
                let student = Caller {
                    id: row.student_id.parse().unwrap(),
                    role: "student",
                };
                let withdraw = n >= completions;
                if withdraw {
                    api.withdraw(student.req(WithdrawRequest {
                        command_id: new_id(),
                        enrollment_id: row.enrollment_id.clone(),
                        reason: "load".into(),
                    }))
                    .await
                    .expect("withdraw");
                } else {
                    api.complete_lesson(student.req(CompleteLessonRequest {
                        command_id: new_id(),
                        enrollment_id: row.enrollment_id.clone(),
                        lesson_id: lesson,
                    }))
                    .await
                    .expect("complete lesson");
                }
                let mut expected = expected.lock().unwrap();
                expected.commands += 1;
                let entry = expected.enrollments.get_mut(&row.enrollment_id).unwrap();
                if withdraw {
                    entry.status = "withdrawn".into();
                } else {
                    entry.lessons_completed += 1;
                }
            }
        })
        .await;
}

pub async fn roster_rows(h: &Harness) -> BTreeMap<String, EnrollmentRow> {
    let rows: Vec<(String, String, String, String, i32)> = sqlx::query_as(
        "SELECT enrollment_id::text, course_id::text, student_id::text, status, lessons_completed
           FROM roster.enrollments",
    )
    .fetch_all(&h.db.pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(
            |(enrollment_id, course_id, student_id, status, lessons_completed)| {
                (
                    enrollment_id.clone(),
                    EnrollmentRow {
                        enrollment_id,
                        course_id,
                        student_id,
                        status,
                        lessons_completed,
                    },
                )
            },
        )
        .collect()
}

pub async fn dashboard_rows(h: &Harness) -> BTreeMap<String, EnrollmentRow> {
    let rows: Vec<(String, String, String, String, i32, i32)> = sqlx::query_as(
        "SELECT enrollment_id::text, course_id::text, student_id::text, status, lessons_completed,
                lessons_total
           FROM dashboard.student_courses",
    )
    .fetch_all(&h.db.pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(
            |(enrollment_id, course_id, student_id, status, lessons_completed, total)| {
                assert_eq!(total, 2, "lessons_total of {enrollment_id}");
                (
                    enrollment_id.clone(),
                    EnrollmentRow {
                        enrollment_id,
                        course_id,
                        student_id,
                        status,
                        lessons_completed,
                    },
                )
            },
        )
        .collect()
}

pub async fn catalog_seats(h: &Harness) -> BTreeMap<String, i64> {
    sqlx::query_as::<_, (String, i32)>("SELECT course_id::text, seats_taken FROM catalog.courses")
        .fetch_all(&h.db.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, seats)| (id, seats as i64))
        .collect()
}

pub async fn redis_seats(h: &Harness, courses: &[String]) -> BTreeMap<String, i64> {
    let mut redis = h.redis().await;
    let mut seats = BTreeMap::new();
    for course in courses {
        let taken: Option<i64> = redis
            .get(format!("{}:seats:{course}", h.config.redis_prefix))
            .await
            .unwrap();
        seats.insert(course.clone(), taken.unwrap_or(0));
    }
    seats
}

/// Waits until every read model holds what the commands imply (the roster
/// rows come from lms.enrollment.v1, the seat counters from lms.course.v1:
/// other partitions, so each is waited for), then compares them exactly and
/// once more after a settle period (nothing counted twice).
pub async fn assert_read_models(
    h: &Harness,
    expected: &Expected,
    with_catalog_and_dashboard: bool,
) {
    assert_read_models_within(
        h,
        expected,
        with_catalog_and_dashboard,
        Duration::from_secs(240),
    )
    .await;
}

/// [`assert_read_models`], converged within `within`.
pub async fn assert_read_models_within(
    h: &Harness,
    expected: &Expected,
    with_catalog_and_dashboard: bool,
    within: Duration,
) {
    let caught_up = eventually(within, || async {
        roster_rows(h).await == expected.enrollments
            && redis_seats(h, &expected.courses).await == expected.seats()
            && (!with_catalog_and_dashboard || dashboard_rows(h).await == expected.enrollments)
            && (!with_catalog_and_dashboard || catalog_seats(h).await == expected.seats())
    })
    .await;
    if caught_up.is_err() {
        let roster = roster_rows(h).await;
        let missing = expected
            .enrollments
            .iter()
            .filter(|(id, row)| roster.get(*id) != Some(row))
            .take(5)
            .collect::<Vec<_>>();
        panic!(
            "read models did not converge within {within:?}: roster {} rows (expected {}), first differences {missing:?}; \
             dashboard equal: {}, catalog seats equal: {}, Redis seats equal: {}",
            roster.len(),
            expected.enrollments.len(),
            dashboard_rows(h).await == expected.enrollments,
            catalog_seats(h).await == expected.seats(),
            redis_seats(h, &expected.courses).await == expected.seats(),
        );
    }
    // Counters: exactly the expected seats, in Redis as in Postgres.
    let seats = redis_seats(h, &expected.courses).await;
    if seats != expected.seats() {
        let course = expected
            .courses
            .iter()
            .find(|c| seats.get(*c) != expected.seats().get(*c))
            .unwrap_or(&expected.courses[0]);
        let mut redis = h.redis().await;
        let guard: Option<i64> = redis
            .get(format!(
                "{}:seq:roster:Course:{course}",
                h.config.redis_prefix
            ))
            .await
            .unwrap();
        let applied = h.applied("roster", "roster", course).await;
        let last: i64 =
            sqlx::query_scalar("SELECT max(sequence) FROM events WHERE aggregate_id = $1")
                .bind(course)
                .fetch_one(&h.db.pool)
                .await
                .unwrap();
        panic!(
            "Redis seats {seats:?} != expected {:?}; course {course}: redis guard {guard:?}, roster.applied {applied}, store {last}",
            expected.seats()
        );
    }
    // Settle: nothing more arrives and changes them.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(roster_rows(h).await, expected.enrollments);
    assert_eq!(redis_seats(h, &expected.courses).await, expected.seats());
    if with_catalog_and_dashboard {
        assert_eq!(dashboard_rows(h).await, expected.enrollments);
        assert_eq!(catalog_seats(h).await, expected.seats());
    }
}
