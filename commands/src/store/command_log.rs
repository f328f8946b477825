//! The idempotency record: which command ids completed, with which request and
//! where they wrote. Rows are inserted by [`super::EventRepository::persist`]
//! in the same transaction as the events, or alone when a command's final step
//! wrote no event.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// What a command's final write records about the command, carried to the
/// repository through the event metadata under [`super::COMPLETION_KEY`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    pub tenant_id: String,
    pub command_id: String,
    pub command_type: String,
    pub request_hash: String,
    /// The aggregate the reply names; `None` means "the one being written".
    pub reply_aggregate: Option<(String, String, i64)>,
    pub created_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRecord {
    pub command_type: String,
    pub request_hash: String,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub created_id: String,
}

#[derive(Clone)]
pub struct CommandLog {
    pool: PgPool,
}

impl CommandLog {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub async fn find(
        &self,
        tenant_id: &str,
        command_id: &str,
    ) -> Result<Option<CommandRecord>, sqlx::Error> {
        let row: Option<(String, String, String, String, i64, String)> = sqlx::query_as(
            "SELECT command_type, request_hash, aggregate_type, aggregate_id, sequence, created_id
               FROM command_log WHERE tenant_id = $1 AND command_id = $2",
        )
        .bind(tenant_id)
        .bind(command_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(
            |(command_type, request_hash, aggregate_type, aggregate_id, sequence, created_id)| {
                CommandRecord {
                    command_type,
                    request_hash,
                    aggregate_type,
                    aggregate_id,
                    sequence,
                    created_id,
                }
            },
        ))
    }

    /// Records a completion whose final step wrote no event. A concurrent
    /// duplicate makes this fail with a unique violation, like an event append.
    pub async fn record_alone(
        &self,
        completion: &Completion,
        aggregate: (&str, &str, i64),
    ) -> Result<(), sqlx::Error> {
        insert(&self.pool, completion, aggregate).await
    }
}

pub(super) async fn insert<'e, E>(
    executor: E,
    completion: &Completion,
    (aggregate_type, aggregate_id, sequence): (&str, &str, i64),
) -> Result<(), sqlx::Error>
where
    E: sqlx::PgExecutor<'e>,
{
    let (aggregate_type, aggregate_id, sequence) = match &completion.reply_aggregate {
        Some((t, id, seq)) => (t.as_str(), id.as_str(), *seq),
        None => (aggregate_type, aggregate_id, sequence),
    };
    sqlx::query(
        "INSERT INTO command_log
             (tenant_id, command_id, command_type, request_hash, aggregate_type, aggregate_id, sequence, created_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&completion.tenant_id)
    .bind(&completion.command_id)
    .bind(&completion.command_type)
    .bind(&completion.request_hash)
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(sequence)
    .bind(&completion.created_id)
    .execute(executor)
    .await?;
    Ok(())
}
