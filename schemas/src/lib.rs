//! Avro schemas (.avsc) for every event type and the domain ⇄ Avro mapping (issue #3).
