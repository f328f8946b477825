//! Fixtures: one event of every domain variant and the metadata commands write.
#![allow(dead_code)]

use chrono::{DateTime, TimeZone, Utc};
use lms_domain::course::{Access, CourseEvent, Plan};
use lms_domain::enrollment::EnrollmentEvent;
use lms_domain::subscription::SubscriptionEvent;
use lms_domain::user::{NotificationCategory, UserEvent};
use lms_domain::{
    CourseId, EnrollmentId, InvoiceId, LessonId, ModuleId, Role, SubscriptionId, UserId,
};
use lms_schemas::{Envelope, LmsEvent};
use serde_json::{json, Value};
use uuid::Uuid;

pub const COURSE: CourseId = CourseId(Uuid::from_u128(0x4001));
pub const STUDENT: UserId = UserId(Uuid::from_u128(0x2001));
pub const INSTRUCTOR: UserId = UserId(Uuid::from_u128(0x1001));
pub const EVENT_ID: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);

/// A time with microsecond precision (what Avro keeps).
pub fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, day, 9, 30, 0).unwrap() + chrono::Duration::microseconds(123_456)
}

pub fn course_created(language: &str) -> CourseEvent {
    CourseEvent::CourseCreated {
        course_id: COURSE,
        title: "Rust 101".into(),
        description: "Ownership and borrowing".into(),
        instructors: vec![INSTRUCTOR, UserId(Uuid::from_u128(0x1002))],
        capacity: 30,
        access: Access::Plan { plan: Plan::Pro },
        language: language.into(),
    }
}

/// Compile-time guard: a new variant breaks this match; add it to the
/// fixtures below (and a schema) to fix it.
fn every_variant_is_listed(event: &LmsEvent) {
    match event {
        LmsEvent::Course(e) => match e {
            CourseEvent::CourseCreated { .. }
            | CourseEvent::CourseDetailsUpdated { .. }
            | CourseEvent::ModuleAdded { .. }
            | CourseEvent::LessonAdded { .. }
            | CourseEvent::CapacityChanged { .. }
            | CourseEvent::CoursePublished
            | CourseEvent::CourseArchived
            | CourseEvent::SeatReserved { .. }
            | CourseEvent::SeatReleased { .. } => {}
        },
        LmsEvent::Enrollment(e) => match e {
            EnrollmentEvent::StudentEnrolled { .. }
            | EnrollmentEvent::LessonCompleted { .. }
            | EnrollmentEvent::CourseCompleted
            | EnrollmentEvent::EnrollmentWithdrawn { .. } => {}
        },
        LmsEvent::Subscription(e) => match e {
            SubscriptionEvent::TrialStarted { .. }
            | SubscriptionEvent::InvoiceIssued { .. }
            | SubscriptionEvent::SubscriptionActivated { .. }
            | SubscriptionEvent::SubscriptionRenewed { .. }
            | SubscriptionEvent::SubscriptionMarkedPastDue
            | SubscriptionEvent::SubscriptionCancelled { .. } => {}
        },
        LmsEvent::User(e) => match e {
            UserEvent::UserRegistered { .. }
            | UserEvent::ProfileUpdated { .. }
            | UserEvent::PasswordChanged
            | UserEvent::RoleGranted { .. }
            | UserEvent::RoleRevoked { .. } => {}
        },
    }
}

/// One event of every variant (several for the `Access` union).
pub fn every_event() -> Vec<LmsEvent> {
    let module = ModuleId(Uuid::from_u128(0x5001));
    let lesson = LessonId(Uuid::from_u128(0x6001));
    let subscription = SubscriptionId(Uuid::from_u128(0x7001));
    let course = [
        course_created("fr"),
        CourseEvent::CourseCreated {
            course_id: COURSE,
            title: "Free".into(),
            description: String::new(),
            instructors: vec![INSTRUCTOR],
            capacity: 100_000,
            access: Access::Free,
            language: "en".into(),
        },
        CourseEvent::CourseDetailsUpdated {
            title: "Rust 102 | \"quoted\" é".into(),
            description: "Traits".into(),
            access: Access::Paid { price_cents: 4900 },
        },
        CourseEvent::ModuleAdded {
            module_id: module,
            title: "Module 1".into(),
        },
        CourseEvent::LessonAdded {
            module_id: module,
            lesson_id: lesson,
            title: "Lesson 1".into(),
        },
        CourseEvent::CapacityChanged { capacity: u32::MAX },
        CourseEvent::CoursePublished,
        CourseEvent::CourseArchived,
        CourseEvent::SeatReserved {
            student_id: STUDENT,
        },
        CourseEvent::SeatReleased {
            student_id: STUDENT,
        },
    ]
    .map(LmsEvent::Course);
    let enrollment = [
        EnrollmentEvent::StudentEnrolled {
            enrollment_id: EnrollmentId(Uuid::from_u128(0x8001)),
            student_id: STUDENT,
            course_id: COURSE,
        },
        EnrollmentEvent::LessonCompleted { lesson_id: lesson },
        EnrollmentEvent::CourseCompleted,
        EnrollmentEvent::EnrollmentWithdrawn {
            reason: "moved".into(),
        },
    ]
    .map(LmsEvent::Enrollment);
    let billing = [
        SubscriptionEvent::TrialStarted {
            subscription_id: subscription,
            student_id: STUDENT,
            plan: Plan::Basic,
            trial_ends_at: at(14),
        },
        SubscriptionEvent::InvoiceIssued {
            invoice_id: InvoiceId(Uuid::from_u128(0x9001)),
            amount_cents: 1999,
            currency: "USD".into(),
            period_start: at(1),
            period_end: at(31),
            payment_reference: "ch_123".into(),
        },
        SubscriptionEvent::SubscriptionActivated {
            subscription_id: subscription,
            student_id: STUDENT,
            plan: Plan::Pro,
            period_start: at(1),
            period_end: at(31),
        },
        SubscriptionEvent::SubscriptionRenewed {
            period_start: at(2),
            period_end: at(30),
        },
        SubscriptionEvent::SubscriptionMarkedPastDue,
        SubscriptionEvent::SubscriptionCancelled {
            reason: String::new(),
        },
    ]
    .map(LmsEvent::Subscription);
    let users = [
        UserEvent::UserRegistered {
            user_id: STUDENT,
            email: "zoë@example.com".into(),
            display_name: "Zoë".into(),
            locale: "pt-BR".into(),
            time_zone: "America/Sao_Paulo".into(),
            roles: vec![Role::Student, Role::Instructor],
        },
        UserEvent::ProfileUpdated {
            display_name: "Zoë S.".into(),
            locale: "en".into(),
            time_zone: "UTC".into(),
            opted_out: vec![
                NotificationCategory::Learning,
                NotificationCategory::ProductNews,
            ],
        },
        UserEvent::PasswordChanged,
        UserEvent::RoleGranted { role: Role::Admin },
        UserEvent::RoleRevoked {
            role: Role::Instructor,
        },
    ]
    .map(LmsEvent::User);
    let all: Vec<LmsEvent> = course
        .into_iter()
        .chain(enrollment)
        .chain(billing)
        .chain(users)
        .collect();
    all.iter().for_each(every_variant_is_listed);
    all
}

/// (aggregate type, aggregate id, event type, event version, payload), as the store keeps them.
pub fn stored(event: &LmsEvent) -> (&'static str, String, String, String, Value) {
    use cqrs_es::DomainEvent;
    match event {
        LmsEvent::Course(e) => (
            "Course",
            COURSE.to_string(),
            e.event_type(),
            e.event_version(),
            serde_json::to_value(e).unwrap(),
        ),
        LmsEvent::Enrollment(e) => (
            "Enrollment",
            Uuid::from_u128(0x8001).to_string(),
            e.event_type(),
            e.event_version(),
            serde_json::to_value(e).unwrap(),
        ),
        LmsEvent::Subscription(e) => (
            "Subscription",
            Uuid::from_u128(0x7001).to_string(),
            e.event_type(),
            e.event_version(),
            serde_json::to_value(e).unwrap(),
        ),
        LmsEvent::User(e) => (
            "User",
            STUDENT.to_string(),
            e.event_type(),
            e.event_version(),
            serde_json::to_value(e).unwrap(),
        ),
    }
}

/// Metadata as commands' `CommandContext::metadata` and the repository write it.
pub fn metadata() -> Value {
    json!({
        "event_id": EVENT_ID.to_string(),
        "command_id": "cmd-42",
        "command_type": "CreateCourse",
        "correlation_id": "corr-1",
        "causation_id": "cmd-42",
        "actor_id": INSTRUCTOR.to_string(),
        "actor_role": "instructor",
        "tenant_id": "default",
        "occurred_at": "2025-03-01T09:30:00.123456Z",
    })
}

pub fn envelope(aggregate_type: &str, aggregate_id: &str, sequence: i64) -> Envelope {
    Envelope {
        event_id: EVENT_ID,
        aggregate_type: aggregate_type.into(),
        aggregate_id: aggregate_id.into(),
        sequence,
        occurred_at: at(1),
        correlation_id: "corr-1".into(),
        causation_id: "cmd-42".into(),
        actor_id: INSTRUCTOR.to_string(),
        actor_role: "instructor".into(),
        tenant_id: "default".into(),
        command_id: "cmd-42".into(),
    }
}
