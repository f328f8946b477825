//! Projection workers: Kafka consumer groups that build the read models in
//! Postgres and Redis (issue #4, contract in docs/read-models.md).
//!
//! - [`Projection`]: name, schema, topics and the handler of one read model.
//! - [`runner`]: the live worker (consumer group, checkpoints, DLQ, metrics).
//! - [`apply`]: the transactional apply path (dedupe + handler + checkpoint).
//! - [`redrive`]: re-applies a projection's dead letters.
//! - [`rebuild`]: rebuilds a read model from the event store (shadow + swap), verifies one.

pub mod apply;
pub mod billing;
pub mod bookkeeping;
pub mod broker_view;
pub mod config;
pub mod course_catalog;
pub mod decode;
pub mod dlq;
pub mod projection;
pub mod rebuild;
pub mod redis_effects;
pub mod redrive;
pub mod roster;
pub mod runner;
pub mod student_dashboard;
pub mod users;
pub mod workers;

pub use apply::{Applier, Outcome};
pub use config::Config;
pub use projection::{ApplyError, KafkaPosition, Projection};
pub use redis_effects::RedisEffects;
pub use redrive::{redrive, RedriveReport};
pub use runner::{run_projection, Services};

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("{0}")]
    Setup(String),
}
