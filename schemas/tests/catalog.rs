//! docs/events.md must match the schema files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lms_schemas::event_catalog::{render, CATALOG_PATH, REGENERATE};
use std::path::Path;

#[test]
fn docs_events_md_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(CATALOG_PATH);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let fresh = render().unwrap();
    assert!(
        committed == fresh,
        "{CATALOG_PATH} is stale: run `{REGENERATE}` and commit it"
    );
}

#[test]
fn the_catalog_lists_every_event_with_its_subject() {
    let text = render().unwrap();
    for event in lms_schemas::EVENTS {
        assert!(text.contains(&format!("### {}", event.event_type)));
        assert!(text.contains(&event.subject()));
    }
}
