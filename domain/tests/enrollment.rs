//! Given/when/then tests of the Enrollment aggregate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use cqrs_es::test::TestFramework;
use lms_domain::course::{Access, Admission, Plan, SeatStatus};
use lms_domain::enrollment::{Enrollment, EnrollmentCommand, EnrollmentError, EnrollmentEvent};
use lms_domain::subscription::Standing;
use lms_domain::{Actor, DomainError, EnrollmentId, ErrorKind, LessonId};
use std::collections::BTreeSet;
use support::*;

fn framework() -> TestFramework<Enrollment> {
    TestFramework::with(())
}

fn enrollment_id() -> EnrollmentId {
    EnrollmentId::for_student_in_course(COURSE, STUDENT)
}

fn admission(seat: SeatStatus, access: Access) -> Admission {
    Admission {
        published: true,
        seat,
        access,
    }
}

fn open_free() -> Admission {
    admission(SeatStatus::Available, Access::Free)
}

fn enroll(actor: Actor, admission: Admission, subscription: Standing) -> EnrollmentCommand {
    EnrollmentCommand::Enroll {
        actor,
        enrollment_id: enrollment_id(),
        student_id: STUDENT,
        course_id: COURSE,
        admission,
        subscription,
    }
}

fn enrolled() -> EnrollmentEvent {
    EnrollmentEvent::StudentEnrolled {
        enrollment_id: enrollment_id(),
        student_id: STUDENT,
        course_id: COURSE,
    }
}

fn lesson_completed(n: u128) -> EnrollmentEvent {
    EnrollmentEvent::LessonCompleted {
        lesson_id: lesson(n),
    }
}

fn withdrawn() -> EnrollmentEvent {
    EnrollmentEvent::EnrollmentWithdrawn {
        reason: "busy".into(),
    }
}

/// The course has lessons 1, 2 and 3.
fn course_lessons() -> BTreeSet<LessonId> {
    [lesson(1), lesson(2), lesson(3)].into_iter().collect()
}

fn complete_lesson(actor: Actor, n: u128) -> EnrollmentCommand {
    EnrollmentCommand::CompleteLesson {
        actor,
        lesson_id: lesson(n),
        course_lessons: course_lessons(),
    }
}

fn complete_course(actor: Actor) -> EnrollmentCommand {
    EnrollmentCommand::CompleteCourse {
        actor,
        course_lessons: course_lessons(),
    }
}

fn withdraw(actor: Actor, reason: &str) -> EnrollmentCommand {
    EnrollmentCommand::Withdraw {
        actor,
        reason: reason.into(),
    }
}

fn entitled(plan: Plan) -> Standing {
    Standing::Entitled { plan }
}

// ---- Enroll -------------------------------------------------------------------------

#[test]
fn enroll_into_a_free_course_with_an_available_seat() {
    framework()
        .given_no_previous_events()
        .when(enroll(student(), open_free(), Standing::NotEntitled))
        .then_expect_events(vec![enrolled()]);
}

#[test]
fn enroll_with_a_seat_already_held_succeeds() {
    framework()
        .given_no_previous_events()
        .when(enroll(
            student(),
            admission(SeatStatus::Held, Access::Free),
            Standing::NotEntitled,
        ))
        .then_expect_events(vec![enrolled()]);
}

#[test]
fn student_enrolling_someone_else_is_refused() {
    framework()
        .given_no_previous_events()
        .when(enroll(other_student(), open_free(), Standing::NotEntitled))
        .then_expect_error(EnrollmentError::NotAllowed);
}

#[test]
fn admin_may_enroll_a_student() {
    framework()
        .given_no_previous_events()
        .when(enroll(admin(), open_free(), Standing::NotEntitled))
        .then_expect_events(vec![enrolled()]);
}

#[test]
fn enroll_into_an_unpublished_course_is_refused() {
    let draft = Admission {
        published: false,
        ..open_free()
    };
    framework()
        .given_no_previous_events()
        .when(enroll(student(), draft, Standing::NotEntitled))
        .then_expect_error(EnrollmentError::CourseNotPublished);
}

#[test]
fn enroll_into_a_full_course_is_refused() {
    framework()
        .given_no_previous_events()
        .when(enroll(
            student(),
            admission(SeatStatus::Full, Access::Free),
            Standing::NotEntitled,
        ))
        .then_expect_error(EnrollmentError::CourseFull);
}

#[test]
fn enroll_while_already_active_is_refused() {
    framework()
        .given(vec![enrolled()])
        .when(enroll(student(), open_free(), Standing::NotEntitled))
        .then_expect_error(EnrollmentError::AlreadyEnrolled);
}

#[test]
fn enroll_after_completing_the_course_is_refused() {
    framework()
        .given(vec![enrolled(), EnrollmentEvent::CourseCompleted])
        .when(enroll(student(), open_free(), Standing::NotEntitled))
        .then_expect_error(EnrollmentError::AlreadyCompleted);
}

#[test]
fn re_enroll_after_withdrawal_succeeds() {
    framework()
        .given(vec![enrolled(), lesson_completed(1), withdrawn()])
        .when(enroll(student(), open_free(), Standing::NotEntitled))
        .then_expect_events(vec![enrolled()]);
}

#[test]
fn re_enrolment_starts_with_no_completed_lessons() {
    // Lesson 1 was completed before the withdrawal; after re-enrolling it may
    // be completed again.
    framework()
        .given(vec![
            enrolled(),
            lesson_completed(1),
            withdrawn(),
            enrolled(),
        ])
        .when(complete_lesson(student(), 1))
        .then_expect_events(vec![lesson_completed(1)]);
}

#[test]
fn enroll_into_a_paid_course_without_subscription_is_refused() {
    framework()
        .given_no_previous_events()
        .when(enroll(
            student(),
            admission(SeatStatus::Available, Access::Paid { price_cents: 4900 }),
            Standing::NotEntitled,
        ))
        .then_expect_error(EnrollmentError::SubscriptionRequired);
}

#[test]
fn enroll_into_a_paid_course_with_any_entitled_subscription_succeeds() {
    framework()
        .given_no_previous_events()
        .when(enroll(
            student(),
            admission(SeatStatus::Available, Access::Paid { price_cents: 4900 }),
            entitled(Plan::Basic),
        ))
        .then_expect_events(vec![enrolled()]);
}

#[test]
fn enroll_into_a_plan_course_without_subscription_is_refused() {
    framework()
        .given_no_previous_events()
        .when(enroll(
            student(),
            admission(SeatStatus::Available, Access::Plan { plan: Plan::Basic }),
            Standing::NotEntitled,
        ))
        .then_expect_error(EnrollmentError::SubscriptionRequired);
}

#[test]
fn enroll_into_a_pro_course_with_basic_plan_is_refused() {
    framework()
        .given_no_previous_events()
        .when(enroll(
            student(),
            admission(SeatStatus::Available, Access::Plan { plan: Plan::Pro }),
            entitled(Plan::Basic),
        ))
        .then_expect_error(EnrollmentError::PlanNotSufficient { required: "pro" });
}

#[test]
fn enroll_into_a_plan_course_with_a_covering_plan_succeeds() {
    for (required, held) in [
        (Plan::Basic, Plan::Basic),
        (Plan::Basic, Plan::Pro),
        (Plan::Pro, Plan::Pro),
    ] {
        let result = framework()
            .given_no_previous_events()
            .when(enroll(
                student(),
                admission(SeatStatus::Available, Access::Plan { plan: required }),
                entitled(held),
            ))
            .inspect_result();
        assert_eq!(result, Ok(vec![enrolled()]), "{held:?} for {required:?}");
    }
}

#[test]
fn pro_covers_basic_but_basic_does_not_cover_pro() {
    assert!(Plan::Pro.covers(Plan::Basic));
    assert!(Plan::Pro.covers(Plan::Pro));
    assert!(Plan::Basic.covers(Plan::Basic));
    assert!(!Plan::Basic.covers(Plan::Pro));
}

// ---- CompleteLesson -----------------------------------------------------------------

#[test]
fn complete_lesson_emits_lesson_completed() {
    framework()
        .given(vec![enrolled()])
        .when(complete_lesson(student(), 2))
        .then_expect_events(vec![lesson_completed(2)]);
}

#[test]
fn complete_a_lesson_not_in_the_course_is_refused() {
    framework()
        .given(vec![enrolled()])
        .when(complete_lesson(student(), 99))
        .then_expect_error(EnrollmentError::UnknownLesson);
}

#[test]
fn complete_a_lesson_twice_is_refused() {
    framework()
        .given(vec![enrolled(), lesson_completed(1)])
        .when(complete_lesson(student(), 1))
        .then_expect_error(EnrollmentError::LessonAlreadyCompleted);
}

#[test]
fn complete_lesson_on_a_withdrawn_enrollment_is_refused() {
    framework()
        .given(vec![enrolled(), withdrawn()])
        .when(complete_lesson(student(), 1))
        .then_expect_error(EnrollmentError::NotActive);
}

#[test]
fn complete_lesson_without_enrollment_is_not_found() {
    framework()
        .given_no_previous_events()
        .when(complete_lesson(student(), 1))
        .then_expect_error(EnrollmentError::NotFound);
}

#[test]
fn complete_lesson_for_someone_else_is_refused() {
    framework()
        .given(vec![enrolled()])
        .when(complete_lesson(other_student(), 1))
        .then_expect_error(EnrollmentError::NotAllowed);
}

// ---- CompleteCourse -----------------------------------------------------------------

#[test]
fn complete_course_with_lessons_remaining_is_refused_with_the_count() {
    framework()
        .given(vec![enrolled(), lesson_completed(2)])
        .when(complete_course(student()))
        .then_expect_error(EnrollmentError::LessonsRemaining { remaining: 2 });
}

#[test]
fn complete_course_after_every_lesson_emits_course_completed() {
    framework()
        .given(vec![
            enrolled(),
            lesson_completed(1),
            lesson_completed(2),
            lesson_completed(3),
        ])
        .when(complete_course(student()))
        .then_expect_events(vec![EnrollmentEvent::CourseCompleted]);
}

#[test]
fn complete_course_twice_is_refused() {
    framework()
        .given(vec![
            enrolled(),
            lesson_completed(1),
            lesson_completed(2),
            lesson_completed(3),
            EnrollmentEvent::CourseCompleted,
        ])
        .when(complete_course(student()))
        .then_expect_error(EnrollmentError::NotActive);
}

#[test]
fn complete_course_without_enrollment_is_not_found() {
    framework()
        .given_no_previous_events()
        .when(complete_course(student()))
        .then_expect_error(EnrollmentError::NotFound);
}

// ---- Withdraw -----------------------------------------------------------------------

#[test]
fn withdraw_emits_enrollment_withdrawn_with_trimmed_reason() {
    framework()
        .given(vec![enrolled()])
        .when(withdraw(student(), "  busy \n"))
        .then_expect_events(vec![withdrawn()]);
}

#[test]
fn admin_may_withdraw_a_student() {
    framework()
        .given(vec![enrolled()])
        .when(withdraw(admin(), "busy"))
        .then_expect_events(vec![withdrawn()]);
}

#[test]
fn withdraw_with_an_oversized_or_control_character_reason_is_invalid() {
    for reason in ["x".repeat(1_001), "nul\u{0}".into(), "flip \u{202E}".into()] {
        framework()
            .given(vec![enrolled()])
            .when(withdraw(student(), &reason))
            .then_expect_error(EnrollmentError::Invalid(vec![lms_domain::FieldViolation::new(
                "reason",
                if reason.len() > 1_000 {
                    "must be at most 1000 characters"
                } else {
                    "must not contain control characters (line breaks and tabs aside) or bidirectional overrides"
                },
            )]));
    }
}

#[test]
fn withdraw_when_not_active_is_refused() {
    framework()
        .given(vec![enrolled(), withdrawn()])
        .when(withdraw(student(), "again"))
        .then_expect_error(EnrollmentError::NotActive);
}

#[test]
fn withdraw_after_completion_is_refused() {
    framework()
        .given(vec![enrolled(), EnrollmentEvent::CourseCompleted])
        .when(withdraw(student(), "done"))
        .then_expect_error(EnrollmentError::NotActive);
}

#[test]
fn withdraw_without_enrollment_is_not_found() {
    framework()
        .given_no_previous_events()
        .when(withdraw(student(), "busy"))
        .then_expect_error(EnrollmentError::NotFound);
}

#[test]
fn withdraw_someone_else_is_refused() {
    framework()
        .given(vec![enrolled()])
        .when(withdraw(other_student(), "busy"))
        .then_expect_error(EnrollmentError::NotAllowed);
}

// ---- Error mapping and ids ----------------------------------------------------------

#[test]
fn enrollment_errors_map_to_kinds_and_reasons() {
    assert_eq!(
        EnrollmentError::NotAllowed.kind(),
        ErrorKind::PermissionDenied
    );
    assert_eq!(
        EnrollmentError::NotAllowed.reason(),
        "NOT_ALLOWED_FOR_STUDENT"
    );
    assert_eq!(EnrollmentError::NotFound.kind(), ErrorKind::NotFound);
    assert_eq!(
        EnrollmentError::CourseFull.kind(),
        ErrorKind::FailedPrecondition
    );
    assert_eq!(EnrollmentError::CourseFull.reason(), "COURSE_FULL");
    let plan = EnrollmentError::PlanNotSufficient { required: "pro" };
    assert_eq!(plan.kind(), ErrorKind::FailedPrecondition);
    assert_eq!(plan.reason(), "PLAN_NOT_SUFFICIENT");
    assert_eq!(
        EnrollmentError::LessonsRemaining { remaining: 2 }.reason(),
        "LESSONS_REMAINING"
    );
}

#[test]
fn enrollment_id_is_deterministic_and_differs_per_pair() {
    let id = EnrollmentId::for_student_in_course(COURSE, STUDENT);
    assert_eq!(id, EnrollmentId::for_student_in_course(COURSE, STUDENT));
    let others = [
        EnrollmentId::for_student_in_course(COURSE, OTHER_STUDENT),
        EnrollmentId::for_student_in_course(OTHER_COURSE, STUDENT),
        EnrollmentId::for_student_in_course(OTHER_COURSE, OTHER_STUDENT),
    ];
    for other in others {
        assert_ne!(id, other);
    }
    assert_ne!(others[0], others[1]);
    assert_eq!(id.as_uuid().get_version_num(), 5);
}

#[test]
fn re_enrolling_a_stream_of_another_student_is_refused() {
    let mut command = enroll(admin(), open_free(), Standing::NotEntitled);
    if let EnrollmentCommand::Enroll { student_id, .. } = &mut command {
        *student_id = OTHER_STUDENT;
    }
    framework()
        .given(vec![enrolled(), withdrawn()])
        .when(command)
        .then_expect_error(EnrollmentError::NotAllowed);
}
