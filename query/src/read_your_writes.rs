//! Read your writes: waits (bounded) until the projection serving a query has
//! applied an aggregate up to the position a command reply gave the client.

use crate::error::QueryError;
use sqlx::PgPool;
use std::time::{Duration, Instant};

/// How often `applied` is polled while waiting.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The read model (schema + projection) that serves a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadModel {
    Catalog,
    Roster,
    Dashboard,
    Billing,
}

impl ReadModel {
    pub fn schema(self) -> &'static str {
        match self {
            ReadModel::Catalog => "catalog",
            ReadModel::Roster => "roster",
            ReadModel::Dashboard => "dashboard",
            ReadModel::Billing => "billing",
        }
    }

    pub fn projection(self) -> &'static str {
        match self {
            ReadModel::Catalog => lms_readmodels::catalog::PROJECTION,
            ReadModel::Roster => lms_readmodels::roster::PROJECTION,
            ReadModel::Dashboard => lms_readmodels::dashboard::PROJECTION,
            ReadModel::Billing => lms_readmodels::billing::PROJECTION,
        }
    }
}

/// A validated `MinPosition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub aggregate_id: String,
    pub sequence: u64,
}

/// Highest sequence `model` has applied for `aggregate_id` (any aggregate
/// type), -1 when none.
pub async fn applied_sequence(
    pool: &PgPool,
    model: ReadModel,
    aggregate_id: &str,
) -> Result<i64, sqlx::Error> {
    let sql = format!(
        "SELECT COALESCE(max(last_sequence), -1) FROM {}.applied
          WHERE projection = $1 AND aggregate_id = $2",
        model.schema()
    );
    sqlx::query_scalar(&sql)
        .bind(model.projection())
        .bind(aggregate_id)
        .fetch_one(pool)
        .await
}

/// Returns once `model` has applied `position`, or `NotCaughtUp` after
/// `timeout`.
pub async fn wait_until_applied(
    pool: &PgPool,
    model: ReadModel,
    position: &Position,
    timeout: Duration,
) -> Result<(), QueryError> {
    let started = Instant::now();
    let wanted = i64::try_from(position.sequence).unwrap_or(i64::MAX);
    loop {
        let applied = applied_sequence(pool, model, &position.aggregate_id).await?;
        if applied >= wanted {
            return Ok(());
        }
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(QueryError::NotCaughtUp {
                aggregate_id: position.aggregate_id.clone(),
                sequence: position.sequence,
                applied,
                waited_ms: waited.as_millis(),
            });
        }
        tokio::time::sleep(POLL_INTERVAL.min(timeout - waited)).await;
    }
}
