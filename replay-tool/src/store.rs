//! Reading the event store (commands/migrations): one connection, one
//! read-only REPEATABLE READ snapshot per run, keyset pages on `position`
//! (exports) or `sequence` (one aggregate). Pages keep memory bounded; the
//! snapshot keeps them consistent: an event committed after the run started
//! is in none of its pages, and no page can miss one that commits late with a
//! lower position (commit order may differ from position order).

use crate::error::EventRef;
use crate::ReplayError;
use chrono::{DateTime, SecondsFormat, Utc};
use lms_runtime::{database, SecretString};
use serde::Serialize;
use serde_json::Value as Json;
use sqlx::{Connection, PgConnection, Postgres, Transaction};
use std::error::Error as _;
use std::time::Duration;
use uuid::Uuid;

/// How long to wait for the database before giving up (exit code 4).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default rows per page.
pub const DEFAULT_BATCH_SIZE: u32 = 1000;

const COLUMNS: &str = "position, aggregate_type, aggregate_id, sequence, event_type, \
                       event_version, payload, metadata, event_id, recorded_at";

/// One row of `events`, as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct EventRow {
    pub position: i64,
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Json,
    pub metadata: Json,
    pub event_id: Uuid,
    pub recorded_at: DateTime<Utc>,
}

impl EventRow {
    /// A string of the metadata JSON (`actor_id`, `correlation_id`, ...).
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).and_then(Json::as_str)
    }

    /// The row verbatim as one JSON document: every column, payload and
    /// metadata as stored (JSON Lines export, `history --json`).
    pub fn to_document(&self) -> EventDocument<'_> {
        EventDocument {
            position: self.position,
            aggregate_type: &self.aggregate_type,
            aggregate_id: &self.aggregate_id,
            sequence: self.sequence,
            event_type: &self.event_type,
            event_version: &self.event_version,
            event_id: self.event_id,
            recorded_at: timestamp(&self.recorded_at),
            metadata: &self.metadata,
            payload: &self.payload,
        }
    }

    /// What the row says about itself in an error.
    pub fn bad(&self, reason: impl Into<String>) -> ReplayError {
        ReplayError::BadEvent {
            event: Box::new(EventRef {
                position: self.position,
                aggregate_type: self.aggregate_type.clone(),
                aggregate_id: self.aggregate_id.clone(),
                sequence: self.sequence,
                event_type: self.event_type.clone(),
                event_version: self.event_version.clone(),
            }),
            reason: reason.into(),
        }
    }

    /// The row as lms-schemas reads it.
    pub fn stored(&self) -> lms_schemas::StoredEvent<'_> {
        lms_schemas::StoredEvent {
            aggregate_type: &self.aggregate_type,
            aggregate_id: &self.aggregate_id,
            sequence: self.sequence,
            event_type: &self.event_type,
            event_version: &self.event_version,
            payload: &self.payload,
            metadata: &self.metadata,
        }
    }
}

/// One event as a JSON document, columns in table order (docs/replay.md).
#[derive(Debug, Serialize)]
pub struct EventDocument<'a> {
    pub position: i64,
    pub aggregate_type: &'a str,
    pub aggregate_id: &'a str,
    pub sequence: i64,
    pub event_type: &'a str,
    pub event_version: &'a str,
    pub event_id: Uuid,
    pub recorded_at: String,
    pub metadata: &'a Json,
    pub payload: &'a Json,
}

/// RFC 3339, UTC, microseconds (what Postgres keeps).
pub fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// One connection to the event store, or exit code 4.
pub async fn connect(database_url: &SecretString) -> Result<PgConnection, ReplayError> {
    let options = database::options(database_url)
        .map_err(|e| {
            ReplayError::Usage(format!(
                "--database-url / LMS_DATABASE_URL is not a Postgres URL: {}",
                e.source().map(|s| s.to_string()).unwrap_or_default()
            ))
        })?
        .application_name("lms-replay");
    let unreachable = |reason: String| ReplayError::Unreachable {
        at: format!("database at {}", database::describe(&options)),
        reason,
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable(format!(
            "no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// A consistent, read-only view of the event store for one run.
pub async fn snapshot(
    connection: &mut PgConnection,
) -> Result<Transaction<'_, Postgres>, ReplayError> {
    connection
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
        .map_err(|e| ReplayError::database("opening a snapshot", e))
}

/// Where a fold of one aggregate stops (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    End,
    Sequence(i64),
    RecordedAt(DateTime<Utc>),
}

/// Pages through one aggregate's stream in sequence order.
pub struct AggregateCursor {
    aggregate_type: String,
    aggregate_id: String,
    until: Until,
    after_sequence: i64,
    batch_size: u32,
    done: bool,
}

impl AggregateCursor {
    pub fn new(aggregate_type: &str, aggregate_id: &str, until: Until, batch_size: u32) -> Self {
        Self {
            aggregate_type: aggregate_type.to_string(),
            aggregate_id: aggregate_id.to_string(),
            until,
            after_sequence: 0,
            batch_size: batch_size.max(1),
            done: false,
        }
    }

    /// The next page; empty once the stream (up to `until`) is read.
    pub async fn next_page(
        &mut self,
        connection: &mut PgConnection,
    ) -> Result<Vec<EventRow>, ReplayError> {
        if self.done {
            return Ok(Vec::new());
        }
        let (max_sequence, max_recorded_at) = match self.until {
            Until::End => (None, None),
            Until::Sequence(s) => (Some(s), None),
            Until::RecordedAt(t) => (None, Some(t)),
        };
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM events
              WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3
                AND ($4::bigint IS NULL OR sequence <= $4)
                AND ($5::timestamptz IS NULL OR recorded_at <= $5)
              ORDER BY sequence
              LIMIT $6"
        ))
        .bind(&self.aggregate_type)
        .bind(&self.aggregate_id)
        .bind(self.after_sequence)
        .bind(max_sequence)
        .bind(max_recorded_at)
        .bind(i64::from(self.batch_size))
        .fetch_all(&mut *connection)
        .await
        .map_err(|e| ReplayError::database("reading an aggregate's events", e))?;
        match rows.last() {
            Some(last) => self.after_sequence = last.sequence,
            None => self.done = true,
        }
        if rows.len() < self.batch_size as usize {
            self.done = true;
        }
        Ok(rows)
    }
}

/// Facts about one aggregate's whole stream, for messages and context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamBounds {
    pub first_recorded_at: DateTime<Utc>,
    pub last_sequence: i64,
}

/// `None` when the store has no event of this aggregate.
pub async fn stream_bounds(
    connection: &mut PgConnection,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Option<StreamBounds>, ReplayError> {
    let row: (Option<DateTime<Utc>>, Option<i64>) = sqlx::query_as(
        "SELECT min(recorded_at), max(sequence) FROM events
          WHERE aggregate_type = $1 AND aggregate_id = $2",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .fetch_one(&mut *connection)
    .await
    .map_err(|e| ReplayError::database("looking the aggregate up", e))?;
    Ok(match row {
        (Some(first_recorded_at), Some(last_sequence)) => Some(StreamBounds {
            first_recorded_at,
            last_sequence,
        }),
        _ => None,
    })
}

/// Which events an export reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Aggregate types; empty = all.
    pub aggregate_types: Vec<String>,
    /// `recorded_at >= from`.
    pub from: Option<DateTime<Utc>>,
    /// `recorded_at < to`.
    pub to: Option<DateTime<Utc>>,
}

/// Pages through the whole store in position order, filtered.
pub struct PositionCursor {
    filter: EventFilter,
    after_position: i64,
    batch_size: u32,
    done: bool,
}

impl PositionCursor {
    pub fn new(filter: EventFilter, batch_size: u32) -> Self {
        Self {
            filter,
            after_position: 0,
            batch_size: batch_size.max(1),
            done: false,
        }
    }

    /// Highest position read so far (the scan's progress).
    pub fn scanned_to(&self) -> i64 {
        self.after_position
    }

    /// The next page; empty once the store is read.
    pub async fn next_page(
        &mut self,
        connection: &mut PgConnection,
    ) -> Result<Vec<EventRow>, ReplayError> {
        if self.done {
            return Ok(Vec::new());
        }
        let types: Option<&[String]> =
            (!self.filter.aggregate_types.is_empty()).then_some(&self.filter.aggregate_types);
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM events
              WHERE position > $1
                AND ($2::text[] IS NULL OR aggregate_type = ANY($2))
                AND ($3::timestamptz IS NULL OR recorded_at >= $3)
                AND ($4::timestamptz IS NULL OR recorded_at < $4)
              ORDER BY position
              LIMIT $5"
        ))
        .bind(self.after_position)
        .bind(types)
        .bind(self.filter.from)
        .bind(self.filter.to)
        .bind(i64::from(self.batch_size))
        .fetch_all(&mut *connection)
        .await
        .map_err(|e| ReplayError::database("reading events by position", e))?;
        match rows.last() {
            Some(last) => self.after_position = last.position,
            None => self.done = true,
        }
        if rows.len() < self.batch_size as usize {
            self.done = true;
        }
        Ok(rows)
    }
}

/// The highest position in the snapshot (0 for an empty store).
pub async fn max_position(connection: &mut PgConnection) -> Result<i64, ReplayError> {
    sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
        .fetch_one(&mut *connection)
        .await
        .map_err(|e| ReplayError::database("reading the last position", e))
}
