//! Loads an aggregate from the event store and appends what it decided, with
//! optimistic concurrency on (aggregate, sequence). A stream belongs to the
//! tenant of its first event: for a caller of another tenant it does not
//! exist (docs/adr/0005-tenancy.md).

use super::Reply;
use crate::context::{CommandContext, DEFAULT_TENANT};
use crate::error::CommandError;
use crate::store::{CommandLog, Completion, EventRepository};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{EventStoreAggregateContext, PersistedEventStore};
use cqrs_es::{Aggregate, EventStore};
use lms_domain::DomainError;
use sqlx::PgPool;

/// Where a write landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub aggregate_id: String,
    pub sequence: i64,
}

impl Written {
    /// The command's reply for this write.
    pub fn reply(self, created_id: &str) -> Reply {
        Reply {
            aggregate_id: self.aggregate_id,
            sequence: self.sequence,
            created_id: created_id.to_string(),
        }
    }
}

pub struct AggregateStore<A: Aggregate> {
    store: PersistedEventStore<EventRepository, A>,
    services: A::Services,
    log: CommandLog,
    pool: PgPool,
}

impl<A> AggregateStore<A>
where
    A: Aggregate + Clone,
    A::Error: DomainError,
{
    /// `snapshot_every`: 0 replays the whole stream; n > 0 snapshots every n
    /// events (for hot aggregates such as a course with many seats).
    pub fn new(pool: PgPool, services: A::Services, snapshot_every: usize) -> Self {
        let repo = EventRepository::new(pool.clone());
        let store = if snapshot_every == 0 {
            PersistedEventStore::new_event_store(repo)
        } else {
            PersistedEventStore::new_snapshot_store(repo, snapshot_every)
        }
        // Old stored JSON is brought to the current event version on read.
        .with_upcasters(lms_schemas::upcasters());
        Self {
            store,
            services,
            log: CommandLog::new(pool.clone()),
            pool,
        }
    }

    pub fn services(&self) -> &A::Services {
        &self.services
    }

    /// The aggregate's current state and sequence as `tenant` sees it: a
    /// stream of another tenant reads as absent (default state, sequence 0).
    pub async fn load(&self, tenant: &str, aggregate_id: &str) -> Result<(A, i64), CommandError> {
        match self.load_owned(tenant, aggregate_id).await? {
            Some(context) => Ok((context.aggregate, to_i64(context.current_sequence)?)),
            None => Ok((A::default(), 0)),
        }
    }

    /// The stream with its owner checked; `None` when another tenant owns it.
    async fn load_owned(
        &self,
        tenant: &str,
        aggregate_id: &str,
    ) -> Result<Option<EventStoreAggregateContext<A>>, CommandError> {
        let load = async {
            self.store
                .load_aggregate(aggregate_id)
                .await
                .map_err(CommandError::from)
        };
        let (loaded, owner) = tokio::try_join!(load, self.owner(aggregate_id))?;
        Ok(match owner {
            Some(owner) if owner != tenant => None,
            _ => Some(loaded),
        })
    }

    /// The tenant of the stream's first event; `None` while it has none.
    /// Events from before tenants were recorded belong to the default one.
    async fn owner(&self, aggregate_id: &str) -> Result<Option<String>, CommandError> {
        let owner = sqlx::query_scalar(
            "SELECT COALESCE(metadata->>'tenant_id', $3) FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = 1",
        )
        .bind(A::TYPE)
        .bind(aggregate_id)
        .bind(DEFAULT_TENANT)
        .fetch_optional(&self.pool)
        .await?;
        Ok(owner)
    }

    /// Runs `command` against the current state and appends the events. When
    /// `completion` is given this write completes the command: its command-log
    /// row goes into the same transaction (or alone, if nothing was decided).
    /// A stream of another tenant is refused as the aggregate's not-found.
    pub async fn execute(
        &self,
        context: &CommandContext,
        aggregate_id: &str,
        command: A::Command,
        completion: Option<&Completion>,
    ) -> Result<Written, CommandError> {
        let Some(loaded) = self.load_owned(&context.tenant_id, aggregate_id).await? else {
            return Err(CommandError::from_domain(&A::Error::not_found()));
        };
        self.decide(context, aggregate_id, command, completion, loaded)
            .await
    }

    /// As [`execute`](Self::execute) for an aggregate whose id was generated
    /// for this command: its stream cannot exist yet, so neither the snapshot
    /// nor the events are read (two round trips of four). The append still
    /// checks: an existing stream makes it a version conflict, and the retry
    /// loads.
    pub async fn execute_new(
        &self,
        context: &CommandContext,
        aggregate_id: &str,
        command: A::Command,
        completion: Option<&Completion>,
    ) -> Result<Written, CommandError> {
        let empty = EventStoreAggregateContext {
            aggregate_id: aggregate_id.to_string(),
            aggregate: A::default(),
            current_sequence: 0,
            current_snapshot: None,
        };
        self.decide(context, aggregate_id, command, completion, empty)
            .await
    }

    /// [`execute`](Self::execute) as the write that completes the command
    /// (its command-log row goes with the events); the reply says where it
    /// landed and names `created_id`, if any.
    pub async fn complete(
        &self,
        context: &CommandContext,
        aggregate_id: &str,
        command: A::Command,
        created_id: &str,
    ) -> Result<Reply, CommandError> {
        let completion = context.completion(None, created_id.to_string());
        let written = self
            .execute(context, aggregate_id, command, Some(&completion))
            .await?;
        Ok(written.reply(created_id))
    }

    /// [`complete`](Self::complete) through [`execute_new`](Self::execute_new).
    pub async fn complete_new(
        &self,
        context: &CommandContext,
        aggregate_id: &str,
        command: A::Command,
        created_id: &str,
    ) -> Result<Reply, CommandError> {
        let completion = context.completion(None, created_id.to_string());
        let written = self
            .execute_new(context, aggregate_id, command, Some(&completion))
            .await?;
        Ok(written.reply(created_id))
    }

    async fn decide(
        &self,
        context: &CommandContext,
        aggregate_id: &str,
        command: A::Command,
        completion: Option<&Completion>,
        loaded: EventStoreAggregateContext<A>,
    ) -> Result<Written, CommandError> {
        // Decide on a copy: the store's commit applies the new events to the
        // loaded state itself when it takes a snapshot.
        let mut working = loaded.aggregate.clone();
        let sink = EventSink::default();
        working
            .handle(command, &self.services, &sink)
            .await
            .map_err(|e| CommandError::from_domain(&e))?;
        let events = sink.collect().await;
        let current = to_i64(loaded.current_sequence)?;
        if events.is_empty() {
            if let Some(completion) = completion {
                self.log
                    .record_alone(completion, (A::TYPE, aggregate_id, current))
                    .await?;
            }
            return Ok(Written {
                aggregate_id: aggregate_id.to_string(),
                sequence: current,
            });
        }
        let metadata = match completion {
            Some(completion) => context.completing_metadata(completion)?,
            None => context.metadata(),
        };
        let committed = self.store.commit(events, loaded, metadata).await?;
        let sequence = committed.last().map(|e| e.sequence).unwrap_or_default();
        Ok(Written {
            aggregate_id: aggregate_id.to_string(),
            sequence: to_i64(sequence)?,
        })
    }
}

fn to_i64(sequence: usize) -> Result<i64, CommandError> {
    i64::try_from(sequence).map_err(|e| CommandError::Internal(e.to_string()))
}
