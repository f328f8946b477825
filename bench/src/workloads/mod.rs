//! The workloads, one module each, and what they share: the running
//! services, the bench database, the sizes asked for and the report.

pub mod commands;
pub mod e2e;
pub mod queries;
pub mod rebuild;
pub mod relay;

use crate::client::{ClientError, CommandClient, QueryClient};
use crate::report::Report;
use crate::services::{ServiceError, Services};
use sqlx::PgPool;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("{0}")]
    Failed(String),
}

/// Sizes and rates of a run (from the command line).
#[derive(Debug, Clone)]
pub struct Sizes {
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
    pub relay_events: u64,
    /// Rates of the end-to-end runs, one run each.
    pub e2e_rates: Vec<u32>,
    pub e2e_poll: Duration,
    pub rebuild_events: u64,
    pub rebuild_projection: String,
    pub query_courses: usize,
}

pub struct Bench {
    /// Signs the instructor's and the reader's tokens.
    pub tokens: crate::client::Tokens,
    pub sizes: Sizes,
    pub services: Services,
    /// The bench database (event store and read models).
    pub pool: PgPool,
    pub report: Report,
}

impl Bench {
    pub async fn command_client(&self) -> Result<CommandClient, WorkloadError> {
        Ok(CommandClient::connect(&self.services.addrs.commands, &self.tokens).await?)
    }

    pub async fn query_client(&self) -> Result<QueryClient, WorkloadError> {
        Ok(QueryClient::connect(&self.services.addrs.query, &self.tokens).await?)
    }

    pub async fn unpublished(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(&self.pool)
            .await
    }

    /// Last sequence the projection applied for an aggregate (0 if none).
    pub async fn applied(
        &self,
        schema: &str,
        projection: &str,
        aggregate_id: &str,
    ) -> Result<i64, sqlx::Error> {
        let found: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT max(last_sequence) FROM {schema}.applied WHERE projection = $1 AND aggregate_id = $2"
        ))
        .bind(projection)
        .bind(aggregate_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(found.unwrap_or(0))
    }

    /// Waits until the course-catalog projection applied `course_id` up to `sequence`.
    pub async fn wait_catalog(
        &self,
        course_id: &str,
        sequence: i64,
        timeout: Duration,
    ) -> Result<(), WorkloadError> {
        let deadline = Instant::now() + timeout;
        loop {
            // The schema exists once lms-query or the workers migrated it.
            match self.applied("catalog", "course-catalog", course_id).await {
                Ok(applied) if applied >= sequence => return Ok(()),
                Ok(_) | Err(_) if Instant::now() < deadline => {}
                Ok(applied) => {
                    return Err(WorkloadError::Failed(format!(
                        "course-catalog applied {course_id} only up to {applied} (want {sequence}) after {} s",
                        timeout.as_secs()
                    )))
                }
                Err(e) => return Err(e.into()),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
