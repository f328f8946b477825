//! Which schema files exist: one entry per event type, every version of its
//! `.avsc` embedded at compile time. A test checks this table against the
//! files under `schemas/avro/`, so a new file cannot be forgotten here.

use crate::SchemaError;
use apache_avro::Schema;
use std::sync::OnceLock;

/// One event type and all versions of its Avro record.
#[derive(Debug)]
pub struct EventSchema {
    /// `Aggregate::TYPE` of the aggregate emitting the event ("Course").
    pub aggregate_type: &'static str,
    /// `DomainEvent::event_type()` ("CourseCreated"), also the record name.
    pub event_type: &'static str,
    /// Kafka topic, equal to the record namespace ("lms.course.v1").
    pub topic: &'static str,
    /// `.avsc` texts, oldest first: `versions[n - 1]` is version n, which is
    /// also the stored `event_version` n.
    pub versions: &'static [&'static str],
}

impl EventSchema {
    /// Full record name, e.g. `lms.course.v1.CourseCreated`.
    pub fn record_name(&self) -> String {
        format!("{}.{}", self.topic, self.event_type)
    }

    /// Schema Registry subject under TopicRecordNameStrategy.
    pub fn subject(&self) -> String {
        format!("{}-{}", self.topic, self.record_name())
    }

    pub fn latest_version(&self) -> usize {
        self.versions.len()
    }

    pub fn latest_json(&self) -> &'static str {
        self.versions[self.versions.len() - 1]
    }

    /// Path of version `n`'s file, relative to `schemas/`.
    pub fn file(&self, version: usize) -> String {
        format!("avro/{}/{}.v{version}.avsc", self.topic, self.event_type)
    }

    /// Every version parsed, oldest first.
    pub fn parse_versions(&self) -> Result<Vec<Schema>, SchemaError> {
        self.versions
            .iter()
            .enumerate()
            .map(|(i, text)| {
                Schema::parse_str(text).map_err(|e| SchemaError::InvalidSchema {
                    file: self.file(i + 1),
                    reason: e.to_string(),
                })
            })
            .collect()
    }
}

macro_rules! event {
    ($aggregate:literal, $topic:literal, $event:literal, [$($v:literal),+]) => {
        EventSchema {
            aggregate_type: $aggregate,
            event_type: $event,
            topic: $topic,
            versions: &[$(include_str!(concat!("../avro/", $topic, "/", $event, ".v", $v, ".avsc"))),+],
        }
    };
}

pub const COURSE_TOPIC: &str = "lms.course.v1";
pub const ENROLLMENT_TOPIC: &str = "lms.enrollment.v1";
pub const SUBSCRIPTION_TOPIC: &str = "lms.subscription.v1";
pub const USER_TOPIC: &str = "lms.user.v1";

/// Every topic events are published to (one per aggregate type).
pub const TOPICS: &[&str] = &[
    COURSE_TOPIC,
    ENROLLMENT_TOPIC,
    SUBSCRIPTION_TOPIC,
    USER_TOPIC,
];

/// Every event type, grouped by topic.
pub static EVENTS: &[EventSchema] = &[
    event!("Course", "lms.course.v1", "CourseCreated", [1, 2]),
    event!("Course", "lms.course.v1", "CourseDetailsUpdated", [1]),
    event!("Course", "lms.course.v1", "ModuleAdded", [1]),
    event!("Course", "lms.course.v1", "LessonAdded", [1]),
    event!("Course", "lms.course.v1", "CapacityChanged", [1]),
    event!("Course", "lms.course.v1", "CoursePublished", [1]),
    event!("Course", "lms.course.v1", "CourseArchived", [1]),
    event!("Course", "lms.course.v1", "SeatReserved", [1]),
    event!("Course", "lms.course.v1", "SeatReleased", [1]),
    event!("Enrollment", "lms.enrollment.v1", "StudentEnrolled", [1]),
    event!("Enrollment", "lms.enrollment.v1", "LessonCompleted", [1]),
    event!("Enrollment", "lms.enrollment.v1", "CourseCompleted", [1]),
    event!(
        "Enrollment",
        "lms.enrollment.v1",
        "EnrollmentWithdrawn",
        [1]
    ),
    event!("Subscription", "lms.subscription.v1", "TrialStarted", [1]),
    event!("Subscription", "lms.subscription.v1", "InvoiceIssued", [1]),
    event!(
        "Subscription",
        "lms.subscription.v1",
        "SubscriptionActivated",
        [1]
    ),
    event!(
        "Subscription",
        "lms.subscription.v1",
        "SubscriptionRenewed",
        [1]
    ),
    event!(
        "Subscription",
        "lms.subscription.v1",
        "SubscriptionMarkedPastDue",
        [1]
    ),
    event!(
        "Subscription",
        "lms.subscription.v1",
        "SubscriptionCancelled",
        [1]
    ),
    event!("User", "lms.user.v1", "UserRegistered", [1]),
    event!("User", "lms.user.v1", "ProfileUpdated", [1]),
    event!("User", "lms.user.v1", "PasswordChanged", [1]),
    event!("User", "lms.user.v1", "RoleGranted", [1]),
    event!("User", "lms.user.v1", "RoleRevoked", [1]),
];

/// Topic of an aggregate type: "Course" → "lms.course.v1".
pub fn topic_for(aggregate_type: &str) -> Option<&'static str> {
    match aggregate_type {
        "Course" => Some(COURSE_TOPIC),
        "Enrollment" => Some(ENROLLMENT_TOPIC),
        "Subscription" => Some(SUBSCRIPTION_TOPIC),
        "User" => Some(USER_TOPIC),
        _ => None,
    }
}

pub fn event_schema(aggregate_type: &str, event_type: &str) -> Option<&'static EventSchema> {
    EVENTS
        .iter()
        .find(|e| e.aggregate_type == aggregate_type && e.event_type == event_type)
}

/// Looks an event up by its full record name (`lms.course.v1.CourseCreated`).
pub fn event_schema_by_record(record_name: &str) -> Option<&'static EventSchema> {
    let (topic, event_type) = record_name.rsplit_once('.')?;
    EVENTS
        .iter()
        .find(|e| e.topic == topic && e.event_type == event_type)
}

/// Latest schema of `EVENTS[index]`, parsed once per process.
pub(crate) fn latest_schema(event: &EventSchema) -> Result<&'static Schema, SchemaError> {
    static PARSED: OnceLock<Vec<Result<Schema, SchemaError>>> = OnceLock::new();
    let parsed = PARSED.get_or_init(|| {
        EVENTS
            .iter()
            .map(|e| {
                Schema::parse_str(e.latest_json()).map_err(|err| SchemaError::InvalidSchema {
                    file: e.file(e.latest_version()),
                    reason: err.to_string(),
                })
            })
            .collect()
    });
    let index = EVENTS
        .iter()
        .position(|e| std::ptr::eq(e, event))
        .or_else(|| {
            EVENTS
                .iter()
                .position(|e| e.record_name() == event.record_name())
        })
        .ok_or_else(|| SchemaError::UnknownRecord(event.record_name()))?;
    parsed[index].as_ref().map_err(Clone::clone)
}
