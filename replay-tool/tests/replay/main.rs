//! lms-replay end to end: events are created through the real command server
//! (lms-testkit) in a fresh Postgres database per test, then
//! the `lms-replay` binary is run against that database and its output is
//! compared with the event store. The Avro export is read back by Python
//! fastavro, an independent reader.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod export;
mod history;
mod state;
