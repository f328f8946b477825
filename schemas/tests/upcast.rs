//! Upcasters turn stored v1 JSON into the current version before cqrs-es deserializes it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use cqrs_es::persist::SerializedEvent;
use lms_domain::course::CourseEvent;
use lms_schemas::upcast::upcast;
use lms_schemas::upcasters;
use serde_json::{json, Value};
use support::*;

fn serialized(event_type: &str, version: &str, payload: Value) -> SerializedEvent {
    SerializedEvent::new(
        COURSE.to_string(),
        1,
        "Course".into(),
        event_type.into(),
        version.into(),
        payload,
        json!({}),
    )
}

fn v1_payload() -> Value {
    let mut payload = serde_json::to_value(course_created("en")).unwrap();
    payload["CourseCreated"]
        .as_object_mut()
        .unwrap()
        .remove("language");
    payload
}

#[test]
fn course_created_v1_becomes_v2_with_english() {
    let upcasters = upcasters();
    let event = upcast(serialized("CourseCreated", "1", v1_payload()), &upcasters);
    assert_eq!(event.event_version, "2");
    assert_eq!(event.payload["CourseCreated"]["language"], "en");
    let domain: CourseEvent = serde_json::from_value(event.payload).unwrap();
    assert_eq!(domain, course_created("en"));
}

#[test]
fn only_course_created_v1_is_touched() {
    let upcasters = upcasters();
    let v2 = serde_json::to_value(course_created("fr")).unwrap();
    let same = upcast(serialized("CourseCreated", "2", v2.clone()), &upcasters);
    assert_eq!((same.event_version.as_str(), &same.payload), ("2", &v2));

    let published = upcast(
        serialized("CoursePublished", "1", json!("CoursePublished")),
        &upcasters,
    );
    assert_eq!(
        (published.event_version.as_str(), &published.payload),
        ("1", &json!("CoursePublished"))
    );
}

#[test]
fn a_language_already_present_is_kept() {
    let mut payload = v1_payload();
    payload["CourseCreated"]["language"] = json!("pt");
    let event = upcast(serialized("CourseCreated", "1", payload), &upcasters());
    assert_eq!(event.payload["CourseCreated"]["language"], "pt");
}

#[test]
fn the_v1_json_reads_as_english_even_without_the_upcaster() {
    // The serde default is the safety net for readers that skip upcasting.
    let domain: CourseEvent = serde_json::from_value(v1_payload()).unwrap();
    assert_eq!(domain, course_created("en"));
}
