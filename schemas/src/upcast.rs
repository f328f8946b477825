//! Upcasters: turn stored JSON of an older event version into the current
//! one, when the event store loads a stream (registered with cqrs-es'
//! `PersistedEventStore::with_upcasters`) and before `to_avro` maps it.

use cqrs_es::persist::{EventUpcaster, SerializedEvent};
use lms_domain::course::DEFAULT_LANGUAGE;
use serde_json::Value;

/// Every upcaster, in the order they must run (oldest version first).
pub fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
    vec![Box::new(CourseCreatedV1ToV2)]
}

/// Runs `event` through every upcaster that applies, in order.
pub fn upcast(mut event: SerializedEvent, upcasters: &[Box<dyn EventUpcaster>]) -> SerializedEvent {
    for upcaster in upcasters {
        if upcaster.can_upcast(&event.event_type, &event.event_version) {
            event = upcaster.upcast(event);
        }
    }
    event
}

/// `CourseCreated` 1 → 2: adds `language`, "en" for every course created
/// before languages existed.
///
/// Not cqrs-es' `SemanticVersionEventUpcaster`: that one rewrites the
/// version to "2.0.0" while the domain writes "2", and matches any version
/// below (including malformed ones that parse); this one matches "1" exactly.
pub struct CourseCreatedV1ToV2;

impl EventUpcaster for CourseCreatedV1ToV2 {
    fn can_upcast(&self, event_type: &str, event_version: &str) -> bool {
        event_type == "CourseCreated" && event_version == "1"
    }

    fn upcast(&self, mut event: SerializedEvent) -> SerializedEvent {
        // The payload is serde's externally tagged form: {"CourseCreated": {...}}.
        if let Some(Value::Object(body)) = event.payload.get_mut("CourseCreated") {
            body.entry("language")
                .or_insert_with(|| Value::String(DEFAULT_LANGUAGE.to_string()));
        }
        event.event_version = "2".to_string();
        event
    }
}
