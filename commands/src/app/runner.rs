//! Runs a command at most once per command id, retrying version conflicts a
//! bounded number of times with jittered backoff.

use crate::context::CommandContext;
use crate::error::CommandError;
use crate::store::{CommandLog, CommandRecord};
use backon::{ExponentialBuilder, Retryable};
use std::future::Future;
use std::time::Duration;

/// What a command returns: where it wrote, and any entity it created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub aggregate_id: String,
    pub sequence: i64,
    pub created_id: String,
}

impl From<CommandRecord> for Reply {
    fn from(record: CommandRecord) -> Self {
        Self {
            aggregate_id: record.aggregate_id,
            sequence: record.sequence,
            created_id: record.created_id,
        }
    }
}

#[derive(Clone)]
pub struct Runner {
    log: CommandLog,
    max_retries: usize,
}

impl Runner {
    pub fn new(log: CommandLog, max_retries: usize) -> Self {
        Self { log, max_retries }
    }

    pub async fn run<F, Fut>(
        &self,
        context: &CommandContext,
        attempt: F,
    ) -> Result<Reply, CommandError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Reply, CommandError>>,
    {
        let once = || async {
            // Checked on every attempt: a conflict may mean a concurrent
            // duplicate of this very command has just completed.
            if let Some(record) = self
                .log
                .find(&context.tenant_id, &context.command_id)
                .await?
            {
                if record.request_hash != context.request_hash {
                    return Err(CommandError::CommandIdReused(context.command_id.clone()));
                }
                tracing::debug!(command_id = %context.command_id, "replaying recorded reply");
                return Ok(Reply::from(record));
            }
            attempt().await
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(2))
            .with_max_delay(Duration::from_millis(100))
            .with_max_times(self.max_retries)
            .with_jitter();
        once.retry(backoff)
            .when(|e| matches!(e, CommandError::Conflict))
            .notify(|_, delay| tracing::debug!(?delay, "version conflict, retrying"))
            .await
            .map_err(|e| match e {
                CommandError::Conflict => CommandError::Exhausted(self.max_retries + 1),
                other => other,
            })
    }
}
