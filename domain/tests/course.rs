//! Given/when/then tests of the Course aggregate: catalog, lifecycle and seats.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use cqrs_es::test::TestFramework;
use cqrs_es::{Aggregate, DomainEvent};
use lms_domain::course::{
    Access, Admission, Course, CourseCommand, CourseError, CourseEvent, Plan, SeatStatus,
    DEFAULT_LANGUAGE, MAX_CAPACITY,
};
use lms_domain::{Actor, DomainError, ErrorKind, UserId};
use support::*;

type Framework = TestFramework<Course>;

fn framework() -> Framework {
    TestFramework::with(())
}

/// A valid `Create` command, to be varied one field at a time.
struct NewCourse {
    actor: Actor,
    title: String,
    description: String,
    instructors: Vec<UserId>,
    capacity: u32,
    access: Access,
    language: Option<String>,
}

impl NewCourse {
    fn valid() -> Self {
        Self {
            actor: instructor(),
            title: "Rust 101".into(),
            description: "Ownership and borrowing".into(),
            instructors: vec![INSTRUCTOR, CO_INSTRUCTOR],
            capacity: 2,
            access: Access::Free,
            language: None,
        }
    }

    fn cmd(self) -> CourseCommand {
        CourseCommand::Create {
            course_id: COURSE,
            actor: self.actor,
            title: self.title,
            description: self.description,
            instructors: self.instructors,
            capacity: self.capacity,
            access: self.access,
            language: self.language,
        }
    }
}

fn created() -> CourseEvent {
    created_in(DEFAULT_LANGUAGE)
}

fn created_in(language: &str) -> CourseEvent {
    CourseEvent::CourseCreated {
        course_id: COURSE,
        title: "Rust 101".into(),
        description: "Ownership and borrowing".into(),
        instructors: vec![INSTRUCTOR, CO_INSTRUCTOR],
        capacity: 2,
        access: Access::Free,
        language: language.into(),
    }
}

fn module_added(n: u128) -> CourseEvent {
    CourseEvent::ModuleAdded {
        module_id: module(n),
        title: format!("Module {n}"),
    }
}

fn lesson_added(m: u128, l: u128) -> CourseEvent {
    CourseEvent::LessonAdded {
        module_id: module(m),
        lesson_id: lesson(l),
        title: format!("Lesson {l}"),
    }
}

/// A draft course with one module holding one lesson.
fn draft_with_lesson() -> Vec<CourseEvent> {
    vec![created(), module_added(1), lesson_added(1, 1)]
}

/// A published course of capacity 2.
fn published() -> Vec<CourseEvent> {
    let mut events = draft_with_lesson();
    events.push(CourseEvent::CoursePublished);
    events
}

fn archived() -> Vec<CourseEvent> {
    let mut events = published();
    events.push(CourseEvent::CourseArchived);
    events
}

fn reserved(student: UserId) -> CourseEvent {
    CourseEvent::SeatReserved {
        student_id: student,
    }
}

fn released(student: UserId) -> CourseEvent {
    CourseEvent::SeatReleased {
        student_id: student,
    }
}

/// Every command except `Create`, issued by `actor` where it takes one.
fn edits_by(actor: Actor) -> Vec<CourseCommand> {
    vec![
        CourseCommand::UpdateDetails {
            actor,
            title: "Rust 102".into(),
            description: String::new(),
            access: Access::Free,
        },
        CourseCommand::AddModule {
            actor,
            module_id: module(9),
            title: "Traits".into(),
        },
        CourseCommand::AddLesson {
            actor,
            module_id: module(1),
            lesson_id: lesson(9),
            title: "Generics".into(),
        },
        CourseCommand::ChangeCapacity {
            actor,
            capacity: 10,
        },
        CourseCommand::Publish { actor },
        CourseCommand::Archive { actor },
    ]
}

fn invalid_fields(result: Result<Vec<CourseEvent>, CourseError>) -> Vec<String> {
    match result {
        Err(CourseError::Invalid(violations)) => violations.into_iter().map(|v| v.field).collect(),
        other => panic!("expected CourseError::Invalid, got {other:?}"),
    }
}

fn create_fields(new: NewCourse) -> Vec<String> {
    invalid_fields(
        framework()
            .given_no_previous_events()
            .when(new.cmd())
            .inspect_result(),
    )
}

// ---- Create ----------------------------------------------------------------

#[test]
fn create_emits_course_created_with_trimmed_title() {
    let new = NewCourse {
        title: "  Rust 101 \n".into(),
        ..NewCourse::valid()
    };
    framework()
        .given_no_previous_events()
        .when(new.cmd())
        .then_expect_events(vec![created()]);
}

#[test]
fn create_with_blank_title_is_invalid() {
    let new = NewCourse {
        title: "   ".into(),
        ..NewCourse::valid()
    };
    assert_eq!(create_fields(new), ["title"]);
}

#[test]
fn create_with_title_over_200_chars_is_invalid() {
    let new = NewCourse {
        title: "é".repeat(201),
        ..NewCourse::valid()
    };
    assert_eq!(create_fields(new), ["title"]);
}

#[test]
fn create_with_title_of_200_multibyte_chars_is_accepted() {
    let new = NewCourse {
        title: "é".repeat(200),
        ..NewCourse::valid()
    };
    let events = framework()
        .given_no_previous_events()
        .when(new.cmd())
        .inspect_result()
        .unwrap();
    assert_eq!(events.len(), 1);
}

#[test]
fn create_with_description_over_10000_chars_is_invalid() {
    let new = NewCourse {
        description: "x".repeat(10_001),
        ..NewCourse::valid()
    };
    assert_eq!(create_fields(new), ["description"]);
}

#[test]
fn create_with_zero_capacity_is_invalid() {
    let new = NewCourse {
        capacity: 0,
        ..NewCourse::valid()
    };
    assert_eq!(create_fields(new), ["capacity"]);
}

#[test]
fn create_with_capacity_above_maximum_is_invalid() {
    let new = NewCourse {
        capacity: MAX_CAPACITY + 1,
        ..NewCourse::valid()
    };
    assert_eq!(create_fields(new), ["capacity"]);
}

#[test]
fn create_with_maximum_capacity_is_accepted() {
    let new = NewCourse {
        capacity: MAX_CAPACITY,
        ..NewCourse::valid()
    };
    let result = framework()
        .given_no_previous_events()
        .when(new.cmd())
        .inspect_result();
    assert!(
        matches!(result.as_deref(), Ok([CourseEvent::CourseCreated { capacity, .. }]) if *capacity == MAX_CAPACITY)
    );
}

#[test]
fn create_without_instructors_is_invalid() {
    let new = NewCourse {
        actor: admin(),
        instructors: vec![],
        ..NewCourse::valid()
    };
    assert_eq!(create_fields(new), ["instructor_ids"]);
}

#[test]
fn create_paid_course_with_zero_price_is_invalid() {
    let new = NewCourse {
        access: Access::Paid { price_cents: 0 },
        ..NewCourse::valid()
    };
    assert_eq!(create_fields(new), ["access.price_cents"]);
}

#[test]
fn create_reports_every_invalid_field_at_once() {
    let new = NewCourse {
        title: String::new(),
        description: "x".repeat(10_001),
        instructors: vec![],
        capacity: 0,
        access: Access::Paid { price_cents: 0 },
        ..NewCourse::valid()
    };
    assert_eq!(
        create_fields(new),
        [
            "title",
            "description",
            "access.price_cents",
            "instructor_ids",
            "capacity"
        ]
    );
}

#[test]
fn create_by_someone_not_among_the_instructors_is_refused() {
    let new = NewCourse {
        actor: other_instructor(),
        ..NewCourse::valid()
    };
    framework()
        .given_no_previous_events()
        .when(new.cmd())
        .then_expect_error(CourseError::NotAnInstructor);
}

#[test]
fn admin_may_create_a_course_for_other_instructors() {
    let new = NewCourse {
        actor: admin(),
        ..NewCourse::valid()
    };
    framework()
        .given_no_previous_events()
        .when(new.cmd())
        .then_expect_events(vec![created()]);
}

#[test]
fn duplicate_instructors_are_deduplicated_keeping_first_order() {
    let new = NewCourse {
        instructors: vec![INSTRUCTOR, CO_INSTRUCTOR, INSTRUCTOR, CO_INSTRUCTOR],
        ..NewCourse::valid()
    };
    framework()
        .given_no_previous_events()
        .when(new.cmd())
        .then_expect_events(vec![created()]);
}

#[test]
fn plan_course_can_be_created() {
    let new = NewCourse {
        access: Access::Plan { plan: Plan::Pro },
        ..NewCourse::valid()
    };
    let result = framework()
        .given_no_previous_events()
        .when(new.cmd())
        .inspect_result();
    assert!(matches!(
        result.as_deref(),
        Ok([CourseEvent::CourseCreated {
            access: Access::Plan { plan: Plan::Pro },
            ..
        }])
    ));
}

#[test]
fn create_without_a_language_defaults_to_english() {
    let result = framework()
        .given_no_previous_events()
        .when(NewCourse::valid().cmd())
        .inspect_result();
    assert!(matches!(
        result.as_deref(),
        Ok([CourseEvent::CourseCreated { language, .. }]) if language == DEFAULT_LANGUAGE
    ));
}

#[test]
fn create_with_a_language_records_it() {
    let new = NewCourse {
        language: Some("fr".into()),
        ..NewCourse::valid()
    };
    let expected = created_in("fr");
    framework()
        .given_no_previous_events()
        .when(new.cmd())
        .then_expect_events(vec![expected]);
}

#[test]
fn create_with_a_malformed_language_is_invalid() {
    for code in ["", "EN", "eng", "e1", "fr-CA"] {
        let new = NewCourse {
            language: Some(code.into()),
            ..NewCourse::valid()
        };
        assert_eq!(create_fields(new), ["language"], "{code:?}");
    }
}

#[test]
fn course_created_is_version_2_and_other_events_version_1() {
    assert_eq!(created().event_version(), "2");
    assert_eq!(CourseEvent::CoursePublished.event_version(), "1");
}

#[test]
fn replayed_course_knows_its_language() {
    let course = replay(vec![created_in("de")]);
    assert_eq!(course.language(), "de");
}

#[test]
fn creating_an_existing_course_again_is_refused() {
    framework()
        .given(vec![created()])
        .when(NewCourse::valid().cmd())
        .then_expect_error(CourseError::AlreadyExists);
}

// ---- Commands on a missing course --------------------------------------------

#[test]
fn every_command_on_a_missing_course_is_not_found() {
    let mut commands = edits_by(instructor());
    commands.push(CourseCommand::ReserveSeat {
        student_id: STUDENT,
    });
    commands.push(CourseCommand::ReleaseSeat {
        student_id: STUDENT,
    });
    assert_eq!(commands.len(), 8);
    for command in commands {
        let result = framework()
            .given_no_previous_events()
            .when(command.clone())
            .inspect_result();
        assert_eq!(result, Err(CourseError::NotFound), "{command:?}");
    }
}

// ---- UpdateDetails ------------------------------------------------------------

#[test]
fn update_details_emits_details_updated_with_trimmed_title() {
    framework()
        .given(vec![created()])
        .when(CourseCommand::UpdateDetails {
            actor: co_instructor(),
            title: " Rust 102 ".into(),
            description: "Traits".into(),
            access: Access::Paid { price_cents: 4900 },
        })
        .then_expect_events(vec![CourseEvent::CourseDetailsUpdated {
            title: "Rust 102".into(),
            description: "Traits".into(),
            access: Access::Paid { price_cents: 4900 },
        }]);
}

#[test]
fn update_details_with_invalid_fields_is_refused() {
    let result = framework()
        .given(vec![created()])
        .when(CourseCommand::UpdateDetails {
            actor: instructor(),
            title: String::new(),
            description: String::new(),
            access: Access::Paid { price_cents: 0 },
        })
        .inspect_result();
    assert_eq!(invalid_fields(result), ["title", "access.price_cents"]);
}

// ---- AddModule ------------------------------------------------------------------

#[test]
fn add_module_emits_module_added_with_trimmed_title() {
    framework()
        .given(vec![created()])
        .when(CourseCommand::AddModule {
            actor: instructor(),
            module_id: module(1),
            title: "  Module 1 ".into(),
        })
        .then_expect_events(vec![module_added(1)]);
}

#[test]
fn add_module_with_an_existing_id_is_refused() {
    framework()
        .given(vec![created(), module_added(1)])
        .when(CourseCommand::AddModule {
            actor: instructor(),
            module_id: module(1),
            title: "Again".into(),
        })
        .then_expect_error(CourseError::DuplicateModule);
}

#[test]
fn add_module_with_blank_title_is_invalid() {
    let result = framework()
        .given(vec![created()])
        .when(CourseCommand::AddModule {
            actor: instructor(),
            module_id: module(1),
            title: " ".into(),
        })
        .inspect_result();
    assert_eq!(invalid_fields(result), ["title"]);
}

// ---- AddLesson ------------------------------------------------------------------

#[test]
fn add_lesson_emits_lesson_added() {
    framework()
        .given(vec![created(), module_added(1)])
        .when(CourseCommand::AddLesson {
            actor: instructor(),
            module_id: module(1),
            lesson_id: lesson(1),
            title: "Lesson 1 ".into(),
        })
        .then_expect_events(vec![lesson_added(1, 1)]);
}

#[test]
fn add_lesson_to_an_unknown_module_is_refused() {
    framework()
        .given(vec![created(), module_added(1)])
        .when(CourseCommand::AddLesson {
            actor: instructor(),
            module_id: module(2),
            lesson_id: lesson(1),
            title: "Lesson 1".into(),
        })
        .then_expect_error(CourseError::ModuleNotFound);
}

#[test]
fn add_lesson_with_an_id_used_in_another_module_is_refused() {
    framework()
        .given(draft_with_lesson())
        .and(vec![module_added(2)])
        .when(CourseCommand::AddLesson {
            actor: instructor(),
            module_id: module(2),
            lesson_id: lesson(1),
            title: "Copy".into(),
        })
        .then_expect_error(CourseError::DuplicateLesson);
}

#[test]
fn add_lesson_with_blank_title_is_invalid() {
    let result = framework()
        .given(vec![created(), module_added(1)])
        .when(CourseCommand::AddLesson {
            actor: instructor(),
            module_id: module(1),
            lesson_id: lesson(1),
            title: String::new(),
        })
        .inspect_result();
    assert_eq!(invalid_fields(result), ["title"]);
}

// ---- ChangeCapacity ---------------------------------------------------------------

#[test]
fn change_capacity_emits_capacity_changed() {
    framework()
        .given(vec![created()])
        .when(CourseCommand::ChangeCapacity {
            actor: instructor(),
            capacity: 30,
        })
        .then_expect_events(vec![CourseEvent::CapacityChanged { capacity: 30 }]);
}

#[test]
fn change_capacity_below_active_seats_is_refused() {
    framework()
        .given(published())
        .and(vec![reserved(STUDENT), reserved(OTHER_STUDENT)])
        .when(CourseCommand::ChangeCapacity {
            actor: instructor(),
            capacity: 1,
        })
        .then_expect_error(CourseError::CapacityBelowEnrollments {
            requested: 1,
            active: 2,
        });
}

#[test]
fn change_capacity_to_exactly_the_active_seats_is_allowed() {
    framework()
        .given(published())
        .and(vec![reserved(STUDENT)])
        .when(CourseCommand::ChangeCapacity {
            actor: instructor(),
            capacity: 1,
        })
        .then_expect_events(vec![CourseEvent::CapacityChanged { capacity: 1 }]);
}

#[test]
fn released_seats_no_longer_count_against_a_capacity_change() {
    framework()
        .given(published())
        .and(vec![
            reserved(STUDENT),
            reserved(OTHER_STUDENT),
            released(STUDENT),
        ])
        .when(CourseCommand::ChangeCapacity {
            actor: instructor(),
            capacity: 1,
        })
        .then_expect_events(vec![CourseEvent::CapacityChanged { capacity: 1 }]);
}

#[test]
fn change_capacity_out_of_range_is_invalid() {
    for capacity in [0, MAX_CAPACITY + 1] {
        let result = framework()
            .given(vec![created()])
            .when(CourseCommand::ChangeCapacity {
                actor: instructor(),
                capacity,
            })
            .inspect_result();
        assert_eq!(invalid_fields(result), ["capacity"], "capacity {capacity}");
    }
}

// ---- Publish / Archive ------------------------------------------------------------

#[test]
fn publish_emits_course_published() {
    framework()
        .given(draft_with_lesson())
        .when(CourseCommand::Publish {
            actor: instructor(),
        })
        .then_expect_events(vec![CourseEvent::CoursePublished]);
}

#[test]
fn publish_without_lessons_is_refused() {
    framework()
        .given(vec![created()])
        .when(CourseCommand::Publish {
            actor: instructor(),
        })
        .then_expect_error(CourseError::NoLessons);
}

#[test]
fn publish_with_only_empty_modules_is_refused() {
    framework()
        .given(vec![created(), module_added(1), module_added(2)])
        .when(CourseCommand::Publish {
            actor: instructor(),
        })
        .then_expect_error(CourseError::NoLessons);
}

#[test]
fn publish_twice_is_refused() {
    framework()
        .given(published())
        .when(CourseCommand::Publish {
            actor: instructor(),
        })
        .then_expect_error(CourseError::AlreadyPublished);
}

#[test]
fn archive_a_draft_emits_course_archived() {
    framework()
        .given(vec![created()])
        .when(CourseCommand::Archive {
            actor: instructor(),
        })
        .then_expect_events(vec![CourseEvent::CourseArchived]);
}

#[test]
fn archive_a_published_course_emits_course_archived() {
    framework()
        .given(published())
        .when(CourseCommand::Archive { actor: admin() })
        .then_expect_events(vec![CourseEvent::CourseArchived]);
}

#[test]
fn every_edit_on_an_archived_course_is_refused() {
    for command in edits_by(instructor()) {
        let result = framework()
            .given(archived())
            .when(command.clone())
            .inspect_result();
        assert_eq!(result, Err(CourseError::Archived), "{command:?}");
    }
}

// ---- Who may edit -----------------------------------------------------------------

#[test]
fn edits_by_someone_not_teaching_the_course_are_refused() {
    for actor in [student(), other_instructor()] {
        for command in edits_by(actor) {
            let result = framework()
                .given(draft_with_lesson())
                .when(command.clone())
                .inspect_result();
            assert_eq!(result, Err(CourseError::NotAnInstructor), "{command:?}");
        }
    }
}

#[test]
fn co_instructors_and_admins_may_edit() {
    for actor in [co_instructor(), admin()] {
        for command in edits_by(actor) {
            let result = framework()
                .given(draft_with_lesson())
                .when(command.clone())
                .inspect_result();
            assert!(
                matches!(result.as_deref(), Ok([_])),
                "{command:?} gave {result:?}"
            );
        }
    }
}

// ---- Seats ------------------------------------------------------------------------

#[test]
fn reserve_seat_in_a_draft_course_is_refused() {
    framework()
        .given(draft_with_lesson())
        .when(CourseCommand::ReserveSeat {
            student_id: STUDENT,
        })
        .then_expect_error(CourseError::NotPublished);
}

#[test]
fn reserve_seat_in_an_archived_course_is_refused() {
    framework()
        .given(archived())
        .when(CourseCommand::ReserveSeat {
            student_id: STUDENT,
        })
        .then_expect_error(CourseError::NotPublished);
}

#[test]
fn reserve_seat_in_a_full_course_is_refused() {
    framework()
        .given(published())
        .and(vec![reserved(STUDENT), reserved(OTHER_STUDENT)])
        .when(CourseCommand::ReserveSeat {
            student_id: THIRD_STUDENT,
        })
        .then_expect_error(CourseError::Full);
}

#[test]
fn reserve_seat_already_held_emits_nothing() {
    framework()
        .given(published())
        .and(vec![reserved(STUDENT), reserved(OTHER_STUDENT)])
        .when(CourseCommand::ReserveSeat {
            student_id: STUDENT,
        })
        .then_expect_events(vec![]);
}

#[test]
fn reserve_seat_emits_seat_reserved() {
    framework()
        .given(published())
        .and(vec![reserved(OTHER_STUDENT)])
        .when(CourseCommand::ReserveSeat {
            student_id: STUDENT,
        })
        .then_expect_events(vec![reserved(STUDENT)]);
}

#[test]
fn a_released_seat_can_be_taken_by_someone_else() {
    framework()
        .given(published())
        .and(vec![
            reserved(STUDENT),
            reserved(OTHER_STUDENT),
            released(STUDENT),
        ])
        .when(CourseCommand::ReserveSeat {
            student_id: THIRD_STUDENT,
        })
        .then_expect_events(vec![reserved(THIRD_STUDENT)]);
}

#[test]
fn release_seat_by_its_holder_emits_seat_released() {
    framework()
        .given(published())
        .and(vec![reserved(STUDENT)])
        .when(CourseCommand::ReleaseSeat {
            student_id: STUDENT,
        })
        .then_expect_events(vec![released(STUDENT)]);
}

#[test]
fn release_seat_by_a_non_holder_emits_nothing() {
    framework()
        .given(published())
        .and(vec![reserved(STUDENT), released(STUDENT)])
        .when(CourseCommand::ReleaseSeat {
            student_id: STUDENT,
        })
        .then_expect_events(vec![]);
}

#[test]
fn release_seat_on_an_archived_course_still_frees_it() {
    framework()
        .given(published())
        .and(vec![reserved(STUDENT), CourseEvent::CourseArchived])
        .when(CourseCommand::ReleaseSeat {
            student_id: STUDENT,
        })
        .then_expect_events(vec![released(STUDENT)]);
}

// ---- State ------------------------------------------------------------------------

fn replay(events: Vec<CourseEvent>) -> Course {
    let mut course = Course::default();
    for event in events {
        course.apply(event);
    }
    course
}

#[test]
fn seat_ledger_follows_reserved_and_released_events() {
    let mut events = published();
    events.extend([
        reserved(STUDENT),
        reserved(OTHER_STUDENT),
        released(STUDENT),
        reserved(THIRD_STUDENT),
    ]);
    let course = replay(events);

    assert_eq!(course.active_seats(), 2);
    assert!(!course.holds_seat(STUDENT));
    assert!(course.holds_seat(OTHER_STUDENT));
    assert!(course.holds_seat(THIRD_STUDENT));
    assert_eq!(
        course.admission_for(OTHER_STUDENT),
        Admission {
            published: true,
            seat: SeatStatus::Held,
            access: Access::Free,
        }
    );
    assert_eq!(course.admission_for(STUDENT).seat, SeatStatus::Full);
}

#[test]
fn admission_reports_available_seats_and_draft_status() {
    let course = replay(vec![created(), reserved(OTHER_STUDENT)]);
    assert_eq!(course.active_seats(), 1);
    assert_eq!(
        course.admission_for(STUDENT),
        Admission {
            published: false,
            seat: SeatStatus::Available,
            access: Access::Free,
        }
    );
}

#[test]
fn replayed_course_exposes_its_catalog() {
    let mut events = published();
    events.push(CourseEvent::CapacityChanged { capacity: 7 });
    let course = replay(events);
    assert!(course.exists());
    assert_eq!(course.capacity(), 7);
    assert_eq!(course.title(), "Rust 101");
    assert_eq!(course.instructors().len(), 2);
    assert_eq!(course.modules().len(), 1);
    assert_eq!(course.modules()[0].lessons.len(), 1);
    assert_eq!(
        course.lesson_ids().into_iter().collect::<Vec<_>>(),
        [lesson(1)]
    );
}

// ---- Error mapping ----------------------------------------------------------------

#[test]
fn course_errors_map_to_kinds_and_reasons() {
    assert_eq!(
        CourseError::NotAnInstructor.kind(),
        ErrorKind::PermissionDenied
    );
    assert_eq!(
        CourseError::NotAnInstructor.reason(),
        "NOT_COURSE_INSTRUCTOR"
    );
    assert_eq!(CourseError::Full.kind(), ErrorKind::FailedPrecondition);
    assert_eq!(CourseError::Full.reason(), "COURSE_FULL");
    assert_eq!(CourseError::NotFound.kind(), ErrorKind::NotFound);
    assert_eq!(CourseError::AlreadyExists.kind(), ErrorKind::AlreadyExists);
    let violations = vec![lms_domain::FieldViolation::new("title", "bad")];
    let invalid = CourseError::Invalid(violations.clone());
    assert_eq!(invalid.kind(), ErrorKind::Invalid(violations));
    assert_eq!(invalid.reason(), "INVALID_ARGUMENT");
    assert_eq!(
        CourseError::CapacityBelowEnrollments {
            requested: 1,
            active: 2
        }
        .reason(),
        "CAPACITY_BELOW_ENROLLMENTS"
    );
}

#[test]
fn a_student_cannot_create_a_course_even_naming_themselves_instructor() {
    let mut course = NewCourse::valid();
    course.actor = student();
    course.instructors = vec![STUDENT];
    framework()
        .given_no_previous_events()
        .when(course.cmd())
        .then_expect_error(CourseError::NotAnInstructor);
}
