//! Confluent-compatible schema registry (being written, issue #3).
