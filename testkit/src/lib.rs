//! Test support shared by every crate's integration tests (a dev-dependency
//! only): each test gets its own database, topic prefix and Redis key
//! prefix on the real servers `scripts/infra.sh` starts, so tests run in
//! parallel.
//!
//! Features keep a crate's tests from building what they do not use:
//! `registry`, `commands`, `query`, `kafka`, `redis`, and `pipeline` (all of
//! them plus the projection workers).
//!
//! Settings (environment): `LMS_TEST_DATABASE_URL` (a server-level URL;
//! tests create their own databases), `LMS_TEST_REDIS_URL`,
//! `LMS_TEST_KAFKA_BROKERS` (else `LMS_KAFKA_BROKERS`), `LMS_KAFKA_LIB`,
//! `LMS_PYTHON`, `LMS_TEST_CHILD_LOG` (children's log filter; their output
//! is shown when it is set), `LMS_TEST_KEEP_DB` (keep a failed test's
//! database).

// Test support: a setup that fails panics the test with the reason.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod background;
pub mod db;
pub mod logs;
pub mod metrics;
pub mod paths;
pub mod ports;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod wait;

#[cfg(any(feature = "commands", feature = "query"))]
pub mod auth;
#[cfg(feature = "commands")]
pub mod commands;
#[cfg(any(feature = "commands", feature = "query"))]
pub mod grpc;
#[cfg(feature = "identity")]
pub mod identity;
#[cfg(feature = "kafka")]
pub mod kafka;
#[cfg(feature = "pipeline")]
pub mod pipeline;
#[cfg(feature = "query")]
pub mod query;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "registry")]
pub mod registry;
#[cfg(feature = "relay")]
pub mod relay;
#[cfg(any(feature = "commands", feature = "query"))]
pub mod status;

pub use db::TestDb;
pub use wait::eventually;

/// A fresh id (UUIDv7) as text.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The shared test broker (`LMS_TEST_KAFKA_BROKERS`, else
/// `LMS_KAFKA_BROKERS`, else the local one scripts/infra.sh starts).
pub fn shared_brokers() -> String {
    std::env::var("LMS_TEST_KAFKA_BROKERS")
        .or_else(|_| std::env::var("LMS_KAFKA_BROKERS"))
        .unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// A topic prefix of this test's own (`t<uuid>.`).
pub fn topic_prefix() -> String {
    format!("t{}.", uuid::Uuid::now_v7().simple())
}
