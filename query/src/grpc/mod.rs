//! The lms.query.v1 gRPC services: request validation, read-your-writes,
//! metrics, and the conversion of rows to messages. One file per service.

mod billing;
mod course;
mod student;
mod viewer;

pub use billing::BillingQueriesService;
pub use course::CourseQueriesService;
pub use student::StudentQueriesService;
pub use viewer::Viewer;

use crate::course_cache::CourseCache;
use crate::error::{FieldViolation, QueryError};
use crate::read_your_writes::{wait_until_applied, Position, ReadModel};
use chrono::{DateTime, Utc};
use lms_proto::query::v1::MinPosition;
use sqlx::PgPool;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::{Response, Status};
use uuid::Uuid;

/// What every query service reads from.
#[derive(Clone)]
pub struct QueryContext {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    cache: CourseCache,
    read_your_writes_timeout: Duration,
}

impl QueryContext {
    pub fn new(pool: PgPool, cache: CourseCache, read_your_writes_timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                cache,
                read_your_writes_timeout,
            }),
        }
    }

    fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    fn cache(&self) -> &CourseCache {
        &self.inner.cache
    }

    /// Waits for `position` (if any) in the read model serving the query.
    async fn caught_up(
        &self,
        model: ReadModel,
        position: Option<Position>,
    ) -> Result<(), QueryError> {
        match position {
            Some(position) => {
                wait_until_applied(
                    self.pool(),
                    model,
                    &position,
                    self.inner.read_your_writes_timeout,
                )
                .await
            }
            None => Ok(()),
        }
    }
}

/// Times a query and counts it by rpc and outcome.
async fn observe<T>(
    rpc: &'static str,
    query: impl Future<Output = Result<T, QueryError>>,
) -> Result<Response<T>, Status> {
    let started = Instant::now();
    let result = query.await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) => e.outcome(),
    };
    metrics::counter!("lms_queries_total", "rpc" => rpc, "outcome" => outcome).increment(1);
    metrics::histogram!("lms_query_duration_seconds", "rpc" => rpc)
        .record(started.elapsed().as_secs_f64());
    match result {
        Ok(reply) => Ok(Response::new(reply)),
        Err(e) => {
            if matches!(e, QueryError::Internal(_) | QueryError::Unavailable(_)) {
                tracing::error!(rpc, error = %e, "query failed");
            } else {
                tracing::debug!(rpc, error = %e, "query refused");
            }
            Err(e.into())
        }
    }
}

/// Where a query was answered from (metrics only).
fn count_source(rpc: &'static str, source: &'static str) {
    metrics::counter!("lms_query_source_total", "rpc" => rpc, "source" => source).increment(1);
}

/// Collects field violations of one request.
#[derive(Default)]
struct Violations(Vec<FieldViolation>);

impl Violations {
    fn add(&mut self, field: &str, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// A required UUID field.
    fn uuid(&mut self, field: &str, value: &str) -> Option<Uuid> {
        if value.is_empty() {
            self.add(field, "is required");
            return None;
        }
        self.optional_uuid(field, value)
    }

    /// A UUID field where empty means "not given".
    fn optional_uuid(&mut self, field: &str, value: &str) -> Option<Uuid> {
        if value.is_empty() {
            return None;
        }
        match Uuid::parse_str(value) {
            Ok(id) => Some(id),
            Err(_) => {
                self.add(field, "must be a UUID");
                None
            }
        }
    }

    fn position(&mut self, min: Option<MinPosition>) -> Option<Position> {
        let min = min?;
        if min.aggregate_id.is_empty() {
            self.add("min_position.aggregate_id", "is required with min_position");
            return None;
        }
        if min.sequence > i64::MAX as u64 {
            self.add("min_position.sequence", "is out of range");
            return None;
        }
        Some(Position {
            aggregate_id: min.aggregate_id,
            sequence: min.sequence,
        })
    }

    /// Adds the violations of a sub-check (e.g. the page token).
    fn check<T>(&mut self, result: Result<T, QueryError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(QueryError::Invalid(violations)) => {
                self.0.extend(violations);
                None
            }
            Err(other) => {
                self.add("", other.to_string());
                None
            }
        }
    }

    fn finish(self) -> Result<(), QueryError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(QueryError::Invalid(self.0))
        }
    }
}

/// RFC 3339 in UTC with microseconds, as every timestamp of the API.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn optional_timestamp(at: Option<DateTime<Utc>>) -> String {
    at.map(timestamp).unwrap_or_default()
}

/// Non-negative counts stored as int columns.
fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn amount(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
